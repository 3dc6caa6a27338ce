"""并案 through `case_group_incidents`: several incidents another app keeps as one case."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.exceptions import PermissionDenied

from jingwu.cases import services
from jingwu.cases.models import Case, CaseEvent, CaseIncident
from jingwu.cases.tests.world import World, make_world
from jingwu.core.models import AuditEntry
from jingwu.core.services import ServiceError

pytestmark = pytest.mark.django_db
NOW = dt.datetime(2026, 5, 13, 2, 0, tzinfo=dt.UTC)


@pytest.fixture
def world(db: None) -> World:
    return make_world()


def group(world: World, refs: list[tuple[str, str]], **extra: object) -> services.Grouped:
    fields = {"actor": world.officer, "unit": world.station, "incident_app": "antifraud", "incidents": refs,
              "category": "telecom_fraud", "summary": "串并案：三起报案共用同一收款账户。",
              "reported_at": NOW - dt.timedelta(days=2), "now": NOW, **extra}
    return services.case_group_incidents(**fields)  # type: ignore[arg-type]


def test_a_new_group_is_one_criminal_case_taking_every_incident(world: World) -> None:
    grouped = group(world, [("11", "FZ1"), ("12", "FZ2"), ("13", "FZ3")])
    assert grouped.created and grouped.added == ["FZ1", "FZ2", "FZ3"]
    case = grouped.case
    assert (case.case_type, case.category, case.unit, case.state) == ("criminal", "telecom_fraud", world.station,
                                                                        "accepted")
    assert sorted(CaseIncident.objects.filter(case=case).values_list("incident_id", flat=True)) == ["11", "12", "13"]
    assert CaseEvent.objects.filter(case=case, kind="note", details__grouped=["FZ1", "FZ2", "FZ3"]).count() == 1
    assert AuditEntry.objects.filter(action="case.group", object_id=case.number).count() == 1
    # The network grew: the same case takes the new one; asking again adds nothing.
    again = group(world, [("12", "FZ2"), ("14", "FZ4")])
    assert (again.case.pk, again.created, again.added) == (case.pk, False, ["FZ4"])
    assert group(world, [("11", "FZ1"), ("14", "FZ4")]).added == []
    assert Case.objects.count() == 1


def test_refusals_name_the_field_and_write_nothing(world: World) -> None:
    first = group(world, [("1", "FZ1"), ("2", "FZ2")]).case
    second = group(world, [("3", "FZ3"), ("4", "FZ4")]).case
    with pytest.raises(ServiceError) as split:
        group(world, [("2", "FZ2"), ("3", "FZ3"), ("5", "FZ5")])
    assert split.value.field == "incidents" and first.number in str(split.value) and second.number in str(split.value)
    with pytest.raises(ServiceError) as single:
        group(world, [("6", "FZ6")])
    assert single.value.field == "incidents"
    with pytest.raises(ServiceError) as blank:
        group(world, [("7", "FZ7"), ("", "FZ8")])
    assert blank.value.field == "incidents[1]"
    with pytest.raises(PermissionDenied):  # an officer of another city records no case here
        group(world, [("8", "FZ8"), ("9", "FZ9")], actor=world.city_b_officer)
    assert Case.objects.count() == 2 and CaseIncident.objects.count() == 4
    # The refusal is audited though its transaction rolled back.
    assert AuditEntry.objects.filter(actor=world.city_b_officer, outcome="denied", action="case.record").count() == 1
