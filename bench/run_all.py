"""Every benchmark in quick mode, one after the other, and one table of figures against targets.

Run: ``.venv/bin/python bench/run_all.py [--pg-url URL] [--only NAME,...] [--out DIR]
[--timeout-minutes M]``.

Why this shape:

* One command answers "where do we stand": each benchmark runs as its own process, in its
  quick mode, with a time limit, and its full report is kept in ``--out`` (default: a new
  temp dir, printed at the end). Only the headline figures are lifted into the summary,
  each next to the target it is measured against, so a reader sees in one table which
  targets are met and which are not, and can open the report for why.
* One throw-away PostgreSQL cluster (``bench/_pg.py``) serves every benchmark that needs
  PostgreSQL (each makes its own database or schema in it), so the run starts one server
  rather than eight; ``--pg-url`` uses an existing server instead (the role needs CREATEDB).
  ``audit.py``'s durable variant still starts its own cluster, because it needs fsync on.
* Quick mode is a smoke run: fewer iterations and users, so the figures move more than a
  full run's. ``docs/performance.md`` holds the full runs.
* Exit status: 1 when a benchmark fails (error, timeout, or a correctness check such as
  an orphan table or a 5xx); a missed performance target alone does not fail the run,
  because several targets are known to be missed and are documented.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import _pg
from _server import log, machine_info

BENCH = Path(__file__).resolve().parent


@dataclass
class Figure:
    benchmark: str
    figure: str
    target: str
    met: str  # "yes", "no", or "-" (no target; reported for information)


@dataclass
class Run:
    name: str
    argv: list[str]
    extract: Callable[[str, Path], list[Figure]]
    # A non-zero exit that only means "a performance target was missed".
    exit_on_missed_target: bool = False
    returncode: int | None = None
    seconds: float = 0.0
    figures: list[Figure] = field(default_factory=list)
    error: str | None = None


# -- reading the reports ------------------------------------------------------------------


@dataclass
class Table:
    heading: str
    header: list[str]
    rows: list[list[str]]

    def column(self, row: list[str], name: str) -> str:
        return row[self.header.index(name)]


def markdown_tables(text: str) -> list[Table]:
    """Every Markdown table of a report, with the last heading above it."""
    tables: list[Table] = []
    heading = ""
    lines = text.splitlines()
    n = 0
    while n < len(lines):
        line = lines[n].strip()
        if line.startswith("#"):
            heading = line.lstrip("#").strip()
        if line.startswith("|") and n + 1 < len(lines) and set(lines[n + 1].strip()) <= set("|-: "):
            header = _cells(line)
            rows = []
            n += 2
            while n < len(lines) and lines[n].strip().startswith("|"):
                rows.append(_cells(lines[n]))
                n += 1
            tables.append(Table(heading, header, rows))
            continue
        n += 1
    return tables


def _cells(line: str) -> list[str]:
    return [cell.strip().strip("*").strip() for cell in line.strip().strip("|").split("|")]


def _number(text: str) -> float:
    return float(re.sub(r"[^0-9.\-]", "", text.replace(",", "")))


def yes_no(ok: bool) -> str:
    return "yes" if ok else "no"


def provisioning_figures(_: str, out_dir: Path) -> list[Figure]:
    data = json.loads((out_dir / "provisioning.json").read_text())
    figures = []
    for size in data["sizes"]:
        ratio = size["median_ratio"]
        figures.append(
            Figure(
                f"provisioning ({size['backend']}, {size['present']} users present)",
                f"engine/raw DDL, medians: {ratio:.2f}x ({size['engine_median_ms']:.1f} ms/user)",
                "<= 1.5x",
                yes_no(ratio <= 1.5),
            )
        )
    return figures


def encryption_figures(text: str, _: Path) -> list[Figure]:
    table = next(t for t in markdown_tables(text) if "codec / raw" in t.header)
    figures = []
    for row in table.rows:
        if table.column(row, "value") != "1,024 B":
            continue
        op = table.column(row, "op")
        raw = _number(table.column(row, "codec / raw"))
        floor = _number(table.column(row, "codec / hand-rolled"))
        figures.append(
            Figure(
                f"encryption ({op}, 1 KiB)",
                f"codec/raw AES-GCM {raw:.2f}x; codec/hand-rolled token {floor:.2f}x",
                ">= 0.8x of raw",
                yes_no(raw >= 0.8),
            )
        )
    return figures


def audit_figures(text: str, _: Path) -> list[Figure]:
    """Every row of audit.py's "Against the targets" table (write, http, seal, verify)."""
    table = next(t for t in markdown_tables(text) if t.heading == "Against the targets")
    figures = []
    for row in table.rows:
        met = table.column(row, "met?")
        spread = table.column(row, "spread")
        figures.append(
            Figure(
                f"audit ({table.column(row, 'check')})",
                table.column(row, "measured") + (f"; {spread}" if spread else ""),
                table.column(row, "target"),
                met if met in ("yes", "no") else "-",
            )
        )
    return figures


