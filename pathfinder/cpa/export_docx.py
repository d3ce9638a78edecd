"""The DOCX export (python-docx), with the same reading order as the PDF."""

from __future__ import annotations

import io
from collections.abc import Mapping
from typing import Any

from docx import Document
from docx.shared import Pt, RGBColor

from pathfinder.cpa.exports import NOTICE


def _count(n: int) -> str:
    return f"{n:,}"


def render_docx(payload: Mapping[str, Any], meta: Mapping[str, Any]) -> bytes:
    """The submission as a Word document."""
    report = payload["report"]
    limit = payload["character_limit"]
    doc = Document()
    doc.core_properties.title = f"PERT experience report: {report['employer_name']}"
    doc.core_properties.author = payload["candidate"]["username"]
    doc.core_properties.comments = NOTICE
    doc.add_heading("PERT experience report: working copy", level=0)
    notice = doc.add_paragraph().add_run(NOTICE)
    notice.italic = True
    notice.font.size = Pt(8.5)
    notice.font.color.rgb = RGBColor(0x44, 0x44, 0x44)

    rows = [
        ("Candidate", payload["candidate"]["username"]),
        ("Route", report["route"]),
        ("Employer", report["employer_name"]),
        ("Position", report["position_title"]),
        ("Period", f"{report['period_start']} to {report['period_end']}"),
        ("Hours worked", report["hours_worked"] or "not recorded"),
        ("Leave days", str(report["leave_days"] or 0)),
        ("Framework", f"{payload['framework']['version']}: {payload['framework']['name']}"),
        (
            "Submission",
            f"{payload['submission']['type']} ({meta.get('status', '')}), prepared "
            f"{payload['submission']['prepared_at']}",
        ),
        ("Character limit", f"{_count(limit)} per response"),
        ("SHA-256", meta["checksum_sha256"]),
    ]
    table = doc.add_table(rows=0, cols=2)
    table.style = "Table Grid"
    for key, value in rows:
        cells = table.add_row().cells
        cells[0].text = key
        cells[1].text = str(value)

    doc.add_heading("Competencies in this report", level=1)
    summary = doc.add_table(rows=1, cols=4)
    summary.style = "Table Grid"
    for cell, title in zip(
        summary.rows[0].cells, ("Code", "Competency", "Level", "Characters"), strict=True
    ):
        cell.text = title
    for e in payload["experiences"]:
        cells = summary.add_row().cells
        cells[0].text = e["sub_competency_code"]
        cells[1].text = e["sub_competency_name"] or ""
        cells[2].text = str(e["proficiency_level"])
        cells[3].text = f"{_count(e['character_count'])} / {_count(limit)}"

    for e in payload["experiences"]:
        doc.add_heading(f"{e['sub_competency_code']}: {e['sub_competency_name'] or ''}", level=1)
        facts = doc.add_paragraph().add_run(
            f"{e['title']} | {e['start_date']} to {e['end_date'] or 'ongoing'} | "
            f"self-assessed level {e['proficiency_level']} | "
            f"{_count(e['character_count'])} of {_count(limit)} characters | "
            f"{_count(e['word_count'])} words | version {e['version_number']}"
        )
        facts.font.size = Pt(9)
        for part in e["narrative"].values():
            doc.add_heading(f"{part['title']} ({_count(part['characters'])} characters)", level=2)
            for block in (part["text"] or "(empty)").split("\n\n"):
                doc.add_paragraph(block)

    totals = payload["totals"]
    doc.add_paragraph(
        f"Totals: {totals['experiences']} responses, {_count(totals['characters'])} "
        f"characters, {_count(totals['words'])} words."
    )
    footer = doc.sections[0].footer.paragraphs[0]
    footer.text = f"Working copy, not submitted to CPA Canada | SHA-256 {meta['checksum_sha256']}"
    buffer = io.BytesIO()
    doc.save(buffer)
    return buffer.getvalue()
