"""Core writes: roles (service and `jingwu users`), work items, stated purposes."""

from __future__ import annotations

from datetime import timedelta
from io import StringIO

import pytest
from django.core.exceptions import PermissionDenied
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from jingwu.core import access, selectors, services
from jingwu.core.models import AccessPurpose, AuditEntry, RoleAssignment, User, WorkItem, WorkItemStatus
from jingwu.core.tests.factories import Tree, make_tree, make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def tree(db: None) -> Tree:
    return make_tree()


@pytest.fixture
def wang(tree: Tree) -> User:
    return make_user("wang", [("officer", tree.station_a1a)])


def _audit_count() -> int:
    return AuditEntry.objects.count()


# --- roles ----------------------------------------------------------------------------

def test_granting_an_unknown_role_names_the_field_and_writes_nothing(tree: Tree, wang: User) -> None:
    before = _audit_count()
    with pytest.raises(services.ServiceError) as caught:
        services.role_grant(actor=None, user=wang, role="sheriff", unit=tree.station_a1a)
    assert (str(caught.value), caught.value.field) == ("unknown role 'sheriff'", "role")
    assert RoleAssignment.objects.filter(user=wang).count() == 1
    assert _audit_count() == before


def test_granting_again_reactivates_instead_of_duplicating(tree: Tree, wang: User) -> None:
    services.role_revoke(actor=None, user=wang, role="officer", unit=tree.station_a1a)
    services.role_grant(actor=None, user=wang, role="officer", unit=tree.station_a1a)
    assert list(RoleAssignment.objects.filter(user=wang).values_list("role", "active")) == [("officer", True)]
    assert access.can(wang, access.Action.CASE_RECORD, tree.station_a1a) is True


def test_only_a_user_manager_over_the_unit_may_grant(tree: Tree, wang: User) -> None:
    admin = make_user("li_admin", [("administrator", tree.county_a1)])
    services.role_grant(actor=admin, user=wang, role="dispatcher", unit=tree.station_a1b)
    with pytest.raises(PermissionDenied):
        services.role_grant(actor=admin, user=wang, role="dispatcher", unit=tree.city_b)
    with pytest.raises(PermissionDenied):
        services.role_grant(actor=wang, user=wang, role="station_chief", unit=tree.station_a1a)
    assert sorted(RoleAssignment.objects.filter(user=wang).values_list("role", "unit__code")) == [
        ("dispatcher", "370102S02"), ("officer", "370102S01")]
    denied = AuditEntry.objects.filter(outcome="denied").order_by("pk")
    assert [(e.actor_username, e.action, e.unit_code) for e in denied] == [
        ("li_admin", "user.manage", "370200"), ("wang", "user.manage", "370102S01")]


def _users(*args: str) -> str:
    out = StringIO()
    call_command("users", *args, stdout=out)
    return out.getvalue()


def test_users_command_grants_lists_and_revokes(tree: Tree, wang: User) -> None:
    assert _users("grant", "--user", "wang", "--role", "dispatcher", "--unit", "370200") == (
        "granted dispatcher at 370200 (青岛市公安局) to wang\n")
    assert access.can(User.objects.get(pk=wang.pk), access.Action.INCIDENT_DISPATCH, tree.city_b) is True
    assert _users("list", "--user", "wang") == (
        "user\trole\tunit\tunit name\tactive\n"
        "wang\tofficer\t370102S01\t泉城路派出所\tyes\n"
        "wang\tdispatcher\t370200\t青岛市公安局\tyes\n")
    assert _users("revoke", "--user", "wang", "--role", "dispatcher", "--unit", "370200") == (
        "revoked dispatcher at 370200 (青岛市公安局) from wang\n")
    assert _users("list", "--unit", "370200") == "user\trole\tunit\tunit name\tactive\n"
    assert _users("list", "--unit", "370200", "--all") == (
        "user\trole\tunit\tunit name\tactive\nwang\tdispatcher\t370200\t青岛市公安局\tno\n")
    grants = AuditEntry.objects.filter(action__in=["role.grant", "role.revoke"], unit_code="370200")
    assert [(e.action, e.object_id, e.details) for e in grants.order_by("pk")] == [
        ("role.grant", str(wang.pk), {"role": "dispatcher"}), ("role.revoke", str(wang.pk), {"role": "dispatcher"})]


@pytest.mark.parametrize(("args", "message"), [
    (["grant", "--user", "wang", "--role", "sheriff", "--unit", "370102"],
     "unknown role 'sheriff'; known roles: officer, auxiliary, station_chief, investigator, legal_reviewer, "
     "dispatcher, commander, fraud_analyst, inspector, data_steward, administrator, dispatch_gateway, "
     "partner"),
    (["grant", "--user", "wang", "--role", "officer", "--unit", "999999"], "no unit with code '999999'"),
    (["grant", "--user", "ghost", "--role", "officer", "--unit", "370102"], "no user named 'ghost'"),
    (["revoke", "--user", "wang", "--role", "dispatcher", "--unit", "370102"],
     "wang holds no active role 'dispatcher' at 370102"),
])
def test_users_command_bad_input(wang: User, args: list[str], message: str) -> None:
    before = _audit_count()
    with pytest.raises(CommandError) as caught:
        _users(*args)
    assert str(caught.value) == message
    assert _audit_count() == before


# --- work items -----------------------------------------------------------------------

