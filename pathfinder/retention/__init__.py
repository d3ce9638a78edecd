"""Retention policies as admins and DBAs see them: list, change, run (or preview) them.

The policies live in ``pf_data_retention_policies``; what applying one does is
:mod:`pathfinder.jobs.retention` (the ``retention`` job runs the same code every night).
"""
