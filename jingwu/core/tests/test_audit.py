"""The audit log: every field recorded, hash-chained, append-only on PostgreSQL, and
`jingwu audit verify` naming the first entry that was altered or removed.

The same tests run on SQLite and on PostgreSQL. Where the databases differ they
branch on `connection.vendor`: on SQLite the attacker's raw write goes through and
only the chain catches it; on PostgreSQL the trigger refuses it first, and the
attacker (a table owner) must switch the trigger off, after which the chain catches it."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import time
from io import StringIO
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from django.core.management import call_command, execute_from_command_line
from django.core.management.base import CommandError
from django.db import DatabaseError, connection, transaction
from django.test import Client

from jingwu.core import audit
from jingwu.core.models import AuditChainHead, AuditEntry, User
from jingwu.core.tests.factories import make_tree, make_user

pytestmark = pytest.mark.django_db

TRIGGER = "core_auditentry_append_only"


def _entries(n: int) -> list[AuditEntry]:
    return [audit.record(actor=None, action="test.write", object_type="thing", object_id=i, details={"i": i})
            for i in range(n)]


def _attack(sql: str, params: list[Any]) -> None:
    """Write to the audit table behind the application's back, as someone with database access would."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            with pytest.raises(DatabaseError, match="core_auditentry is append-only"), transaction.atomic():
                cursor.execute(sql, params)
            cursor.execute(f"ALTER TABLE core_auditentry DISABLE TRIGGER {TRIGGER}")
            try:
                cursor.execute(sql, params)
                changed = cursor.rowcount
            finally:
                cursor.execute(f"ALTER TABLE core_auditentry ENABLE TRIGGER {TRIGGER}")
        else:
            cursor.execute(sql, params)
            changed = cursor.rowcount
    assert changed == 1


def _verify_error() -> str:
    with pytest.raises(CommandError) as caught:
        call_command("audit", "verify")
    assert caught.value.returncode == 1
    return str(caught.value)


# --- what an entry holds, and the chain ------------------------------------------

def test_an_entry_records_every_field() -> None:
    tree = make_tree()
    officer = make_user("wang", [("officer", tree.station_a1a)])
    entry = audit.record(actor=officer, action="person.read", object_type="person", object_id=7,
                         purpose="核查 [case:A1]", outcome="allowed", details={"fields": ["name"]},
                         unit_code="370102S01G01")
    stored = AuditEntry.objects.get(pk=entry.pk)
    assert (stored.actor_id, stored.actor_username, stored.unit_code, stored.action, stored.object_type,
            stored.object_id, stored.purpose, stored.outcome, stored.details, stored.request_id,
            stored.client_addr) == (officer.pk, "wang", "370102S01G01", "person.read", "person", "7",
                                    "核查 [case:A1]", "allowed", {"fields": ["name"]}, "", "")
    assert stored.at is not None and stored.at == entry.at


def test_the_returned_entry_is_the_stored_row() -> None:
    first = audit.record(actor=None, action="x", details={"n": 1})
    second = audit.record(actor=None, action="y", object_id=5, details={"q": "张伟"})
    for entry in (first, second):
        stored = AuditEntry.objects.get(pk=entry.pk)
        assert ({f.attname: getattr(entry, f.attname) for f in AuditEntry._meta.concrete_fields}
                == {f.attname: getattr(stored, f.attname) for f in AuditEntry._meta.concrete_fields})
    assert (first.prev_hash, second.prev_hash) == (audit.GENESIS_HASH, first.entry_hash)


def test_an_entry_in_a_rolled_back_transaction_leaves_no_trace() -> None:
    kept = audit.record(actor=None, action="kept")
    with pytest.raises(RuntimeError), transaction.atomic():
        audit.record(actor=None, action="gone")
        raise RuntimeError("the action failed")
    after = audit.record(actor=None, action="after")
    assert list(AuditEntry.objects.order_by("pk").values_list("action", flat=True)) == ["kept", "after"]
    assert after.prev_hash == kept.entry_hash
    head = AuditChainHead.objects.get()
    assert (head.last_entry_id, head.last_hash, head.entries) == (after.pk, after.entry_hash, 2)
    assert audit.verify() == audit.VerifyResult(True, 2)


def test_the_unit_defaults_to_the_actors_home_unit() -> None:
    tree = make_tree()
    officer = make_user("wang", [("officer", tree.station_a1a)])
    assert audit.record(actor=officer, action="x").unit_code == "370102S01"
    fresh = User.objects.get(pk=officer.pk)  # as a request loads it: the unit not with it
    assert not User.home_unit.is_cached(fresh)
    assert audit.record(actor=fresh, action="x").unit_code == "370102S01"
    assert audit.record(actor=None, action="x").unit_code == ""


