"""The append-only, hash-chained audit log.

Each entry's hash covers its own fields and the previous entry's hash. Writers
lock the single chain-head row, so the chain stays linear under concurrent
writers; `verify()` walks the chain and names the first entry that does not fit.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC
from decimal import Decimal
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from jingwu.core import request_context
from jingwu.core.models import AuditChainHead, AuditEntry, Unit, User

GENESIS_HASH = "0" * 64

_HASHED_FIELDS = ("at", "actor_id", "actor_username", "unit_code", "action", "object_type", "object_id",
                  "purpose", "request_id", "client_addr", "outcome", "details", "prev_hash")


def entry_digest(fields: dict[str, Any]) -> str:
    """SHA-256 over the canonical JSON of the hashed fields."""
    canonical = {name: fields[name] for name in _HASHED_FIELDS}
    at = canonical["at"]
    canonical["at"] = at.astimezone(UTC).isoformat(timespec="microseconds") if at else None
    payload = json.dumps(canonical, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


_MAX_LENGTH = {f.name: f.max_length for f in AuditEntry._meta.concrete_fields if getattr(f, "max_length", None)}


def _text(value: str) -> str:
    # PostgreSQL refuses NUL in text and jsonb; the audit write must not be what breaks an action.
    return value.replace("\x00", "\ufffd")


def _as_stored(value: Any) -> Any:
    """`details` in the form the database gives back, so the hash verifies on every backend.

    jsonb keeps a number's value, not its spelling: 1e+20 comes back as 100000000000000000000
    and -0.0 as 0.0; text cannot hold NUL, and NaN and infinities are not JSON."""
    if isinstance(value, float):
        if not math.isfinite(value):
            return str(value)
        if value == 0:
            return 0.0
        if value.is_integer() and "e" in repr(value):
            return int(Decimal(repr(value)))
        return value
    if isinstance(value, str):
        return _text(value)
    if isinstance(value, dict):
        return {_text(k): _as_stored(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_as_stored(v) for v in value]
    return value


def _actor_fields(actor: User | None) -> tuple[int | None, str]:
    if actor is None or not getattr(actor, "is_authenticated", False):
        return None, ""
    return actor.pk, actor.get_username()


def _home_unit_code(actor: User) -> str:
    """The code of the actor's home unit: from the unit when loaded, else its one column (a
    request's user comes without it, and loading the whole unit cost more than the append)."""
    if User.home_unit.is_cached(actor):
        return actor.home_unit.code if actor.home_unit else ""
    with connection.cursor() as cursor:
        cursor.execute(_HOME_UNIT_CODE, [actor.home_unit_id])
        row = cursor.fetchone()
    return str(row[0]) if row else ""


def record(*, actor: User | None, action: str, object_type: str = "", object_id: str | int = "",
           purpose: str = "", outcome: str = "allowed", details: dict[str, Any] | None = None,
           unit_code: str = "", request: Any = None) -> AuditEntry:
    """Append one entry, in the caller's transaction when there is one (else in its own).

    No savepoint of its own: an entry that cannot be written must undo the action it records,
    so the whole transaction goes, and every audited write saves two statements (SAVEPOINT,
    RELEASE) in the stretch where it holds the chain head's lock, which every writer waits for."""
    ctx = request_context.current()
    actor_id, username = _actor_fields(actor)
    if not unit_code and actor is not None and getattr(actor, "home_unit_id", None):
        unit_code = _home_unit_code(actor)
    fields: dict[str, Any] = {
        "at": timezone.now(),
        "actor_id": actor_id,
        "actor_username": username,
        "unit_code": unit_code,
        "action": action,
        "object_type": object_type,
        "object_id": str(object_id),
        "purpose": purpose,
        "request_id": ctx.request_id if ctx else "",
        "client_addr": ctx.client_addr if ctx else "",
        "outcome": outcome,
    }
    for name, value in fields.items():
        if isinstance(value, str):
            fields[name] = _text(value)[:_MAX_LENGTH[name]]
    fields["details"] = _as_stored(json.loads(json.dumps(details or {}, default=str)))
    pk = _append(fields)
    entry = AuditEntry(pk=pk, **fields)  # stored by _append, not through the ORM
    entry._state.adding, entry._state.db = False, connection.alias
    return entry


# The append is the cost every audited read pays, so it is written as the few statements it
# needs rather than through the ORM (which spent most of the ~0.6 ms compiling them): lock the
# chain head, read its hash, insert the entry, move the head — in one transaction (the
# caller's, when there is one: see record). On SQLite the IMMEDIATE transaction is the lock; on PostgreSQL the head
# row's FOR UPDATE, and the insert and the head's update go in one statement.
_ENTRY_COLUMNS = (*_HASHED_FIELDS, "entry_hash")
_ENTRY_FIELDS = tuple({f.attname: f for f in AuditEntry._meta.concrete_fields}[c] for c in _ENTRY_COLUMNS)


