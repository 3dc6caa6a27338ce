"""Concurrent requests on PostgreSQL: two dispatchers never get the same unit, and concurrent
intakes never share an incident number. Real threads, each with its own database connection,
sending real HTTP requests through Django's test client."""

from __future__ import annotations

import functools
import json
import threading
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection
from django.test import Client

from jingwu.core import tokens
from jingwu.dispatch.models import Assignment, Incident, PatrolUnit
from jingwu.dispatch.tests.factories import World, classified, make_world, patrol

pytestmark = [pytest.mark.postgres_only, pytest.mark.django_db(transaction=True)]


def _race(workers: list[Callable[[], Any]]) -> list[Any]:
    """Start every worker at the same moment (a barrier) on its own thread and connection."""
    barrier = threading.Barrier(len(workers))
    results: list[Any] = [None] * len(workers)
    errors: list[BaseException] = []

    def run(i: int) -> None:
        try:
            barrier.wait(timeout=30)
            results[i] = workers[i]()
        except BaseException as exc:  # report it in the main thread
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(workers))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors
    return results


def test_two_dispatchers_never_send_the_same_unit(transactional_db: None) -> None:
    assert connection.vendor == "postgresql"
    world: World = make_world()
    clients = []
    for user in (world.dispatcher, world.dispatcher2, world.commander):
        client = Client()
        client.force_login(user)
        clients.append(client)
    for round_ in range(8):
        unit = patrol(world.quancheng, f"RACE{round_}", 36.661, 117.011)
        incidents = [classified(world, f"第{round_}轮 有人打架 {i}", "public_order", "fighting",
                                caller=f"1390000{round_:02d}{i:02d}", lat=30.0 + i + round_ / 10, lon=100.0)
                     for i in range(len(clients))]

        def send(client: Client, incident: Incident, sign: str = unit.call_sign) -> tuple[int, Any]:
            response = client.post(f"/api/incidents/{incident.pk}/assignments", content_type="application/json",
                                   data=json.dumps({"patrol_unit": sign}))
            return response.status_code, response.json()

        results = _race([functools.partial(send, c, i) for c, i in zip(clients, incidents, strict=True)])
        statuses = sorted(status for status, _body in results)
        assert statuses == [201, 409, 409], results
        assert all(body["code"] == "conflict" and body["field"] == "patrol_unit"
                   for status, body in results if status == 409)
        winner = next(body for status, body in results if status == 201)
        assert list(Assignment.objects.filter(patrol_unit=unit).values_list("incident__number", flat=True)) == [
            winner["incident_number"]]
        fresh = PatrolUnit.objects.get(pk=unit.pk)
        assert (fresh.status, fresh.incident.number if fresh.incident else None) == (
            "dispatched", winner["incident_number"])
        # The losers' incidents are untouched.
        losers = [i.pk for i in incidents if i.number != winner["incident_number"]]
        assert set(Incident.objects.filter(pk__in=losers).values_list("status", flat=True)) == {"classified"}


def test_concurrent_calls_get_distinct_consecutive_numbers(transactional_db: None) -> None:
    world: World = make_world()
    secret = tokens.token_create(actor=None, user=world.gateway, scopes=["dispatch.calls"], days=1).secret
    count = 6

    def call(i: int) -> str:
        response = Client().post("/api/calls", content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {secret}",
                                 data=json.dumps({"content": f"停水 {i}", "caller_number": f"1380000000{i}",
                                                  "lat": 30.0 + i, "lon": 100.0}))
        assert response.status_code == 201, response.content
        return str(response.json()["incident_number"])

    numbers = _race([functools.partial(call, i) for i in range(count)])
    assert sorted(n[-5:] for n in numbers) == [f"{i:05d}" for i in range(1, count + 1)]
    assert len({n[:-5] for n in numbers}) == 1
    assert Incident.objects.count() == count
