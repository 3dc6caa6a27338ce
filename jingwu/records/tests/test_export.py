"""`jingwu export --format ftm`: current records as FollowTheMoney entities, validated by the
followthemoney package, and read back by `jingwu import` into another source unchanged."""

from __future__ import annotations

import json
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from followthemoney import model

from jingwu.core.models import AuditEntry
from jingwu.core.tests.factories import make_user
from jingwu.records import ftm, selectors, services
from jingwu.records.models import ImportBatch, SourceRecord
from jingwu.records.tests.import_support import BEIJING, CHEN, LI, ZHANG, Desk, current, make_desk, report

pytestmark = pytest.mark.django_db

USCC = "91370102MA3CXY123M"
CARD = "6222021001122334458"
VIN = "1M8GDM9AXKP042788"
# One batch per kind, in the usual Chinese column names (so no mapping file is needed).
BATCHES: dict[str, list[dict[str, Any]]] = {
    "person": [
        {"姓名": "张三", "身份证号": ZHANG, "性别": "男", "出生日期": "1985-01-01", "手机号": "13812345678",
         "住址": "济南市历下区泉城路1号", "户号": "H0001", "与户主关系": "户主", "曾用名": "张叁",
         "行政区划代码": "370102001"},
        {"姓名": "陈鑫", "身份证号": CHEN, "性别": "女"},
    ],
    "vehicle": [{"号牌号码": "鲁A12345", "所有人证件号码": LI, "所有人": "李喆", "车辆识别代号": VIN,
                 "品牌": "大众牌FV7145", "车身颜色": "白", "初次登记日期": "2020-05-06"},
                {"号牌号码": "鲁AD12345", "所有人证件号码": LI, "所有人": "李喆"}],
    "phone": [{"手机号码": "13912345678", "机主证件号码": CHEN, "机主姓名": "陈鑫", "运营商": "中国移动",
               "入网日期": "2016-02-03"}],
    "organization": [{"单位名称": "济南某某科技有限公司", "统一社会信用代码": USCC, "法定代表人": "张三",
                      "法定代表人证件号码": ZHANG, "住所": "济南市历下区", "成立日期": "2015-06-01"}],
    "account": [{"银行卡号": CARD, "开户行": "工商银行济南分行", "开户人": "钱二", "开户人证件号码": BEIJING,
                 "开户日期": "2018-03-04"}],
    "place": [{"地址": "济南市历下区泉城路1号", "场所名称": "泉城网吧", "经度": "117.02345678", "纬度": "36.6612",
               "场所类型": "网吧", "行政区划代码": "370102"}],
}
SCHEMATA = {"person": "Person", "vehicle": "Vehicle", "phone": "UserAccount", "organization": "Company",
            "account": "BankAccount", "place": "Address"}


@pytest.fixture
def desk(db: None) -> Desk:
    desk = make_desk()
    for n, (kind, records) in enumerate(BATCHES.items()):
        batch, _ = services.import_records(actor=None, source_key="hukou", kind=kind, idempotency_key=f"k{n}",
                                           records=records)
        assert report(batch) == (len(records), len(records), 0, 0)
    return desk


