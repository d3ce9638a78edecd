"""The canonical submission payload, its SHA-256, and the JSON/PDF/DOCX exports.

**Canonical form.** A payload is plain JSON (strings, integers, booleans, null, lists,
objects: no floats, hours travel as decimal strings), serialised with sorted keys, no
insignificant whitespace and UTF-8 without escapes. ``checksum_sha256`` is the SHA-256 of
those bytes, so anyone holding the JSON export can recompute it.

**Narratives are not copied out of encryption.** The payload stored with a submission
(``pf_cpa_pert_submissions.payload``, a plain JSON column) holds everything except the
narrative texts; each experience entry names the experience *version* the texts are in.
Versions are append-only, so those rows never change, and the export rebuilds the full
payload by opening them and checks the checksum again before handing it out.

Nothing here submits anything anywhere: there is no public API of CPA Canada or of the
provincial bodies. The exports are what the candidate pastes or uploads into PERT.
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from pathfinder.cpa.framework import Framework
from pathfinder.cpa.narrative import PART_TITLES, PARTS, char_count, count, word_count

PAYLOAD_FORMAT = "pathfinder.cpa-pert-report/1"
NOTICE = (
    "Prepared by the candidate with Pathfinder as a working copy to paste or upload into "
    "PERT. Pathfinder does not submit anything to CPA Canada or to a provincial CPA body; "
    "only the candidate can, through PERT."
)
MEDIA_TYPES = {
    "json": "application/json",
    "pdf": "application/pdf",
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
}


def canonical_bytes(payload: Mapping[str, Any]) -> bytes:
    """The one byte form of ``payload`` the checksum is taken over."""
    return json.dumps(
        payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


def checksum(payload: Mapping[str, Any]) -> str:
    """Hex SHA-256 of the canonical bytes."""
    return hashlib.sha256(canonical_bytes(payload)).hexdigest()


def _date(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def build_payload(
    *,
    report: Mapping[str, Any],
    experiences: Sequence[Mapping[str, Any]],
    framework: Framework,
    username: str,
    submission_id: str,
    submission_type: str,
    character_limit: int,
    prepared_at: datetime,
) -> dict[str, Any]:
    """The full payload (narratives included) of a report's opened current experiences.

    Experiences are in framework order (FR1 ... TX3, then the enabling competencies), then
    by start date, which is how a reviewer reads down the competency map.
    """
    order = framework.order
    ordered = sorted(
        experiences,
        key=lambda e: (
            order.get(e["sub_competency_code"], 10_000),
            e["experience_start_date"],
            e["id"],
        ),
    )
    entries = []
    for e in ordered:
        competency = framework.competency(e["sub_competency_code"]) or {}
        counts = count(e, character_limit)
        entries.append(
            {
                "id": e["id"],
                "version_number": e["version_number"],
                "sub_competency_code": e["sub_competency_code"],
                "sub_competency_name": competency.get("name"),
                "area_code": competency.get("area_code"),
                "area_name": competency.get("area_name"),
                "kind": competency.get("kind"),
                "title": e["experience_title"],
                "start_date": _date(e["experience_start_date"]),
                "end_date": _date(e["experience_end_date"]),
                "proficiency_level": e["proficiency_level"],
                "character_count": counts.total,
                "word_count": counts.words,
                "narrative": {
                    part: {
                        "title": PART_TITLES[part],
                        "characters": char_count(e.get(part)),
                        "words": word_count(e.get(part)),
                        "text": e.get(part) or "",
                    }
                    for part in PARTS
                },
            }
        )
    hours = report["hours_worked"]
    return {
        "format": PAYLOAD_FORMAT,
        "notice": NOTICE,
        "submission": {
            "id": submission_id,
            "type": submission_type,
            "prepared_at": prepared_at.isoformat(),
        },
        "candidate": {"username": username},
        "framework": {"version": framework.version, "name": framework.row["name"]},
        "character_limit": character_limit,
        "report": {
            "id": report["id"],
            "version": report["version"],
            "route": report["route"],
            "employer_name": report["employer_name"],
            "position_title": report["position_title"],
            "period_start": _date(report["period_start"]),
            "period_end": _date(report["period_end"]),
            "hours_worked": str(hours) if hours is not None else None,
            "leave_days": report["leave_days"],
        },
        "experiences": entries,
        "totals": {
            "experiences": len(entries),
            "characters": sum(e["character_count"] for e in entries),
            "words": sum(e["word_count"] for e in entries),
            "sub_competencies": sorted({e["sub_competency_code"] for e in entries}),
        },
    }


def without_texts(payload: Mapping[str, Any]) -> dict[str, Any]:
    """The payload to store: every narrative text removed (it stays encrypted elsewhere)."""
    stored = copy.deepcopy(dict(payload))
    for entry in stored["experiences"]:
        for part in entry["narrative"].values():
            part.pop("text", None)
    return stored


def with_texts(
    stored: Mapping[str, Any], texts: Mapping[str, Mapping[str, str | None]]
) -> dict[str, Any]:
    """The full payload again, from the stored one and the opened experience versions."""
    full = copy.deepcopy(dict(stored))
    for entry in full["experiences"]:
        opened = texts.get(entry["id"])
        if opened is None:
            raise LookupError(f"experience version {entry['id']} is missing")
        for part, body in entry["narrative"].items():
            body["text"] = opened.get(part) or ""
    return full


def render_json(payload: Mapping[str, Any], meta: Mapping[str, Any]) -> bytes:
    """The JSON export: submission metadata, the checksum and the canonical payload."""
    document = {
        "submission": dict(meta),
        "checksum_sha256": meta["checksum_sha256"],
        "checksum_covers": "SHA-256 of the canonical JSON of 'payload' (keys sorted, no "
        "spaces, UTF-8)",
        "payload": payload,
    }
    return json.dumps(document, ensure_ascii=False, indent=2).encode("utf-8")


def render(fmt: str, payload: Mapping[str, Any], meta: Mapping[str, Any]) -> bytes:
    """The export in ``fmt`` (json, pdf or docx)."""
    if fmt == "json":
        return render_json(payload, meta)
    if fmt == "pdf":
        from pathfinder.cpa.export_pdf import render_pdf

        return render_pdf(payload, meta)
    if fmt == "docx":
        from pathfinder.cpa.export_docx import render_docx

        return render_docx(payload, meta)
    raise ValueError(f"unknown export format {fmt!r}")
