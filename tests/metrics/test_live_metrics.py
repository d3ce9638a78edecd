"""``/metrics`` under gunicorn with four workers: every worker's counts in every scrape.

Requests land on whichever worker accepts them, and so do scrapes; in multi-process mode
(``gunicorn.conf.py`` sets ``PROMETHEUS_MULTIPROC_DIR``) any scrape must report the sum over
all workers, and it must parse with ``prometheus_client.parser``.
"""

from __future__ import annotations

import urllib.request
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.live import live_server, prepare_database

CALLS = 40


def _scrape(root: str) -> dict[str, float]:
    with urllib.request.urlopen(root + "/metrics", timeout=30) as response:  # noqa: S310
        assert response.status == 200
        text = response.read().decode()
    totals: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "pathfinder_http_requests_total":
                route = sample.labels["route"]
                totals[route] = totals.get(route, 0.0) + sample.value
            elif sample.name == "pathfinder_database_up":
                totals["database_up"] = sample.value
    return totals


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
def test_every_scrape_sums_all_workers(database_url: str, tmp_path: Path) -> None:
    instance = tmp_path / "instance"
    prepare_database(database_url, instance)
    with live_server(database_url, instance, {}) as server:
        root = server.base.removesuffix("/api/v1")
        before = _scrape(root).get("/api/v1/ready", 0.0)
        for _ in range(CALLS):
            status, _ = server.call("GET", "/ready")
            assert status == 200
        # Four scrapes, most likely served by different workers: each sees every request.
        seen = [_scrape(root) for _ in range(4)]
    for totals in seen:
        assert totals["/api/v1/ready"] - before == CALLS
        assert totals["database_up"] == 1
