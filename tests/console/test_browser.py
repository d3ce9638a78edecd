"""The console in a real browser (headless Chromium) against gunicorn on PostgreSQL.

Scenarios a person performs: sign in with MFA, invite someone and accept the invitation in
a second browser, create a flag with a group override and read its explained value, verify
a tenant, read an audit row; and an accessibility scan of every page with axe-core.
With ``PATHFINDER_CONSOLE_SCREENSHOTS`` set to a folder, the last test saves a screenshot of
each page there (``docs/console/`` holds the ones in ``docs/console.md``).
"""

from __future__ import annotations

import os
import re
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from pathfinder.db import get_database
from pathfinder.schema.shared.messaging import outbox
from pathfinder.security import totp
from tests.conftest import empty_database, make_app
from tests.console.browser import axe_source, axe_violations, new_browser, require_browser
from tests.live import LiveServer, live_server, prepare_database, redis_url

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

PASSWORD = "lantern harbour passphrase 42"
SCREENSHOTS_ENV = "PATHFINDER_CONSOLE_SCREENSHOTS"


@dataclass
class Console:
    """The live server, its database and the site admin's second factor."""

    server: LiveServer
    root: str
    database_url: str
    secret: str
    recovery_codes: list[str]
    drivers: list[Any] = field(default_factory=list)

    def browser(self) -> Any:
        driver = new_browser()
        self.drivers.append(driver)
        return driver

    def query(self, statement: Any) -> list[Any]:
        engine = sa.create_engine(self.database_url)
        try:
            with engine.connect() as conn:
                return list(conn.execute(statement))
        finally:
            engine.dispose()


