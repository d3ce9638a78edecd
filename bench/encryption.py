"""Field-encryption benchmark: the codec (``FieldCipher``) against bare ``AESGCM`` calls.

Run: ``.venv/bin/python bench/encryption.py [--sizes 64,1024,16384] [--seconds 0.3]``.

Why this shape:

* The physical limit of field encryption is AES-GCM itself, so every figure of the codec is
  set against the *same* work done with bare ``cryptography`` calls: a fresh 12-byte nonce
  from ``os.urandom`` and ``AESGCM.encrypt``/``decrypt`` with an AAD of the same length,
  on bytes already encoded. The ratio (codec / raw throughput) is what the codec costs on
  top: AAD building, UTF-8, base64url, the token's text form, parsing, the key lookup.
* Bare AES-GCM is not what a repository could store, though: a text column needs the
  ``pf2.<version>.<base64url>`` token and a per-row AAD. So a second baseline, "hand-rolled",
  is the least code that writes and reads the same token format inline (nonce, a per-row
  AAD joined from the same five parts, base64url, no checks): the floor of the format
  itself. codec / hand-rolled is what the layer's checks and registry cost.
* Keys come from a real ``DataKeyStore`` over a real (temporary SQLite) database, warmed
  once, because that is the steady state of a server: the first value of a user costs one
  unwrap, every later one hits the bounded cache. "per-request cipher" builds a new
  ``FieldCipher`` for every value, the worst case for the cache path.
* Value sizes span a phone number (64 B) to a long PERT narrative (16 KiB); short values
  are where fixed per-value overhead shows.
* Each figure is the best of several timed repeats (as ``timeit`` advises), so background
  load on the machine moves the figures less than it would move a mean.

Nothing is written outside a temporary directory, which is removed at exit.
"""

from __future__ import annotations

import argparse
import base64
import os
import platform
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import cryptography
from cryptography.hazmat.backends.openssl.backend import backend as openssl_backend
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from pathfinder.config import database_settings
from pathfinder.db.database import Database
from pathfinder.db.setup import init_database
from pathfinder.ids import new_id
from pathfinder.schema.shared.identity import users
from pathfinder.security.fields import FieldCipher, value_aad
from pathfinder.security.keys import DataKeyStore, LocalKeyProvider, b64url_encode
from pathfinder.security.keys import utcnow as now

TABLE, COLUMN = "experiences", "description"


def machine() -> str:
    """nproc, CPU model, Python and OpenSSL: what the figures depend on."""
    model = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        model = platform.processor() or model
    try:
        load = "load average " + " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        load = ""
    return (
        f"{os.cpu_count()} CPU(s) ({model}); Python {platform.python_version()}; "
        f"cryptography {cryptography.__version__}; {openssl_backend.openssl_version_text()}; "
        f"{load}"
    )


def ops_per_second(func: Callable[[], object], seconds: float, repeats: int = 5) -> float:
    """Best throughput over ``repeats`` runs of about ``seconds`` each."""
    batch = 1
    while True:  # size a batch to ~seconds/10 so timer overhead is negligible
        start = time.perf_counter()
        for _ in range(batch):
            func()
        elapsed = time.perf_counter() - start
        if elapsed >= seconds / 10:
            break
        batch *= 2
    best = 0.0
    for _ in range(repeats):
        count = 0
        start = time.perf_counter()
        while (elapsed := time.perf_counter() - start) < seconds:
            for _ in range(batch):
                func()
            count += batch
        best = max(best, count / elapsed)
    return best