def test_entries_form_a_chain_and_the_head_follows_it() -> None:
    make_tree()
    _entries(3)
    rows = list(AuditEntry.objects.order_by("pk"))
    assert rows[0].prev_hash == audit.GENESIS_HASH
    assert [b.prev_hash for b in rows[1:]] == [a.entry_hash for a in rows[:-1]]
    assert [r.entry_hash for r in rows] == [
        audit.entry_digest({name: getattr(r, name) for name in audit._HASHED_FIELDS}) for r in rows]
    head = AuditChainHead.objects.get()
    assert (head.last_entry_id, head.last_hash, head.entries) == (rows[-1].pk, rows[-1].entry_hash, len(rows))


@pytest.mark.parametrize(("value", "stored"), [
    (1234.56, 1234.56), (0.1 + 0.2, 0.30000000000000004), (1e-7, 1e-7), (1.0, 1.0), (10**30, 10**30),
    # jsonb re-spells these; they are stored as it will give them back
    (1e20, 10**20), (1.2345e20, 123450000000000000000), (1.5e300, 15 * 10**299), (-0.0, 0.0),
    (float("nan"), "nan"), (float("inf"), "inf"),
    ("张三\x00", "张三\ufffd"), ({"z": 1, "a": [None, True, "乙"]}, {"a": [None, True, "乙"], "z": 1}),
])
def test_details_verify_after_the_database_round_trip(value: Any, stored: Any) -> None:
    entry = audit.record(actor=None, action="x", details={"v": value})
    assert AuditEntry.objects.get(pk=entry.pk).details == {"v": stored}
    assert audit.verify() == audit.VerifyResult(True, 1)


def test_over_long_or_nul_text_is_stored_as_hashed() -> None:
    entry = audit.record(actor=None, action="search.query", object_type="query", object_id="查" * 100,
                         purpose="p" * 600 + "\x00")
    stored = AuditEntry.objects.get(pk=entry.pk)
    assert (stored.object_id, stored.purpose) == ("查" * 64, "p" * 500)
    assert audit.verify() == audit.VerifyResult(True, 1)


def test_request_id_and_client_address_come_from_the_request(client: Client) -> None:
    # A signed-in user with no role is refused by /api/me; the refusal is audited with the request's context.
    user = make_user("norole")
    client.force_login(user)
    response = client.get("/api/me", HTTP_X_REQUEST_ID="req-7f3a.1", REMOTE_ADDR="203.0.113.9")
    assert response.status_code == 403
    assert response["X-Request-ID"] == "req-7f3a.1"
    entry = AuditEntry.objects.order_by("-pk").first()
    assert entry is not None
    assert (entry.action, entry.outcome, entry.actor_username, entry.request_id, entry.client_addr) == (
        "portal.use", "denied", "norole", "req-7f3a.1", "203.0.113.9")


def test_a_malformed_request_id_is_replaced_and_the_new_one_audited(client: Client) -> None:
    response = client.get("/api/me", HTTP_AUTHORIZATION="Bearer jw_deadbeef_nope",
                          HTTP_X_REQUEST_ID="not a safe id; drop table", REMOTE_ADDR="198.51.100.4")
    assert response.status_code == 401
    issued = response["X-Request-ID"]
    assert len(issued) == 32 and int(issued, 16) >= 0
    entry = AuditEntry.objects.order_by("-pk").first()
    assert entry is not None
    assert (entry.action, entry.outcome, entry.object_id, entry.request_id, entry.client_addr) == (
        "api.auth", "denied", "deadbeef", issued, "198.51.100.4")


def test_commands_run_without_a_request_context() -> None:
    entry = audit.record(actor=None, action="x")
    assert (entry.request_id, entry.client_addr) == ("", "")


# --- verify ------------------------------------------------------------------------

def test_verify_passes_an_untouched_chain() -> None:
    make_tree()
    _entries(4)
    n = AuditEntry.objects.count()
    assert audit.verify() == audit.VerifyResult(True, n)
    out = StringIO()
    call_command("audit", "verify", stdout=out)
    assert out.getvalue() == f"audit chain intact: {n} entries\n"


def test_verify_passes_an_empty_log() -> None:
    out = StringIO()
    call_command("audit", "verify", stdout=out)
    assert out.getvalue() == "audit chain intact: 0 entries\n"


