"""The profile page, the entity API, a timeline page and a graph ring cost a bounded number
of queries, the same for an entity with four records as for one with many more records,
relations, judgements and merged entities."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from jingwu.core import audit
from jingwu.core.models import User
from jingwu.core.tests.factories import make_user
from jingwu.records.models import Entity, EntityRecord, LinkJudgement, Relation
from jingwu.records.tests.profile_support import reader
from jingwu.records.tests.test_linking_fixture import ID1, Province, entity_of, linked_province

pytestmark = pytest.mark.django_db

# session, user, roles, resolve, entity, purpose, the audit entry, the profile's own reads (4),
# the timeline (merged ids 1 + contributors 10); the page adds the purpose banner and the
# navigation's roles.  A timeline page or a ring: the same gate, then its own reads; a ring
# counts its relations only when they fill more than one page.  Without the audit entry's
# statements (core.audit.statements_per_entry: 3 on SQLite, 2 on PostgreSQL):
BUDGET_BESIDES_AUDIT = {"page": 23, "api": 21, "timeline": 17, "graph": 8}
MORE = 40  # hotel stays added to 陈大文: records, places, relations, judgements


def _grow(p: Province, analyst: User) -> None:
    """Forty more check-ins for 陈大文, half at hotels outside the jurisdiction, each its
    own place with a stay; a judgement on each; two generations of merged entities."""
    e1 = entity_of("HK1")
    start = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    for i in range(MORE):
        unit = p.tree.grid_a1a if i % 2 else p.grid_b1
        day = (start + dt.timedelta(days=7 * i)).date()
        record = p.add("hotel", f"HTX{i}", "p1", {"name": "陈大文", "id_number": ID1, "hotel": f"宾馆{i}",
                                                  "hotel_address": f"山东省某市某路{i}号", "room": str(100 + i),
                                                  "check_in": day.isoformat(), "check_out": day.isoformat()}, unit,
                       received_at=start + dt.timedelta(days=7 * i, hours=3))
        place = Entity.objects.create(kind="place", display_name=f"宾馆{i}", unit=unit)
        EntityRecord.objects.create(entity_id=e1, record=record, kind="person", method="rule")
        EntityRecord.objects.create(entity=place, record=record, kind="place", method="key")
        Relation.objects.create(kind="stayed_at", subject_id=e1, object=place, record=record, valid_from=day,
                                valid_to=day, details={"hotel": f"宾馆{i}", "room": str(100 + i)})
        LinkJudgement.objects.create(record_a_id=p.rid("HK1"), record_b=record, verdict="confirmed",
                                     analyst=analyst)
    older = Entity.objects.create(kind="person", unit=p.tree.grid_a1a, merged_into_id=e1)
    Entity.objects.create(kind="person", unit=p.tree.grid_a1a, merged_into=older)


def _count(call: Callable[[], Any]) -> int:
    with CaptureQueriesContext(connection) as context:
        call()
    return len(context)


def test_queries_do_not_grow_with_the_entity(django_assert_max_num_queries: Any) -> None:
    budget = {name: n + audit.statements_per_entry() for name, n in BUDGET_BESIDES_AUDIT.items()}
    p = linked_province()
    c = Client()
    c.force_login(reader("wang", "officer", p.tree.station_a1a))
    e1 = entity_of("HK1")
    hotel = entity_of("HT1", "place")
    calls = {
        "page": lambda: c.get(f"/records/entities/{e1}/"),
        "api": lambda: c.get(f"/api/records/entities/{e1}"),
        "timeline": lambda: c.get(f"/api/records/entities/{e1}/timeline?offset=20"),
        "graph": lambda: c.get(f"/api/records/entities/{e1}/graph?cap=10"),
    }
    small = {name: _count(call) for name, call in calls.items()}
    small_hotel = _count(lambda: c.get(f"/records/entities/{hotel}/"))
    _grow(p, make_user("zhao", [("data_steward", p.tree.county_a1)]))
    for name, call in calls.items():
        with django_assert_max_num_queries(budget[name]):
            response = call()
        assert response.status_code == 200
    large = {name: _count(call) for name, call in calls.items()}
    assert large == small | {"graph": small["graph"] + 1} == budget
    assert _count(lambda: c.get(f"/records/entities/{hotel}/")) == small_hotel
    # The grown entity is really there: more than a page of events and of relations.
    data = c.get(f"/api/records/entities/{e1}").json()
    assert (data["records_total"], data["relations_total"], data["timeline_has_more"]) == (4 + MORE, 8 + MORE, True)
    graph = c.get(f"/api/records/entities/{e1}/graph?cap=10").json()
    assert (graph["total"], graph["count"], graph["has_more"]) == (8 + MORE, 10, True)
