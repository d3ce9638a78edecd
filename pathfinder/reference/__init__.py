"""Reference data shared by every user: the skills catalogue and career paths.

Read by signed-in users (``GET /ref/skills``, ``GET /ref/career-paths``), curated by admins,
seeded by ``pathfinder db init`` from :mod:`pathfinder.reference.seed_data`.
"""
