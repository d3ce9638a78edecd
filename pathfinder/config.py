"""Typed settings read from ``PATHFINDER_*`` environment variables.

Flask's config mapping stays the one place the application reads settings from; this module
only says what the keys are, what they default to and how they are checked, so a typo in an
environment variable is a clear start-up error rather than a silent default.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DEFAULTS: dict[str, Any] = {
    # A SQLAlchemy URL; None means SQLite in the instance folder.
    "DATABASE_URL": None,
    # Where SQLite files, tenant files and exports live; None means ./instance.
    "INSTANCE_PATH": None,
    # Seconds a provisioning call waits for another one working on the same user.
    "PROVISIONING_WAIT_SECONDS": 60,
    # Users per transaction batch in `tenants migrate`.
    "MIGRATE_BATCH_SIZE": 100,
    # SQLite busy timeout in milliseconds: concurrent writers wait instead of failing.
    "SQLITE_BUSY_TIMEOUT_MS": 30000,
    # Pooled connections (PostgreSQL, Oracle). Test each connection with a round trip when
    # it is checked out: None means only where the network drops idle sessions unseen
    # (Oracle: ADB closes idle sessions); elsewhere a dead connection is found by the
    # statement that fails on it, and the pool then replaces every connection as old.
    "DB_POOL_PRE_PING": None,
    # Replace a connection this many seconds after it was opened (-1: never).
    "DB_POOL_RECYCLE_SECONDS": 3600,
    # Replace a connection after this many checkouts (0: never; None: 250 on PostgreSQL,
    # never elsewhere). A PostgreSQL backend keeps a cache entry for every table it has
    # touched, and a pooled connection serves many users: this bounds its memory
    # (docs/performance.md, "Backend memory").
    "DB_POOL_MAX_USES": None,
    "JSON_SORT_KEYS": False,
    # Largest request body accepted, in bytes (Flask's own setting): 1 MiB holds the largest
    # legitimate body (a CPA report, three 16 KiB preference documents, a 64 KiB CSV) many
    # times over. A larger declared body is a 413 before anything reads it; a chunked one
    # stops being read at the limit (pathfinder.api.limits).
    "MAX_CONTENT_LENGTH": 1_048_576,
    # Production mode refuses to start without explicit secrets (pathfinder.security.secrets).
    "PRODUCTION": False,
    # Proxies in front of the app that set X-Forwarded-For/-Proto (0: none). With N, the
    # N-th address from the right is the client's: limits, audit rows and sessions use it.
    "TRUSTED_PROXY_COUNT": 0,
    # Production refuses per-process (memory://) rate limits unless this says so.
    "ALLOW_PER_PROCESS_RATE_LIMITS": False,
    # Strict-Transport-Security max-age sent in production mode (0: leave it to the proxy).
    "HSTS_SECONDS": 63072000,
    # Secrets: unset means a generated development value in <instance>/dev-secrets.json.
    "JWT_SECRET_KEY": None,
    "AUDIT_HMAC_KEY": None,
    # Ed25519 private key (base64url of its 32-byte seed) that signs audit checkpoints.
    "AUDIT_SIGNING_KEY": None,
    # JSON object {"<version>": "<base64url 32-byte key>", ...}; the highest version wraps.
    "KEK_KEYRING": None,
    # Which key provider wraps data keys: "local" (keyring above); a KMS provider plugs in here.
    "KEY_PROVIDER": "local",
    # The master key (KEK) schedule: the wrapping KEK should be replaced this often, and an
    # old KEK may be destroyed once it wraps nothing and every backup taken while it did has
    # expired: set this to the database backup retention. Together they bound how long an
    # erased user's data stays readable in backups (docs/security.md, "Erasure").
    "KEK_ROTATION_DAYS": 90,
    "BACKUP_RETENTION_DAYS": 35,
    # Idempotency-Key: how long a key and its answer are kept, and after how long a key whose
    # request never finished (a killed process) is released (pathfinder.api.idempotency).
    "IDEMPOTENCY_TTL_HOURS": 24,
    "IDEMPOTENCY_STALE_SECONDS": 300,
    # Unwrapped data keys stay in memory this long, for at most this many users.
    "DEK_CACHE_TTL_SECONDS": 300,
    "DEK_CACHE_SIZE": 1024,
    # Audit rows for API requests (the change-level audit rows are always written).
    "AUDIT_REQUESTS": True,
    # Request rows are inserted in batches by each worker this often (0: one by one, at
    # once); a killed worker loses at most this much of them (docs/audit.md).
    "AUDIT_REQUEST_FLUSH_SECONDS": 0.1,
    "AUDIT_REQUEST_BATCH_ROWS": 500,
    # Where signed audit checkpoints are exported, outside the database: "file:<path>"
    # (append-only JSON lines, fsynced; default <instance>/audit/checkpoints.jsonl) or
    # "syslog:<host>:<port>" / "syslog:/dev/log" (docs/audit.md).
    "AUDIT_CHECKPOINT_SINK": None,
    # The exported checkpoint file `audit verify` reads (default: the file sink's path).
    "AUDIT_CHECKPOINT_FILE": None,
    # Public keys (base64url, comma-separated) of retired signing keys, for verification.
    "AUDIT_VERIFY_KEYS": "",
    # How often the scheduler's leader seals: the window in which a deleted row is seen only
    # as a gap in seq (docs/audit.md).
    "AUDIT_SEAL_INTERVAL_SECONDS": 2,
    # Rows integrated per checkpoint at most (a backlog is sealed in several).
    "AUDIT_SEAL_BATCH_SIZE": 20000,
    # A seq gap still open this long is settled: no transaction lasts longer.
    "AUDIT_GAP_SETTLE_SECONDS": 3600,
    # Where the audit log's retention policy writes its archive files (JSON lines, gzip);
    # None: <instance>/audit-archive. Back it up: docs/operations.md, "Audit archives".
    "AUDIT_ARCHIVE_DIR": None,
    # Production on SQLite is refused unless this says it is intended (a single-host pilot).
    "ALLOW_SQLITE_IN_PRODUCTION": False,
    # "json" (one JSON object per line, with the request id) or "text"; None: json in
    # production, text otherwise.
    "LOG_FORMAT": None,
    "LOG_LEVEL": "INFO",
    # Characters per CPA PERT response; widely reported as 5,000, no official source pins it.
    "CPA_RESPONSE_CHAR_LIMIT": 5000,
    # Days before a report's submission_deadline when its reminder is e-mailed.
    "CPA_DEADLINE_REMINDER_DAYS": "7,1",
    # Check every answer and parsed request against the route's declared contract
    # (pathfinder.api.contract); the test suite turns it on, a breach is an error there.
    "CHECK_CONTRACTS": False,
    # Where clients reach the API (links to API operations in e-mails), and the web front
    # end's base URL (None: no front end; mails then give the API request). pathfinder.mail.links
    "PUBLIC_BASE_URL": "http://127.0.0.1:5000",
    "FRONTEND_BASE_URL": None,
    # Browser origins allowed to call the API (comma-separated scheme://host[:port], or *);
    # empty: none, no answer carries CORS headers (pathfinder.api.cors, docs/security.md).
    "CORS_ORIGINS": "",
    # Let browsers send cookies/HTTP auth cross-origin; the API needs neither (bearer tokens).
    "CORS_ALLOW_CREDENTIALS": False,
    # Seconds a browser may cache a preflight answer.
    "CORS_MAX_AGE": 600,
    # GET /metrics (Prometheus): with a token, only scrapes that send it as a bearer token;
    # without one, only clients in these networks (comma-separated CIDRs). See
    # docs/operations.md, "Monitoring".
    "METRICS_ENABLED": True,
    "METRICS_TOKEN": None,
    "METRICS_ALLOWED_NETWORKS": "127.0.0.0/8,::1/128",
}

# Secrets production must set explicitly (no generated development value).
PRODUCTION_SECRETS = ("JWT_SECRET_KEY", "AUDIT_HMAC_KEY", "AUDIT_SIGNING_KEY", "KEK_KEYRING")
# Secrets used directly as keys, and the least length production accepts for them.
KEY_SECRETS = ("JWT_SECRET_KEY", "AUDIT_HMAC_KEY", "AUDIT_SIGNING_KEY")
MIN_SECRET_BYTES = 32
# Well-known placeholder values that must never reach production.
PLACEHOLDER_SECRETS = frozenset({"change-me", "changeme", "secret", "dev", "development", "test"})


class ConfigurationError(RuntimeError):
    """The configuration is unsafe or incomplete; the message says what to set."""


def flag(value: Any) -> bool:
    """A boolean setting: environment strings ``true``/``1``/``yes``/``on`` are true."""
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "on")
    return bool(value)


_ORIGIN = re.compile(
    r"^https?://(?:[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*|\[[0-9A-Fa-f:.]+\])(?::[0-9]{1,5})?$"
)


def cors_origins(value: str | Iterable[str] | None) -> list[str]:
    """The CORS allow-list: a comma-separated string or a list of origins, or ``*``.

    A malformed entry is a start-up error: ``https://app.example.com/`` (with a slash) or
    one with a path never equals a browser's ``Origin`` header, so it would silently allow
    nothing.
    """
    if value is None:
        return []
    items = value.split(",") if isinstance(value, str) else list(value)
    origins = [str(item).strip() for item in items if str(item).strip()]
    bad = [origin for origin in origins if origin != "*" and not _ORIGIN.match(origin)]
    if bad:
        raise ConfigurationError(
            "PATHFINDER_CORS_ORIGINS must list origins as scheme://host[:port] "
            f"(no path, no trailing slash), or *: {', '.join(bad)}"
        )
    return origins


def check_production(config: Mapping[str, Any]) -> None:
    """Refuse a production configuration with a missing or placeholder secret, or SQLite.

    Called by ``create_app`` when ``PRODUCTION`` is true, so a misconfigured server stops at
    start-up with one clear message instead of running with development keys.
    """
    problems: list[str] = []
    for name in PRODUCTION_SECRETS:
        value = config.get(name)
        if not value:
            problems.append(f"PATHFINDER_{name} is not set")
        elif str(value).strip().lower() in PLACEHOLDER_SECRETS:
            problems.append(f"PATHFINDER_{name} is a placeholder")
        elif name in KEY_SECRETS and len(str(value).encode("utf-8")) < MIN_SECRET_BYTES:
            # HS256 needs a key at least as long as its output (RFC 7518 3.2); a short JWT
            # secret can be brute-forced offline from any token.
            problems.append(f"PATHFINDER_{name} is too short: at least {MIN_SECRET_BYTES} bytes")
    storage = str(config.get("RATELIMIT_STORAGE_URI") or "memory://")
    if storage.startswith("memory") and not config.get("ALLOW_PER_PROCESS_RATE_LIMITS"):
        problems.append(
            "PATHFINDER_RATELIMIT_STORAGE_URI is memory:// (counts per worker); set a store "
            "every worker shares, e.g. redis://host:6379/0 (or "
            "PATHFINDER_ALLOW_PER_PROCESS_RATE_LIMITS=true for a one-worker pilot)"
        )
    metrics_token = config.get("METRICS_TOKEN")
    if metrics_token and (
        str(metrics_token).strip().lower() in PLACEHOLDER_SECRETS
        or len(str(metrics_token).encode("utf-8")) < MIN_SECRET_BYTES
    ):
        problems.append(
            f"PATHFINDER_METRICS_TOKEN is a placeholder or shorter than {MIN_SECRET_BYTES} bytes"
        )
    url = str(config.get("DATABASE_URL") or "")
    if (not url or url.startswith("sqlite")) and not config.get("ALLOW_SQLITE_IN_PRODUCTION"):
        problems.append(
            "PATHFINDER_DATABASE_URL is SQLite (or unset); production needs Oracle or "
            "PostgreSQL, or PATHFINDER_ALLOW_SQLITE_IN_PRODUCTION=true for a single-host pilot"
        )
    if "*" in cors_origins(config.get("CORS_ORIGINS")) and flag(
        config.get("CORS_ALLOW_CREDENTIALS")
    ):
        # flask-cors then echoes any Origin with Allow-Credentials: every site on the
        # Internet could read a signed-in user's answers.
        problems.append(
            "PATHFINDER_CORS_ORIGINS is * with PATHFINDER_CORS_ALLOW_CREDENTIALS=true; "
            "list the origins of your front ends"
        )
    if problems:
        raise ConfigurationError("refusing to start in production mode: " + "; ".join(problems))


@dataclass(frozen=True)
class DatabaseSettings:
    """What the database layer needs, resolved from the Flask config."""

    url: str
    instance_path: Path
    provisioning_wait_seconds: float
    sqlite_busy_timeout_ms: int
    pool_pre_ping: bool | None = None
    pool_recycle_seconds: int = 3600
    pool_max_uses: int | None = None

    @property
    def tenant_dir(self) -> Path:
        """Folder holding one SQLite file per user (unused on client/server databases)."""
        return self.instance_path / "tenants"


def resolve_instance_path(value: str | os.PathLike[str] | None) -> Path:
    """Absolute instance folder: the setting, else ``./instance`` of the working directory."""
    return Path(value).expanduser().resolve() if value else (Path.cwd() / "instance").resolve()


def database_settings(config: Mapping[str, Any]) -> DatabaseSettings:
    """Build the database settings from a Flask config mapping, with defaults applied."""
    instance_path = resolve_instance_path(config.get("INSTANCE_PATH"))
    url = config.get("DATABASE_URL") or f"sqlite:///{instance_path / 'pathfinder.db'}"
    return DatabaseSettings(
        url=str(url),
        instance_path=instance_path,
        provisioning_wait_seconds=float(
            config.get("PROVISIONING_WAIT_SECONDS", DEFAULTS["PROVISIONING_WAIT_SECONDS"])
        ),
        sqlite_busy_timeout_ms=int(
            config.get("SQLITE_BUSY_TIMEOUT_MS", DEFAULTS["SQLITE_BUSY_TIMEOUT_MS"])
        ),
        pool_pre_ping=_optional_bool(config.get("DB_POOL_PRE_PING")),
        pool_recycle_seconds=int(
            config.get("DB_POOL_RECYCLE_SECONDS", DEFAULTS["DB_POOL_RECYCLE_SECONDS"])
        ),
        pool_max_uses=_optional_int(config.get("DB_POOL_MAX_USES")),
    )


def _optional_int(value: Any) -> int | None:
    return None if value is None or value == "" else int(value)


def _optional_bool(value: Any) -> bool | None:
    if value is None or value == "":
        return None
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "on")
    return bool(value)
