"""Purpose-bound reading of personal data.

Every selector that returns a person's data calls `person_read()`: it checks the
actor may read data of that unit, requires a current stated purpose, and writes
the audit entry carrying that purpose. Modules never write those entries themselves."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied

from jingwu.core import access, audit, selectors
from jingwu.core.models import AccessPurpose, Unit, User


class PurposeRequired(PermissionDenied):
    """No current purpose is stated; the caller should ask for one (the portal sends the user to /purpose)."""


def require_purpose(actor: User) -> AccessPurpose:
    purpose = selectors.current_purpose(actor)
    if purpose is None:
        audit.record(actor=actor, action="purpose.missing", outcome="denied")
        raise PurposeRequired("a purpose of access must be stated before reading personal data")
    return purpose


def person_read(actor: User, *, object_type: str, object_id: str | int, unit: Unit | None,
                action: str = access.Action.PERSON_READ, details: dict[str, Any] | None = None) -> AccessPurpose:
    """Authorise and audit one read of a person's data; returns the purpose it was read under."""
    access.check(actor, action, unit, object_type=object_type, object_id=object_id)
    purpose = require_purpose(actor)
    audit.record(actor=actor, action=action, object_type=object_type, object_id=str(object_id),
                 unit_code=unit.code if unit is not None else "", purpose=str(purpose), details=details)
    return purpose
