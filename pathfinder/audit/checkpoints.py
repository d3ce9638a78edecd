"""Signed checkpoints of the audit log, and the sinks that keep them outside the database.

A checkpoint is a signed tree head (RFC 9162's STH): the size of the Merkle tree, its root,
when it was sealed, and the size and root of the checkpoint before it, as canonical JSON,
signed with an Ed25519 key (``AUDIT_SIGNING_KEY``). Whoever can write the database cannot
sign, so they cannot make a checkpoint for a log they have rewritten; and because every
checkpoint is also appended to a sink the application's database role cannot rewrite, they
cannot make the old checkpoints disappear either. ``audit verify`` holds the log against
the latest exported checkpoint.

Sinks (``AUDIT_CHECKPOINT_SINK``):

* ``file:<path>`` (the default, ``<instance>/audit/checkpoints.jsonl``): one JSON object per
  line, opened ``O_APPEND``, fsynced with its folder. Put it on storage the database role
  cannot reach (another host's mount, a WORM volume, or a file shipped by the log agent).
* ``syslog:/dev/log`` or ``syslog:<host>:<port>`` (UDP): each line is sent to syslog as
  well as written to the file, for a central log store that the database's users cannot
  edit. ``audit verify --checkpoints FILE`` checks against a copy pulled from there.

The ``body`` is what is signed, byte for byte; it is stored and exported as a string so no
JSON re-serialisation can change it.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import hashlib
import json
import logging
import logging.handlers
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from pathfinder.audit.hashing import canonical_json
from pathfinder.config import resolve_instance_path
from pathfinder.security.secrets import resolve_secret

ORIGIN = "pathfinder-audit/v2"
DEFAULT_FILE = Path("audit") / "checkpoints.jsonl"

log = logging.getLogger("pathfinder.audit")


class CheckpointError(ValueError):
    """A checkpoint, a key or a sink setting is malformed."""


# -- keys ----------------------------------------------------------------------------------


def _b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _b64encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def key_id(public: Ed25519PublicKey) -> str:
    """The first 8 bytes of SHA-256 of the raw public key, in hex: names the key in a line."""
    raw = public.public_bytes(Encoding.Raw, PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def public_key_text(public: Ed25519PublicKey) -> str:
    """The raw public key, base64url: what ``AUDIT_VERIFY_KEYS`` and verifiers take."""
    return _b64encode(public.public_bytes(Encoding.Raw, PublicFormat.Raw))


def load_signing_key(config: Mapping[str, Any]) -> Ed25519PrivateKey:
    """The signing key from ``AUDIT_SIGNING_KEY`` (a development one is generated)."""
    seed = _b64decode(resolve_secret(config, "AUDIT_SIGNING_KEY", num_bytes=32))
    if len(seed) != 32:
        raise CheckpointError("AUDIT_SIGNING_KEY must be the base64url of 32 bytes")
    return Ed25519PrivateKey.from_private_bytes(seed)


def verifying_keys(config: Mapping[str, Any]) -> dict[str, Ed25519PublicKey]:
    """Every key a checkpoint may be signed with: the current one and retired ones."""
    keys: dict[str, Ed25519PublicKey] = {}
    for text in str(config.get("AUDIT_VERIFY_KEYS") or "").replace(",", " ").split():
        try:
            public = Ed25519PublicKey.from_public_bytes(_b64decode(text))
        except ValueError as exc:
            raise CheckpointError(f"AUDIT_VERIFY_KEYS holds a malformed key: {exc}") from exc
        keys[key_id(public)] = public
    public = load_signing_key(config).public_key()
    keys[key_id(public)] = public
    return keys


# -- checkpoints ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Checkpoint:
    """One signed tree head: the statement, its exact bytes and its signature."""

    tree_size: int
    root_hash: str
    sealed_at: str
    prev_size: int
    prev_root: str | None
    max_seq: int
    body: str
    key_id: str
    signature: str

    @classmethod
    def sign(
        cls,
        key: Ed25519PrivateKey,
        *,
        tree_size: int,
        root_hash: str,
        sealed_at: str,
        prev_size: int,
        prev_root: str | None,
        max_seq: int,
    ) -> Checkpoint:
        statement = {
            "origin": ORIGIN,
            "tree_size": tree_size,
            "root_hash": root_hash,
            "sealed_at": sealed_at,
            "prev_size": prev_size,
            "prev_root": prev_root,
            "max_seq": max_seq,
        }
        body = canonical_json(statement)
        signature = _b64encode(key.sign(body.encode("ascii")))
        return cls(
            tree_size,
            root_hash,
            sealed_at,
            prev_size,
            prev_root,
            max_seq,
            body,
            key_id(key.public_key()),
            signature,
        )

    @classmethod
    def from_signed(cls, body: str, key: str, signature: str) -> Checkpoint:
        """Parse a stored or exported checkpoint (the signature is checked separately)."""
        try:
            statement = json.loads(body)
            if not isinstance(statement, dict) or statement.get("origin") != ORIGIN:
                raise CheckpointError(f"not a {ORIGIN} checkpoint")
            return cls(
                int(statement["tree_size"]),
                str(statement["root_hash"]),
                str(statement["sealed_at"]),
                int(statement["prev_size"]),
                None if statement["prev_root"] is None else str(statement["prev_root"]),
                int(statement["max_seq"]),
                body,
                key,
                signature,
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise CheckpointError(f"malformed checkpoint: {exc}") from exc

    def signature_ok(self, keys: Mapping[str, Ed25519PublicKey]) -> bool:
        public = keys.get(self.key_id)
        if public is None:
            return False
        try:
            public.verify(_b64decode(self.signature), self.body.encode("ascii"))
        except (InvalidSignature, ValueError):
            return False
        return True

    def line(self) -> str:
        """The exported form: one JSON line."""
        return json.dumps(
            {"body": self.body, "key_id": self.key_id, "signature": self.signature},
            separators=(",", ":"),
        )


# -- sinks ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class SinkSettings:
    """Where checkpoints go: always a file; syslog as well when configured."""

    file: Path
    syslog_address: str | tuple[str, int] | None = None

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> SinkSettings:
        instance = resolve_instance_path(config.get("INSTANCE_PATH"))
        configured = str(config.get("AUDIT_CHECKPOINT_SINK") or "").strip()
        file_setting = config.get("AUDIT_CHECKPOINT_FILE")
        path = Path(str(file_setting)) if file_setting else instance / DEFAULT_FILE
        address: str | tuple[str, int] | None = None
        if configured.startswith("file:"):
            path = Path(configured.removeprefix("file:"))
        elif configured.startswith("syslog:"):
            target = configured.removeprefix("syslog:")
            if target.startswith("/"):
                address = target
            else:
                host, _, port = target.rpartition(":")
                if not host or not port.isdigit():
                    raise CheckpointError("AUDIT_CHECKPOINT_SINK syslog needs HOST:PORT or a path")
                address = (host, int(port))
        elif configured:
            raise CheckpointError(
                f"AUDIT_CHECKPOINT_SINK must start with file: or syslog:, not {configured!r}"
            )
        return cls(path.expanduser(), address)


@contextlib.contextmanager
def exclusive(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``<path>.lock`` so sealers append in order, never twice.

    Every sealer on the host exports under it (the scheduler's leader and a DBA's
    ``audit seal`` alike); sealers on several hosts must share the folder or only the
    leader may seal (docs/audit.md).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path.with_name(path.name + ".lock"), os.O_WRONLY | os.O_CREAT, 0o640)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def export(settings: SinkSettings, checkpoints: list[Checkpoint]) -> None:
    """Append ``checkpoints`` to the file (fsynced) and send them to syslog if configured."""
    if not checkpoints:
        return
    path = settings.file
    created = not path.exists()
    path.parent.mkdir(parents=True, exist_ok=True)
    data = "".join(c.line() + "\n" for c in checkpoints).encode("ascii")
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    if created:
        _fsync_dir(path.parent)
    if settings.syslog_address is not None:
        _send_syslog(settings.syslog_address, checkpoints)


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _send_syslog(address: str | tuple[str, int], checkpoints: list[Checkpoint]) -> None:
    handler = logging.handlers.SysLogHandler(
        address=address, facility=logging.handlers.SysLogHandler.LOG_AUTHPRIV
    )
    try:
        for checkpoint in checkpoints:
            record = logging.LogRecord(
                "pathfinder.audit.checkpoint",
                logging.INFO,
                __file__,
                0,
                "pathfinder-audit-checkpoint %s",
                (checkpoint.line(),),
                None,
            )
            handler.emit(record)
    except OSError:
        log.exception("could not send an audit checkpoint to syslog at %s", address)
    finally:
        handler.close()


@dataclass
class ExportedLog:
    """What the exported file holds: its checkpoints in order, and what is wrong with it."""

    checkpoints: list[Checkpoint] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    exists: bool = True

    @property
    def latest(self) -> Checkpoint | None:
        return self.checkpoints[-1] if self.checkpoints else None


def read_exported(path: Path) -> ExportedLog:
    """Parse every line; a torn, malformed or out-of-order line is a problem, not an error."""
    exported = ExportedLog()
    if not path.exists():
        exported.exists = False
        return exported
    data = path.read_bytes()
    if data and not data.endswith(b"\n"):
        exported.problems.append(
            f"{path}: the last line is incomplete (the file was truncated mid-line)"
        )
    for number, raw in enumerate(data.split(b"\n"), start=1):
        if not raw.strip():
            continue
        try:
            entry = json.loads(raw)
            checkpoint = Checkpoint.from_signed(
                str(entry["body"]), str(entry["key_id"]), str(entry["signature"])
            )
        except (ValueError, KeyError, TypeError) as exc:
            if raw is data.split(b"\n")[-1] and not data.endswith(b"\n"):
                continue  # already reported as a torn last line
            exported.problems.append(f"{path}:{number}: not a checkpoint ({exc})")
            continue
        exported.checkpoints.append(checkpoint)
    return exported


def last_exported(path: Path) -> Checkpoint | None:
    """The last complete checkpoint line of the file, reading only its end."""
    if not path.exists():
        return None
    with path.open("rb") as handle:
        handle.seek(0, os.SEEK_END)
        size = handle.tell()
        handle.seek(max(0, size - 8192))
        tail = handle.read()
    for raw in reversed(tail.split(b"\n")[:-1] if tail.endswith(b"\n") else tail.split(b"\n")):
        try:
            entry = json.loads(raw)
            return Checkpoint.from_signed(
                str(entry["body"]), str(entry["key_id"]), str(entry["signature"])
            )
        except (ValueError, KeyError, TypeError):
            continue
    return None


def iter_chain_problems(checkpoints: list[Checkpoint]) -> Iterator[str]:
    """Each place where a checkpoint does not name the one before it (a removed line)."""
    previous: Checkpoint | None = None
    for checkpoint in checkpoints:
        expected_size = previous.tree_size if previous else 0
        expected_root = previous.root_hash if previous else None
        if checkpoint.prev_size != expected_size or checkpoint.prev_root != expected_root:
            yield (
                f"checkpoint of size {checkpoint.tree_size} follows size {checkpoint.prev_size}, "
                f"but the checkpoint before it has size {expected_size}"
            )
        elif checkpoint.tree_size <= expected_size:
            yield f"checkpoint of size {checkpoint.tree_size} does not grow the tree"
        previous = checkpoint
