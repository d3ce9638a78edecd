"""The canonical payload and the renderers, on a hand-made payload (no database)."""

from __future__ import annotations

import hashlib
import io
import json
from datetime import UTC, date, datetime

import pytest
from docx import Document
from pypdf import PdfReader

from pathfinder.cpa import exports
from pathfinder.cpa.export_docx import render_docx
from pathfinder.cpa.export_pdf import render_pdf
from pathfinder.cpa.framework import Framework
from pathfinder.cpa.framework_data import PER_2021
from pathfinder.cpa.rules import Rules

FRAMEWORK = Framework(
    version="PER-2021",
    row={"name": PER_2021.name},
    rules=Rules(),
    competencies=tuple(
        {
            "code": c.code,
            "kind": c.kind,
            "area_code": c.area_code,
            "area_name": PER_2021.areas[c.area_code],
            "name": c.name,
            "sort_order": n,
        }
        for n, c in enumerate(PER_2021.competencies, start=1)
    ),
)
FRENCH = "J’ai analysé les écarts budgétaires « trimestriels » — œuvre collective."


def experience(eid: str, code: str, start: date, **texts: str) -> dict:  # type: ignore[type-arg]
    return {
        "id": eid,
        "version_number": 1,
        "sub_competency_code": code,
        "experience_title": f"Title {code}",
        "experience_start_date": start,
        "experience_end_date": None,
        "proficiency_level": 2,
        "challenge": texts.get("challenge"),
        "actions": texts.get("actions"),
        "results": texts.get("results"),
        "lessons_learned": texts.get("lessons_learned"),
    }


def payload() -> dict:  # type: ignore[type-arg]
    report = {
        "id": "R1",
        "version": 4,
        "route": "EVR",
        "employer_name": "Société Exemple",
        "position_title": "Analyste",
        "period_start": date(2024, 1, 1),
        "period_end": date(2024, 6, 30),
        "hours_worked": None,
        "leave_days": 0,
    }
    return exports.build_payload(
        report=report,
        experiences=[
            experience("E2", "MA2", date(2024, 2, 1), challenge=FRENCH),
            experience("E1", "FR1", date(2024, 3, 1), actions="First\n\nSecond paragraph."),
        ],
        framework=FRAMEWORK,
        username="chloe",
        submission_id="S1",
        submission_type="final",
        character_limit=5000,
        prepared_at=datetime(2024, 7, 1, tzinfo=UTC),
    )


def test_canonical_form_and_checksum() -> None:
    document = payload()
    raw = exports.canonical_bytes(document)
    assert raw == json.dumps(
        document, sort_keys=True, separators=(",", ":"), ensure_ascii=False
    ).encode("utf-8")
    assert FRENCH.encode("utf-8") in raw  # not \\u-escaped
    assert exports.checksum(document) == hashlib.sha256(raw).hexdigest()
    # Experiences in framework order, whatever order they came in.
    assert [e["sub_competency_code"] for e in document["experiences"]] == ["FR1", "MA2"]
    assert document["experiences"][1]["narrative"]["challenge"]["characters"] == len(FRENCH)
    assert document["totals"]["characters"] == len(FRENCH) + len("First\n\nSecond paragraph.")
    with pytest.raises(ValueError):
        exports.canonical_bytes({"x": float("nan")})


def test_stored_form_has_no_text_and_rebuilds_exactly() -> None:
    document = payload()
    stored = exports.without_texts(document)
    assert FRENCH not in json.dumps(stored, ensure_ascii=False)
    assert document["experiences"][1]["narrative"]["challenge"]["text"] == FRENCH  # not mutated
    texts = {
        "E1": {"actions": "First\n\nSecond paragraph."},
        "E2": {"challenge": FRENCH},
    }
    assert exports.checksum(exports.with_texts(stored, texts)) == exports.checksum(document)
    changed = {**texts, "E2": {"challenge": FRENCH + "!"}}
    assert exports.checksum(exports.with_texts(stored, changed)) != exports.checksum(document)
    with pytest.raises(LookupError):
        exports.with_texts(stored, {"E1": texts["E1"]})


def test_pdf_and_docx_keep_accents_paragraphs_and_counts() -> None:
    document = payload()
    meta = {"status": "pending", "checksum_sha256": exports.checksum(document)}
    pdf = render_pdf(document, meta)
    text = " ".join(
        " ".join(page.extract_text().split()) for page in PdfReader(io.BytesIO(pdf)).pages
    )
    assert FRENCH in text
    assert "Second paragraph." in text
    assert f"Challenge ({len(FRENCH)} characters)" in text
    assert "Société Exemple" in text
    word = Document(io.BytesIO(render_docx(document, meta)))
    paragraphs = [p.text for p in word.paragraphs]
    assert FRENCH in paragraphs and "First" in paragraphs and "Second paragraph." in paragraphs
    assert "Working copy, not submitted to CPA Canada" in word.sections[0].footer.paragraphs[0].text
    assert exports.render("json", document, meta).startswith(b"{")
    with pytest.raises(ValueError):
        exports.render("xls", document, meta)
