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

from django.db import transaction
from django.utils import timezone

from jingwu.core import request_context
from jingwu.core.models import AuditChainHead, AuditEntry, User

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
        unit_code = actor.home_unit.code if actor.home_unit else ""
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
    with transaction.atomic(savepoint=False):
        head, _created = AuditChainHead.objects.select_for_update().get_or_create(pk=1)
        fields["prev_hash"] = head.last_hash
        fields["entry_hash"] = entry_digest(fields)
        entry = AuditEntry.objects.create(**fields)
        AuditChainHead.objects.filter(pk=1).update(last_entry_id=entry.pk, last_hash=entry.entry_hash,
                                                   entries=head.entries + 1)
    return entry


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
