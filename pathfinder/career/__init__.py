"""Career data of the caller: experiences (tier 1), skills, summaries (tiers 2 and 3), archive.

Everything reads and writes only the caller's own ``pf_user_<username>_*`` tables.
``docs/career.md`` describes the API and the rules.
"""
