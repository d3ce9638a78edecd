"""The bare handler for ``throughput.py``: Flask + SQLAlchemy serving the same 50 rows.

A module of its own so gunicorn can load it (``gunicorn _bare_app:app``) exactly as it loads
Pathfinder. It reads ``BENCH_BARE_DATABASE_URL`` and serves ``GET /plain/experiences``
from ``bench_plain_experiences`` (the table ``api_latency.py`` defines and fills): one
checkout, one ``SELECT ... ORDER BY start_date DESC, id DESC LIMIT n``, ``jsonify``.
Nothing else: no authentication, no decryption, no audit row. That is the floor the
authenticated request is set against.
"""

from __future__ import annotations

import datetime as dt
import os
from typing import Any

import sqlalchemy as sa
from flask import Flask, jsonify, request

engine = sa.create_engine(os.environ["BENCH_BARE_DATABASE_URL"])
metadata = sa.MetaData()
table = sa.Table("bench_plain_experiences", metadata, autoload_with=engine)
order = (table.c.start_date.desc(), table.c.id.desc())
app = Flask("bare")


def _plain(value: Any) -> Any:
    return value.isoformat() if isinstance(value, dt.date | dt.datetime) else value


@app.get("/plain/experiences")
def list_plain() -> Any:
    limit = min(int(request.args.get("limit", 50)), 100)
    with engine.connect() as conn:
        result = conn.execute(sa.select(table).order_by(*order).limit(limit)).mappings()
        items = [{k: _plain(v) for k, v in row.items()} for row in result]
    return jsonify({"items": items})
