"""GET /api/incidents/{id}/eido: the NENA EIDO shape, ids and references, callers only with a purpose."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from jingwu.core import services as core_services
from jingwu.core.models import AuditEntry
from jingwu.dispatch import services
from jingwu.dispatch.models import Incident
from jingwu.dispatch.tests.factories import World, patrol, take_call

pytestmark = pytest.mark.django_db

COMPONENTS = ("incidentComponent", "callComponent", "callbackComponent", "locationComponent", "agencyComponent",
              "emergencyResourceComponent", "dispatchComponent")


def _worked_incident(world: World) -> Incident:
    first = take_call(world, "楼道里着火了，有人被困", lat=36.66, lon=117.01, caller="13800000001")
    take_call(world, "那边着火了", lat=36.6601, lon=117.0101, caller="13800000002")
    incident = services.incident_classify(actor=world.dispatcher, incident=first.incident, category="fire",
                                          subcategory="building", priority=1)
    unit = patrol(world.quancheng, "Q1", 36.661, 117.011)
    services.unit_dispatch(actor=world.dispatcher, incident=incident, patrol_unit=unit)
    services.unit_transition(actor=world.officer_q, patrol_unit=unit, event="en_route")
    services.unit_transition(actor=world.officer_q, patrol_unit=unit, event="arrive")
    return services.incident_record_result(actor=world.officer_q, incident=incident, result="handled",
                                           text="明火已扑灭，无人受伤")


def _ids_and_refs(node: Any, ids: list[str], refs: list[str]) -> None:
    if isinstance(node, dict):
        if "$id" in node:
            ids.append(node["$id"])
            assert node.get("lastUpdateTimeStamp"), node["$id"]
        if set(node) == {"$ref"}:
            refs.append(node["$ref"])
        for value in node.values():
            _ids_and_refs(value, ids, refs)
    elif isinstance(node, list):
        for value in node:
            _ids_and_refs(value, ids, refs)


def test_the_export_has_every_component_with_ids_timestamps_and_resolving_references(world: World,
                                                                                      client: Client) -> None:
    incident = _worked_incident(world)
    client.force_login(world.dispatcher)
    response = client.get(f"/api/incidents/{incident.pk}/eido")
    assert response.status_code == 200, response.content
    doc = response.json()
    assert set(doc) == {"$id", "lastUpdateTimeStamp", "eidoVersion", "issuingElementIdentification", *COMPONENTS}
    assert (doc["eidoVersion"], doc["issuingElementIdentification"]) == ("1.0", "psap.370100.jingwu")
    ids: list[str] = []
    refs: list[str] = []
    _ids_and_refs(doc, ids, refs)
    assert len(ids) == len(set(ids))
    assert refs and set(refs) <= set(ids)

    inc = doc["incidentComponent"]
    assert inc["incidentTrackingIdentifier"] == f"urn:emergency:uid:incidentid:{incident.number}:psap.370100.jingwu"
    assert {k: inc[k] for k in ("internalIncidentId", "incidentTypeCommonRegistryText", "incidentTypeInternalCode",
                                "incidentTypeInternalText", "incidentStatusCommonRegistryText",
                                "incidentCommonPriorityNumber", "incidentPriorityInternalText",
                                "beatOrDispatchGroupText")} == {
        "internalIncidentId": incident.number, "incidentTypeCommonRegistryText": "Fire",
        "incidentTypeInternalCode": "fire.building", "incidentTypeInternalText": "建筑火灾",
        "incidentStatusCommonRegistryText": ["Closed"], "incidentCommonPriorityNumber": 10,
        "incidentPriorityInternalText": "1", "beatOrDispatchGroupText": "370102004G01"}
    [disposition] = inc["dispositionComponent"]
    assert (disposition["dispositionCommonRegistryCode"], disposition["dispositionDescriptionText"],
            disposition["dispositionPrimaryIndicator"]) == ("Handled", "明火已扑灭，无人受伤", True)

    assert [c["callStateRegistryText"] for c in doc["callComponent"]] == ["Answered", "Answered"]
    assert all(c["direction"] == "incoming" and c["standardPrimaryCallType"] == "Emergency"
               for c in doc["callComponent"])
    assert doc["callbackComponent"] == []  # no caller numbers without a stated purpose
    assert "13800000001" not in response.content.decode()
    kinds = [loc["locationTypeDescriptionRegistryText"] for loc in doc["locationComponent"]]
    assert kinds == ["CurrentIncident", "Caller", "Caller"]
    assert "<gml:pos>36.660000 117.010000</gml:pos>" in doc["locationComponent"][0]["locationByValue"]
    agencies = {a["agencyName"]: a for a in doc["agencyComponent"]}
    assert set(agencies) == {"济南市公安局", "泉城路派出所", "119消防救援"}
    assert agencies["119消防救援"]["agencyType"] == ["urn:emergency:service:responder.fire"]
    assert agencies["济南市公安局"]["incidentOwningAgencyIndicator"] is True
    [resource] = doc["emergencyResourceComponent"]
    assert (resource["emergencyResourceName"], resource["primaryUnitStatusRegistryText"]) == ("Q1", "Cleared")
    assert [entry.split("@")[0] for entry in resource["unitStatusInternal"]] == [
        "dispatched", "en_route", "on_scene", "closed"]
    [dispatch] = doc["dispatchComponent"]
    assert dispatch["emergencyResourceReference"] == [{"$ref": resource["$id"]}]
    assert AuditEntry.objects.filter(action="dispatch.eido_export", object_id=incident.number).count() == 1


def test_caller_numbers_need_a_stated_purpose(world: World, client: Client) -> None:
    incident = _worked_incident(world)
    client.force_login(world.dispatcher)
    refused = client.get(f"/api/incidents/{incident.pk}/eido?with_callers=true")
    assert (refused.status_code, refused.json()["code"]) == (403, "purpose_required")
    core_services.purpose_set(actor=world.dispatcher, text="回拨报警人核实火情", ref_type="incident",
                              ref_id=incident.number)
    response = client.get(f"/api/incidents/{incident.pk}/eido?with_callers=true")
    assert response.status_code == 200
    assert [c["callBackInformationUri"] for c in response.json()["callbackComponent"]] == [
        ["tel:+8613800000001"], ["tel:+8613800000002"]]
    read = AuditEntry.objects.filter(action="incident.record", object_type="incident_callers").get()
    assert (read.object_id, read.purpose.startswith("回拨报警人核实火情")) == (incident.number, True)


def test_a_fresh_incident_exports_too(world: World, client: Client) -> None:
    incident = take_call(world, "说不清什么事", caller="").incident
    client.force_login(world.dispatcher)
    doc = client.get(f"/api/incidents/{incident.pk}/eido").json()
    assert doc["incidentComponent"]["incidentTypeCommonRegistryText"] == "Unknown"
    assert doc["incidentComponent"]["dispositionComponent"] == []
    assert "incidentCommonPriorityNumber" not in doc["incidentComponent"]
    assert (doc["emergencyResourceComponent"], doc["dispatchComponent"]) == ([], [])
    assert [a["agencyName"] for a in doc["agencyComponent"]] == ["济南市公安局"]
    assert client.get("/api/incidents/999999/eido").status_code == 404