def text_of(size: int) -> str:
    """ASCII text of exactly ``size`` bytes in UTF-8 (prose-like, not compressible junk)."""
    words = "reconciled the month-end close and trained two staff on revenue recognition "
    return (words * (size // len(words) + 1))[:size]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="64,256,1024,4096,16384")
    parser.add_argument("--seconds", type=float, default=0.3, help="per timed repeat")
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")]

    print(f"Machine: {machine()}")
    print(f"Command: {' '.join([Path(sys.executable).name, *sys.argv])}")
    with tempfile.TemporaryDirectory(prefix="pf-bench-enc-") as tmp:
        settings = database_settings(
            {"DATABASE_URL": f"sqlite:///{tmp}/bench.db", "INSTANCE_PATH": tmp}
        )
        db = Database(settings)
        init_database(db)
        store = DataKeyStore(LocalKeyProvider({1: os.urandom(32)}), cache_size=1024, cache_ttl=3600)
        user_id, row_id = new_id(), new_id()
        with db.transaction() as conn:
            stamp = now()
            conn.execute(
                users.insert().values(
                    id=user_id,
                    username="benchuser",
                    email="b@example.com",
                    email_normalized="b@example.com",
                    email_verified=True,
                    role="user",
                    account_status="active",
                    mfa_enabled=False,
                    failed_login_count=0,
                    total_logins=0,
                    created_at=stamp,
                    updated_at=stamp,
                )
            )
            store.ensure_user_key(conn, user_id)

        rows: list[tuple[str, int, float, float, float, float]] = []
        with db.connect() as conn:
            cipher = FieldCipher(store, conn)
            place = {
                "table": TABLE,
                "column": COLUMN,
                "row_id": row_id,
                "user_id": user_id,
                "row_version": 1,
            }
            aead = AESGCM(os.urandom(32))
            aad = value_aad(TABLE, COLUMN, row_id, user_id, 1)
            for size in sizes:
                text = text_of(size)
                data = text.encode()
                token = cipher.encrypt_value(text, **place)
                assert cipher.decrypt_value(token, **place) == text
                nonce = os.urandom(12)
                sealed = aead.encrypt(nonce, data, aad)

                def raw_encrypt(data: bytes = data) -> bytes:
                    return aead.encrypt(os.urandom(12), data, aad)

                def raw_decrypt(nonce: bytes = nonce, sealed: bytes = sealed) -> bytes:
                    return aead.decrypt(nonce, sealed, aad)

                def hand_encrypt(text: str = text) -> str:
                    nonce = os.urandom(12)
                    aad = "\x1f".join(("pf2", TABLE, COLUMN, row_id, user_id, "1")).encode()
                    blob = nonce + aead.encrypt(nonce, text.encode(), aad)
                    return "pf2.1." + base64.urlsafe_b64encode(blob).rstrip(b"=").decode()

                hand_token = hand_encrypt()

                def hand_decrypt(token: str = hand_token) -> str:
                    _scheme, _version, payload = token.split(".", 2)
                    blob = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
                    aad = "\x1f".join(("pf2", TABLE, COLUMN, row_id, user_id, "1")).encode()
                    return aead.decrypt(blob[:12], blob[12:], aad).decode()

                assert hand_decrypt() == text

                def codec_encrypt(text: str = text) -> str:
                    return cipher.encrypt_value(text, **place)

                def codec_decrypt(token: str = token) -> str:
                    return cipher.decrypt_value(token, **place)

                def request_encrypt(text: str = text) -> str:
                    return FieldCipher(store, conn).encrypt_value(text, **place)

                def request_decrypt(token: str = token) -> str:
                    return FieldCipher(store, conn).decrypt_value(token, **place)

                for op, raw, hand, codec, request in (
                    ("encrypt", raw_encrypt, hand_encrypt, codec_encrypt, request_encrypt),
                    ("decrypt", raw_decrypt, hand_decrypt, codec_decrypt, request_decrypt),
                ):
                    rows.append(
                        (
                            op,
                            size,
                            ops_per_second(raw, args.seconds),
                            ops_per_second(hand, args.seconds),
                            ops_per_second(codec, args.seconds),
                            ops_per_second(request, args.seconds),
                        )
                    )
                print(f"  {size} B done", file=sys.stderr)
            conn.rollback()
        db.dispose()

    print()
    print(
        "| op | value | raw AESGCM ops/s | hand-rolled token ops/s | codec ops/s "
        "| codec / raw | codec / hand-rolled | per-request cipher / raw |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for op, size, raw, hand, codec, request in rows:
        print(
            f"| {op} | {size:,} B | {raw:,.0f} | {hand:,.0f} | {codec:,.0f} "
            f"| {codec / raw:.2f}x | {codec / hand:.2f}x | {request / raw:.2f}x |"
        )
    # The unwrap a cache miss costs (local provider), for scale.
    wrapped = LocalKeyProvider({1: os.urandom(32)})
    version, blob = wrapped.wrap(os.urandom(32), b"aad")
    unwrap = ops_per_second(lambda: AESGCM(wrapped.unwrap(version, blob, b"aad")), args.seconds)
    print()
    print(f"Cache miss (unwrap a DEK with the local provider + build its AESGCM): {unwrap:,.0f}/s")
    # The part of the token format no codec can avoid: base64url of the sealed bytes.
    for size in sizes:
        sealed_bytes = os.urandom(size + 28)
        text_form = b64url_encode(sealed_bytes)
        encode = ops_per_second(lambda b=sealed_bytes: b64url_encode(b), args.seconds)
        decode = ops_per_second(
            lambda t=text_form: base64.urlsafe_b64decode(t + "=" * (-len(t) % 4)), args.seconds
        )
        print(
            f"base64url alone, {size:,} B value: encode {1e6 / encode:.2f} us "
            f"({(size + 28) * encode / 1e9:.2f} GB/s), decode {1e6 / decode:.2f} us "
            f"({len(text_form) * decode / 1e9:.2f} GB/s of text)"
        )
    print(
        f"Token size: 'pf2.<v>.' + base64url of (12-byte nonce + value + 16-byte tag); "
        f"a 64-byte value is {len(b64url_encode(bytes(64 + 28))) + 6} characters"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
