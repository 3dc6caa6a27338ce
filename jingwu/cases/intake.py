"""The case side of dispatch's hand-off (jingwu/dispatch/handoff.py): an incident whose
handling result is "to case" is accepted at once as a case of the responsible station.

Dispatch's categories are not ours, so a table maps (dispatch category, subcategory) to a
case type and category. The intake returns the case number, and dispatch moves the incident
to `case_opened` in the same transaction. It raises (and dispatch keeps the incident in
`awaiting_case`, counted, for a retry) when the actor may not record cases at that unit.

The reporter's lookup code is not shown here: the officer prints the receipt from the
case page ("reissue receipt"), which gives the code once."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.core.exceptions import ObjectDoesNotExist

from jingwu.cases import services
from jingwu.cases.workflow import CaseType
from jingwu.core.models import Unit, User
from jingwu.core.services import ServiceError

if TYPE_CHECKING:
    from jingwu.dispatch.handoff import IncidentHandoff

DISPATCH_APP = "dispatch"

_CRIMINAL, _ADMIN, _DISPUTE = CaseType.CRIMINAL, CaseType.ADMINISTRATIVE, CaseType.DISPUTE

# (dispatch category, subcategory) → (case type, case category); (category, "") is the fallback.
CATEGORY_MAP: dict[tuple[str, str], tuple[str, str]] = {
    ("criminal", "theft"): (_CRIMINAL, "theft"),
    ("criminal", "robbery"): (_CRIMINAL, "robbery"),
    ("criminal", "snatching"): (_CRIMINAL, "snatching"),
    ("criminal", "fraud"): (_CRIMINAL, "fraud"),
    ("criminal", "assault"): (_CRIMINAL, "assault"),
    ("criminal", "homicide"): (_CRIMINAL, "homicide"),
    ("criminal", "sexual_assault"): (_CRIMINAL, "rape"),
    ("criminal", "kidnapping"): (_CRIMINAL, "kidnapping"),
    ("criminal", "burglary"): (_CRIMINAL, "burglary"),
    ("criminal", "drugs"): (_CRIMINAL, "drugs"),
    ("criminal", ""): (_CRIMINAL, "other_criminal"),
    ("public_order", "fighting"): (_ADMIN, "beating"),
    ("public_order", "gambling"): (_ADMIN, "gambling"),
    ("public_order", "prostitution"): (_ADMIN, "prostitution"),
    ("public_order", ""): (_ADMIN, "disorder"),
    ("traffic", "drunk_driving"): (_CRIMINAL, "dangerous_driving"),
    ("traffic", "hit_and_run"): (_CRIMINAL, "other_criminal"),
    ("traffic", ""): (_DISPUTE, "traffic"),
    ("fire", ""): (_CRIMINAL, "arson"),  # a fire handed to case handling is a suspected arson
    ("dispute", "family"): (_DISPUTE, "family"),
    ("dispute", "neighbour"): (_DISPUTE, "neighbour"),
    ("dispute", "labour"): (_DISPUTE, "labour"),
    ("dispute", "consumer"): (_DISPUTE, "consumer"),
    ("dispute", ""): (_DISPUTE, "other_dispute"),
    ("complaint", "report"): (_CRIMINAL, "other_criminal"),
}
FALLBACK = (_ADMIN, "other_administrative")


def case_kind_for(category: str, subcategory: str) -> tuple[str, str]:
    """The case type and category for a dispatch category and subcategory."""
    return CATEGORY_MAP.get((category, subcategory)) or CATEGORY_MAP.get((category, "")) or FALLBACK


def _handling_unit(incident: IncidentHandoff) -> Unit:
    """The station handles the case; without one, the responsible unit itself."""
    code = incident.station_code or incident.unit_code
    try:
        return Unit.objects.get(code=code)
    except ObjectDoesNotExist:
        raise ServiceError(f"incident {incident.number}: no unit with code {code!r}", field="unit_code") from None


def case_intake(*, actor: User | None, incident: IncidentHandoff) -> str | None:
    """dispatch's CaseIntake: accept the incident as a case now and return the case number."""
    if actor is None:
        raise ServiceError(f"incident {incident.number}: a case is accepted by a signed-in officer", field="actor")
    case_type, category = case_kind_for(incident.category, incident.subcategory)
    parts = [p for p in (incident.summary, incident.address and f"地点：{incident.address}",
                         incident.result_text and f"处警情况：{incident.result_text}") if p]
    acceptance = services.case_accept_from_incident(
        actor=actor, incident_app=DISPATCH_APP, incident_id=incident.incident_id, incident_number=incident.number,
        unit=_handling_unit(incident), case_type=case_type, category=category,
        summary="\n".join(parts)[:2000] or incident.number, reported_at=incident.received_at, notify=False)
    return acceptance.case.number


def register() -> None:
    """Install the intake (called from CasesConfig.ready())."""
    from jingwu.dispatch import handoff

    handoff.register_case_intake(case_intake)
