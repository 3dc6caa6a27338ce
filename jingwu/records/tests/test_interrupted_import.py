"""A batch whose process died is marked interrupted and resumed by importing the same file
again; uploads of the import page are deleted when their batch ends."""

from __future__ import annotations

import subprocess
import sys
from datetime import timedelta
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.test import Client

from jingwu.core.models import AuditEntry
from jingwu.records import services
from jingwu.records.models import BatchStatus, ImportBatch, QuarantinedRow, SourceRecord
from jingwu.records.prepare import FileSpec
from jingwu.records.tests.import_support import BAD_CHECK, Desk, make_desk, people_csv, report, write

pytestmark = pytest.mark.django_db

# Seven rows, the second one bad; with two rows a chunk, three chunks and a half.
IDS = ["370102198501011233", "370102199003070024", "370103197211300450", "11010519491231002X",
       "370203200106150884", "370102198001010015"]
ROWS = [f"人{n},{id_number},,,," for n, id_number in enumerate(IDS)]
ROWS.insert(1, f"周八,{BAD_CHECK},,,,")
CSV = people_csv(*ROWS)


class Killed(BaseException):
    """What the import sees when its process is stopped: not an error it can record."""


@pytest.fixture
def desk(db: None, settings: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Desk:
    settings.VAR_DIR = tmp_path / "var"
    settings.HUEY = {**settings.HUEY, "immediate": True}
    settings.JINGWU_IMPORT_STALE_MINUTES = 10
    monkeypatch.setattr(services, "CHUNK_ROWS", 2)
    return make_desk()


def killed_after(job: services.FileImport, rows: int) -> ImportBatch:
    """Run the import and stop it, as a kill would, once `rows` rows are committed."""
    def progress(done: int, total: int) -> None:
        if done >= rows:
            raise Killed

    with pytest.raises(Killed):
        services.import_run(job, actor=None, progress=progress)
    return ImportBatch.objects.get(pk=job.batch.pk)


def dead_process_identity() -> str:
    """The identity of a process of this host that has exited."""
    child = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE)
    host, _pid, _ticks = services.worker_identity().split(":")
    ticks = services._start_ticks(child.pid)
    child.communicate(b"")
    return f"{host}:{child.pid}:{ticks}"


def test_a_killed_import_is_marked_interrupted_and_resumed_by_the_same_file(desk: Desk, tmp_path: Path) -> None:
    path = write(tmp_path / "people.csv", CSV)
    job = services.import_start(actor=None, source_key="hukou", path=path, kind="person")
    batch = killed_after(job, 4)
    # Two chunks committed: rows 2-5, one of them bad. Left as a kill leaves it: running.
    assert (batch.status, report(batch)) == (BatchStatus.RUNNING, (4, 3, 0, 1))
    assert batch.worker == services.worker_identity()

    # Its process (this one) is alive and it wrote a moment ago: not interrupted.
    assert services.import_batches_reap() == []
    # Ten minutes of silence are.
    later = batch.heartbeat_at + timedelta(minutes=10, seconds=1)  # type: ignore[operator]
    assert [b.pk for b in services.import_batches_reap(now=later)] == [batch.pk]
    batch.refresh_from_db()
    assert (batch.status, report(batch), batch.finished_at) == (BatchStatus.INTERRUPTED, (4, 3, 0, 1), later)
    entry = AuditEntry.objects.get(action="records.import_interrupted")
    assert (entry.object_id, entry.outcome, entry.details["read"], entry.details["quarantined"]) == (
        str(batch.pk), "error", 4, 1)
    assert entry.details["reason"].startswith("no progress since ")

    out = StringIO()
    call_command("import", "--source", "hukou", "--kind", "person", str(path), stdout=out)

    assert out.getvalue().splitlines()[0] == (
        f"{path}: batch #{batch.pk} resumed (hukou, csv, utf-8): read 7 = imported 3 + unchanged 3 + quarantined 1")
    batch.refresh_from_db()
    assert (batch.status, report(batch), batch.error) == (BatchStatus.DONE, (7, 3, 3, 1), "")
    assert ImportBatch.objects.count() == 1
    assert list(QuarantinedRow.objects.values_list("batch_id", "row_number")) == [(batch.pk, 3)]
    assert sorted(SourceRecord.objects.values_list("source_key", flat=True)) == sorted(IDS)
    assert not SourceRecord.objects.filter(superseded_by__isnull=False).exists()
    resumed = AuditEntry.objects.get(action="records.import_resume")
    assert resumed.details["interrupted_at"] == {"read": 4, "imported": 3, "unchanged": 0, "quarantined": 1}
    # Once more: a finished batch is not resumed; a new one finds everything unchanged.
    call_command("import", "--source", "hukou", "--kind", "person", str(path), stdout=StringIO())
    assert report(ImportBatch.objects.latest("pk")) == (7, 0, 6, 1)


def test_a_batch_whose_process_is_gone_is_interrupted_at_once(desk: Desk, tmp_path: Path) -> None:
    path = write(tmp_path / "people.csv", CSV)
    batch = killed_after(services.import_start(actor=None, source_key="hukou", path=path, kind="person"), 2)
    ImportBatch.objects.filter(pk=batch.pk).update(worker=dead_process_identity())

    assert [b.pk for b in services.import_batches_reap()] == [batch.pk]
    batch.refresh_from_db()
    assert (batch.status, report(batch)) == (BatchStatus.INTERRUPTED, (2, 1, 0, 1))
    assert "is gone" in batch.error


