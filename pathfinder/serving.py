"""gunicorn workers whose own refusals are problem+json, like every answer of the app.

gunicorn refuses some requests before the application sees them: a request line longer
than ``limit_request_line`` (414), too many or too large header fields (431), a request
that is not valid HTTP (400). It answers those with a small ``text/html`` page, which a
client that branches on ``application/problem+json`` cannot read. These workers let gunicorn
decide the status exactly as it does, and replace the page with an RFC 9457 document.

The replacement works on gunicorn's documented worker hook, ``handle_error``: gunicorn
writes its page to a stand-in for the client socket, the status line is read back from what
it wrote, and the problem is written to the real socket instead. The detail is fixed text
per status: gunicorn's own message may quote the refused request line, which can hold a
token from a link.

``gunicorn.conf.py`` selects :class:`ProblemSync` (or :class:`ProblemThreaded` when
``PATHFINDER_THREADS`` > 1) and sets the limits (``docs/api.md``, "Limits").
"""

from __future__ import annotations

import json
from http import HTTPStatus
from typing import Any

from gunicorn import util
from gunicorn.workers.gthread import ThreadWorker
from gunicorn.workers.sync import SyncWorker

PROBLEM_MEDIA_TYPE = "application/problem+json"


class _CapturedSocket:
    """Stands in for the client socket while gunicorn writes its error page."""

    def __init__(self, sock: Any) -> None:
        self._sock = sock
        self.written = bytearray()

    def sendall(self, data: bytes) -> None:
        self.written += data

    def send(self, data: bytes) -> int:
        self.written += data
        return len(data)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)


def _status_of(written: bytes) -> int | None:
    """The status code of the HTTP answer gunicorn wrote (None when it wrote none)."""
    line = written.split(b"\r\n", 1)[0].split(b" ")
    if len(line) < 2 or not line[0].startswith(b"HTTP/") or not line[1].isdigit():
        return None
    return int(line[1])


def problem_for(status: int, cfg: Any) -> dict[str, Any]:
    """The problem document for a status gunicorn chose; the detail names the limit."""
    try:
        title = HTTPStatus(status).phrase
    except ValueError:
        title = "Error"
    body: dict[str, Any] = {"type": "about:blank", "title": title, "status": status}
    if status == 414:
        body["detail"] = (
            f"The request line (method, path and query string) is longer than "
            f"{cfg.limit_request_line} bytes."
        )
        body["max_bytes"] = cfg.limit_request_line
    elif status == 431:
        body["detail"] = (
            f"The request has more than {cfg.limit_request_fields} header fields, or one "
            f"longer than {cfg.limit_request_field_size} bytes."
        )
    elif status >= 500:
        body["type"] = "urn:pathfinder:problem:internal-error"
        body["detail"] = "The server could not complete the request; it has been logged."
    else:
        body["detail"] = "The request is not valid HTTP/1.1 and was refused by the server."
    return body


def problem_bytes(status: int, body: dict[str, Any]) -> bytes:
    """A complete HTTP/1.1 answer carrying ``body`` as problem+json; the connection closes."""
    payload = json.dumps(body).encode()
    try:
        reason = HTTPStatus(status).phrase
    except ValueError:
        reason = "Error"
    head = (
        f"HTTP/1.1 {status} {reason}\r\n"
        "Connection: close\r\n"
        f"Content-Type: {PROBLEM_MEDIA_TYPE}\r\n"
        f"Content-Length: {len(payload)}\r\n"
        "Cache-Control: no-store\r\n"
        "X-Content-Type-Options: nosniff\r\n"
        "\r\n"
    )
    return head.encode("latin-1") + payload


class ProblemErrorsMixin:
    """``handle_error`` that writes gunicorn's chosen status as problem+json."""

    cfg: Any
    log: Any

    def handle_error(self, req: Any, client: Any, addr: Any, exc: BaseException) -> None:
        captured = _CapturedSocket(client)
        super().handle_error(req, captured, addr, exc)  # type: ignore[misc]
        status = _status_of(bytes(captured.written))
        if status is None:
            return
        try:
            util.write_nonblock(client, problem_bytes(status, problem_for(status, self.cfg)))
        except Exception:  # noqa: BLE001 - the client may be gone; gunicorn does the same
            self.log.debug("Failed to send error message.")


class ProblemSync(ProblemErrorsMixin, SyncWorker):
    """gunicorn's sync worker, refusals as problem+json."""


class ProblemThreaded(ProblemErrorsMixin, ThreadWorker):
    """gunicorn's threaded (gthread) worker, refusals as problem+json."""
