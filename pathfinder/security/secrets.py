"""Where secrets come from: configuration, or, for development only, a local file.

Production sets every secret (``PATHFINDER_JWT_SECRET_KEY``, ``PATHFINDER_AUDIT_HMAC_KEY``,
``PATHFINDER_KEK_KEYRING``, ...). When one is missing and the app is not in production mode,
a random value is generated once and kept in ``<instance>/dev-secrets.json`` (mode 0600), so
``scripts/serve.sh`` works with no set-up and data encrypted yesterday still decrypts today.
Secret values are never logged; only their names are.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import secrets
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

DEV_SECRETS_FILE = "dev-secrets.json"
_lock = threading.Lock()


class MissingSecret(RuntimeError):
    """A secret is required (production mode) but not configured."""


def random_key_b64(num_bytes: int = 32) -> str:
    """A fresh random key, base64url without padding."""
    return base64.urlsafe_b64encode(secrets.token_bytes(num_bytes)).rstrip(b"=").decode()


def resolve_secret(config: Mapping[str, Any], name: str, *, num_bytes: int = 32) -> str:
    """The configured value of ``name``, or the development value from the instance folder.

    Raises :class:`MissingSecret` in production mode (``PRODUCTION`` true) when unset.
    """
    value = config.get(name)
    if value:
        return str(value)
    if config.get("PRODUCTION"):
        raise MissingSecret(f"{name} must be configured (PATHFINDER_{name}) in production")
    instance = Path(str(config.get("INSTANCE_PATH") or Path.cwd() / "instance"))
    return _dev_secret(instance, name, num_bytes)


def _dev_secret(instance: Path, name: str, num_bytes: int) -> str:
    path = instance / DEV_SECRETS_FILE
    with _lock:
        stored: dict[str, str] = {}
        if path.exists():
            stored = json.loads(path.read_text(encoding="utf-8"))
        if name not in stored:
            stored[name] = random_key_b64(num_bytes)
            instance.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".tmp")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(stored, handle)
            os.replace(tmp, path)
            log.warning("generated development secret %s in %s (not for production)", name, path)
        return stored[name]
