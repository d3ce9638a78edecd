"""``pathfinder ddl render``: (being written)."""

from __future__ import annotations

from flask.cli import AppGroup

ddl_group = AppGroup("ddl", help="Render the schema's DDL for review and manual runs.")