def test_a_different_file_or_mapping_does_not_resume(desk: Desk, tmp_path: Path) -> None:
    path = write(tmp_path / "people.csv", CSV)
    batch = killed_after(services.import_start(actor=None, source_key="hukou", path=path, kind="person"), 2)
    ImportBatch.objects.filter(pk=batch.pk).update(worker=dead_process_identity())
    services.import_batches_reap()

    other = write(tmp_path / "other.csv", people_csv(*ROWS[:3]))
    job = services.import_start(actor=None, source_key="hukou", path=other, kind="person")
    assert (job.resumed, job.batch.pk != batch.pk) == (False, True)
    services.import_run(job, actor=None)
    assert ImportBatch.objects.get(pk=batch.pk).status == BatchStatus.INTERRUPTED


def test_a_chunk_of_a_batch_marked_interrupted_meanwhile_is_not_written(desk: Desk, tmp_path: Path) -> None:
    path = write(tmp_path / "people.csv", CSV)
    job = services.import_start(actor=None, source_key="hukou", path=path, kind="person")

    def progress(done: int, total: int) -> None:
        if done == 2:  # another process decided this one was stuck
            ImportBatch.objects.filter(pk=job.batch.pk).update(status=BatchStatus.INTERRUPTED)

    with pytest.raises(services.BatchNotRunning):
        services.import_run(job, actor=None, progress=progress)
    batch = ImportBatch.objects.get(pk=job.batch.pk)
    assert (batch.status, report(batch), SourceRecord.objects.count()) == (BatchStatus.INTERRUPTED, (2, 1, 0, 1), 1)


def test_the_import_page_shows_an_interrupted_batch(desk: Desk, tmp_path: Path, client: Client) -> None:
    path = write(tmp_path / "people.csv", CSV)
    batch = killed_after(services.import_start(actor=desk.steward, source_key="hukou", path=path, kind="person"), 4)
    ImportBatch.objects.filter(pk=batch.pk).update(worker=dead_process_identity())
    client.force_login(desk.steward)

    listing = client.get("/records/imports/").content.decode()  # the page itself notices the dead process
    assert "<td>已中断</td>" in listing
    page = client.get(f"/records/imports/{batch.pk}/").content.decode()
    assert "已中断 · 最后进展于" in page
    assert "读取 4 行：导入 3，未变化 0，隔离 1" in page
    assert "在本页再次上传同一文件，或用 jingwu import 导入同一文件，即可继续此批次" in page
    assert 'hx-trigger="every 1s"' not in page

    client.cookies["django_language"] = "en"
    english = client.get(f"/records/imports/{batch.pk}/").content.decode()
    assert "Interrupted" in english
    assert "upload the same file again on this page" in english


# --------------------------------------------------------------------------- uploads


def uploads(desk_tmp: Path) -> list[Path]:
    return sorted((desk_tmp / "var" / "uploads").rglob("*"))


def upload(client: Client, text: str, **extra: Any) -> Any:
    return client.post("/records/imports/", {"source": "hukou", "kind": "person", "label": "",
                                              "file": SimpleUploadedFile("people.csv", text.encode()), **extra})


def test_an_upload_is_deleted_when_its_batch_is_done(desk: Desk, tmp_path: Path, client: Client,
                                                     django_capture_on_commit_callbacks: Any) -> None:
    client.force_login(desk.steward)
    mapping = 'kind = "person"\nkey = "证件号码"\n[fields]\nname = "姓名"\nid_number = "证件号码"\n'
    with django_capture_on_commit_callbacks(execute=True):
        response = upload(client, CSV, mapping_file=SimpleUploadedFile("m.toml", mapping.encode()))

    batch = ImportBatch.objects.get()
    assert (response.status_code, batch.status, report(batch)) == (302, BatchStatus.DONE, (7, 6, 0, 1))
    assert batch.upload_path.startswith(str(tmp_path / "var" / "uploads"))
    assert not Path(batch.upload_path).exists()
    assert uploads(tmp_path) == []  # the file, its folder and the mapping's


def test_an_upload_is_deleted_when_it_cannot_be_imported(desk: Desk, tmp_path: Path, client: Client) -> None:
    client.force_login(desk.steward)
    response = upload(client, CSV, kind="")
    assert response.status_code == 400
    assert ImportBatch.objects.count() == 0
    assert uploads(tmp_path) == []


def test_an_upload_is_deleted_when_its_batch_fails_or_is_interrupted(
        desk: Desk, tmp_path: Path, django_capture_on_commit_callbacks: Any) -> None:
    stored = services.upload_store("people.csv", [CSV.encode()])
    job = services.import_start(actor=None, source_key="hukou", path=stored, kind="person", upload=True)
    stored.write_bytes(b"\x00")  # the file changes under the import: reading it fails
    job = services.FileImport(batch=job.batch, spec=FileSpec(stored, "spreadsheet"), mapping=job.mapping)
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(Exception):  # noqa: B017
        services.import_run(job, actor=None)  # whatever the spreadsheet reader raises
    assert (ImportBatch.objects.get().status, uploads(tmp_path)) == (BatchStatus.FAILED, [])

    stored = services.upload_store("people.csv", [CSV.encode()])
    batch = killed_after(services.import_start(actor=None, source_key="hukou", path=stored, kind="person",
                                               upload=True), 2)
    assert stored.exists()  # still running: the file is still needed
    ImportBatch.objects.filter(pk=batch.pk).update(worker=dead_process_identity())
    with django_capture_on_commit_callbacks(execute=True):
        services.import_batches_reap()
    assert uploads(tmp_path) == []


def test_only_uploads_are_ever_deleted(desk: Desk, tmp_path: Path) -> None:
    outside = write(tmp_path / "keep.csv", CSV)
    services.upload_discard(outside)
    assert outside.exists()
