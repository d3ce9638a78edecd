"""Key management: master keys (KEKs) from a provider, per-user data keys (DEKs) in the database.

The hierarchy has two levels. A *key provider* holds the master keys (KEKs) and does only two
things: wrap a data key and unwrap it. Each user has one or more random 256-bit *data keys*
(DEKs), one row per version in ``pf_encryption_keys``, stored wrapped. Field values are
sealed with the user's newest DEK (:mod:`pathfinder.security.fields`); a token names the DEK
version that sealed it, so older versions stay readable while a rotation re-encrypts.

Why it is shaped this way:

* KEK rotation touches only the small wrapped keys (``rotate-kek``), never the data; DEK
  rotation re-encrypts one user's data (``rotate-dek``); destroying one user's DEKs makes that
  user's ciphertext unreadable, in backups too (crypto-shredding), without touching anyone
  else's data.
* The provider is chosen by the ``KEY_PROVIDER`` config string from :data:`KEY_PROVIDERS`,
  so a cloud KMS (OCI Vault) plugs in by registering a factory; callers only ever see the
  :class:`KeyProvider` protocol. KEK versions are global integers: a provider that moves
  from the local keyring to a KMS keeps the old versions resolvable until ``rotate-kek`` has
  re-wrapped every DEK under the new one.
* Unwrapping is the expensive, remote step with a KMS, so unwrapped keys are cached, but in
  a bounded cache whose entries expire (``DEK_CACHE_SIZE``, ``DEK_CACHE_TTL_SECONDS``): a
  process never holds more than that many users' keys, nor holds one for long after it was
  destroyed elsewhere.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import threading
import time
import weakref
from collections import OrderedDict
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Generic, NoReturn, Protocol, TypeVar, runtime_checkable

import sqlalchemy as sa
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from flask import Flask, current_app
from sqlalchemy.engine import Connection

from pathfinder.ids import new_id
from pathfinder.schema.shared.security import encryption_keys
from pathfinder.security.secrets import MissingSecret, resolve_secret

# Bytes of every key in the hierarchy (AES-256) and of every GCM nonce (96 bits).
KEY_BYTES = 32
NONCE_BYTES = 12
TAG_BYTES = 16
# What the ``algorithm`` column records for every DEK this module creates.
DEK_ALGORITHM = "AES-256-GCM"
# Name of the development master key in <instance>/dev-secrets.json (see resolve_secret).
DEV_KEK_SECRET = "KEK_DEV_KEY"  # noqa: S105 - a secret's name, not its value

STATUS_ACTIVE = "active"
STATUS_RETIRED = "retired"
STATUS_DESTROYED = "destroyed"


class CryptoError(Exception):
    """Base of every key-management and field-encryption error (catch this in services)."""


class KeyringError(CryptoError):
    """The KEK configuration is unusable, or lacks a version a stored key needs."""


class KeyNotFound(CryptoError):
    """The user has no data key (or not the version a token names)."""


class KeyDestroyed(CryptoError):
    """The data key was destroyed (crypto-shredded): what it sealed can never be read again."""


class KeyUnwrapError(CryptoError):
    """A wrapped data key failed authentication: wrong KEK, or the row was tampered with."""


# -- encoding helpers --------------------------------------------------------------------


def b64url_encode(data: bytes) -> str:
    """Base64url without padding: the one text encoding of binary in tokens and key rows."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    """Inverse of :func:`b64url_encode`; strict, so a mangled value is an error, not garbage."""
    try:
        return base64.b64decode(text + "=" * (-len(text) % 4), altchars=b"-_", validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError("not valid base64url") from exc


def canonical_aad(*parts: str) -> bytes:
    """Unambiguous bytes of ``parts``: each is length-prefixed, so no two tuples collide.

    Joining with a separator would let ``("a.b", "c")`` and ``("a", "b.c")`` meet; a 4-byte
    length before each UTF-8 part cannot.
    """
    out = bytearray()
    for part in parts:
        data = part.encode("utf-8")
        out += len(data).to_bytes(4, "big")
        out += data
    return bytes(out)


def dek_wrapping_aad(user_id: str, key_version: int) -> bytes:
    """AAD of a wrapped DEK: binds it to its owner and version, so rows cannot be swapped."""
    return canonical_aad("pf1-dek", user_id, str(key_version))


# -- key providers -----------------------------------------------------------------------


@runtime_checkable
class KeyProvider(Protocol):
    """Holds the master keys; wraps and unwraps data keys. The only thing a KMS must do."""

    @property
    def current_version(self) -> int:
        """The KEK version new wraps use (the newest)."""
        ...

    def wrap(self, dek: bytes, aad: bytes) -> tuple[int, bytes]:
        """Encrypt ``dek`` under the current KEK; returns (kek_version, wrapped bytes)."""
        ...

    def unwrap(self, kek_version: int, wrapped: bytes, aad: bytes) -> bytes:
        """Decrypt a DEK wrapped under ``kek_version``; raises on a wrong AAD or key."""
        ...


def parse_keyring(value: str | Mapping[Any, Any]) -> dict[int, bytes]:
    """Parse ``KEK_KEYRING`` (JSON object ``{"1": "<base64url 32 bytes>", ...}``).

    Strict because a silently mis-parsed master key would seal data nobody can read later.
    Error messages name the version at fault, never key material.
    """
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as exc:
            raise KeyringError("KEK_KEYRING is not valid JSON") from exc
    if not isinstance(value, Mapping) or not value:
        raise KeyringError('KEK_KEYRING must be a non-empty JSON object {"1": "<key>", ...}')
    keyring: dict[int, bytes] = {}
    for raw_version, raw_key in value.items():
        try:
            version = int(str(raw_version))
        except ValueError:
            raise KeyringError(f"KEK_KEYRING version {raw_version!r} is not an integer") from None
        if version < 1:
            raise KeyringError(f"KEK_KEYRING version {version} must be 1 or more")
        if version in keyring:
            raise KeyringError(f"KEK_KEYRING lists version {version} twice")
        if isinstance(raw_key, bytes):
            key = raw_key
        elif isinstance(raw_key, str):
            try:
                key = b64url_decode(raw_key.strip())
            except ValueError:
                raise KeyringError(f"KEK_KEYRING version {version} is not base64url") from None
        else:
            raise KeyringError(f"KEK_KEYRING version {version} must be a base64url string")
        if len(key) != KEY_BYTES:
            raise KeyringError(
                f"KEK_KEYRING version {version} is {len(key)} bytes; a KEK is {KEY_BYTES} bytes"
            )
        keyring[version] = key
    return keyring


def new_keyring_entry() -> str:
    """A fresh KEK as the base64url text ``KEK_KEYRING`` expects (for operators' rotation)."""
    return b64url_encode(os.urandom(KEY_BYTES))


class LocalKeyProvider:
    """KEKs from configuration: a keyring of versioned 256-bit keys, the newest wraps.

    Wrapping is AES-256-GCM with a fresh random nonce; the wrapped form is
    ``nonce | ciphertext | tag``. The KEKs are full-entropy keys, so no key derivation (and
    no ``key_salt``) is needed. Older versions stay in the keyring only so ``rotate-kek`` can
    unwrap what they wrapped.
    """

    name = "local"

    def __init__(self, keyring: Mapping[int, bytes]) -> None:
        if not keyring:
            raise KeyringError("the keyring is empty")
        for version, key in keyring.items():
            if len(key) != KEY_BYTES:
                raise KeyringError(f"KEK version {version} is not {KEY_BYTES} bytes")
        self._keks = {int(v): AESGCM(k) for v, k in keyring.items()}
        self._current = max(self._keks)

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> LocalKeyProvider:
        """Build from ``KEK_KEYRING``; unset means one development key (refused in production).

        The development key lives in ``<instance>/dev-secrets.json`` so ``scripts/serve.sh``
        works with no configuration and data sealed yesterday still opens today.
        """
        raw = config.get("KEK_KEYRING")
        if raw:
            return cls(parse_keyring(raw))
        if config.get("PRODUCTION"):
            raise MissingSecret(
                "KEK_KEYRING must be configured (PATHFINDER_KEK_KEYRING) in production"
            )
        dev_key = resolve_secret(config, DEV_KEK_SECRET, num_bytes=KEY_BYTES)
        return cls(parse_keyring({"1": dev_key}))

    @property
    def current_version(self) -> int:
        """The newest KEK version: every new wrap uses it."""
        return self._current

    @property
    def versions(self) -> list[int]:
        """Every KEK version this provider can unwrap with, oldest first."""
        return sorted(self._keks)

    def wrap(self, dek: bytes, aad: bytes) -> tuple[int, bytes]:
        """Seal ``dek`` under the newest KEK, bound to ``aad`` (the owner and DEK version)."""
        nonce = os.urandom(NONCE_BYTES)
        return self._current, nonce + self._keks[self._current].encrypt(nonce, dek, aad)

    def unwrap(self, kek_version: int, wrapped: bytes, aad: bytes) -> bytes:
        """Open a wrapped DEK; a missing KEK version or a failed tag is an error, never junk."""
        kek = self._keks.get(kek_version)
        if kek is None:
            raise KeyringError(
                f"KEK version {kek_version} is not in the keyring; keep old versions configured "
                "until `pathfinder keys rotate-kek` has re-wrapped every data key"
            )
        if len(wrapped) != NONCE_BYTES + KEY_BYTES + TAG_BYTES:
            raise KeyUnwrapError("wrapped data key has the wrong length")
        try:
            return kek.decrypt(wrapped[:NONCE_BYTES], wrapped[NONCE_BYTES:], aad)
        except InvalidTag:
            raise KeyUnwrapError(
                f"a data key failed to unwrap under KEK version {kek_version}"
            ) from None


ProviderFactory = Callable[[Mapping[str, Any]], KeyProvider]

# ``KEY_PROVIDER`` config string -> factory. An OCI Vault provider registers itself here
# (``register_key_provider("oci-vault", OciVaultKeyProvider.from_config)``) from its own
# module; nothing that calls wrap/unwrap changes. See docs/security.md, "Key providers".
KEY_PROVIDERS: dict[str, ProviderFactory] = {"local": LocalKeyProvider.from_config}


def register_key_provider(name: str, factory: ProviderFactory) -> None:
    """Make ``KEY_PROVIDER=name`` build its provider with ``factory`` (the KMS seam)."""
    KEY_PROVIDERS[name] = factory


def key_provider_from_config(config: Mapping[str, Any]) -> KeyProvider:
    """The provider ``KEY_PROVIDER`` names, built from ``config``; unknown names are errors."""
    name = str(config.get("KEY_PROVIDER") or "local")
    factory = KEY_PROVIDERS.get(name)
    if factory is None:
        known = ", ".join(sorted(KEY_PROVIDERS))
        raise KeyringError(f"unknown KEY_PROVIDER {name!r} (known: {known})")
    return factory(config)


# Called inside the transaction that changes key rows, just before it commits, with
# (connection, event, user id or None, details): the CLI passes one that writes
# ``pathfinder.audit.record``, so a key change and its audit row commit together. Details
# never hold key material, only versions and counts.
AuditHook = Callable[[Connection, str, str | None, dict[str, Any]], None]

EVENT_KEY_ROTATED = "crypt_key_rotated"
EVENT_KEY_DESTROYED = "crypt_key_destroyed"


# -- the bounded cache ---------------------------------------------------------------------

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class ExpiringLru(Generic[K, V]):
    """At most ``maxsize`` entries, each dropped ``ttl`` seconds after it was stored.

    Least recently used entries go first when full. ``maxsize`` or ``ttl`` of 0 disables
    caching (every lookup misses), which is what an operator sets to rule the cache out.
    """

    def __init__(
        self, maxsize: int, ttl: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.maxsize = max(0, int(maxsize))
        self.ttl = float(ttl)
        self._clock = clock
        self._items: OrderedDict[K, tuple[V, float]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: K) -> V | None:
        """The live value for ``key``, or None when absent or expired."""
        with self._lock:
            item = self._items.get(key)
            if item is None:
                return None
            value, expires = item
            if self._clock() >= expires:
                del self._items[key]
                return None
            self._items.move_to_end(key)
            return value

    def put(self, key: K, value: V) -> None:
        """Store ``value``; evicts the least recently used entries beyond ``maxsize``."""
        if self.maxsize == 0 or self.ttl <= 0:
            return
        with self._lock:
            self._items[key] = (value, self._clock() + self.ttl)
            self._items.move_to_end(key)
            while len(self._items) > self.maxsize:
                self._items.popitem(last=False)

    def discard(self, predicate: Callable[[K], bool]) -> int:
        """Drop every entry whose key matches ``predicate``; returns how many."""
        with self._lock:
            doomed = [key for key in self._items if predicate(key)]
            for key in doomed:
                del self._items[key]
            return len(doomed)

    def clear(self) -> None:
        """Drop everything."""
        with self._lock:
            self._items.clear()

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)


# Every live store in this process, so destroying a user's keys evicts them from all of them
# (a job and the web app may hold separate stores) and not only from the caller's.
_stores: weakref.WeakSet[DataKeyStore] = weakref.WeakSet()
_stores_lock = threading.Lock()


def forget_user_keys(user_id: str) -> None:
    """Evict ``user_id``'s keys from every cache in this process (after shredding them)."""
    with _stores_lock:
        stores = list(_stores)
    for store in stores:
        store.forget(user_id)


# -- data keys -----------------------------------------------------------------------------


@dataclass(frozen=True)
class DataKeyInfo:
    """One version of one user's data key, as stored (never the key itself)."""

    user_id: str
    key_version: int
    kek_version: int
    status: str
    algorithm: str
    rotation_count: int
    created_at: datetime
    last_rotated: datetime | None
    destroyed_at: datetime | None


def utcnow() -> datetime:
    """Now, as an aware UTC datetime (what UtcDateTime columns take)."""
    return datetime.now(UTC)


class DataKeyStore:
    """Users' data keys in ``pf_encryption_keys``: create, load (cached), rotate, retire.

    Every method that reads or writes rows takes the caller's :class:`Connection`, so key
    creation commits with the registration that needs it, and a key created in a transaction
    can seal values in that same transaction.
    """

    def __init__(
        self,
        provider: KeyProvider,
        *,
        cache_size: int = 1024,
        cache_ttl: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.provider = provider
        # (user_id, version) -> AESGCM of that DEK; user_id -> newest active version.
        self._aeads: ExpiringLru[tuple[str, int], AESGCM] = ExpiringLru(
            cache_size, cache_ttl, clock
        )
        self._current: ExpiringLru[str, int] = ExpiringLru(cache_size, cache_ttl, clock)
        with _stores_lock:
            _stores.add(self)

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> DataKeyStore:
        """A store with the configured provider and cache bounds."""
        return cls(
            key_provider_from_config(config),
            cache_size=int(config.get("DEK_CACHE_SIZE", 1024)),
            cache_ttl=float(config.get("DEK_CACHE_TTL_SECONDS", 300)),
        )

    # -- reading -----------------------------------------------------------------------

    def key_versions(self, conn: Connection, user_id: str) -> list[DataKeyInfo]:
        """Every stored version of ``user_id``'s key, oldest first (for status and rotation)."""
        k = encryption_keys.c
        rows = conn.execute(
            sa.select(
                k.user_id,
                k.key_version,
                k.kek_version,
                k.status,
                k.algorithm,
                k.rotation_count,
                k.created_at,
                k.last_rotated,
                k.destroyed_at,
            )
            .where(k.user_id == user_id)
            .order_by(k.key_version)
        )
        return [DataKeyInfo(**row._mapping) for row in rows]

    def current_version(self, conn: Connection, user_id: str) -> int:
        """The version new values of ``user_id`` are sealed with: the newest active one."""
        cached = self._current.get(user_id)
        if cached is not None:
            return cached
        k = encryption_keys.c
        version = conn.execute(
            sa.select(sa.func.max(k.key_version)).where(
                k.user_id == user_id, k.status == STATUS_ACTIVE
            )
        ).scalar()
        if version is None:
            self._raise_missing(conn, user_id, None)
        self._current.put(user_id, int(version))
        return int(version)

    def aead(self, conn: Connection, user_id: str, key_version: int) -> AESGCM:
        """The cipher of ``user_id``'s DEK ``key_version``, unwrapped once and then cached.

        Retired versions still open (a restored backup may hold their tokens); destroyed
        ones raise :class:`KeyDestroyed`.
        """
        cache_key = (user_id, key_version)
        cached = self._aeads.get(cache_key)
        if cached is not None:
            return cached
        k = encryption_keys.c
        row = conn.execute(
            sa.select(k.key_encrypted, k.kek_version, k.status).where(
                k.user_id == user_id, k.key_version == key_version
            )
        ).first()
        if row is None:
            self._raise_missing(conn, user_id, key_version)
        if row.status == STATUS_DESTROYED or row.key_encrypted is None:
            raise KeyDestroyed(
                f"data key v{key_version} of user {user_id} was destroyed; its data is gone"
            )
        try:
            wrapped = b64url_decode(row.key_encrypted)
        except ValueError:
            raise KeyUnwrapError(
                f"data key v{key_version} of user {user_id} is not valid base64url"
            ) from None
        dek = self.provider.unwrap(
            int(row.kek_version), wrapped, dek_wrapping_aad(user_id, key_version)
        )
        aead = AESGCM(dek)
        self._aeads.put(cache_key, aead)
        return aead

    def _raise_missing(self, conn: Connection, user_id: str, key_version: int | None) -> NoReturn:
        k = encryption_keys.c
        destroyed = conn.execute(
            sa.select(sa.func.count()).where(k.user_id == user_id, k.status == STATUS_DESTROYED)
        ).scalar()
        if destroyed:
            raise KeyDestroyed(f"the data keys of user {user_id} were destroyed")
        what = f"data key v{key_version}" if key_version is not None else "an active data key"
        raise KeyNotFound(f"user {user_id} has no {what}")

    # -- writing -----------------------------------------------------------------------

    def ensure_user_key(self, conn: Connection, user_id: str) -> int:
        """Give ``user_id`` a first data key unless they have one; returns the current version.

        Registration calls this in the transaction that inserts the ``pf_users`` row, so
        the account and its key commit together and a retried registration is harmless.
        A user whose keys were destroyed gets no new one: :class:`KeyDestroyed`.
        """
        k = encryption_keys.c
        statuses = set(conn.execute(sa.select(k.status).where(k.user_id == user_id)).scalars())
        if STATUS_DESTROYED in statuses:
            raise KeyDestroyed(f"the data keys of user {user_id} were destroyed")
        if STATUS_ACTIVE in statuses:
            return self.current_version(conn, user_id)
        return self.add_key_version(conn, user_id)

    def add_key_version(self, conn: Connection, user_id: str) -> int:
        """Create the next version of ``user_id``'s data key and make it the current one.

        Older active versions stay active (their tokens must keep opening) until a
        rotation has re-encrypted everything and retires them.
        """
        k = encryption_keys.c
        highest = conn.execute(
            sa.select(sa.func.max(k.key_version)).where(k.user_id == user_id)
        ).scalar()
        version = int(highest or 0) + 1
        dek = os.urandom(KEY_BYTES)
        kek_version, wrapped = self.provider.wrap(dek, dek_wrapping_aad(user_id, version))
        conn.execute(
            encryption_keys.insert().values(
                id=new_id(),
                user_id=user_id,
                key_version=version,
                key_encrypted=b64url_encode(wrapped),
                key_salt=None,
                algorithm=DEK_ALGORITHM,
                kek_version=kek_version,
                status=STATUS_ACTIVE,
                rotation_count=0,
                last_rotated=None,
                created_at=utcnow(),
                destroyed_at=None,
            )
        )
        self._current.discard(lambda key: key == user_id)
        return version

    def retire_versions_below(self, conn: Connection, user_id: str, version: int) -> list[int]:
        """Mark active versions older than ``version`` retired; returns which ones.

        Call only once no token references them. Retired keys stay wrapped in the table,
        so a restored backup's tokens still open; they are never used to seal again.
        """
        k = encryption_keys.c
        older = list(
            conn.execute(
                sa.select(k.key_version).where(
                    k.user_id == user_id, k.status == STATUS_ACTIVE, k.key_version < version
                )
            ).scalars()
        )
        if older:
            conn.execute(
                encryption_keys.update()
                .where(k.user_id == user_id, k.key_version.in_(older))
                .values(status=STATUS_RETIRED)
            )
        self._current.discard(lambda key: key == user_id)
        return sorted(older)

    def forget(self, user_id: str) -> None:
        """Drop ``user_id``'s keys and current version from this store's cache."""
        self._aeads.discard(lambda key: key[0] == user_id)
        self._current.discard(lambda key: key == user_id)

    def clear_cache(self) -> None:
        """Drop every cached key (tests, and an operator's "forget everything" signal)."""
        self._aeads.clear()
        self._current.clear()

    def cache_size(self) -> int:
        """How many unwrapped keys are cached now (bounded by ``DEK_CACHE_SIZE``)."""
        return len(self._aeads)


_EXTENSION_KEY = "pathfinder.keys"
_create_lock = threading.Lock()


def get_key_store(app: Flask | None = None) -> DataKeyStore:
    """The app's :class:`DataKeyStore`, built on first use from its config (no I/O before).

    Lazily created like the database handle, so the factory stays free of key material and
    a misconfigured keyring fails on first use with a clear :class:`KeyringError`.
    """
    app = app or current_app._get_current_object()  # type: ignore[attr-defined]
    store = app.extensions.get(_EXTENSION_KEY)
    if store is None:
        with _create_lock:
            store = app.extensions.get(_EXTENSION_KEY)
            if store is None:
                store = DataKeyStore.from_config(app.config)
                app.extensions[_EXTENSION_KEY] = store
    return store
