"""A refusal is audited exactly once even when it happens inside a transaction: rolled back
(the entry is written once the refusal has left the transaction), or caught inside and
committed (written on commit). These tests use real transactions (transaction=True), since the
test case's own wrapping transaction would hide the difference."""

from __future__ import annotations

import contextlib

import pytest
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import HttpResponse
from django.test import RequestFactory

from jingwu.core import access
from jingwu.core.access import Action
from jingwu.core.models import AuditEntry, User
from jingwu.core.tests.factories import Tree, make_tree, make_user

pytestmark = pytest.mark.django_db(transaction=True)


def _denials(user: User) -> list[tuple[str, str, str]]:
    return list(AuditEntry.objects.filter(actor_username=user.username, outcome="denied")
                .order_by("pk").values_list("action", "object_type", "object_id"))


def _officer(tree: Tree) -> User:
    return make_user("refused_officer", [("officer", tree.station_a1a)])


@access.refusals_audited
def _write_elsewhere(actor: User, tree: Tree) -> None:
    with transaction.atomic():
        AuditEntry.objects.count()  # some work of the service's own
        access.check(actor, Action.CASE_RECORD, tree.city_b, object_type="case", object_id=7)


def test_refusal_inside_a_rolled_back_transaction_is_audited_after_it() -> None:
    tree = make_tree()
    officer = _officer(tree)
    with pytest.raises(PermissionDenied):
        _write_elsewhere(officer, tree)
    assert _denials(officer) == [(Action.CASE_RECORD, "case", "7")]


def test_refusal_caught_inside_a_committed_transaction_is_audited_on_commit() -> None:
    tree = make_tree()
    officer = _officer(tree)
    with transaction.atomic():
        with contextlib.suppress(PermissionDenied):
            access.check(officer, Action.CASE_RECORD, tree.city_b, object_type="case", object_id=8)
        assert _denials(officer) == []  # not yet: the transaction might still roll back
    assert _denials(officer) == [(Action.CASE_RECORD, "case", "8")]


def test_refusal_outside_any_transaction_is_audited_at_once() -> None:
    tree = make_tree()
    officer = _officer(tree)
    with pytest.raises(access.Refused) as raised:
        access.check(officer, Action.CASE_RECORD, tree.city_b, object_type="case", object_id=9)
    assert raised.value.audited is True
    access.audit_refusal(raised.value)  # a handler seeing it again writes nothing more
    assert _denials(officer) == [(Action.CASE_RECORD, "case", "9")]


def _refused_in_rolled_back_transaction(officer: User, tree: Tree) -> access.Refused:
    try:
        with transaction.atomic():
            access.check(officer, Action.CASE_RECORD, tree.city_b, object_type="case", object_id=10)
    except access.Refused as refusal:
        return refusal
    raise AssertionError("not refused")


@pytest.mark.parametrize("layer", ["api", "page"])
def test_refusal_that_reaches_the_request_layer_is_audited_there(layer: str) -> None:
    from jingwu.api import permission_denied
    from jingwu.core.middleware import RequestContextMiddleware

    tree = make_tree()
    officer = _officer(tree)
    refusal = _refused_in_rolled_back_transaction(officer, tree)
    assert _denials(officer) == []  # rolled back with the transaction, still owed
    request = RequestFactory().post("/api/cases/10/transition")
    if layer == "api":
        assert permission_denied(request, refusal).status_code == 403
    else:
        RequestContextMiddleware(lambda r: HttpResponse()).process_exception(request, refusal)
    assert _denials(officer) == [(Action.CASE_RECORD, "case", "10")]