def summaries_figures(text: str, _: Path) -> list[Figure]:
    figures = []
    for table in markdown_tables(text):
        if "budget ms" not in table.header:
            continue
        backend = table.heading.split()[0]
        for row in table.rows:
            budget = table.column(row, "budget ms")
            if not budget or not row[0].startswith("HTTP"):
                continue
            p95 = _number(table.column(row, "p95 ms"))
            figures.append(
                Figure(
                    f"career tiers ({backend}, {row[0]})",
                    f"p95 {p95:.1f} ms (p50 {table.column(row, 'p50 ms')} ms)",
                    f"< {budget} ms",
                    yes_no(p95 < _number(budget)),
                )
            )
    return figures


def concurrency_figures(text: str, _: Path) -> list[Figure]:
    table = next(t for t in markdown_tables(text) if t.header[0] == "requests")
    checks = next(t for t in markdown_tables(text) if t.header[0] == "check")
    failed = [row[0] for row in checks.rows if row[3] != "yes"]
    row = table.rows[0]
    found = next((r[2] for r in checks.rows if r[0].startswith("catalog")), "")
    orphans = re.search(r"orphans (\d+)", found)
    return [
        Figure(
            "concurrency (PostgreSQL, gunicorn)",
            f"{row[0]} simultaneous registrations: {row[1]}; "
            f"orphans {orphans.group(1) if orphans else '?'}; {row[2]} s wall, p95 {row[5]} ms"
            + (f"; failed: {', '.join(failed)}" if failed else ""),
            "all ready, no orphan, no 5xx",
            yes_no(not failed),
        )
    ]


def load_figures(text: str, _: Path) -> list[Figure]:
    table = next(t for t in markdown_tables(text) if t.header[0] == "operation")
    total = next(r for r in table.rows if r[0] == "all")
    ok = "Result: no 5xx" in text
    return [
        Figure(
            "load (PostgreSQL, gunicorn, mixed)",
            f"{total[3]} req/s; p50/p95/p99 {total[4]}/{total[5]}/{total[6]} ms; "
            f"{total[2]} non-2xx of {total[1]}",
            "no 5xx, no transport error",
            yes_no(ok),
        )
    ]


def memory_figures(text: str, _: Path) -> list[Figure]:
    found = re.search(r"RSS after / before: ([0-9.]+)x", text)
    table = next(t for t in markdown_tables(text) if t.header[0] == "users touched")
    ratio = float(found.group(1)) if found else float("nan")
    first, last = table.rows[0], table.rows[-1]
    return [
        Figure(
            "memory (SQLite, one process)",
            f"RSS {first[1]} MiB -> {last[1]} MiB after {last[0]} users: {ratio:.2f}x",
            "<= 1.2x",
            yes_no(ratio <= 1.2),
        )
    ]


def api_latency_figures(text: str, _: Path) -> list[Figure]:
    figures = []
    for match in re.finditer(
        r"### (\w+) .*?Pathfinder / bare: p50 \*\*([0-9.]+)x\*\*.*?without the request audit "
        r"row p50 ([0-9.]+)x",
        text,
        re.S,
    ):
        backend, ratio, unaudited = match.group(1), float(match.group(2)), match.group(3)
        figures.append(
            Figure(
                f"API list of 50 decrypted experiences ({backend})",
                f"p50 vs bare Flask+SQLAlchemy: {ratio:.2f}x ({unaudited}x without the "
                "request audit row)",
                "<= 2x",
                yes_no(ratio <= 2.0),
            )
        )
    return figures


# -- running ------------------------------------------------------------------------------


