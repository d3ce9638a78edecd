"""gunicorn's access log with the secrets in URLs masked.

Four public route families carry a secret in their path (``/invitations/<token>``,
``/exports/<token>``, ``/cpa/links/<token>`` and the console's ``/console/join/<token>``:
links mailed to people, so the token has to be in the URL), and a
query string may carry one too (``?token=``, ``?code=``). gunicorn writes the request line
as received, so without this every such token would sit in the access log, readable by
whoever reads logs. ``gunicorn.conf.py`` names this class as ``logger_class``.
"""

from __future__ import annotations

import re
from typing import Any

from gunicorn.glogging import Logger

_PATH_SECRET_RE = re.compile(r"(/(?:invitations|exports|links|console/join)/)[^/?#\s]+")
_QUERY_SECRET_RE = re.compile(r"([?&](?:token|code|key|secret|signature)=)[^&#\s]*", re.I)
REDACTED = "[redacted]"


def redact_url(text: str) -> str:
    """``text`` (a path, a query string or a whole request line) with secrets masked."""
    text = _PATH_SECRET_RE.sub(r"\1" + REDACTED, text)
    return _QUERY_SECRET_RE.sub(r"\1" + REDACTED, text)


class RedactingLogger(Logger):  # type: ignore[misc]
    """gunicorn's logger whose request line, path and query atoms are masked."""

    def atoms(self, resp: Any, req: Any, environ: Any, request_time: Any) -> dict[str, Any]:
        atoms: dict[str, Any] = super().atoms(resp, req, environ, request_time)
        for name in ("r", "U"):
            if isinstance(atoms.get(name), str):
                atoms[name] = redact_url(atoms[name])
        if isinstance(atoms.get("q"), str):
            atoms["q"] = redact_url("?" + atoms["q"])[1:]
        return atoms
