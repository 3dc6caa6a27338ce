from __future__ import annotations

from django.http import HttpRequest
from ninja import Router, Schema

from jingwu.core import access

router = Router(tags=["core"])


class ErrorOut(Schema):
    """The structured error an API answers bad input with (jingwu/api.py's handlers): what is
    wrong, the field at fault (empty when the request as a whole is), a code."""

    detail: str
    field: str = ""
    code: str


class RoleOut(Schema):
    role: str
    unit_code: str
    unit_name: str


class MeOut(Schema):
    username: str
    display_name: str
    roles: list[RoleOut]


@router.get("/me", response=MeOut, summary="The authenticated user and their roles")
def me(request: HttpRequest) -> MeOut:
    user = request.user
    assert user.is_authenticated
    roles = [RoleOut(role=ra.role, unit_code=ra.unit.code, unit_name=ra.unit.name)
             for ra in user.role_assignments.filter(active=True).select_related("unit").order_by("unit__path")]
    access.check(user, access.Action.PORTAL_USE, object_type="user", object_id=user.pk)
    return MeOut(username=user.get_username(), display_name=str(user), roles=roles)
