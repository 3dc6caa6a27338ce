"""The import pages: upload and watch progress, the batch report, correcting quarantined rows."""

from __future__ import annotations

import html
import re
from pathlib import Path
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from jingwu.core.models import AuditEntry
from jingwu.core.tests.factories import make_user
from jingwu.records import services
from jingwu.records.models import BatchStatus, ImportBatch, QuarantineStatus, SourceRecord
from jingwu.records.tests.import_support import (
    BAD_CHECK,
    PEOPLE_ROWS,
    ZHANG,
    Desk,
    make_desk,
    people_csv,
    report,
    write,
)

pytestmark = pytest.mark.django_db

LIST = "/records/imports/"
FOUR_ROWS = people_csv(*PEOPLE_ROWS, f"周八,{BAD_CHECK},男,19850101,,济南市")


@pytest.fixture
def desk(db: None, settings: Any, tmp_path: Path) -> Desk:
    settings.HUEY = {**settings.HUEY, "immediate": True}  # imports run inside the request
    settings.VAR_DIR = tmp_path / "var"  # uploads land under JINGWU_VAR_DIR/uploads
    return make_desk()


@pytest.fixture
def steward(desk: Desk, client: Client) -> Client:
    client.force_login(desk.steward)
    return client


def upload(client: Client, text: str, name: str = "people.csv", **fields: Any) -> Any:
    data = {"source": "hukou", "kind": "person", "label": "", "file": SimpleUploadedFile(name, text.encode()),
            **fields}
    return client.post(LIST, data)


def text_of(response: Any) -> str:
    """What a person reads: tags dropped, entities decoded, white space collapsed."""
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", response.content.decode())))


def test_the_page_is_in_the_menu_and_offers_the_upload_form(steward: Client) -> None:
    response = steward.get(LIST)
    assert response.status_code == 200
    page = response.content.decode()
    assert f'<a href="{LIST}" aria-current="page">数据导入</a>' in page
    assert 'enctype="multipart/form-data"' in page
    assert '<option value="hukou">户籍人口</option>' in page
    assert "还没有导入批次" in page


def test_uploading_a_file_imports_it_and_shows_the_report(desk: Desk, steward: Client, tmp_path: Path,
                                                          django_capture_on_commit_callbacks: Any) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        response = upload(steward, FOUR_ROWS)

    batch = ImportBatch.objects.get()
    assert (response.status_code, response["Location"]) == (302, f"{LIST}{batch.pk}/")
    assert report(batch) == (4, 3, 0, 1)
    assert (batch.created_by, batch.file_name, batch.status) == (desk.steward, "people.csv", BatchStatus.DONE)
    # The upload was kept while the batch ran, and deleted when it ended.
    assert batch.upload_path.endswith("/people.csv")
    assert list((tmp_path / "var" / "uploads").iterdir()) == []

    page = steward.get(response["Location"])
    assert page.status_code == 200
    text = text_of(page)
    assert "读取 4 行：导入 3，未变化 0，隔离 1" in text
    assert "报告平衡：读取 = 导入 + 未变化 + 隔离。" in text
    assert "第 5 行" in text
    assert "第 5 行，证件号码 列（id_number）：校验码为“4”，应为“3”" in text
    assert '<progress value="4" max="4" aria-labelledby="report-title">100%</progress>' in page.content.decode()
    assert 'hx-trigger="every 1s"' not in page.content.decode()  # done: nothing to poll
    read = AuditEntry.objects.filter(action="records.batch_read").get()
    assert (read.object_id, read.actor_username, read.details) == (str(batch.pk), "steward", {"quarantined": 1})


def test_the_list_shows_the_batches_in_a_fixed_number_of_queries(desk: Desk, steward: Client,
                                                                 django_assert_num_queries: Any) -> None:
    for n in range(3):
        services.import_records(actor=desk.steward, source_key="hukou", kind="person", idempotency_key=str(n),
                                records=[{"姓名": "张三", "身份证号": ZHANG}])
    steward.get(LIST)
    # session, user, running batches (any interrupted?), roles, batch count, the user's unit
    # (page header), sources for the form, batches with source and creator
    with django_assert_num_queries(8):
        response = steward.get(LIST)
    assert text_of(response).count("API ") == 3


@pytest.mark.parametrize(("fields", "error"), [
    ({"kind": ""}, "say what the file holds: a kind or a mapping file"),
    ({"mapping_file": SimpleUploadedFile("m.toml", b'kind = "person"\n')},
     "fields: missing (a [fields] table mapping our fields to columns)"),
    ({"kind": "vehicle"}, "fields: no column for plate among"),
])
def test_a_file_that_cannot_be_imported_is_refused_on_the_form(steward: Client, fields: dict[str, Any],
                                                               error: str) -> None:
    response = upload(steward, FOUR_ROWS, **fields)
    assert response.status_code == 400
    assert error in text_of(response)
    assert ImportBatch.objects.count() == 0


def test_an_unreadable_file_is_refused(steward: Client) -> None:
    response = upload(steward, "\n\n", name="empty.csv")
    assert response.status_code == 400
    assert "empty.csv: the file is empty (no header row)" in text_of(response)


