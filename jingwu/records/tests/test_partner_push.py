"""A partner system's feed: it pushes batches to the source bound to it and nowhere else,
reads nothing, and an idempotency key means one request."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client

from jingwu.core import tokens
from jingwu.core.models import AuditEntry, User
from jingwu.core.services import ServiceError
from jingwu.core.tests.factories import make_user
from jingwu.records import services
from jingwu.records.models import Entity, ImportBatch, Source
from jingwu.records.tests.import_support import LI, ZHANG, Desk, current, make_desk, stored_counts

pytestmark = pytest.mark.django_db

URL = "/api/records/batches"
CARD = "6222021234567890128"  # 19 digits, Luhn valid
ACCOUNTS: list[dict[str, Any]] = [
    {"账号": CARD, "开户行": "中国工商银行", "开户人": "张三", "身份证号": ZHANG},
    {"账号": "62220212", "开户行": "中国工商银行", "开户人": "李喆", "身份证号": LI},
]


@pytest.fixture
def feed(db: None) -> tuple[Desk, User, Source]:
    desk = make_desk()
    partner = make_user("bank_feed", [("partner", desk.tree.province)])
    bank = services.source_create(actor=None, key="bank", name="银行客户")
    services.source_partner_set(actor=None, source=bank, partner=partner)
    return desk, partner, bank


def bearer(user: User, *scopes: str) -> dict[str, str]:
    secret = tokens.token_create(actor=None, user=user, scopes=list(scopes), days=1).secret
    return {"Authorization": f"Bearer {secret}"}


def push(client: Client, auth: dict[str, str], *, source: str = "bank", kind: str = "account", key: str = "b-1",
         records: list[dict[str, Any]] | None = None) -> Any:
    body = {"source": source, "kind": kind, "idempotency_key": key, "records": ACCOUNTS if records is None else records}
    return client.post(URL, data=json.dumps(body, ensure_ascii=False), content_type="application/json", headers=auth)


def test_a_partner_pushes_its_own_feed(feed: tuple[Desk, User, Source], client: Client) -> None:
    _desk, partner, bank = feed
    response = push(client, bearer(partner, "records.push"))

    assert response.status_code == 200
    body = response.json()
    batch = ImportBatch.objects.get()
    assert {k: v for k, v in body.items() if k not in ("started_at", "finished_at")} == {
        "id": batch.pk, "source": "bank", "kind": "account", "label": "API b-1", "status": "done", "format": "api",
        "expected": 2, "read": 2, "imported": 1, "unchanged": 0, "quarantined": 1, "balances": True,
        "replayed": False, "issues_truncated": False,
        "issues": [{"row": 2, "field": "account_number", "column": "账号", "code": "bad_length",
                    "message": "row 2, column 账号 (account_number): expected 12-19 digits, got 8",
                    "reason": "bank_card.bad_length", "params": {"length": "8"},
                    "text": "第 2 行，账号 列（account_number）：应为 12–19 位数字，实为 8 位"}],
    }
    assert list(current(bank)) == [CARD]
    assert batch.created_by == partner


@pytest.mark.parametrize("source", ["hukou", "nosuch"])
def test_a_partner_may_not_push_to_another_source(feed: tuple[Desk, User, Source], client: Client,
                                                  source: str) -> None:
    _desk, partner, _bank = feed
    before = stored_counts()

    response = push(client, bearer(partner, "records.push"), source=source, kind="person",
                    records=[{"姓名": "张三", "身份证号": ZHANG}])

    # Unknown and not-yours are the same refusal: a partner learns no source names.
    assert (response.status_code, response.json()) == (403, {"detail": "records.push not permitted",
                                                             "code": "forbidden"})
    assert stored_counts() == before
    denied = AuditEntry.objects.order_by("-pk").first()
    assert denied is not None
    assert (denied.actor_username, denied.action, denied.outcome, denied.object_type, denied.object_id) == (
        "bank_feed", "records.push", "denied", "source", source)


def test_a_partner_reads_nothing(feed: tuple[Desk, User, Source], client: Client) -> None:
    desk, partner, _bank = feed
    batch_id = push(client, bearer(partner, "records.push")).json()["id"]
    entity = Entity.objects.create(kind="person", unit=desk.tree.grid_a1a, key=ZHANG)

    # Its push token opens no read endpoint…
    narrow = bearer(partner, "records.push")
    assert client.get(f"/api/records/entities/{entity.pk}", headers=narrow).json() == {
        "detail": "this token's scopes ['records.push'] do not include 'read'", "code": "scope"}
    # …and a token that could read finds the partner role holds no read action.
    wide = bearer(partner, "records.push", "read")
    for path in (f"/api/records/entities/{entity.pk}", f"/api/records/entities/{entity.pk}/graph",
                 f"{URL}/{batch_id}"):
        response = client.get(path, headers=wide)
        assert (response.status_code, response.json()["code"]) == (403, "forbidden"), path
    assert not AuditEntry.objects.filter(actor_username="bank_feed", action="person.read", outcome="allowed").exists()
    assert AuditEntry.objects.filter(actor_username="bank_feed", action="person.read", outcome="denied").count() == 2
    # Nor the portal.
    client.force_login(partner)
    assert client.get("/records/imports/").status_code == 403


def test_binding_a_source_needs_a_partner(feed: tuple[Desk, User, Source]) -> None:
    desk, partner, bank = feed
    with pytest.raises(ServiceError, match="user 'steward' holds no partner role"):
        services.source_partner_set(actor=None, source=bank, partner=desk.steward)
    out = io.StringIO()
    call_command("sources", "partner", "hukou", "bank_feed", stdout=out)
    assert out.getvalue() == "source hukou: partner bank_feed may push it\n"
    assert set(partner.partner_sources.values_list("key", flat=True)) == {"bank", "hukou"}
    call_command("sources", "partner", "hukou", "--none", stdout=io.StringIO())
    assert Source.objects.get(key="hukou").partner is None
    with pytest.raises(CommandError, match="name the partner's user, or give --none"):
        call_command("sources", "partner", "hukou", stdout=io.StringIO())
    entry = AuditEntry.objects.filter(action="records.source_partner").order_by("-pk").first()
    assert entry is not None and entry.details == {"key": "hukou", "partner": None, "before": "bank_feed"}


def test_an_unbound_partner_and_a_steward(feed: tuple[Desk, User, Source], client: Client) -> None:
    desk, _partner, _bank = feed
    stranger = make_user("telco_feed", [("partner", desk.tree.province)])
    response = push(client, bearer(stranger, "records.push"))
    assert (response.status_code, response.json()["code"]) == (403, "forbidden")
    # A data steward may push to any source, the bound one included.
    assert push(client, bearer(desk.steward, "records.push")).json()["imported"] == 1


# --------------------------------------------------------------------------- idempotency


def test_a_key_reused_with_other_records_is_a_409_and_writes_nothing(feed: tuple[Desk, User, Source],
                                                                    client: Client) -> None:
    _desk, partner, _bank = feed
    auth = bearer(partner, "records.push")
    first = push(client, auth).json()
    before, audit_before = stored_counts(), AuditEntry.objects.count()

    response = push(client, auth, records=ACCOUNTS[:1])

    assert (response.status_code, response.json()) == (409, {
        "detail": f"idempotency key 'b-1' was used for batch #{first['id']} with other records; "
                  "send these records under a new key",
        "field": "idempotency_key", "code": "idempotency_conflict"})
    assert stored_counts() == before
    assert AuditEntry.objects.count() == audit_before
    # Another kind under the same key is another request too.
    assert push(client, auth, kind="person").status_code == 409


def test_the_same_key_with_the_same_records_returns_the_first_report(feed: tuple[Desk, User, Source],
                                                                      client: Client) -> None:
    _desk, partner, _bank = feed
    auth = bearer(partner, "records.push")
    first = push(client, auth).json()
    before, audit_before = stored_counts(), AuditEntry.objects.count()

    # The account number as a JSON number is the same cell as the text.
    same = [{**ACCOUNTS[0], "账号": int(CARD)}, ACCOUNTS[1]]
    again = push(client, auth, records=same)

    assert again.status_code == 200
    assert again.json() == {**first, "replayed": True}
    assert stored_counts() == before
    assert AuditEntry.objects.count() == audit_before


def test_a_batch_pushed_before_request_hashes_replays_on_its_key(feed: tuple[Desk, User, Source],
                                                                  client: Client) -> None:
    _desk, partner, _bank = feed
    auth = bearer(partner, "records.push")
    first = push(client, auth).json()
    ImportBatch.objects.filter(pk=first["id"]).update(request_hash="")  # as migrated batches have it

    again = push(client, auth, records=ACCOUNTS[:1])

    assert (again.status_code, again.json()["replayed"], again.json()["id"]) == (200, True, first["id"])