def plan(pg_url: str, out_dir: Path) -> list[Run]:
    python = sys.executable
    pg = ["--pg-url", pg_url]
    return [
        Run(
            "provisioning",
            [python, str(BENCH / "provisioning.py"), "--quick", *pg]
            + ["--json", str(out_dir / "provisioning.json")],
            provisioning_figures,
        ),
        Run(
            "encryption",
            [python, str(BENCH / "encryption.py"), "--sizes", "64,1024,16384", "--seconds", "0.1"],
            encryption_figures,
        ),
        Run("audit", [python, str(BENCH / "audit.py"), "--quick", *pg], audit_figures),
        Run("summaries", [python, str(BENCH / "summaries.py"), "--quick", *pg], summaries_figures),
        Run(
            "api_latency",
            [python, str(BENCH / "api_latency.py"), "--quick", *pg],
            api_latency_figures,
            exit_on_missed_target=True,
        ),
        Run("concurrency", [python, str(BENCH / "concurrency.py"), *pg], concurrency_figures),
        Run("load", [python, str(BENCH / "load.py"), "--quick", *pg], load_figures),
        Run(
            "memory",
            [python, str(BENCH / "memory.py"), "--quick"],
            memory_figures,
            exit_on_missed_target=True,
        ),
    ]


def execute(run: Run, out_dir: Path, timeout: float) -> None:
    """Run one benchmark, keep its report and log, and lift its figures."""
    report, errors = out_dir / f"{run.name}.md", out_dir / f"{run.name}.log"
    log(f"== {run.name}: {' '.join(run.argv[1:])}")
    start = time.monotonic()
    with report.open("w") as stdout, errors.open("w") as stderr:
        try:
            done = subprocess.run(run.argv, stdout=stdout, stderr=stderr, timeout=timeout)
            run.returncode = done.returncode
        except subprocess.TimeoutExpired:
            run.error = f"timed out after {timeout / 60:.0f} min"
    run.seconds = time.monotonic() - start
    text = report.read_text()
    if run.error is None:
        try:
            run.figures = run.extract(text, out_dir)
        except (StopIteration, ValueError, KeyError, IndexError, OSError) as exc:
            run.error = f"could not read its report ({type(exc).__name__}: {exc})"
    if run.error is None and run.returncode not in (0, None):
        missed_only = run.exit_on_missed_target and run.returncode == 1 and run.figures
        if not missed_only:
            run.error = f"exit status {run.returncode}"
    if run.error is None and not run.figures:
        run.error = "no figure found in its report"
    log(f"   {run.seconds:.0f} s{f' - {run.error}' if run.error else ''}")


@contextlib.contextmanager
def postgres(pg_url: str | None) -> Iterator[str]:
    if pg_url:
        yield pg_url
        return
    log("starting one throw-away PostgreSQL cluster for every benchmark (bench/_pg.py)")
    cluster = _pg.start_cluster()
    try:
        yield cluster.url()
    finally:
        cluster.stop()


def print_summary(runs: list[Run], out_dir: Path, seconds: float) -> None:
    print("## Benchmarks (quick mode)\n")
    command = " ".join([".venv/bin/python bench/run_all.py", *sys.argv[1:]])
    print(f"Command: `{command}`")
    print()
    for key, value in machine_info().items():
        print(f"- {key}: {value}")
    print(f"- total time: {seconds / 60:.1f} min; reports: {out_dir}\n")
    print("| benchmark | figure | target | met? |")
    print("| --- | --- | --- | --- |")
    for run in runs:
        if run.error:
            print(f"| {run.name} | **failed**: {run.error} (see {run.name}.log) | | **no** |")
        for figure in run.figures:
            met = {"yes": "yes", "no": "**no**"}.get(figure.met, figure.met)
            print(f"| {figure.benchmark} | {figure.figure} | {figure.target} | {met} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pg-url", help="PostgreSQL server (role with CREATEDB) for all runs")
    parser.add_argument("--only", help="comma-separated benchmark names")
    parser.add_argument("--out", type=Path, help="where reports go (default: a new temp dir)")
    parser.add_argument("--timeout-minutes", type=float, default=10.0, help="per benchmark")
    args = parser.parse_args()
    out_dir = args.out or Path(tempfile.mkdtemp(prefix="pathfinder-bench-all."))
    out_dir.mkdir(parents=True, exist_ok=True)
    start = time.monotonic()
    with postgres(args.pg_url) as pg_url:
        runs = plan(pg_url, out_dir)
        if args.only:
            wanted = set(args.only.split(","))
            unknown = wanted - {run.name for run in runs}
            if unknown:
                raise SystemExit(f"--only: unknown benchmark(s) {sorted(unknown)}")
            runs = [run for run in runs if run.name in wanted]
        for run in runs:
            execute(run, out_dir, args.timeout_minutes * 60)
    print_summary(runs, out_dir, time.monotonic() - start)
    sys.exit(1 if any(run.error for run in runs) else 0)


if __name__ == "__main__":
    main()
