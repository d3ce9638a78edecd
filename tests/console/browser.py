"""Driving the console in a real browser: the system Chromium through Selenium.

Nothing is downloaded: the browser is Debian's ``chromium`` and the driver its
``chromedriver`` (``scripts/test.sh`` installs both), named by path, and Selenium Manager
runs offline. Without them the browser tests skip locally and fail under
``scripts/test.sh`` (``PATHFINDER_TEST_REQUIRE_PG``), like the Redis-backed tests.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = os.environ.get("PATHFINDER_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("PATHFINDER_TEST_CHROMEDRIVER", "/usr/bin/chromedriver")
AXE_ENV = "PATHFINDER_TEST_AXE_JS"


def _missing(reason: str) -> None:
    if os.environ.get("PATHFINDER_TEST_REQUIRE_PG"):
        pytest.fail(f"{reason}, but scripts/test.sh provides it", pytrace=False)
    pytest.skip(reason)


def require_browser() -> None:
    """Skip (or fail under CI) unless Selenium, Chromium and chromedriver are present."""
    try:
        import selenium  # noqa: F401
    except ImportError:
        _missing("selenium is not installed (the test extras)")
    for path in (CHROMIUM, CHROMEDRIVER):
        if not (Path(path).exists() or shutil.which(path)):
            _missing(f"{path} is missing (apt-get install chromium chromium-driver)")


def axe_source() -> str:
    """axe-core's ``axe.min.js`` from the npm package (its path in PATHFINDER_TEST_AXE_JS)."""
    path = os.environ.get(AXE_ENV)
    if not path:
        _missing(f"{AXE_ENV} is not set: the accessibility scan needs axe-core from npm")
    return Path(str(path)).read_text()


def new_browser() -> Any:
    """A headless Chromium with a profile of its own (a separate browser context)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    # Selenium Manager must not fetch a browser or a driver: both are given by path.
    os.environ["SE_OFFLINE"] = "true"
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in (
        "--headless=new",
        "--no-sandbox",  # the tests run as root in CI containers
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--window-size=1280,1000",
        "--lang=en-CA",
    ):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(30)
    return driver


def axe_violations(driver: Any, source: str) -> list[dict[str, Any]]:
    """Inject axe-core into the current page, run it, return its violations."""
    driver.execute_script(source)
    assert driver.execute_script("return window.axe && axe.version"), "axe-core did not load"
    driver.set_script_timeout(30)
    result = driver.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "axe.run(document, {resultTypes: ['violations']})"
        ".then(r => done(r.violations)).catch(e => done([{id: 'axe-error', impact: 'critical',"
        " help: String(e), nodes: []}]));"
    )
    return list(result)