@pytest.fixture(scope="module")
def console(
    tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[Console]:
    require_browser()
    folder = tmp_path_factory.mktemp("console")
    instance = folder / "instance"
    with empty_database("postgresql", folder, request) as url:
        prepare_database(url, instance, registration=True)
        cli_app = make_app(url, instance)
        created = cli_app.test_cli_runner().invoke(
            args=["admin", "create-site-admin", "chief", "--email", "chief@example.com"]
            + ["--password-stdin"],
            input=PASSWORD + "\n",
        )
        get_database(cli_app).dispose()
        assert created.exit_code == 0, created.output
        settings = {
            "RATELIMIT_STORAGE_URI": redis_url(),
            "RATELIMIT_KEY_PREFIX": f"c{secrets.token_hex(6)}",
            # The explain box reads the flag the page just wrote, in any worker.
            "FLAG_CACHE_SECONDS": "0",
            # Browsers keep idle connections open (and open spare ones): a sync worker
            # holding one blocks; threaded workers serve the next request meanwhile.
            "THREADS": "4",
        }
        with live_server(url, instance, settings, workers=2) as server:
            secret, codes = _enrol_mfa(server)
            root = server.base.removesuffix("/api/v1")
            state = Console(server, root, url, secret, codes)
            try:
                yield state
            finally:
                for driver in state.drivers:
                    driver.quit()


def _enrol_mfa(server: LiveServer) -> tuple[str, list[str]]:
    """The site admin turns on MFA through the API, as they would from an app."""
    status, tokens = server.call("POST", "/auth/login", {"login": "chief", "password": PASSWORD})
    assert status == 200, tokens
    headers = {"Authorization": f"Bearer {tokens['access_token']}"}
    status, enrolment = server.call("POST", "/auth/mfa/enroll", {"password": PASSWORD}, headers)
    assert status == 201, enrolment
    code = totp.code_for(enrolment["secret"])
    status, confirmed = server.call("POST", "/auth/mfa/confirm", {"code": code}, headers)
    assert status == 200, confirmed
    return enrolment["secret"], list(confirmed["recovery_codes"])


def wait_for(driver: Any, css: str, timeout: float = 30) -> Any:
    """The element, once the page holding it has finished loading."""
    from selenium.common.exceptions import WebDriverException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import WebDriverWait

    # A page still navigating may fail a script or a lookup: ask again until the timeout.
    wait = WebDriverWait(driver, timeout, ignored_exceptions=(WebDriverException,))
    wait.until(lambda d: d.execute_script("return document.readyState") == "complete")
    return wait.until(expected_conditions.presence_of_element_located((By.CSS_SELECTOR, css)))


def fill(driver: Any, values: dict[str, str]) -> None:
    from selenium.webdriver.common.by import By

    for element_id, value in values.items():
        box = driver.find_element(By.ID, element_id)
        box.clear()
        box.send_keys(value)


def submit(driver: Any, css: str) -> None:
    """Press a form's button and wait for the next page to have loaded.

    The page being left is marked with a script variable; the next one has none. Asking an
    element of the old page whether it is stale races the navigation (Chromium may answer
    "Node with given id does not belong to the document" instead of "stale"), and a script
    run mid-navigation may fail, so the wait retries on any driver error until it times out.
    """
    from selenium.common.exceptions import WebDriverException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    marker = secrets.token_hex(8)
    driver.execute_script("window.__leaving = arguments[0];", marker)
    driver.find_element(By.CSS_SELECTOR, css).click()
    wait = WebDriverWait(driver, 30, ignored_exceptions=(WebDriverException,))
    wait.until(
        lambda d: d.execute_script(
            "return window.__leaving !== arguments[0] && document.readyState === 'complete';",
            marker,
        )
    )


def page_html(driver: Any, timeout: float = 30) -> str:
    """The loaded page's markup.

    Chromium has been seen to answer an empty ``page_source`` for a page whose title is
    already there, under load: ask again until the document has a body.
    """
    from selenium.common.exceptions import WebDriverException
    from selenium.webdriver.support.ui import WebDriverWait

    wait = WebDriverWait(driver, timeout, ignored_exceptions=(WebDriverException,))
    return str(
        wait.until(
            lambda d: d.execute_script(
                "return document.readyState === 'complete' && document.body"
                " ? document.documentElement.outerHTML : null;"
            )
        )
    )


def sign_in(console: Console, driver: Any, *, recovery: bool) -> None:
    """Sign in as the site admin: password, then a code (or a recovery code)."""
    driver.get(console.root + "/console/")
    wait_for(driver, "#f-login")
    fill(driver, {"f-login": "chief", "f-password": PASSWORD})
    submit(driver, "form button[type=submit]")
    wait_for(driver, "#f-code")
    if recovery:
        fill(driver, {"f-recovery_code": console.recovery_codes.pop()})
    else:
        # The enrolment used the current time step; a replayed step is refused.
        fill(driver, {"f-code": totp.code_for(console.secret, now=time.time() + 30)})
    submit(driver, "main form button[type=submit]")
    wait_for(driver, ".signout")


@pytest.fixture(scope="module")
def admin(console: Console) -> Any:
    """One signed-in browser for the scenarios after the sign-in test."""
    driver = console.browser()
    sign_in(console, driver, recovery=True)
    return driver


def test_sign_in_with_mfa(console: Console) -> None:
    from selenium.webdriver.common.by import By

    driver = console.browser()
    driver.get(console.root + "/console/users")
    wait_for(driver, "#f-login")
    assert "/console/sign-in" in driver.current_url
    fill(driver, {"f-login": "chief", "f-password": "not the password"})
    submit(driver, "main form button[type=submit]")
    html = page_html(driver)
    assert 'role="alert"' in html and "incorrect" in html
    fill(driver, {"f-login": "chief", "f-password": PASSWORD})
    submit(driver, "main form button[type=submit]")
    wait_for(driver, "#f-code")
    fill(driver, {"f-code": "000000"})
    submit(driver, "main form button[type=submit]")
    assert driver.find_element(By.ID, "f-code-error").text
    fill(driver, {"f-code": totp.code_for(console.secret, now=time.time() + 30)})
    submit(driver, "main form button[type=submit]")
    wait_for(driver, ".signout")
    assert driver.current_url.endswith("/console/users")
    assert "chief (site_admin)" in driver.find_element(By.CSS_SELECTOR, ".signout").text
    cookie = driver.get_cookie("pathfinder_console")
    assert cookie["httpOnly"] is True and cookie["sameSite"] == "Lax"
    submit(driver, ".signout button")
    assert "You are signed out" in page_html(driver)


def test_invite_and_accept_in_a_second_browser(console: Console, admin: Any) -> None:
    from selenium.webdriver.common.by import By

    admin.get(console.root + "/console/invitations")
    fill(admin, {"f-emails": "newcomer@example.com"})
    submit(admin, "form[action$='/console/invitations'] button[type=submit]")
    assert "1 invited" in admin.find_element(By.CSS_SELECTOR, ".notice").text
    body = console.query(
        sa.select(outbox.c.body).where(outbox.c.recipient == "newcomer@example.com")
    )[-1][0]
    # The mail's own link to the invitation's page (on PUBLIC_BASE_URL; here, this server).
    link = re.search(r"^In a browser: https?://[^/]+(/console/join/[A-Za-z0-9_-]+)$", body, re.M)
    assert link, body
    guest = console.browser()  # a second browser context: no cookie of the admin's
    guest.get(console.root + link.group(1))
    wait_for(guest, "#f-username")
    assert "newcomer@example.com" in guest.find_element(By.TAG_NAME, "main").text
    fill(guest, {"f-username": "newcomer", "f-password": "my own long passphrase 7"})
    submit(guest, "main form button[type=submit]")
    assert "is ready" in guest.find_element(By.CSS_SELECTOR, ".notice").text
    status, _ = console.server.call(
        "POST", "/auth/login", {"login": "newcomer", "password": "my own long passphrase 7"}
    )
    assert status == 200
    admin.get(console.root + "/console/invitations?status=accepted")
    assert "newcomer@example.com" in page_html(admin)


def test_flag_with_group_override_explained(console: Console, admin: Any) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    status, _ = console.server.call(
        "POST",
        "/auth/register",
        {
            "username": "tester",
            "email": "tester@example.com",
            "password": "quiet meadow passphrase 12",
        },
    )
    assert status == 201
    admin.get(console.root + "/console/groups")
    fill(admin, {"group-name": "beta", "group-priority": "10"})
    submit(admin, "form[action$='/console/groups'] button[type=submit]")
    admin.get(console.root + "/console/users?q=tester")
    submit(admin, "tbody a")
    Select(admin.find_element(By.ID, "group-id")).select_by_visible_text("beta")
    submit(admin, "form[action$='/group'] button[type=submit]")
    assert "The group is changed" in page_html(admin)

    admin.get(console.root + "/console/flags")
    fill(admin, {"flag-key": "new_editor", "flag-name": "New editor", "flag-default": "false"})
    submit(admin, "form[action$='/console/flags'] button[type=submit]")
    wait_for(admin, "#ov-group")
    Select(admin.find_element(By.ID, "ov-group")).select_by_visible_text("beta")
    fill(admin, {"ov-value": "true", "ov-reason": "beta testers"})
    submit(admin, "form[action$='/overrides'] button[type=submit]")
    assert "Override added" in page_html(admin)
    fill(admin, {"explain-user": "tester"})
    submit(admin, "form[method=get] button[type=submit]")
    explanation = admin.find_element(By.ID, "explanation").text
    assert "value true" in explanation and "group override" in explanation


def test_verify_a_tenant(console: Console, admin: Any) -> None:
    from selenium.webdriver.common.by import By

    admin.get(console.root + "/console/tenants?q=chief")
    submit(admin, "a[href$='/console/tenants/chief']")
    submit(admin, "form[action$='/verify'] button")
    drift = admin.find_element(By.ID, "drift").text
    assert "Clean" in drift


def test_read_an_audit_row(console: Console, admin: Any) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    admin.get(console.root + "/console/audit")
    Select(admin.find_element(By.ID, "a-event")).select_by_value("user_invited")
    submit(admin, "form.filters button")
    submit(admin, "tbody a")
    assert admin.find_element(By.TAG_NAME, "h1").text.startswith("Audit row")
    html = page_html(admin)
    assert "user_invited" in html and '"role": "user"' in html


PAGES = (
    "/console/",
    "/console/users",
    "/console/invitations",
    "/console/groups",
    "/console/flags",
    "/console/flags/new_editor",
    "/console/tenants",
    "/console/tenants/chief",
    "/console/audit",
    "/console/jobs",
    "/console/deletions",
)


def test_no_serious_accessibility_violation(console: Console, admin: Any) -> None:
    source = axe_source()
    users = console.query(sa.text("SELECT id FROM pf_users WHERE username = 'tester'"))
    pages = [*PAGES, f"/console/users/{users[0][0]}", "/console/audit/1"]
    found: list[str] = []
    for path in pages:
        admin.get(console.root + path)
        wait_for(admin, "main")
        for violation in axe_violations(admin, source):
            if violation.get("impact") in ("serious", "critical"):
                targets = [n.get("target") for n in violation.get("nodes", [])][:3]
                found.append(f"{path}: {violation['id']} ({violation['help']}) {targets}")
    # The scan bites: an input without a label on the same page is a critical violation.
    admin.execute_script(
        "document.querySelector('main').insertAdjacentHTML('beforeend',"
        ' \'<input type="text" name="nameless">\')'
    )
    planted = {v["id"] for v in axe_violations(admin, source) if v.get("impact") == "critical"}
    assert "label" in planted
    signed_out = console.browser()
    signed_out.get(console.root + "/console/sign-in")
    wait_for(signed_out, "main")
    for violation in axe_violations(signed_out, source):
        if violation.get("impact") in ("serious", "critical"):
            found.append(f"/console/sign-in: {violation['id']} ({violation['help']})")
    assert found == [], "\n".join(found)


def test_screenshots(console: Console, admin: Any) -> None:
    """Save a screenshot of each page (only with PATHFINDER_CONSOLE_SCREENSHOTS set)."""
    folder = os.environ.get(SCREENSHOTS_ENV)
    if not folder:
        pytest.skip(f"{SCREENSHOTS_ENV} is not set: no screenshots wanted")
    target = Path(folder)
    target.mkdir(parents=True, exist_ok=True)
    status, tokens = console.server.call(
        "POST", "/auth/login", {"login": "tester", "password": "quiet meadow passphrase 12"}
    )
    assert status == 200
    headers = {"Authorization": f"Bearer {tokens['access_token']}"}
    for event_type in ("page_view", "page_view", "feature_used", "search_performed"):
        status, _ = console.server.call("POST", "/events", {"event_type": event_type}, headers)
        assert status == 201
    admin.get(console.root + "/console/")
    submit(admin, "form[action$='/stats/refresh'] button")
    users = console.query(sa.text("SELECT id FROM pf_users WHERE username = 'tester'"))
    shots = {
        "dashboard": "/console/",
        "users": "/console/users",
        "user": f"/console/users/{users[0][0]}",
        "invitations": "/console/invitations",
        "groups": "/console/groups",
        "flags": "/console/flags",
        "flag": "/console/flags/new_editor?user=tester",
        "tenants": "/console/tenants",
        "tenant": "/console/tenants/chief",
        "audit": "/console/audit",
        "audit-row": "/console/audit/1",
        "jobs": "/console/jobs",
    }
    for name, path in shots.items():
        admin.get(console.root + path)
        wait_for(admin, "main")
        height = admin.execute_script("return document.body.scrollHeight")
        admin.set_window_size(1280, min(max(int(height), 700), 2400))
        admin.save_screenshot(str(target / f"{name}.png"))
    signed_out = console.browser()
    signed_out.set_window_size(1280, 600)
    signed_out.get(console.root + "/console/sign-in")
    wait_for(signed_out, "main")
    signed_out.save_screenshot(str(target / "sign-in.png"))
