"""Corrections of the classifier's suggestions are counted per rule and version."""

from __future__ import annotations

import pytest
from django.test import Client

from jingwu.dispatch import selectors, services
from jingwu.dispatch.tests.factories import World, take_call

pytestmark = pytest.mark.django_db


def _confirm(world: World, text: str, category: str, subcategory: str, priority: int, n: int) -> None:
    incident = take_call(world, text, caller=f"1380000{n:04d}", lat=30.0 + n, lon=100.0).incident
    services.incident_classify(actor=world.dispatcher, incident=incident, category=category,
                               subcategory=subcategory, priority=priority)


def test_corrections_are_counted_per_rule(world: World, client: Client) -> None:
    _confirm(world, "我的电动车被偷了", "criminal", "theft", 3, 1)  # as suggested
    _confirm(world, "我的电动车被偷了", "criminal", "theft", 3, 2)
    _confirm(world, "车被偷了，是我老公开走的", "dispute", "family", 3, 3)  # category corrected
    _confirm(world, "邻居家被偷了", "criminal", "burglary", 2, 4)  # subcategory and priority corrected
    _confirm(world, "楼上太吵", "public_order", "noise", 3, 5)  # priority corrected
    _confirm(world, "你好我想说件事", "assistance", "other", 4, 6)  # no rule matched
    take_call(world, "我的电动车被偷了", caller="13811112222", lat=10.0, lon=100.0)  # not confirmed yet

    feedback = {(f.rule, f.version): f for f in selectors.classification_corrections(world.dispatcher)}
    theft = feedback[("theft", "2026.1")]
    assert (theft.confirmed, theft.corrected, theft.category_changed, theft.subcategory_changed,
            theft.priority_changed) == (4, 2, 1, 2, 1)
    assert theft.corrections == [("criminal.theft/3", "criminal.burglary/2", 1),
                                 ("criminal.theft/3", "dispute.family/3", 1)]
    noise = feedback[("noise", "2026.1")]
    assert (noise.confirmed, noise.corrected, noise.corrections) == (1, 1, [("public_order.noise/4",
                                                                            "public_order.noise/3", 1)])
    unmatched = feedback[("", "2026.1")]
    assert (unmatched.confirmed, unmatched.corrected, unmatched.category_changed) == (1, 1, 1)
    assert selectors.classification_corrections(world.dispatcher)[0].rule == "theft"  # the most corrected first
    assert selectors.classification_corrections(world.dispatcher, version="2025.9") == []

    client.force_login(world.commander)
    rows = client.get("/api/dispatch/classifier").json()
    assert rows[0] | {"corrections": None} == {
        "version": "2026.1", "rule": "theft", "confirmed": 4, "corrected": 2, "category_changed": 1,
        "subcategory_changed": 2, "priority_changed": 1, "corrections": None}
