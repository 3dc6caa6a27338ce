"""Documents: kept as issued, rendered to HTML and to PDF (WeasyPrint, CJK font); the PDF's
text is read back with pypdf."""

from __future__ import annotations

import hashlib
import io
from typing import Any

import pytest
from django.test import Client
from pypdf import PdfReader

from jingwu.cases import documents, services
from jingwu.cases.models import CaseDocument
from jingwu.cases.tests.world import World, accept, make_world, move, review, to_declined_notified, to_filed

pytestmark = pytest.mark.django_db


@pytest.fixture
def w() -> World:
    return make_world()


def _pdf_text(pdf: bytes) -> str:
    reader = PdfReader(io.BytesIO(pdf))
    return "\n".join(page.extract_text() for page in reader.pages)


def _fonts(pdf: bytes) -> set[str]:
    reader = PdfReader(io.BytesIO(pdf))
    names = set()
    for page in reader.pages:
        resources: Any = page["/Resources"]
        fonts = resources["/Font"]
        for ref in fonts.values():
            names.add(str(ref.get_object()["/BaseFont"]))
    return names


def _client(user: object) -> Client:
    client = Client()
    client.force_login(user)  # type: ignore[arg-type]
    return client


def test_every_document_kind_as_html_and_pdf(w: World) -> None:
    crim = to_declined_notified(w, accept(w).case)
    filed = to_filed(w, accept(w).case)
    adm = move(w, accept(w, "administrative", "beating").case, "investigate", w.officer)
    suspect = services.party_add(actor=w.officer, case=adm, party=services.PartyIn("suspect", name="赵某某"))
    review(w, adm, "penalty")
    adm = move(w, adm, "penalize", w.chief, penalty=services.PenaltyIn("fine", suspect.pk, fine_yuan=200))
    expected = {
        (crim.pk, "receipt"): ["受案回执", "本单位不保存"],
        (crim.pk, "decline_notice"): ["不予立案通知书", "没有犯罪事实", "7日以内"],
        (filed.pk, "filing_decision"): ["立案决定书", "<th>批准人</th><td>zhang</td>"],
        (adm.pk, "penalty_decision"): ["行政处罚决定书", "赵某某", "罚款人民币 200 元"],
    }
    for (case_id, kind), phrases in expected.items():
        doc = CaseDocument.objects.select_related("case").get(case_id=case_id, kind=kind)
        assert doc.sha256 == hashlib.sha256(doc.body_html.encode()).hexdigest()
        assert doc.case.number in doc.body_html
        for phrase in phrases:
            assert phrase in doc.body_html, (kind, phrase)
        pdf = documents.to_pdf(doc.body_html, kind)
        assert pdf.startswith(b"%PDF-")
        text = _pdf_text(pdf)
        assert doc.case.number in text, kind
        assert phrases[0] in text.replace(" ", ""), kind
        assert any(f.endswith("+Noto-Serif-CJK-SC") for f in _fonts(pdf)), _fonts(pdf)


def test_document_pages_serve_html_and_pdf_to_those_who_see_the_case(w: World) -> None:
    acceptance = accept(w)
    doc = acceptance.case.documents.get()
    client = _client(w.officer)
    html = client.get(f"/cases/documents/{doc.pk}/")
    assert html.status_code == 200 and acceptance.case.number in html.content.decode()
    assert "<style" not in html.content.decode() and "<script" not in html.content.decode()
    pdf = client.get(f"/cases/documents/{doc.pk}/pdf")
    assert pdf["Content-Type"] == "application/pdf"
    assert acceptance.case.number in _pdf_text(pdf.content)
    assert acceptance.lookup_code not in _pdf_text(pdf.content)
    outsider = _client(w.other_officer)
    assert outsider.get(f"/cases/documents/{doc.pk}/").status_code == 404
    assert outsider.get(f"/cases/documents/{doc.pk}/pdf").status_code == 404


def test_the_receipt_pdf_with_its_code_needs_the_code(w: World) -> None:
    acceptance = accept(w)
    client = _client(w.officer)
    url = f"/cases/{acceptance.case.pk}/receipt.pdf"
    response = client.post(url, {"code": acceptance.lookup_code})
    assert response.status_code == 200 and response["Content-Type"] == "application/pdf"
    assert "no-store" in response["Cache-Control"].split(", ")
    text = _pdf_text(response.content)
    assert acceptance.lookup_code in text and acceptance.case.number in text
    wrong = client.post(url, {"code": "2222-2222"})
    assert wrong.status_code == 302 and wrong["Location"] == f"/cases/{acceptance.case.pk}/"
