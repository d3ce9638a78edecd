"""CPA PER/PERT: experience reports that follow the real Practical Experience Requirement.

Reference data (the versioned competency framework), report periods, experiences with
versions, breakdown and time, the progress engine, submissions with a checksum and their
JSON/PDF/DOCX exports, per-user drafts, and the people around the candidate: scoped,
expiring, revocable shares with mentors, supervisors and program leaders, verification,
comments and mentor meetings (``sharing``, ``grants``, ``grantee``, ``verification``,
``comments``, ``meetings``, ``people_routes``). The rules and their sources are in
``docs/cpa-pert.md``. Nothing here submits anything to CPA Canada or a provincial body.
"""
