"""Logging: one JSON object per line in production, carrying the request id.

Operators search logs by the ``X-Request-Id`` a client reports; the same id is on the
request's audit rows. Secrets never reach the log: services log identifiers, not values.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime

from flask import Flask


class JsonFormatter(logging.Formatter):
    """``{"ts", "level", "logger", "message", "request_id", "exc"}`` per record."""

    def format(self, record: logging.LogRecord) -> str:
        from pathfinder.audit.middleware import current_request_id

        entry = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        try:
            request_id = current_request_id()
        except RuntimeError:
            request_id = None
        if request_id:
            entry["request_id"] = request_id
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def init_app(app: Flask) -> None:
    """Install the JSON (production default) or text handler on the ``pathfinder`` logger."""
    fmt = app.config.get("LOG_FORMAT") or ("json" if app.config.get("PRODUCTION") else "text")
    logger = logging.getLogger("pathfinder")
    logger.setLevel(str(app.config.get("LOG_LEVEL", "INFO")).upper())
    if fmt == "json" and not any(isinstance(h.formatter, JsonFormatter) for h in logger.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(JsonFormatter())
        logger.addHandler(handler)
        logger.propagate = False
