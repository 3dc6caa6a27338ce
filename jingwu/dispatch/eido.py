"""An incident as a NENA Emergency Incident Data Object (EIDO, NENA-STA-021.1) in JSON.

Components: incident (with its dispositions), calls (with callbacks only when the caller's
number may be shown), locations, agencies (the 110 centre, the responsible station, the
agencies a call was diverted to), emergency resources (our patrol units) and dispatches,
each with its `$id` and `lastUpdateTimeStamp`; references are `{"$ref": id}`.

Registry texts: the EIDO registries name common values in English; where a registry's
value for a Chinese category is not settled we send our own English term there and the
exact code in the internal fields (incidentTypeInternalCode = "criminal.theft").
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, Final

from django.utils import timezone

from jingwu.dispatch import classifier, diversion
from jingwu.dispatch.models import Assignment, Call, Diversion, Incident, IncidentResult
from jingwu.dispatch.workflow import IncidentStatus, UnitStatus

EIDO_VERSION: Final = "1.0"

_INCIDENT_TYPE: Final = {
    "criminal": "Crime", "public_order": "PublicOrder", "traffic": "Traffic", "fire": "Fire",
    "assistance": "Assistance", "dispute": "Dispute", "complaint": "Complaint", "non_police": "NonEmergency",
    "invalid": "Invalid",
}
_INCIDENT_STATUS: Final = {
    IncidentStatus.RECEIVED: "Received", IncidentStatus.CLASSIFIED: "Pending",
    IncidentStatus.DIVERTED: "Transferred", IncidentStatus.DISPATCHED: "Dispatched",
    IncidentStatus.ON_SCENE: "OnScene", IncidentStatus.AWAITING_CASE: "Closed",
    IncidentStatus.CASE_OPENED: "Closed", IncidentStatus.REFERRED: "Closed", IncidentStatus.CLOSED: "Closed",
    IncidentStatus.MERGED: "Merged",
}
_DISPOSITION: Final = {
    IncidentResult.HANDLED: "Handled", IncidentResult.MEDIATED: "Mediated", IncidentResult.ADVISED: "Advised",
    IncidentResult.NO_FINDING: "Unfounded", IncidentResult.CANCELLED: "Cancelled",
    IncidentResult.INVALID: "Invalid", IncidentResult.REFERRED: "Referred", IncidentResult.CASE: "ReportTaken",
    IncidentResult.TRANSFERRED: "Transferred",
}
_UNIT_STATUS: Final = {
    UnitStatus.AVAILABLE: "Available", UnitStatus.DISPATCHED: "Dispatched", UnitStatus.EN_ROUTE: "Enroute",
    UnitStatus.ON_SCENE: "OnScene", UnitStatus.CLEARED: "Cleared", UnitStatus.OUT_OF_SERVICE: "OutOfService",
}
_AGENCY_TYPE: Final = {"119": "urn:emergency:service:responder.fire", "120": "urn:emergency:service:responder.ems"}
_POLICE: Final = "urn:emergency:service:responder.police"
# EIDO priorities run 0..10 with 10 the most urgent; ours 1..4 with 1 the most urgent.
_COMMON_PRIORITY: Final = {1: 10, 2: 7, 3: 4, 4: 1}


def _ts(value: datetime | None) -> str | None:
    return timezone.localtime(value).isoformat(timespec="seconds") if value is not None else None


def _ref(target: str) -> dict[str, str]:
    return {"$ref": target}


def _pidf_point(lat: float, lon: float) -> str:
    """A minimal PIDF-LO document with a WGS 84 point (the EIDO's locationByValue)."""
    return ('<presence xmlns="urn:ietf:params:xml:ns:pidf" xmlns:gp="urn:ietf:params:xml:ns:pidf:geopriv10" '
            'xmlns:gml="http://www.opengis.net/gml" entity="pres:incident@jingwu"><tuple id="loc"><status>'
            '<gp:geopriv><gp:location-info><gml:Point srsName="urn:ogc:def:crs:EPSG::4326">'
            f'<gml:pos>{lat:.6f} {lon:.6f}</gml:pos></gml:Point></gp:location-info></gp:geopriv>'
            '</status></tuple></presence>')


def _location(loc_id: str, updated: datetime, kind: str, lat: float | None, lon: float | None,
              text: str) -> dict[str, Any]:
    component: dict[str, Any] = {"$id": loc_id, "lastUpdateTimeStamp": _ts(updated),
                                 "locationTypeDescriptionRegistryText": kind}
    if lat is not None and lon is not None:
        component["locationByValue"] = _pidf_point(lat, lon)
    if text:
        component["locationDescriptionText"] = text
    return component


def incident_eido(incident: Incident, calls: Sequence[Call], assignments: Sequence[Assignment],
                  diversions: Sequence[Diversion], *, caller_numbers: dict[int, str] | None = None) -> dict[str, Any]:
    """The EIDO of one incident. `caller_numbers` (call id → number) only when the reader may see them."""
    element = f"psap.{incident.centre.division_code or incident.centre.code}.jingwu"
    base = f"urn:jingwu:{element}"
    incident_id = f"urn:emergency:uid:incidentid:{incident.number}:{element}"
    location_id = f"{base}:location:incident:{incident.pk}"
    centre_id = f"{base}:agency:{incident.centre.code}"
    agencies: list[dict[str, Any]] = [{
        "$id": centre_id, "lastUpdateTimeStamp": _ts(incident.updated_at),
        "agencyRoleDescriptionRegistryText": ["CallTaking", "Dispatch"], "agencyType": [_POLICE],
        "incidentOwningAgencyIndicator": True, "agencyName": str(incident.centre.name),
    }]
    if incident.station is not None:
        agencies.append({
            "$id": f"{base}:agency:{incident.station.code}", "lastUpdateTimeStamp": _ts(incident.updated_at),
            "agencyRoleDescriptionRegistryText": ["Responding"], "agencyType": [_POLICE],
            "incidentOwningAgencyIndicator": False, "agencyName": str(incident.station.name),
        })
    for record in diversions:
        agency = diversion.AGENCIES.get(record.agency)
        agencies.append({
            "$id": f"{base}:agency:diversion:{record.pk}", "lastUpdateTimeStamp": _ts(record.updated_at),
            "agencyRoleDescriptionRegistryText": ["Transferred" if record.kind == "transfer" else "Notified"],
            "agencyType": [_AGENCY_TYPE.get(record.agency, "urn:emergency:service:responder")],
            "incidentOwningAgencyIndicator": False, "agencyName": str(agency.name) if agency else record.agency,
            "agencyStatusInternalText": record.status,
        })

    locations = [_location(location_id, incident.updated_at, "CurrentIncident", incident.lat, incident.lon,
                           incident.address)]
    call_components = []
    callbacks = []
    for call in calls:
        call_id = f"urn:emergency:uid:callid:{call.pk}:{element}"
        component: dict[str, Any] = {
            "$id": call_id, "lastUpdateTimeStamp": _ts(call.updated_at),
            "callStateRegistryText": "Answered" if call.answered_at else "Ringing",
            "standardPrimaryCallType": "Emergency", "direction": "incoming",
            "callStartTimestamp": _ts(call.received_at), "answerDate": _ts(call.answered_at),
            "localCallType": call.channel, "notesText": call.content,
        }
        if call.lat is not None or call.address:
            caller_location = f"{base}:location:call:{call.pk}"
            locations.append(_location(caller_location, call.updated_at, "Caller", call.lat, call.lon, call.address))
            component["locationReference"] = [_ref(caller_location)]
        number = (caller_numbers or {}).get(call.pk)
        if number:
            callback_id = f"{base}:callback:{call.pk}"
            callbacks.append({"$id": callback_id, "lastUpdateTimeStamp": _ts(call.updated_at),
                              "callBackInformationUri": [f"tel:{number}"]})
            component["callbackReference"] = [_ref(callback_id)]
        call_components.append(component)

    resources = []
    dispatches = []
    for assignment in assignments:
        unit = assignment.patrol_unit
        resource_id = f"{base}:resource:{unit.call_sign}:{assignment.pk}"
        history = [f"{name}@{_ts(at)}" for name, at in (
            ("dispatched", assignment.dispatched_at), ("en_route", assignment.en_route_at),
            ("on_scene", assignment.arrived_at), (assignment.end or "ended", assignment.ended_at)) if at is not None]
        state = unit.status if assignment.ended_at is None else UnitStatus.CLEARED
        resource: dict[str, Any] = {
            "$id": resource_id, "lastUpdateTimeStamp": _ts(assignment.updated_at),
            "emergencyResourceTypeCommonRegistryText": "LawEnforcementPatrol",
            "emergencyResourceTypeInternalText": unit.kind, "emergencyResourceName": unit.call_sign,
            "primaryUnitStatusRegistryText": _UNIT_STATUS[UnitStatus(state)],
            "secondaryUnitStatusRegistryText": [], "resourceAttributeRegistryText": [],
            "unitStatusInternal": history,
        }
        if assignment.eta_seconds is not None:
            resource["eta"] = _ts(assignment.dispatched_at + timedelta(seconds=assignment.eta_seconds))
        resources.append(resource)
        dispatches.append({
            "$id": f"{base}:dispatch:{assignment.pk}", "lastUpdateTimeStamp": _ts(assignment.updated_at),
            "agencyReference": _ref(centre_id), "emergencyResourceReference": [_ref(resource_id)],
        })

    dispositions = []
    if incident.result:
        dispositions.append({
            "$id": f"{base}:disposition:{incident.pk}", "lastUpdateTimeStamp": _ts(incident.closed_at),
            "dispositionCommonRegistryCode": _DISPOSITION[IncidentResult(incident.result)],
            "dispositionPrimaryIndicator": True, "dispositionCategoryText": incident.result,
            "dispositionDescriptionText": incident.result_text,
        })
    incident_component: dict[str, Any] = {
        "$id": f"{base}:incident:{incident.pk}", "lastUpdateTimeStamp": _ts(incident.updated_at),
        "incidentTrackingIdentifier": incident_id, "internalIncidentId": incident.number,
        "incidentTypeCommonRegistryText": _INCIDENT_TYPE.get(incident.category or incident.suggested_category,
                                                             "Unknown"),
        "incidentTypeInternalCode": ".".join(p for p in (incident.category, incident.subcategory) if p),
        "incidentTypeInternalText": (classifier.subcategory_label(incident.category, incident.subcategory)
                                     if incident.category else ""),
        "incidentStatusCommonRegistryText": [_INCIDENT_STATUS[IncidentStatus(incident.status)]],
        "incidentStatusInternalText": [incident.status],
        "incidentPriorityInternalText": str(incident.priority or ""),
        "beatOrDispatchGroupText": incident.grid.code if incident.grid is not None else incident.unit.code,
        "locationReference": [_ref(location_id)],
        "dispositionComponent": dispositions,
    }
    if incident.priority:
        incident_component["incidentCommonPriorityNumber"] = _COMMON_PRIORITY[incident.priority]
    stamps = [incident.updated_at, *(c.updated_at for c in calls), *(a.updated_at for a in assignments),
              *(d.updated_at for d in diversions)]
    last = max(stamps)
    return {
        "$id": f"{base}:eido:{incident.number}:{int(last.timestamp())}",
        "lastUpdateTimeStamp": _ts(last),
        "eidoVersion": EIDO_VERSION,
        "issuingElementIdentification": element,
        "incidentComponent": incident_component,
        "callComponent": call_components,
        "callbackComponent": callbacks,
        "locationComponent": locations,
        "agencyComponent": agencies,
        "emergencyResourceComponent": resources,
        "dispatchComponent": dispatches,
    }