def test_correcting_a_row_with_htmx_swaps_it_in_place(desk: Desk, steward: Client) -> None:
    upload(steward, FOUR_ROWS)
    row = ImportBatch.objects.get().quarantined.get()
    columns = ["姓名", "证件号码", "性别", "出生日期", "联系电话", "住址"]

    still_bad = steward.post(f"{LIST}quarantine/{row.pk}/retry",
                             {"column": columns, "value": ["周八", BAD_CHECK[:-1], "男", "19850101", "", "济南市"]},
                             headers={"HX-Request": "true"})
    assert still_bad.status_code == 200
    fragment = still_bad.content.decode()
    assert fragment.startswith(f'<article id="qrow-{row.pk}"')
    assert "第 5 行，证件号码 列（id_number）：应为 18 位（或旧版 15 位），实为 17 位" in text_of(still_bad)
    assert f'value="{BAD_CHECK[:-1]}"' in fragment  # what was typed stays in the field

    fixed = steward.post(f"{LIST}quarantine/{row.pk}/retry",
                         {"column": columns, "value": ["周八", ZHANG, "男", "19850101", "", "济南市"]},
                         headers={"HX-Request": "true"})
    row.refresh_from_db()
    assert row.status == QuarantineStatus.FIXED
    assert f"已修正并导入（来源记录 #{row.record_id}）" in fixed.content.decode()
    assert SourceRecord.objects.filter(source_key=ZHANG).count() == 2  # a new version of 张三's record


def test_without_htmx_a_retry_and_a_discard_come_back_to_the_report(desk: Desk, steward: Client) -> None:
    upload(steward, FOUR_ROWS)
    batch = ImportBatch.objects.get()
    row = batch.quarantined.get()
    response = steward.post(f"{LIST}quarantine/{row.pk}/retry", {"column": ["证件号码"], "value": ["x"]},
                            follow=True)
    assert response.redirect_chain == [(f"{LIST}{batch.pk}/", 302)]
    assert "第 5 行仍未通过校验" in text_of(response)

    response = steward.post(f"{LIST}quarantine/{row.pk}/discard", {"reason": "重复"}, follow=True)
    assert "第 5 行已放弃。" in text_of(response)
    assert "没有待处理的隔离行" in text_of(response)
    assert "已放弃" in text_of(steward.get(f"{LIST}{batch.pk}/?show=all"))


def test_progress_is_polled_while_running_and_the_page_reloads_when_done(desk: Desk, steward: Client,
                                                                        tmp_path: Path) -> None:
    job = services.import_start(actor=desk.steward, source_key="hukou", path=write(tmp_path / "p.csv", FOUR_ROWS),
                                kind="person")
    ImportBatch.objects.filter(pk=job.batch.pk).update(rows_read=2, rows_imported=2)
    running = steward.get(f"{LIST}{job.batch.pk}/progress", headers={"HX-Request": "true"})
    fragment = running.content.decode()
    assert f'hx-get="{LIST}{job.batch.pk}/progress" hx-trigger="every 1s"' in fragment
    assert '<progress value="2" max="4"' in fragment
    assert "导入中 · 50%" in text_of(running)
    assert "HX-Refresh" not in running

    services.import_run(job, actor=desk.steward)
    done = steward.get(f"{LIST}{job.batch.pk}/progress", headers={"HX-Request": "true"})
    assert done["HX-Refresh"] == "true"
    assert 'hx-trigger' not in done.content.decode()


def test_who_may_see_what(desk: Desk, client: Client) -> None:
    batch, _ = services.import_records(actor=desk.steward, source_key="hukou", kind="person", idempotency_key="1",
                                       records=[{"姓名": "周八", "身份证号": BAD_CHECK}])
    row = batch.quarantined.get()
    client.force_login(make_user("officer", [("officer", desk.tree.station_a1a)]))
    assert client.get(LIST).status_code == 403
    assert client.post(f"{LIST}quarantine/{row.pk}/discard").status_code == 403

    client.force_login(make_user("qingdao_steward", [("data_steward", desk.tree.city_b)]))
    assert client.get(LIST).status_code == 200
    assert f"#{batch.pk}" not in client.get(LIST).content.decode()
    assert client.get(f"{LIST}{batch.pk}/").status_code == 404
    assert client.get(f"{LIST}{batch.pk}/progress").status_code == 404
    assert client.post(f"{LIST}quarantine/{row.pk}/discard").status_code == 404
    row.refresh_from_db()
    assert row.status == QuarantineStatus.OPEN


@pytest.mark.django_db(transaction=True)
def test_in_the_demo_the_import_runs_in_a_thread(tmp_path: Path, settings: Any) -> None:
    settings.HUEY = {**settings.HUEY, "immediate": False}
    desk = make_desk()
    job = services.import_start(actor=desk.steward, source_key="hukou", path=write(tmp_path / "p.csv", FOUR_ROWS),
                                kind="person")
    thread = services.import_launch(job, actor=desk.steward, background=True)
    assert thread is not None
    thread.join(timeout=60)
    job.batch.refresh_from_db()
    assert (job.batch.status, report(job.batch)) == (BatchStatus.DONE, (4, 3, 0, 1))