def test_a_dedupe_key_returns_the_first_item(tree: Tree, wang: User) -> None:
    first = services.workitem_create(actor=None, title="回访报警人", kind="callback", assignee_user=wang,
                                     dedupe_key="dispatch:incident:17:callback")
    again = services.workitem_create(actor=None, title="回访报警人（重复）", kind="callback", assignee_user=wang,
                                     dedupe_key="dispatch:incident:17:callback")
    assert again.pk == first.pk
    assert list(WorkItem.objects.values_list("title", flat=True)) == ["回访报警人"]
    assert AuditEntry.objects.filter(action="workitem.create").count() == 1


def test_a_work_item_needs_an_assignee() -> None:
    with pytest.raises(services.ServiceError) as caught:
        services.workitem_create(actor=None, title="无人", kind="test")
    assert caught.value.field == "assignee"


def test_status_moves_and_refusals(tree: Tree, wang: User) -> None:
    item = services.workitem_create(actor=None, title="核查", kind="test", assignee_user=wang)
    services.workitem_set_status(actor=wang, item=item, status=WorkItemStatus.IN_PROGRESS)
    services.workitem_set_status(actor=wang, item=item, status=WorkItemStatus.OPEN)  # handed back
    assert item.completed_at is None
    services.workitem_set_status(actor=wang, item=item, status=WorkItemStatus.DONE)
    item.refresh_from_db()
    assert item.status == "done" and item.completed_at is not None
    for status in ("open", "in_progress", "cancelled"):
        with pytest.raises(services.ServiceError) as caught:
            services.workitem_set_status(actor=wang, item=item, status=status)
        assert (str(caught.value), caught.value.field) == (f"a done work item cannot become {status}", "status")
    item.refresh_from_db()
    assert item.status == "done"
    moves = AuditEntry.objects.filter(action="workitem.status", object_id=str(item.pk)).order_by("pk")
    assert [e.details["status"] for e in moves] == ["in_progress", "open", "done"]


def test_a_cancelled_item_stays_cancelled(tree: Tree, wang: User) -> None:
    item = services.workitem_create(actor=None, title="核查", kind="test", assignee_user=wang)
    services.workitem_set_status(actor=wang, item=item, status=WorkItemStatus.CANCELLED)
    with pytest.raises(services.ServiceError):
        services.workitem_set_status(actor=wang, item=item, status=WorkItemStatus.DONE)


def test_someone_elses_item_cannot_be_moved_and_the_attempt_is_audited(tree: Tree, wang: User) -> None:
    other_station = services.workitem_create(actor=None, title="别所任务", kind="test",
                                             assignee_unit=tree.station_a1b)
    with pytest.raises(PermissionDenied):
        services.workitem_set_status(actor=wang, item=other_station, status=WorkItemStatus.DONE)
    other_station.refresh_from_db()
    assert other_station.status == "open"
    entry = AuditEntry.objects.order_by("-pk").first()
    assert entry is not None
    assert (entry.action, entry.outcome, entry.object_id, entry.unit_code) == (
        "workitem.update", "denied", str(other_station.pk), "370102S02")


# --- stated purpose -------------------------------------------------------------------

@pytest.mark.parametrize(("kwargs", "field"), [
    ({"text": "查"}, "text"),
    ({"text": "   查人   "}, "text"),  # blanks do not count
    ({"text": "核查嫌疑人", "ref_type": "case"}, "ref_id"),
    ({"text": "核查嫌疑人", "ref_type": "case", "ref_id": "   "}, "ref_id"),
    ({"text": "核查嫌疑人", "ref_type": "hunch", "ref_id": "1"}, "ref_type"),
])
def test_purpose_validation(wang: User, kwargs: dict[str, str], field: str) -> None:
    with pytest.raises(services.ServiceError) as caught:
        services.purpose_set(actor=wang, text=kwargs["text"], ref_type=kwargs.get("ref_type", ""),
                             ref_id=kwargs.get("ref_id", ""))
    assert caught.value.field == field
    assert AccessPurpose.objects.count() == 0


def test_purpose_validation_messages(wang: User) -> None:
    with pytest.raises(services.ServiceError, match=r"^事由至少需要 4 个字。$"):
        services.purpose_set(actor=wang, text="查")
    with pytest.raises(services.ServiceError, match=r"^请填写关联的案件、警情或任务编号。$"):
        services.purpose_set(actor=wang, text="核查嫌疑人", ref_type="incident")


def test_a_new_purpose_replaces_the_old_one(wang: User) -> None:
    first = services.purpose_set(actor=wang, text="核查盗窃案嫌疑人", ref_type="case", ref_id=" A2026-1 ")
    assert (str(first), first.ref_id) == ("核查盗窃案嫌疑人 [case:A2026-1]", "A2026-1")
    second = services.purpose_set(actor=wang, text="走访辖区重点人员")
    assert selectors.current_purpose(wang) == second
    first.refresh_from_db()
    assert first.cleared_at is not None


def test_current_purpose_expires(wang: User) -> None:
    purpose = services.purpose_set(actor=wang, text="核查盗窃案嫌疑人", hours=2)
    assert timedelta(hours=2) - timedelta(minutes=1) < purpose.expires_at - timezone.now() <= timedelta(hours=2)
    assert selectors.current_purpose(wang) == purpose
    AccessPurpose.objects.filter(pk=purpose.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert selectors.current_purpose(wang) is None


def test_clearing_the_purpose(wang: User) -> None:
    services.purpose_set(actor=wang, text="核查盗窃案嫌疑人")
    services.purpose_clear(actor=wang)
    assert selectors.current_purpose(wang) is None
    assert list(AuditEntry.objects.filter(actor=wang).order_by("pk").values_list("action", flat=True)) == [
        "purpose.set", "purpose.clear"]
