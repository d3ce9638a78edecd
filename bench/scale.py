"""100,000 users on PostgreSQL: what grows with the user count, measured step by step.

Run it in the background; it can be stopped at any point and started again with the same
command, and it goes on from where it was::

    nohup .venv/bin/python bench/scale.py --state /var/tmp/pf-scale \\
        > /var/tmp/pf-scale.md 2> /var/tmp/pf-scale.log &
    tail -f /var/tmp/pf-scale.log                 # progress, rate and ETA
    .venv/bin/python bench/scale.py --state /var/tmp/pf-scale --report   # figures so far
    .venv/bin/python bench/scale.py --state /var/tmp/pf-scale --clean    # stop, delete

Why this shape:

* The population is made by the fastest correct route (the engine's statements re-targeted
  by name through the bare driver, plus the registry rows; ``bench/_tenants.py``), at
  template v2, so the final migration is a real one (v2 -> v3). Each user's DDL is one
  transaction, so a kill leaves whole users: on restart the users whose tables exist but
  whose registry rows do not are found in the catalog and registered, and the population
  goes on.
* At each checkpoint (``--sizes``, default 1,000, 10,000 and 100,000 users present) the
  engine provisions a batch of new users through ``Provisioner.provision``, interleaved one
  by one with the same DDL through the bare driver, and the API's p50/p95 is measured for
  users chosen at random from the whole population (accounts registered for them through
  the API, so their tables are the ones the population made). The catalog's size is read
  at each checkpoint too.
* At the largest size: ``tenants verify`` (timed on a random sample; the whole ``--all``
  only with ``--full-verify``, since it visits every user one at a time), then ``pathfinder
  tenants migrate`` (the real command, as a process, output piped) over every user, next
  to the same ALTERs through the bare driver on users made for it.
* The cluster lives in ``--state`` (not a temp dir) so that a stopped run can resume; it
  runs with fsync off (``bench/_pg.py``'s settings), so its times are for CPU and catalog,
  not for the disk. Nothing is deleted until ``--clean``.
* ``--budget-hours`` bounds the run: a size whose population would not finish in time (at
  the measured rate) is skipped and the report says so, with the extrapolation method.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import _pg
import sqlalchemy as sa
from _server import API, PASSWORD, experience_body, machine_info, percentile
from _tenants import (
    RawPg,
    Target,
    TemplateStatements,
    log,
    make_target,
    register_ready,
)

from pathfinder.provisioning import Provisioner
from pathfinder.schema.shared.system import tenant_provisioning
from pathfinder.schema.tenant import LATEST_TEMPLATE_VERSION

POPULATION_VERSION = 2
DATABASE = "pf_scale"
CHUNK = 500


def load() -> str:
    with contextlib.suppress(OSError):
        return Path("/proc/loadavg").read_text().split()[0]
    return "?"


# -- state ------------------------------------------------------------------------------


@dataclass
class State:
    """What has been done and measured, kept in ``<state>/state.json`` after every step."""

    path: Path
    data: dict[str, Any]

    @classmethod
    def open(cls, root: Path) -> State:
        path = root / "state.json"
        data = json.loads(path.read_text()) if path.exists() else {}
        data.setdefault("checkpoints", {})
        data.setdefault("populate", [])
        return cls(path, data)

    def save(self) -> None:
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.data, indent=2, default=str))
        os.replace(tmp, self.path)


# -- the cluster ------------------------------------------------------------------------


def ensure_cluster(root: Path, state: State) -> str:
    """Start (or create and start) the cluster kept in ``root/pg``; its SQLAlchemy URL."""
    bin_dir = _pg.pg_bin_dir()
    data_dir = root / "pg" / "data"
    as_pg: list[str] = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    if not data_dir.exists():
        (root / "pg").mkdir(parents=True, exist_ok=True)
        if as_pg:
            shutil.chown(root / "pg", "postgres", "postgres")
        subprocess.run(
            [*as_pg, str(bin_dir / "initdb"), "-D", str(data_dir), "-U", "pf"]
            + ["--auth=trust", "-E", "UTF8", "--locale=C.UTF-8", "--no-sync"],
            check=True,
            capture_output=True,
        )
        state.data["port"] = _pg.free_port()
        state.save()
    port = int(state.data["port"])
    status = subprocess.run(
        [*as_pg, str(bin_dir / "pg_ctl"), "-D", str(data_dir), "status"], capture_output=True
    )
    if status.returncode != 0:
        settings = dict(_pg.SERVER_SETTINGS, max_connections="50")
        options = " ".join(f"-c {k}={v}" for k, v in settings.items())
        options += f" -p {port} -c unix_socket_directories={root / 'pg'}"
        subprocess.run(
            [*as_pg, str(bin_dir / "pg_ctl"), "-D", str(data_dir)]
            + ["-l", str(root / "pg" / "server.log"), "-w", "-t", "120", "-o", options, "start"],
            check=True,
            capture_output=True,
        )
    admin = f"postgresql+psycopg://pf@127.0.0.1:{port}/postgres"
    engine = sa.create_engine(admin, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        exists = conn.execute(
            sa.text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": DATABASE}
        ).first()
        if not exists:
            conn.exec_driver_sql(f"CREATE DATABASE {DATABASE}")
    engine.dispose()
    return f"postgresql+psycopg://pf@127.0.0.1:{port}/{DATABASE}"


def stop_cluster(root: Path) -> None:
    data_dir = root / "pg" / "data"
    if not data_dir.exists():
        return
    as_pg: list[str] = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    subprocess.run(
        [*as_pg, str(_pg.pg_bin_dir() / "pg_ctl"), "-D", str(data_dir), "-m", "fast", "stop"],
        capture_output=True,
    )


# -- population -------------------------------------------------------------------------


def population_name(index: int) -> str:
    return f"s{index:06d}"


def registered_count(target: Target) -> int:
    with target.db.transaction() as conn:
        query = sa.select(sa.func.count()).where(tenant_provisioning.c.username.like("s%"))
        return int(conn.execute(query).scalar_one())


def populate_to(
    target: Target, size: int, state: State, workers: int, deadline: float, min_free_gb: float
) -> bool:
    """Grow the population of ``s*`` users to ``size``; False when the deadline or the
    disk (less than ``min_free_gb`` left) stops it."""
    from concurrent.futures import ThreadPoolExecutor

    from pathfinder.provisioning.catalog import existing_objects

    template = TemplateStatements(target, POPULATION_VERSION)
    done = registered_count(target)
    if done >= size:
        return True
    runners = [RawPg(target) for _ in range(workers)]
    start, first = time.monotonic(), done
    try:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            while done < size:
                if time.time() > deadline:
                    return False
                free = shutil.disk_usage(state.path.parent).free / 2**30
                if free < min_free_gb:
                    log(f"  only {free:.1f} GiB free on the disk: stopping the population")
                    return False
                names = [population_name(i) for i in range(done, min(done + CHUNK, size))]
                # A run killed mid-chunk made some of these users whole (one transaction
                # each) without registering them: keep their tables, register them below.
                with target.db.connect() as conn:
                    made = existing_objects(
                        conn, [f"pf_user_{n}_experiences" for n in names], schema=None
                    )
                    conn.rollback()
                todo = [n for n in names if f"pf_user_{n}_experiences" not in made]
                parts = [todo[i::workers] for i in range(workers)]
                list(
                    pool.map(
                        lambda pair: [pair[0].run_user(n, template.statements(n)) for n in pair[1]],
                        zip(runners, parts, strict=True),
                    )
                )
                register_ready(target, names, template)
                done += len(names)
                rate = (done - first) / max(time.monotonic() - start, 1e-9)
                eta = (size - done) / rate if rate else 0
                log(
                    f"  population {done:,}/{size:,} ({rate:.0f} users/s, ETA "
                    f"{eta / 60:.0f} min, load {load()})"
                )
                state.data["populate"].append(
                    {"at": done, "rate": round(rate, 1), "time": time.time(), "load": load()}
                )
                state.save()
    finally:
        for runner in runners:
            runner.close()
    return True


# -- measurements -----------------------------------------------------------------------


def catalog_size(target: Target) -> dict[str, Any]:
    with target.db.connect() as conn:
        row = conn.execute(
            sa.text(
                "SELECT (SELECT count(*) FROM pg_class), (SELECT count(*) FROM pg_attribute), "
                "(SELECT count(*) FROM pg_index), pg_database_size(current_database()), "
                "pg_total_relation_size('pg_class') + pg_total_relation_size('pg_attribute') "
                "+ pg_total_relation_size('pg_index') + pg_total_relation_size('pg_type') "
                "+ pg_total_relation_size('pg_depend') + pg_total_relation_size('pg_constraint')"
            )
        ).one()
        conn.rollback()
    return {
        "pg_class_rows": row[0],
        "pg_attribute_rows": row[1],
        "pg_index_rows": row[2],
        "database_bytes": row[3],
        "catalog_bytes": row[4],
    }


def provision_batch(target: Target, size: int, batch: int) -> dict[str, Any]:
    """``batch`` engine provisions interleaved with ``batch`` raw ones; ms per user."""
    provisioner = Provisioner(target.db)
    template = TemplateStatements(target, LATEST_TEMPLATE_VERSION)
    raw = RawPg(target)
    engine_ms: list[float] = []
    raw_ms: list[float] = []
    raw_names: list[str] = []
    before = load()
    try:
        for i in range(batch):
            name = f"e{size}_{i:04d}"
            t0 = time.perf_counter()
            outcome = provisioner.provision(name)
            engine_ms.append(1000 * (time.perf_counter() - t0))
            if outcome.outcome not in ("created", "already_ready"):
                raise RuntimeError(f"{name}: {outcome}")
            other = f"r{size}_{i:04d}"
            statements = template.statements(other)
            with target.db.connect() as conn:
                exists = conn.execute(
                    sa.text("SELECT to_regclass(:n)"), {"n": f"pf_user_{other}_experiences"}
                ).scalar()
                conn.rollback()
            if exists is None:
                t0 = time.perf_counter()
                raw.run_user(other, statements)
                raw_ms.append(1000 * (time.perf_counter() - t0))
                raw_names.append(other)
    finally:
        raw.close()
    with contextlib.suppress(sa.exc.IntegrityError):
        register_ready(target, raw_names, template)
    return {
        "engine_median_ms": statistics.median(engine_ms),
        "engine_mean_ms": statistics.fmean(engine_ms),
        "engine_p95_ms": percentile(engine_ms, 0.95),
        "raw_median_ms": statistics.median(raw_ms) if raw_ms else float("nan"),
        "raw_mean_ms": statistics.fmean(raw_ms) if raw_ms else float("nan"),
        "load": f"{before} -> {load()}",
    }


def api_latency(target: Target, size: int, users: int, requests: int) -> dict[str, Any]:
    """GET /me/experiences?limit=50 for users chosen at random from the whole population.

    Accounts are registered through the API for ``users`` random population names (their
    tables exist already: registration finds them ready), each given 20 roles, then
    ``requests`` GETs each pick one of them at random.
    """
    from pathfinder import create_app
    from pathfinder.db import get_database
    from pathfinder.flags.system import set_system_flag

    app = create_app(
        {
            "DATABASE_URL": target.url,
            "INSTANCE_PATH": str(target.instance),
            "PASSWORD_HASH_PROFILE": "fast",
            "RATELIMIT_REGISTER": "100000 per minute",
            "RATELIMIT_LOGIN": "100000 per minute",
        }
    )
    database = get_database(app)
    with database.transaction() as conn:
        set_system_flag(conn, "self_registration_enabled", True)
    client = app.test_client()
    chooser = random.Random(size)
    population = registered_count(target)
    picked = sorted({population_name(chooser.randrange(population)) for _ in range(users)})
    # The population is at v2 (so the final migration is a real one) and the API reads v3
    # tables: bring just these users to v3 first; the final migration covers the rest.
    provisioner = Provisioner(target.db)
    for name in picked:
        provisioner.migrate_user(name)
    headers: dict[str, dict[str, str]] = {}
    for name in picked:
        body = {"username": name, "email": f"{name}@example.com", "password": PASSWORD}
        reply = client.post(f"{API}/auth/register", json=body)
        if reply.status_code == 409:  # registered at an earlier checkpoint or run
            reply = client.post(f"{API}/auth/login", json={"login": name, "password": PASSWORD})
        if reply.status_code not in (200, 201):
            raise RuntimeError(f"{name}: {reply.status_code} {reply.get_json()}")
        auth = {"Authorization": f"Bearer {reply.get_json()['access_token']}"}
        headers[name] = auth
        listed = client.get(f"{API}/me/experiences?limit=1", headers=auth).get_json()
        if not listed["items"]:
            roles = {"items": [experience_body(n) for n in range(20)]}
            assert (
                client.post(f"{API}/me/experiences/bulk", headers=auth, json=roles).status_code
                == 201
            )
    database.dispose()  # every timed request starts on a cold pool, like a new worker
    samples: list[float] = []
    first: list[float] = []
    seen: set[str] = set()
    before = load()
    for _ in range(requests):
        name = chooser.choice(picked)
        t0 = time.perf_counter()
        reply = client.get(f"{API}/me/experiences?limit=50", headers=headers[name])
        elapsed = 1000 * (time.perf_counter() - t0)
        if reply.status_code != 200:
            raise RuntimeError(f"GET for {name}: {reply.status_code}")
        (samples if name in seen else first).append(elapsed)
        seen.add(name)
    database.dispose()
    return {
        "users": len(picked),
        "requests": requests,
        "p50_ms": statistics.median(samples),
        "p95_ms": percentile(samples, 0.95),
        "first_touch_p50_ms": statistics.median(first) if first else float("nan"),
        "load": f"{before} -> {load()}",
    }


def verify_sample(target: Target, sample: int) -> dict[str, Any]:
    """``verify_user`` on random users; per-user time and the extrapolation to all."""
    from pathfinder.provisioning.verify import verify_user

    total = registered_count(target)
    chooser = random.Random(7)
    names = sorted({population_name(chooser.randrange(total)) for _ in range(sample)})
    before = load()
    t0 = time.perf_counter()
    drifts = [verify_user(target.db, n) for n in names]
    seconds = time.perf_counter() - t0
    per_user = seconds / len(names)
    # A v2 user is reported "behind"; anything else would be a population error.
    dirty = [d for d in drifts if any("behind" not in line for line in d.lines())]
    return {
        "sample": len(names),
        "per_user_ms": 1000 * per_user,
        "dirty": len(dirty),
        "extrapolated_all_s": per_user * total,
        "users": total,
        "load": f"{before} -> {load()}",
    }


def cli_env(target: Target) -> dict[str, str]:
    env = dict(os.environ)
    env.update(PATHFINDER_DATABASE_URL=target.url, PATHFINDER_INSTANCE_PATH=str(target.instance))
    return env


def verify_all(target: Target) -> dict[str, Any]:
    before = load()
    t0 = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "pathfinder.cli", "tenants", "verify", "--all"],
        env=cli_env(target),
        capture_output=True,
        text=True,
    )
    seconds = time.perf_counter() - t0
    tail = (done.stdout.strip().splitlines() or [""])[-1]
    return {
        "seconds": seconds,
        "exit": done.returncode,
        "last_line": tail,
        "load": f"{before} -> {load()}",
    }


def migrate_all(target: Target, batch: int, jobs: int) -> dict[str, Any]:
    """``pathfinder tenants migrate`` over every user, as a DBA runs it (piped output)."""
    before = load()
    t0 = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "pathfinder.cli", "tenants", "migrate"]
        + ["--batch-size", str(batch), "--jobs", str(jobs)],
        env=cli_env(target),
        capture_output=True,
        text=True,
    )
    seconds = time.perf_counter() - t0
    if done.returncode != 0:
        raise RuntimeError(f"migrate failed: {done.stdout[-2000:]} {done.stderr[-2000:]}")
    return {
        "seconds": seconds,
        "summary": done.stdout.strip().splitlines()[-1],
        "count_line": done.stderr.strip().splitlines()[-1],
        "load": f"{before} -> {load()}",
    }


def raw_alters(target: Target, users: int, batch: int) -> dict[str, Any]:
    """v2 -> v3 through the bare driver on ``users`` raw-made v2 users (not registered)."""
    from pathfinder.provisioning.plan import migration_steps

    template = TemplateStatements(target, POPULATION_VERSION)
    names = [f"a{i:05d}" for i in range(users)]
    raw = RawPg(target)
    try:
        from pathfinder.provisioning.catalog import existing_objects

        with target.db.connect() as conn:
            made = existing_objects(conn, [f"pf_user_{n}_experiences" for n in names], schema=None)
            conn.rollback()
        for name in names:  # whole users (one transaction each): a killed run resumes here
            if f"pf_user_{name}_experiences" not in made:
                raw.run_user(name, template.statements(name))
        sql = [s.sql(target.dialect) for s in migration_steps("tplbenchzz", 2, 3, schema=None)]
        statements = {
            n: [q.replace("pf_user_tplbenchzz_", f"pf_user_{n}_") for q in sql] for n in names
        }
        before = load()
        t0 = time.perf_counter()
        for i in range(0, len(names), batch):
            with raw.conn.transaction():
                for name in names[i : i + batch]:
                    for q in statements[name]:
                        raw.conn.execute(q)
        seconds = time.perf_counter() - t0
    finally:
        raw.close()
    return {
        "users": users,
        "seconds": seconds,
        "per_user_ms": 1000 * seconds / users,
        "load": f"{before} -> {load()}",
    }


def compare_sizes(root: Path, state: State, small: int, batch: int) -> dict[str, Any]:
    """Provisioning in the big database and in a small one of the same cluster, interleaved.

    The checkpoints are hours apart, at whatever load the machine had then; this asks the
    question at one moment: one user into the 100,000-user database, one into a database of
    ``small`` users next to it, and so on, engine and raw DDL alike. Same server, same
    buffers and WAL; only the catalog (per database) differs.
    """
    url = ensure_cluster(root, state)
    small_url = url.rsplit("/", 1)[0] + "/pf_scale_small"
    engine = sa.create_engine(url.rsplit("/", 1)[0] + "/postgres", isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        if not conn.execute(
            sa.text("SELECT 1 FROM pg_database WHERE datname = 'pf_scale_small'")
        ).first():
            conn.exec_driver_sql("CREATE DATABASE pf_scale_small")
    engine.dispose()
    big = make_target("postgresql", url, root / "instance")
    little = make_target("postgresql", small_url, root / "instance-small")
    have = registered_count(little)
    if have < small:
        from _tenants import prepopulate

        names = [population_name(i) for i in range(have, small)]
        prepopulate(little, names, 2, POPULATION_VERSION)
    tag = int(time.time()) % 100000
    samples: dict[str, list[float]] = {
        "big engine": [],
        "small engine": [],
        "big raw": [],
        "small raw": [],
    }
    before = load()
    raws = {"big": RawPg(big), "small": RawPg(little)}
    templates = {
        "big": TemplateStatements(big, LATEST_TEMPLATE_VERSION),
        "small": TemplateStatements(little, LATEST_TEMPLATE_VERSION),
    }
    provisioners = {"big": Provisioner(big.db), "small": Provisioner(little.db)}
    try:
        for i in range(batch):
            order = ("big", "small") if i % 2 == 0 else ("small", "big")
            for side in order:
                name = f"c{tag}{side[0]}{i:04d}"
                t0 = time.perf_counter()
                provisioners[side].provision(name)
                samples[f"{side} engine"].append(1000 * (time.perf_counter() - t0))
                raw_name = f"q{tag}{side[0]}{i:04d}"
                t0 = time.perf_counter()
                raws[side].run_user(raw_name, templates[side].statements(raw_name))
                samples[f"{side} raw"].append(1000 * (time.perf_counter() - t0))
    finally:
        for raw in raws.values():
            raw.close()
        big.db.dispose()
        little.db.dispose()
    out: dict[str, Any] = {k: statistics.fmean(v) for k, v in samples.items()}
    out.update({f"{k} median": statistics.median(v) for k, v in samples.items()})
    out["engine big/small"] = out["big engine"] / out["small engine"]
    out["raw big/small"] = out["big raw"] / out["small raw"]
    out["small users"] = small
    out["batch"] = batch
    out["load"] = f"{before} -> {load()}"
    return out


# -- the run ----------------------------------------------------------------------------


def run(args: argparse.Namespace) -> None:
    root = args.state
    root.mkdir(parents=True, exist_ok=True)
    state = State.open(root)
    state.data.setdefault("machine", machine_info())
    state.data.setdefault("started", time.time())
    url = ensure_cluster(root, state)
    target = make_target("postgresql", url, root / "instance")
    deadline = float(state.data["started"]) + args.budget_hours * 3600
    sizes = sorted(int(s) for s in args.sizes.split(","))
    reached = 0
    for size in sizes:
        key = str(size)
        if key not in state.data["checkpoints"]:
            log(f"== population to {size:,} users (load {load()})")
            if not populate_to(target, size, state, args.workers, deadline, args.min_free_gb):
                state.data["stopped_at"] = {"size": size, "reached": registered_count(target)}
                state.save()
                log(f"   budget reached at {registered_count(target):,} users: stopping here")
                break
            log(f"== checkpoint {size:,}")
            point: dict[str, Any] = {"catalog": catalog_size(target)}
            point["provision"] = provision_batch(target, size, args.batch)
            log(f"   provisioning: {point['provision']}")
            point["api"] = api_latency(target, size, args.api_users, args.api_requests)
            log(f"   api: {point['api']}")
            point["time"] = time.time()
            state.data["checkpoints"][key] = point
            state.save()
        reached = size
    if reached and "largest" not in state.data:
        log(f"== at {reached:,}: verify, raw ALTERs, migrate")
        final: dict[str, Any] = {"size": reached, "catalog": catalog_size(target)}
        final["verify_sample"] = verify_sample(target, args.verify_sample)
        log(f"   verify sample: {final['verify_sample']}")
        state.data["largest"] = final
        state.save()
    final = state.data.get("largest", {})
    if final and "raw_alters" not in final:
        final["raw_alters"] = raw_alters(target, args.raw_users, args.migrate_batch)
        log(f"   raw ALTERs: {final['raw_alters']}")
        state.save()
    if final and "migrate" not in final:
        final["migrate"] = migrate_all(target, args.migrate_batch, args.jobs)
        log(f"   migrate: {final['migrate']}")
        final["catalog_after"] = catalog_size(target)
        state.save()
    if final and args.full_verify and "verify_all" not in final:
        final["verify_all"] = verify_all(target)
        log(f"   verify --all: {final['verify_all']}")
        state.save()
    target.db.dispose()
    report(state)


def report(state: State) -> None:
    data = state.data
    print("# 100,000 users on PostgreSQL\n")
    for key, value in data.get("machine", {}).items():
        print(f"- {key}: {value}")
    print()
    print(
        "| users present | pg_class rows | database GiB | engine ms/user median (p95) "
        "| raw ms/user median | engine/raw | API p50 / p95 ms (first touch p50) | load |"
    )
    print("| ---: | ---: | ---: | ---: | ---: | ---: | --- | --- |")
    for key, point in sorted(data["checkpoints"].items(), key=lambda kv: int(kv[0])):
        prov, api, cat = point["provision"], point["api"], point["catalog"]
        print(
            f"| {int(key):,} | {cat['pg_class_rows']:,} | {cat['database_bytes'] / 2**30:.2f} | "
            f"{prov['engine_median_ms']:.1f} ({prov['engine_p95_ms']:.1f}) | "
            f"{prov['raw_median_ms']:.1f} | "
            f"{prov['engine_median_ms'] / prov['raw_median_ms']:.2f}x | "
            f"{api['p50_ms']:.1f} / {api['p95_ms']:.1f} ({api['first_touch_p50_ms']:.1f}) | "
            f"{prov['load']} |"
        )
    print()
    points = sorted(data["checkpoints"].items(), key=lambda kv: int(kv[0]))
    if len(points) >= 2:
        (small_key, small), (large_key, large) = points[0], points[-1]
        ratio = large["provision"]["engine_mean_ms"] / small["provision"]["engine_mean_ms"]
        raw_ratio = large["provision"]["raw_mean_ms"] / small["provision"]["raw_mean_ms"]
        print(
            f"Per-user provisioning at {int(large_key):,} over {int(small_key):,}: "
            f"**{ratio:.2f}x** of means (raw DDL {raw_ratio:.2f}x); target <= 1.3x.\n"
        )
    if "stopped_at" in data:
        print(f"Stopped by the time budget: {data['stopped_at']}.\n")
    final = data.get("largest")
    if final:
        print(f"At {final['size']:,} users:\n")
        print(f"- catalog: {final['catalog']}")
        print(f"- verify, sample: {final.get('verify_sample')}")
        if "raw_alters" in final:
            print(f"- raw v2 -> v3 ALTERs: {final['raw_alters']}")
        if "migrate" in final:
            m = final["migrate"]
            print(f"- tenants migrate (v2 -> v3, every user): {m}")
            raw = final.get("raw_alters", {}).get("per_user_ms")
            users = int(m["summary"].split()[1].replace(",", ""))
            if raw and users:
                per_user = 1000 * m["seconds"] / users
                print(
                    f"- migrate per user {per_user:.2f} ms against raw {raw:.2f} ms: "
                    f"{per_user / raw:.2f}x"
                )
        if "verify_all" in final:
            print(f"- verify --all: {final['verify_all']}")
    if "compare" in data:
        c = data["compare"]
        print(
            f"\nSame moment, same cluster, interleaved ({c['batch']} users each side): "
            f"provisioning into the {data.get('largest', {}).get('size', 'big')}-user database "
            f"over a {c['small users']:,}-user one: engine **{c['engine big/small']:.2f}x** "
            f"({c['small engine']:.1f} -> {c['big engine']:.1f} ms, means), raw DDL "
            f"{c['raw big/small']:.2f}x ({c['small raw']:.1f} -> {c['big raw']:.1f} ms); "
            f"load {c['load']}."
        )
    for row in data.get("populate", [])[-1:]:
        print(f"\nLast population rate: {row['rate']} users/s at {row['at']:,} users.")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--state", type=Path, default=Path("/var/tmp/pf-scale"))  # noqa: S108
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--batch", type=int, default=200, help="timed provisions per size")
    parser.add_argument("--workers", type=int, default=2, help="population connections")
    parser.add_argument("--api-users", type=int, default=30)
    parser.add_argument("--api-requests", type=int, default=300)
    parser.add_argument("--verify-sample", type=int, default=500)
    parser.add_argument("--raw-users", type=int, default=2000)
    parser.add_argument("--migrate-batch", type=int, default=200)
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument("--budget-hours", type=float, default=6.0)
    parser.add_argument("--min-free-gb", type=float, default=12.0, help="stop populating below")
    parser.add_argument("--full-verify", action="store_true")
    parser.add_argument("--report", action="store_true", help="print the figures so far")
    parser.add_argument(
        "--compare",
        action="store_true",
        help="provision into the big database and a small one beside it, interleaved",
    )
    parser.add_argument("--compare-small", type=int, default=1000)
    parser.add_argument("--stop", action="store_true", help="stop the cluster, keep the data")
    parser.add_argument("--clean", action="store_true", help="stop the cluster, delete it all")
    args = parser.parse_args()
    if args.report:
        report(State.open(args.state))
        return
    if args.compare:
        state = State.open(args.state)
        state.data["compare"] = compare_sizes(args.state, state, args.compare_small, args.batch)
        state.save()
        log(f"compare: {state.data['compare']}")
        report(state)
        return
    if args.stop or args.clean:
        stop_cluster(args.state)
        if args.clean:
            shutil.rmtree(args.state, ignore_errors=True)
        return
    run(args)


if __name__ == "__main__":
    main()
