"""`jingwu dispatch simulate` against a live server: calls through the intake API, pings through
the positions API, with the telephony link's token."""

from __future__ import annotations

import re
from io import StringIO
from typing import Any

import pytest
from django.core.management import CommandError, call_command

from jingwu.core import tokens
from jingwu.dispatch.models import Call, PatrolUnit
from jingwu.dispatch.synthetic import seed_dispatch
from jingwu.dispatch.tests.factories import make_world

pytestmark = pytest.mark.django_db(transaction=True)


def test_simulate_sends_calls_and_pings_through_the_api(live_server: Any) -> None:
    world = make_world()
    seed_dispatch(seed=3, per_station=2, city_codes=["370100"])
    before = dict(PatrolUnit.objects.values_list("call_sign", "lat"))
    issued = tokens.token_create(actor=None, user=world.gateway, scopes=["dispatch.calls", "dispatch.positions"],
                                 days=1)
    out = StringIO()
    call_command("dispatch", "simulate", "--rate", "300", "--minutes", "0.1", "--url", live_server.url,
                 "--token", issued.secret, "--ping-every", "1", "--city", "370100", stdout=out)
    found = re.search(r"Calls sent (\d+) \(by status \{201: (\d+)\}\), median answer \d+ ms; "
                      r"position rounds (\d+) \(by status \{200: (\d+)\}\)", out.getvalue())
    assert found is not None, out.getvalue()
    sent, created, rounds, ok = (int(g) for g in found.groups())
    assert sent == created >= 3 and rounds == ok >= 2
    assert Call.objects.filter(external_id__startswith="sim-").count() == sent
    assert all(c.incident.centre.code == "370100" and c.incident.grid is not None
               for c in Call.objects.select_related("incident__centre", "incident__grid"))
    after = dict(PatrolUnit.objects.values_list("call_sign", "lat"))
    assert after.keys() == before.keys() and all(after[k] != before[k] for k in after)


def test_simulate_refused_by_a_token_without_the_scope(live_server: Any) -> None:
    world = make_world()
    seed_dispatch(seed=3, per_station=1, city_codes=["370100"])
    issued = tokens.token_create(actor=None, user=world.gateway, scopes=["dispatch.positions"], days=1)
    err = StringIO()
    with pytest.raises(CommandError, match="some requests were refused"):
        call_command("dispatch", "simulate", "--rate", "600", "--minutes", "0.02", "--url", live_server.url,
                     "--token", issued.secret, "--city", "370100", stdout=StringIO(), stderr=err)
    assert "call 403" in err.getvalue()
    assert Call.objects.count() == 0