_ENTRY_TABLE, _HEAD_TABLE = AuditEntry._meta.db_table, AuditChainHead._meta.db_table
_COLUMNS = ", ".join(str(f.column) for f in _ENTRY_FIELDS)
_MARKS = ", ".join(["%s"] * len(_ENTRY_FIELDS))
# Our own table and column names only; every value goes as a parameter.
_HOME_UNIT_CODE = f"SELECT code FROM {Unit._meta.db_table} WHERE id = %s"  # noqa: S608
_READ_HEAD = f"SELECT last_hash, entries FROM {_HEAD_TABLE} WHERE id = 1"  # noqa: S608
_CREATE_HEAD = (f"INSERT INTO {_HEAD_TABLE} (id, last_entry_id, last_hash, entries) "  # noqa: S608
                "VALUES (1, 0, %s, 0) ON CONFLICT DO NOTHING")
_INSERT = f"INSERT INTO {_ENTRY_TABLE} ({_COLUMNS}) VALUES ({_MARKS}) RETURNING id"  # noqa: S608
_MOVE_HEAD = f"UPDATE {_HEAD_TABLE} SET last_entry_id = %s, last_hash = %s, entries = %s WHERE id = 1"  # noqa: S608
_INSERT_AND_MOVE_HEAD = (f"WITH e AS ({_INSERT}) UPDATE {_HEAD_TABLE} SET last_entry_id = e.id, "  # noqa: S608
                         f"last_hash = %s, entries = %s FROM e WHERE {_HEAD_TABLE}.id = 1 RETURNING e.id")


def statements_per_entry() -> int:
    """Statements an entry costs on the current connection once the chain head exists (query
    budgets in tests count them): read the head, insert the entry, move the head — the last two
    in one statement on PostgreSQL."""
    return 2 if connection.vendor == "postgresql" else 3


def _append(fields: dict[str, Any]) -> int:
    """Link ``fields`` to the chain head (setting prev_hash and entry_hash) and store it; its id."""
    postgresql = connection.vendor == "postgresql"
    with transaction.atomic(savepoint=False), connection.cursor() as cursor:
        read = _READ_HEAD + " FOR UPDATE" if postgresql else _READ_HEAD
        cursor.execute(read)
        row = cursor.fetchone()
        if row is None:  # the first entry ever: make the head (a racing writer may make it first)
            cursor.execute(_CREATE_HEAD, [GENESIS_HASH])
            cursor.execute(read)
            row = cursor.fetchone()
        last_hash, entries = row
        fields["prev_hash"] = last_hash
        fields["entry_hash"] = entry_digest(fields)
        values = [f.get_db_prep_save(fields[c], connection)
                  for f, c in zip(_ENTRY_FIELDS, _ENTRY_COLUMNS, strict=True)]
        if postgresql:
            cursor.execute(_INSERT_AND_MOVE_HEAD, [*values, fields["entry_hash"], entries + 1])
            (pk,) = cursor.fetchone()
        else:
            cursor.execute(_INSERT, values)
            (pk,) = cursor.fetchone()
            cursor.execute(_MOVE_HEAD, [pk, fields["entry_hash"], entries + 1])
    return int(pk)


@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    checked: int
    bad_entry_id: int | None = None
    reason: str = ""


def _walk(batch: int = 5000) -> Iterator[AuditEntry]:
    last = 0
    while True:
        rows = list(AuditEntry.objects.filter(pk__gt=last).order_by("pk")[:batch])
        if not rows:
            return
        yield from rows
        last = rows[-1].pk


def verify() -> VerifyResult:
    """Walk the whole chain; the first entry whose hash or link is wrong is named."""
    prev = GENESIS_HASH
    checked = 0
    last_id = 0
    for entry in _walk():
        fields = {name: getattr(entry, name) for name in _HASHED_FIELDS}
        if entry.prev_hash != prev:
            return VerifyResult(False, checked, entry.pk,
                                "prev_hash does not match the previous entry (an entry before it was "
                                "removed or altered)")
        if entry_digest(fields) != entry.entry_hash:
            return VerifyResult(False, checked, entry.pk, "content does not match its hash (entry altered)")
        prev = entry.entry_hash
        last_id = entry.pk
        checked += 1
    head = AuditChainHead.objects.filter(pk=1).first()
    if head is None:
        if checked:  # every write moves the head; entries without one mean it was removed
            return VerifyResult(False, checked, last_id, "the chain head is missing, so removed entries at "
                                                         "the end cannot be ruled out")
        return VerifyResult(True, 0)
    if head.last_hash != prev or head.entries != checked:
        how = "removed from the end" if checked < head.entries else "written outside the audit log's writer"
        return VerifyResult(False, checked, head.last_entry_id,
                            f"chain head names entry {head.last_entry_id} ({head.entries} entries) but the "
                            f"table ends at entry {last_id} ({checked} entries): entries {how}")
    return VerifyResult(True, checked)


def tail(n: int, *, actor: User | None = None, via: str = "cli") -> list[AuditEntry]:
    """The last `n` entries, oldest first. Reading the log is itself recorded (after the read)."""
    entries = list(AuditEntry.objects.order_by("-pk")[:n])[::-1]
    record(actor=actor, action="audit.read", object_type="audit_log", details={"via": via, "tail": n})
    return entries