def test_altering_a_middle_entry_is_caught() -> None:
    rows = _entries(5)
    victim = rows[2]
    _attack("UPDATE core_auditentry SET purpose = %s WHERE id = %s", ["nothing to see", victim.pk])
    assert _verify_error() == (f"audit chain broken at entry {victim.pk}: content does not match its hash "
                               f"(entry altered)")


def test_altering_the_outcome_of_a_denial_is_caught() -> None:
    rows = _entries(2)
    denied = audit.record(actor=None, action="case.decide", outcome="denied")
    _entries(2)
    _attack("UPDATE core_auditentry SET outcome = 'allowed' WHERE id = %s", [denied.pk])
    assert audit.verify() == audit.VerifyResult(False, len(rows), denied.pk,
                                                "content does not match its hash (entry altered)")


def test_rehashing_an_altered_entry_breaks_the_next_link() -> None:
    # An attacker who recomputes the altered entry's own hash still breaks its successor's prev_hash.
    rows = _entries(4)
    victim = rows[1]
    fields = {name: getattr(victim, name) for name in audit._HASHED_FIELDS}
    fields["object_id"] = "forged"
    _attack("UPDATE core_auditentry SET object_id = 'forged', entry_hash = %s WHERE id = %s",
            [audit.entry_digest(fields), victim.pk])
    assert _verify_error() == (f"audit chain broken at entry {rows[2].pk}: prev_hash does not match the previous "
                               f"entry (an entry before it was removed or altered)")


def test_deleting_a_middle_entry_names_the_next_one() -> None:
    rows = _entries(5)
    _attack("DELETE FROM core_auditentry WHERE id = %s", [rows[2].pk])
    assert _verify_error() == (f"audit chain broken at entry {rows[3].pk}: prev_hash does not match the previous "
                               f"entry (an entry before it was removed or altered)")


def test_deleting_the_first_entry_is_caught() -> None:
    rows = _entries(3)
    _attack("DELETE FROM core_auditentry WHERE id = %s", [rows[0].pk])
    assert audit.verify().bad_entry_id == rows[1].pk


def test_deleting_the_last_entry_is_caught_by_the_chain_head() -> None:
    rows = _entries(4)
    _attack("DELETE FROM core_auditentry WHERE id = %s", [rows[-1].pk])
    assert _verify_error() == (
        f"audit chain broken at entry {rows[-1].pk}: chain head names entry {rows[-1].pk} (4 entries) but the "
        f"table ends at entry {rows[-2].pk} (3 entries): entries removed from the end")


def test_removing_the_chain_head_too_is_caught() -> None:
    rows = _entries(3)
    _attack("DELETE FROM core_auditentry WHERE id = %s", [rows[-1].pk])
    AuditChainHead.objects.all().delete()
    assert audit.verify() == audit.VerifyResult(
        False, 2, rows[-2].pk, "the chain head is missing, so removed entries at the end cannot be ruled out")


def test_the_orm_cannot_update_or_delete_entries_on_postgresql() -> None:
    rows = _entries(3)
    if connection.vendor == "postgresql":
        with pytest.raises(DatabaseError, match="append-only: UPDATE rejected"), transaction.atomic():
            AuditEntry.objects.filter(pk=rows[1].pk).update(purpose="x")
        with pytest.raises(DatabaseError, match="append-only: UPDATE rejected"), transaction.atomic():
            rows[1].purpose = "x"
            rows[1].save()
        with pytest.raises(DatabaseError, match="append-only: DELETE rejected"), transaction.atomic():
            AuditEntry.objects.filter(pk=rows[1].pk).delete()
        assert audit.verify() == audit.VerifyResult(True, 3)
    else:
        # SQLite has no guard in the database; the chain is what catches it.
        assert AuditEntry.objects.filter(pk=rows[1].pk).update(purpose="x") == 1
        assert audit.verify().bad_entry_id == rows[1].pk


# --- the command line, as a shell would run it ---------------------------------------

@pytest.mark.django_db(transaction=True)
def test_jingwu_audit_verify_exits_1_naming_the_entry(capsys: pytest.CaptureFixture[str]) -> None:
    rows = _entries(3)
    execute_from_command_line(["jingwu", "audit", "--skip-checks", "verify"])  # returns: exit status 0
    assert capsys.readouterr().out == "audit chain intact: 3 entries\n"

    _attack("UPDATE core_auditentry SET details = %s WHERE id = %s", ['{"i": 99}', rows[1].pk])
    with pytest.raises(SystemExit) as broken:
        execute_from_command_line(["jingwu", "audit", "--skip-checks", "verify"])
    assert broken.value.code == 1
    assert capsys.readouterr().err == (f"CommandError: audit chain broken at entry {rows[1].pk}: content does not "
                                       f"match its hash (entry altered)\n")


