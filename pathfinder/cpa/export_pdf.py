"""The PDF export, laid out the way a reviewer reads a report (reportlab).

Text is set in Bitstream Vera, the TrueType font reportlab ships, so accented letters,
typographic quotes and dashes survive (the 14 standard PDF fonts only cover Latin-1) and
the text can be extracted again (reportlab writes a ToUnicode map for embedded subsets).
"""

from __future__ import annotations

import io
import os
import threading
from collections.abc import Mapping
from typing import Any
from xml.sax.saxutils import escape

import reportlab
from reportlab.lib import colors
from reportlab.lib.pagesizes import LETTER
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import inch
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import (
    KeepTogether,
    Paragraph,
    SimpleDocTemplate,
    Spacer,
    Table,
    TableStyle,
)

from pathfinder.cpa.exports import NOTICE

FONT = "PFVera"
_fonts_lock = threading.Lock()
_fonts_ready = False


def _register_fonts() -> None:
    global _fonts_ready
    with _fonts_lock:
        if _fonts_ready:
            return
        folder = os.path.join(os.path.dirname(reportlab.__file__), "fonts")
        faces = {
            FONT: "Vera.ttf",
            f"{FONT}-Bold": "VeraBd.ttf",
            f"{FONT}-Italic": "VeraIt.ttf",
            f"{FONT}-BoldItalic": "VeraBI.ttf",
        }
        for name, file in faces.items():
            pdfmetrics.registerFont(TTFont(name, os.path.join(folder, file)))
        pdfmetrics.registerFontFamily(
            FONT,
            normal=FONT,
            bold=f"{FONT}-Bold",
            italic=f"{FONT}-Italic",
            boldItalic=f"{FONT}-BoldItalic",
        )
        _fonts_ready = True


def _styles() -> dict[str, ParagraphStyle]:
    base = ParagraphStyle("body", fontName=FONT, fontSize=10, leading=14)
    return {
        "title": ParagraphStyle(
            "title", parent=base, fontName=f"{FONT}-Bold", fontSize=16, leading=20, spaceAfter=6
        ),
        "notice": ParagraphStyle(
            "notice",
            parent=base,
            fontName=f"{FONT}-Italic",
            fontSize=8.5,
            leading=11,
            textColor=colors.HexColor("#444444"),
            spaceAfter=10,
        ),
        "h2": ParagraphStyle(
            "h2",
            parent=base,
            fontName=f"{FONT}-Bold",
            fontSize=13,
            leading=17,
            spaceBefore=12,
            spaceAfter=4,
        ),
        "h3": ParagraphStyle(
            "h3",
            parent=base,
            fontName=f"{FONT}-Bold",
            fontSize=10.5,
            leading=14,
            spaceBefore=6,
            spaceAfter=2,
        ),
        "meta": ParagraphStyle(
            "meta",
            parent=base,
            fontSize=9,
            leading=12,
            textColor=colors.HexColor("#333333"),
            spaceAfter=4,
        ),
        "body": ParagraphStyle("text", parent=base, spaceAfter=4),
        "cell": ParagraphStyle("cell", parent=base, fontSize=9, leading=11),
    }


def _p(text: str, style: ParagraphStyle) -> Paragraph:
    """A paragraph of plain text: escaped, line breaks kept."""
    return Paragraph(escape(text).replace("\n", "<br/>"), style)


def _count(n: int) -> str:
    return f"{n:,}"


def level_label(level: int) -> str:
    return f"Level {level}"


def render_pdf(payload: Mapping[str, Any], meta: Mapping[str, Any]) -> bytes:
    """The submission as a PDF document."""
    _register_fonts()
    s = _styles()
    report = payload["report"]
    limit = payload["character_limit"]
    story: list[Any] = [
        _p("PERT experience report: working copy", s["title"]),
        _p(NOTICE, s["notice"]),
    ]
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
    table = Table(
        [[_p(k, s["cell"]), _p(str(v), s["cell"])] for k, v in rows],
        colWidths=[1.4 * inch, 5.1 * inch],
    )
    table.setStyle(_grid())
    story += [table, Spacer(1, 10), _p("Competencies in this report", s["h2"])]
    summary = [["Code", "Competency", "Level", "Characters"]]
    for e in payload["experiences"]:
        summary.append(
            [
                e["sub_competency_code"],
                e["sub_competency_name"] or "",
                str(e["proficiency_level"]),
                f"{_count(e['character_count'])} / {_count(limit)}",
            ]
        )
    summary_table = Table(
        [[_p(str(c), s["cell"]) for c in row] for row in summary],
        colWidths=[0.6 * inch, 3.9 * inch, 0.6 * inch, 1.4 * inch],
        repeatRows=1,
    )
    summary_table.setStyle(_grid(header=True))
    story.append(summary_table)
    for e in payload["experiences"]:
        heading = f"{e['sub_competency_code']}: {e['sub_competency_name'] or ''}"
        period = f"{e['start_date']} to {e['end_date'] or 'ongoing'}"
        facts = (
            f"{e['title']} | {period} | self-assessed {level_label(e['proficiency_level'])} | "
            f"{_count(e['character_count'])} of {_count(limit)} characters | "
            f"{_count(e['word_count'])} words | version {e['version_number']}"
        )
        story.append(KeepTogether([_p(heading, s["h2"]), _p(facts, s["meta"])]))
        for part in e["narrative"].values():
            story.append(_p(f"{part['title']} ({_count(part['characters'])} characters)", s["h3"]))
            for block in (part["text"] or "(empty)").split("\n\n"):
                story.append(_p(block, s["body"]))
    totals = payload["totals"]
    story += [
        Spacer(1, 8),
        _p(
            f"Totals: {totals['experiences']} responses, {_count(totals['characters'])} "
            f"characters, {_count(totals['words'])} words.",
            s["meta"],
        ),
    ]
    buffer = io.BytesIO()
    document = SimpleDocTemplate(
        buffer,
        pagesize=LETTER,
        leftMargin=inch,
        rightMargin=inch,
        topMargin=0.8 * inch,
        bottomMargin=0.8 * inch,
        title=f"PERT experience report: {report['employer_name']}",
        author=payload["candidate"]["username"],
        subject="Working copy prepared with Pathfinder",
    )
    checksum = meta["checksum_sha256"]

    def footer(canvas: Canvas, doc: Any) -> None:
        canvas.saveState()
        canvas.setFont(FONT, 7.5)
        canvas.setFillColor(colors.HexColor("#555555"))
        canvas.drawString(
            inch,
            0.5 * inch,
            f"Working copy, not submitted to CPA Canada | SHA-256 {checksum[:16]}... | "
            f"page {doc.page}",
        )
        canvas.restoreState()

    document.build(story, onFirstPage=footer, onLaterPages=footer)
    return buffer.getvalue()


def _grid(*, header: bool = False) -> TableStyle:
    commands: list[tuple[Any, ...]] = [
        ("GRID", (0, 0), (-1, -1), 0.4, colors.HexColor("#999999")),
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("BACKGROUND", (0, 0), (0, -1), colors.HexColor("#F2F2F2")),
    ]
    if header:
        commands = [
            ("GRID", (0, 0), (-1, -1), 0.4, colors.HexColor("#999999")),
            ("VALIGN", (0, 0), (-1, -1), "TOP"),
            ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#E6E6E6")),
        ]
    return TableStyle(commands)