def export(*args: str) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("export", "--format", "ftm", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_every_line_is_an_entity_followthemoney_accepts_whole(desk: Desk) -> None:
    text, summary = export("--parties")

    lines = text.splitlines()
    assert summary == ("exported 8 entities (account 1, organization 1, person 2, phone 1, place 1, vehicle 2), "
                       "2 parties\n")
    entities = [json.loads(line) for line in lines]
    for data in entities:
        proxy = model.get_proxy(data, cleaned=False)  # cleans every value again: an invalid one would be dropped
        assert proxy.to_dict()["properties"] == data["properties"], data
    records = [e for e in entities if e["jingwu"].get("role") != "party"]
    assert sorted((e["schema"], e["jingwu"]["kind"]) for e in records) == sorted(
        (SCHEMATA[kind], kind) for kind, rows in BATCHES.items() for _ in rows)
    parties = [e for e in entities if e["jingwu"].get("role") == "party"]
    assert sorted(p["id"] for p in parties) == sorted([ftm.party_id(LI), ftm.party_id(CHEN)])
    by_key = {e["jingwu"]["key"]: e for e in records}
    assert by_key[ZHANG]["id"] == ftm.entity_id("hukou", ZHANG)
    assert by_key[ZHANG]["properties"]["idNumber"] == [ZHANG]
    assert by_key["鲁A12345"]["properties"]["owner"] == [ftm.party_id(LI)]
    assert by_key["鲁A12345"]["jingwu"]["fields"] == {"owner_id_number": LI, "owner_name": "李喆", "vin": VIN,
                                                      "color": "白"}


def test_export_then_import_into_a_new_source_gives_the_same_records(desk: Desk, tmp_path: Path) -> None:
    path = tmp_path / "hukou.ftm.json"
    export("--parties", "--out", str(path))
    services.source_create(actor=None, key="aleph", name="Aleph 导入")

    batch = services.import_file(actor=desk.steward, source_key="aleph", path=path)

    assert report(batch) == (8, 8, 0, 0)  # the two parties are not records
    assert (batch.file_format, batch.kind) == ("ftm", "")
    ours, theirs = current(desk.source), current(batch.source)
    assert set(theirs) == set(ours)
    assert {k: (r.kind, r.fields, r.content_hash) for k, r in theirs.items()} == {
        k: (r.kind, r.fields, r.content_hash) for k, r in ours.items()}
    assert {k: r.unit_id for k, r in theirs.items()} == {k: r.unit_id for k, r in ours.items()}

    again = services.import_file(actor=desk.steward, source_key="aleph", path=path)
    assert report(again) == (8, 0, 8, 0)


def test_one_source_one_kind_and_the_audit_entry(desk: Desk) -> None:
    services.import_records(actor=None, source_key=services.source_create(actor=None, key="traffic",
                                                                          name="车管").key,
                            kind="vehicle", idempotency_key="t", records=BATCHES["vehicle"])
    text, summary = export("--source", "traffic", "--kind", "vehicle")
    assert [json.loads(line)["jingwu"]["source"] for line in text.splitlines()] == ["traffic", "traffic"]
    assert summary == "exported 2 entities (vehicle 2), 0 parties\n"
    entry = AuditEntry.objects.filter(action="records.export").get()
    assert (entry.object_id, entry.details) == ("traffic", {"format": "ftm", "source": "traffic", "kind": "vehicle",
                                                            "entities": 2, "parties": 0, "skipped": 0})


def test_only_superseded_versions_are_left_out(desk: Desk) -> None:
    moved = {**BATCHES["person"][1], "住址": "青岛市"}
    services.import_records(actor=None, source_key="hukou", kind="person", idempotency_key="m", records=[moved])
    text, _ = export("--kind", "person")
    people = {json.loads(line)["jingwu"]["key"]: json.loads(line) for line in text.splitlines()}
    assert people[CHEN]["properties"]["address"] == ["青岛市"]
    assert SourceRecord.objects.filter(source_key=CHEN).count() == 2


def test_records_loaded_in_our_vocabulary_are_normalised_on_the_way_out(desk: Desk) -> None:
    batch = ImportBatch.objects.create(source=desk.source, label="seed")
    # As the synthetic province stores them: payload in our field names, no normalised fields.
    SourceRecord.objects.create(source=desk.source, source_key="S1", kind="person", batch=batch, content_hash="x",
                                payload={"name": "王五", "id_number": LI.lower(), "phone": "138 1234 5678",
                                         "extra": 1})
    SourceRecord.objects.create(source=desk.source, source_key="S2", kind="person", batch=batch, content_hash="y",
                                payload={"name": "1234"})
    text, summary = export("--kind", "person")
    people = {json.loads(line)["jingwu"]["key"]: json.loads(line) for line in text.splitlines()}
    assert people["S1"]["properties"]["idNumber"] == [LI]
    assert people["S1"]["properties"]["phone"] == ["+8613812345678"]
    assert "S2" not in people
    assert summary == "exported 3 entities (person 3), 0 parties; 1 records skipped (they no longer normalise)\n"


def test_a_user_exports_their_jurisdiction_only(desk: Desk) -> None:
    qingdao = make_user("qingdao_steward", [("data_steward", desk.tree.city_b)])
    text, summary = export("--user", "qingdao_steward")
    assert (text, summary) == ("", "exported 0 entities (none), 0 parties\n")
    SourceRecord.objects.filter(source_key=ZHANG).update(unit=desk.tree.city_b)
    text, _ = export("--user", qingdao.username)
    assert [json.loads(line)["jingwu"]["key"] for line in text.splitlines()] == [ZHANG]


def test_an_unknown_source_is_refused(desk: Desk) -> None:
    with pytest.raises(CommandError, match="unknown source 'nope'; known sources: hukou"):
        export("--source", "nope")


def test_selectors_export_writes_to_any_text_sink(desk: Desk) -> None:
    sink = StringIO()
    result = selectors.export_ftm(actor=None, out=sink, kind="place")
    assert (result.entities, result.by_kind) == (1, {"place": 1})
    assert json.loads(sink.getvalue())["properties"]["longitude"] == ["117.0234568"]