def test_audit_tail_prints_the_latest_entries_and_records_the_read() -> None:
    tree = make_tree()
    officer = make_user("wang", [("officer", tree.station_a1a)])
    audit.record(actor=officer, action="person.read", object_type="person", object_id=7, purpose="核查",
                 details={"k": "v"})
    audit.record(actor=None, action="api.auth", outcome="denied")
    out = StringIO()
    call_command("audit", "tail", "-n", "2", stdout=out)
    lines = out.getvalue().splitlines()
    assert len(lines) == 2
    read, refused = (line.split("  ") for line in lines)
    assert read[2:] == ["allowed", "person.read", "wang", "370102S01", "person:7", "purpose='核查'", '{"k": "v"}']
    assert refused[2:] == ["denied", "api.auth", "-", "-", "-"]
    last = AuditEntry.objects.order_by("-pk").first()
    assert last is not None
    assert (last.action, last.details) == ("audit.read", {"via": "cli", "tail": 2})
    with pytest.raises(CommandError, match="-n must be at least 1"):
        call_command("audit", "tail", "-n", "0")


# --- concurrency --------------------------------------------------------------------

_WRITER = """
import os, sys, time
import django
django.setup()
from jingwu.core import audit
name, ready, go, n = sys.argv[1:5]
open(ready, "w").close()
while not os.path.exists(go):
    time.sleep(0.005)
for i in range(int(n)):
    audit.record(actor=None, action="test.concurrent", object_id=f"{name}-{i}")
"""


def _database_url(tmp_path: Path) -> str:
    """A database other processes can write to: the PostgreSQL test database itself, or for SQLite
    a migrated file (the SQLite test database lives in this process's memory)."""
    if connection.vendor == "postgresql":
        db = connection.settings_dict
        auth = quote(db["USER"], safe="") + (f":{quote(db['PASSWORD'], safe='')}" if db["PASSWORD"] else "")
        port = f":{db['PORT']}" if db["PORT"] else ""
        return f"postgres://{auth}@{quote(db['HOST'], safe='')}{port}/{db['NAME']}"
    url = f"sqlite:///{tmp_path / 'concurrent.sqlite3'}"
    subprocess.run([sys.executable, "-m", "jingwu", "migrate", "-v", "0"], env=_env(url), check=True)
    return url


def _env(url: str) -> dict[str, str]:
    return dict(os.environ, DATABASE_URL=url, DJANGO_SETTINGS_MODULE="jingwu.settings")


@pytest.mark.django_db(transaction=True)
def test_concurrent_writers_keep_one_linear_chain(tmp_path: Path) -> None:
    # Separate processes, like several server workers, on the deployment's own database settings
    # (on SQLite: a WAL file with IMMEDIATE transactions; on PostgreSQL: the chain head's row lock).
    writers, per_writer = 3, 40
    url = _database_url(tmp_path)
    go = tmp_path / "go"
    procs = [subprocess.Popen([sys.executable, "-c", _WRITER, f"w{n}", str(tmp_path / f"ready{n}"), str(go),
                               str(per_writer)], env=_env(url)) for n in range(writers)]
    deadline = time.monotonic() + 60
    while not all((tmp_path / f"ready{n}").exists() for n in range(writers)) and time.monotonic() < deadline:
        time.sleep(0.01)
    go.touch()  # all start writing at once
    assert [p.wait(timeout=120) for p in procs] == [0] * writers

    if connection.vendor == "postgresql":
        rows = list(AuditEntry.objects.order_by("pk").values_list("object_id", "prev_hash", "entry_hash"))
    else:
        with sqlite3.connect(tmp_path / "concurrent.sqlite3") as db:
            rows = db.execute("SELECT object_id, prev_hash, entry_hash FROM core_auditentry ORDER BY id").fetchall()
    assert sorted(r[0] for r in rows) == sorted(f"w{n}-{i}" for n in range(writers) for i in range(per_writer))
    assert rows[0][1] == audit.GENESIS_HASH
    assert [b[1] for b in rows[1:]] == [a[2] for a in rows[:-1]]
    verify = subprocess.run([sys.executable, "-m", "jingwu", "audit", "--skip-checks", "verify"], env=_env(url),
                            capture_output=True, text=True, check=False)
    assert (verify.returncode, verify.stdout) == (0, f"audit chain intact: {writers * per_writer} entries\n")
