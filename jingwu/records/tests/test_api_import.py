"""POST /api/records/batches and GET /api/records/batches/{id}: a partner pushes records."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client

from jingwu.core import audit, tokens
from jingwu.core.models import AuditEntry, User
from jingwu.core.tests.factories import make_user
from jingwu.records.models import ImportBatch
from jingwu.records.tests.import_support import (
    BAD_CHECK,
    CHEN,
    LI,
    ZHANG,
    Desk,
    current,
    fields_of,
    make_desk,
    stored_counts,
)

pytestmark = pytest.mark.django_db

URL = "/api/records/batches"
RECORDS: list[dict[str, Any]] = [
    {"姓名": "张三", "身份证号": ZHANG, "手机号": 13812345678, "出生日期": "1985-01-01"},
    {"姓名": "陈鑫", "身份证号": CHEN, "性别": "女"},
    {"姓名": "周八", "身份证号": BAD_CHECK},
    {"姓名": "李喆", "身份证号": LI, "手机号": "139-0000-1111"},
]


@pytest.fixture
def desk(db: None) -> Desk:
    return make_desk()


def bearer(user: User, *scopes: str) -> dict[str, str]:
    secret = tokens.token_create(actor=None, user=user, scopes=list(scopes), days=1).secret
    return {"Authorization": f"Bearer {secret}"}


def push(client: Client, body: dict[str, Any], auth: dict[str, str]) -> Any:
    return client.post(URL, data=json.dumps(body, ensure_ascii=False), content_type="application/json", headers=auth)


def batch_body(key: str = "2026-05-01/1", records: list[dict[str, Any]] | None = None, **extra: Any) -> dict[str, Any]:
    return {"source": "hukou", "kind": "person", "idempotency_key": key,
            "records": RECORDS if records is None else records, **extra}


def report_of(body: dict[str, Any]) -> tuple[Any, ...]:
    return body["read"], body["imported"], body["unchanged"], body["quarantined"], body["balances"]


def test_a_partner_pushes_a_batch_and_reads_the_report(desk: Desk, client: Client) -> None:
    auth = bearer(desk.steward, "records.push")

    response = push(client, batch_body(), auth)

    assert response.status_code == 200
    body = response.json()
    batch = ImportBatch.objects.get()
    assert {k: v for k, v in body.items() if k not in ("started_at", "finished_at")} == {
        "id": batch.pk, "source": "hukou", "kind": "person", "label": "API 2026-05-01/1", "status": "done",
        "format": "api", "expected": 4, "read": 4, "imported": 3, "unchanged": 0, "quarantined": 1,
        "balances": True, "replayed": False, "issues_truncated": False,
        "issues": [{"row": 3, "field": "id_number", "column": "身份证号", "code": "check_char_mismatch",
                    "message": "row 3, column 身份证号 (id_number): check character is '4', expected '3'",
                    "reason": "resident_id.check_char_mismatch", "params": {"given": "4", "expected": "3"},
                    "text": "第 3 行，身份证号 列（id_number）：校验码为“4”，应为“3”"}],
    }
    records = current(desk.source)
    assert fields_of(records[ZHANG]) == {"name": "张三", "id_number": ZHANG, "sex": "M",
                                         "birth_date": "1985-01-01", "phone": "+8613812345678"}
    assert records[ZHANG].payload == {"姓名": "张三", "身份证号": ZHANG, "手机号": "13812345678",
                                      "出生日期": "1985-01-01"}
    assert fields_of(records[LI])["phone"] == "+8613900001111"
    assert batch.created_by == desk.steward

    got = client.get(f"{URL}/{batch.pk}", headers=auth)
    assert got.status_code == 200
    assert got.json() == body


def test_the_same_idempotency_key_returns_the_first_report_and_writes_nothing(desk: Desk, client: Client) -> None:
    auth = bearer(desk.steward, "records.push")
    first = push(client, batch_body(), auth).json()
    before = stored_counts()
    audit_before = AuditEntry.objects.count()

    again = push(client, batch_body(), auth)

    assert again.status_code == 200
    assert again.json() == {**first, "replayed": True}
    assert stored_counts() == before
    assert AuditEntry.objects.count() == audit_before


def test_the_same_records_under_a_new_key_are_all_unchanged(desk: Desk, client: Client) -> None:
    auth = bearer(desk.steward, "records.push")
    push(client, batch_body("a"), auth)
    records_before = stored_counts()[0]

    body = push(client, batch_body("b"), auth).json()

    assert report_of(body) == (4, 0, 3, 1, True)
    assert stored_counts()[0] == records_before


def test_two_partners_may_use_the_same_key(desk: Desk, client: Client) -> None:
    other = make_user("steward2", [("data_steward", desk.tree.province)])
    push(client, batch_body("1"), bearer(desk.steward, "records.push"))
    body = push(client, batch_body("1", records=RECORDS[:1]),
                bearer(other, "records.push")).json()
    assert (report_of(body), body["replayed"]) == ((1, 0, 1, 0, True), False)
    assert ImportBatch.objects.count() == 2


def test_a_mapping_document(desk: Desk, client: Client) -> None:
    mapping = {"key": "编号", "fields": {"name": "人员", "id_number": {"column": "证件"},
                                        "sex": {"column": "xb", "values": {"1": "M", "2": "F"}}}}
    records: list[dict[str, Any]] = [{"编号": "A-1", "人员": "张三", "证件": ZHANG, "xb": 1},
                                     {"编号": "A-2", "人员": "陈鑫", "xb": 3}]

    body = push(client, batch_body(records=records, mapping=mapping), bearer(desk.steward, "records.push")).json()

    assert report_of(body) == (2, 1, 0, 1, True)
    assert [(i["row"], i["code"]) for i in body["issues"]] == [(2, "unknown_sex")]
    # Key and parameters for a client to word it, and the sentence in the default language.
    assert {k: body["issues"][0][k] for k in ("reason", "params", "text")} == {
        "reason": "sex.unknown_sex", "params": {"value": "3"},
        "text": "第 2 行，xb 列（sex）：“3”不是性别（应为 男/女、M/F 或 1/2）"}
    assert fields_of(current(desk.source)["A-1"]) == {"name": "张三", "id_number": ZHANG, "sex": "M"}


@pytest.mark.parametrize(("change", "status", "expected"), [
    ({"source": "telecom"}, 400, {"field": "source", "code": "invalid", "detail":
        "unknown source 'telecom'; known sources: hukou (add one with `jingwu sources add KEY NAME`)"}),
    ({"mapping": {"key": "编号", "fields": {"nmae": "姓名"}}}, 400, {"field": "mapping", "code": "invalid", "detail":
        "fields.nmae: unknown field for kind person (expected one of name, former_name, id_number, birth_date, "
        "sex, phone, address, division_code, household_id, relation_to_head)"}),
    ({"mapping": {"key": "编号", "fields": {"name": "姓名"}}}, 400, {"field": "mapping", "code": "invalid", "detail":
        "columns missing from the file: 编号 (the file has 姓名, 身份证号, 手机号, 出生日期, 性别)"}),
    ({"mapping": {"kind": "vehicle", "key": "号牌", "fields": {"plate": "号牌"}}}, 400,
     {"field": "mapping", "code": "invalid", "detail": "the mapping is for vehicle records, not person"}),
    ({"kind": "vehicle"}, 400, {"field": "mapping", "code": "invalid", "detail":
        "fields: no column for plate among 姓名, 身份证号, 手机号, 出生日期, 性别; write a mapping file for this "
        "source"}),
])
def test_a_batch_that_cannot_be_imported_is_refused_with_400_and_nothing_written(
        desk: Desk, client: Client, change: dict[str, Any], status: int, expected: dict[str, str]) -> None:
    auth = bearer(desk.steward, "records.push")
    before = stored_counts()
    response = push(client, {**batch_body(), **change}, auth)
    assert (response.status_code, response.json()) == (status, expected)
    assert stored_counts() == before


@pytest.mark.parametrize(("body", "loc", "type_"), [
    ({**batch_body(), "kind": "ship"}, ["body", "payload", "kind"], "literal_error"),
    ({**batch_body(), "records": []}, ["body", "payload", "records"], "too_short"),
    ({**batch_body(), "records": [{"姓名": "张三"}] * 10_001}, ["body", "payload", "records"], "too_long"),
    ({**batch_body(), "records": [{"姓名": {"first": "三"}}]}, ["body", "payload", "records", 0, "姓名", "str"],
     "string_type"),
    ({**batch_body(), "records": "张三"}, ["body", "payload", "records"], "list_type"),
    ({k: v for k, v in batch_body().items() if k != "idempotency_key"}, ["body", "payload", "idempotency_key"],
     "missing"),
    ({**batch_body(), "idempotency_key": "k" * 81}, ["body", "payload", "idempotency_key"], "string_too_long"),
])
def test_a_malformed_batch_is_422_with_where_and_nothing_written(
        desk: Desk, client: Client, body: dict[str, Any], loc: list[Any], type_: str) -> None:
    auth = bearer(desk.steward, "records.push")
    before = stored_counts()
    response = push(client, body, auth)
    assert response.status_code == 422
    first = response.json()["detail"][0]
    assert (first["loc"], first["type"]) == (loc, type_)
    assert stored_counts() == before


def test_a_body_that_is_not_json_is_refused(desk: Desk, client: Client) -> None:
    response = client.post(URL, data="{not json", content_type="application/json",
                           headers=bearer(desk.steward, "records.push"))
    assert response.status_code in (400, 422)
    assert "detail" in response.json()
    assert stored_counts()[1] == 0


def test_ten_thousand_records_in_one_batch(desk: Desk, client: Client) -> None:
    records = [{"id": f"R{n:05d}", "姓名": "张三", "身份证号": ZHANG, "手机号": "13812345678",
                "出生日期": "1985-01-01", "住址": "山东省济南市历下区泉城路街道泉城路188号3单元502室"}
               for n in range(10_000)]
    records[9_999]["身份证号"] = BAD_CHECK
    body = push(client, batch_body(records=records), bearer(desk.steward, "records.push")).json()
    assert report_of(body) == (10_000, 9_999, 0, 1, True)
    assert [issue["row"] for issue in body["issues"]] == [10_000]


def test_a_token_without_the_push_scope_is_refused(desk: Desk, client: Client) -> None:
    response = push(client, batch_body(), bearer(desk.steward, "read"))
    assert (response.status_code, response.json()["code"]) == (403, "scope")
    assert stored_counts()[1] == 0


def test_a_user_without_the_import_role_is_refused(desk: Desk, client: Client) -> None:
    officer = make_user("officer", [("officer", desk.tree.station_a1a)])
    response = push(client, batch_body(), bearer(officer, "records.push"))
    assert (response.status_code, response.json()) == (403, {"detail": "records.import not permitted",
                                                             "code": "forbidden"})
    assert stored_counts() == (0, 0, 0)


def test_without_credentials_401(desk: Desk, client: Client) -> None:
    response = push(client, batch_body(), {})
    assert (response.status_code, response.json()) == (401, {"detail": "Unauthorized"})


def test_a_batch_outside_ones_jurisdiction_is_not_found(desk: Desk, client: Client) -> None:
    body = push(client, batch_body(), bearer(desk.steward, "records.push")).json()
    qingdao = make_user("qingdao_steward", [("data_steward", desk.tree.city_b)])
    response = client.get(f"{URL}/{body['id']}", headers=bearer(qingdao, "records.push"))
    assert response.status_code == 404
    assert client.get(f"{URL}/999999", headers=bearer(desk.steward, "records.push")).status_code == 404


def test_reading_a_report_costs_a_fixed_number_of_queries(desk: Desk, client: Client,
                                                          django_assert_num_queries: Any) -> None:
    auth = bearer(desk.steward, "records.push")
    batch_id = push(client, batch_body(), auth).json()["id"]
    client.get(f"{URL}/{batch_id}", headers=auth)  # stamps the token's last use
    # token and user, roles, the batch (with source), the actor's unit, the audit entry, the issues
    with django_assert_num_queries(5 + audit.statements_per_entry()):
        response = client.get(f"{URL}/{batch_id}", headers=auth)
    assert response.json()["read"] == 4
