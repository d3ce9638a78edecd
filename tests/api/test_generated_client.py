"""A Python client generated from the served document drives the main flows through gunicorn.

openapi-python-client, the generator Python users reach for, generates a package from
``/api/v1/openapi.json`` as a live server serves it, with the settings a client author is
given (``docs/openapi-python-client.yaml``). Any generator warning fails the run: each one
is a model, an answer or an operation missing from the client. The package is generated
into the test's temporary folder (never into the repository), imported, and used over httpx
as a client application would use it, on SQLite and PostgreSQL: every answer must parse
into the generated model of its status. A ``KeyError``, or a problem document where a
model is expected, means the document and the server disagree. The server checks its own
answers against the contract too (``CHECK_CONTRACTS``), so an undeclared field, which the
generated models would silently ignore, is a 500 here.
"""

from __future__ import annotations

import hashlib
import importlib
import io
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import sqlalchemy as sa
from docx import Document
from pypdf import PdfReader

from pathfinder.db import get_database
from pathfinder.schema.shared.messaging import outbox
from pathfinder.security import totp
from tests.admin import link_token
from tests.conftest import BACKENDS, DEFAULT_PASSWORD, empty_database, make_app
from tests.cpa.factories import ACTIONS, CHALLENGE, LESSONS, RESULTS
from tests.live import LiveServer, live_server, prepare_database

pytestmark = pytest.mark.slow

GENERATOR_CONFIG = Path(__file__).resolve().parents[2] / "docs" / "openapi-python-client.yaml"
# Flows sign in many times from one address; the limits themselves are tested elsewhere.
SETTINGS = {
    "CHECK_CONTRACTS": "true",
    "RATELIMIT_LOGIN": "10000 per minute",
    "RATELIMIT_LOGIN_ACCOUNT": "10000 per minute",
    "RATELIMIT_REGISTER": "10000 per minute",
    "RATELIMIT_REFRESH": "10000 per minute",
}
# Generating takes about 3 s (two of them the generator's own ruff post-hooks).
GENERATION_BUDGET_SECONDS = 60


@dataclass
class Generation:
    """A generated client package and what the generator said while writing it."""

    package: ModuleType
    output: str
    seconds: float

    def operation(self, tag: str, name: str) -> Any:
        """``operation("auth", "post_api_v1_auth_register")``: one generated endpoint module."""
        return importlib.import_module(f"{self.package.__name__}.api.{tag}.{name}")

    @property
    def models(self) -> Any:
        return importlib.import_module(f"{self.package.__name__}.models")

    @property
    def types(self) -> Any:
        return importlib.import_module(f"{self.package.__name__}.types")


@dataclass
class LiveApi:
    """A gunicorn server, its database, and a client generated from its document."""

    server: LiveServer
    database_url: str
    instance: Path
    generated: Generation

    @property
    def origin(self) -> str:
        return self.server.base.removesuffix("/api/v1")

    @property
    def models(self) -> Any:
        return self.generated.models

    def anonymous(self) -> Any:
        return self.generated.package.Client(base_url=self.origin, timeout=60.0)

    def signed_in(self, tokens: Any) -> Any:
        """A client carrying ``tokens.access_token`` as its bearer token."""
        return self.generated.package.AuthenticatedClient(
            base_url=self.origin, token=tokens.access_token, timeout=60.0
        )

    def call(self, operation: str, *path: str, expect: tuple[int, Any], **arguments: Any) -> Any:
        """Call ``"tag.module"`` of the generated client; its answer parsed as ``expect``.

        ``expect`` is ``(status, generated model)``, the model ``None`` for an empty answer.
        The generated code parses the body before it is returned, so an answer that does not
        match its documented model fails inside the call, as it would for a client author.
        """
        tag, name = operation.split(".")
        response = self.generated.operation(tag, name).sync_detailed(*path, **arguments)
        status, model = expect
        body = response.content[:2000]
        assert response.status_code == status, body
        if model is None:
            assert response.parsed is None, body
        else:
            assert isinstance(response.parsed, model), (type(response.parsed), body)
        return response.parsed


def generate_client(document_url: str, folder: Path, package: str) -> Generation:
    """Run the generator on the served document; fail on any warning; import the package."""
    env = dict(os.environ)
    # The generator's post-hooks run ruff, installed beside the interpreter running the tests.
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    started = time.monotonic()
    run = subprocess.run(
        [sys.executable, "-m", "openapi_python_client", "generate"]
        + ["--url", document_url, "--config", str(GENERATOR_CONFIG)]
        + ["--meta", "none", "--output-path", str(folder / package), "--fail-on-warning"],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )
    seconds = time.monotonic() - started
    output = run.stdout + run.stderr
    assert run.returncode == 0, output
    sys.path.insert(0, str(folder))
    try:
        module = importlib.import_module(package)
        importlib.import_module(f"{package}.models")
    finally:
        sys.path.remove(str(folder))
    return Generation(module, output, seconds)


@pytest.fixture(scope="module", params=BACKENDS)
def live_api(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveApi]:
    """One server per back-end for the module; each flow uses users of its own."""
    backend = str(request.param)
    folder = tmp_path_factory.mktemp(f"generated-client-{backend}")
    with empty_database(backend, folder, request) as database_url:
        instance = folder / "instance"
        prepare_database(database_url, instance)
        with live_server(database_url, instance, SETTINGS, workers=2) as server:
            generated = generate_client(
                f"{server.base}/openapi.json", folder, f"pathfinder_client_{backend}"
            )
            yield LiveApi(server, database_url, instance, generated)
            for name in [
                name for name in sys.modules if name.startswith(generated.package.__name__)
            ]:
                del sys.modules[name]


# -- the flows ------------------------------------------------------------------------------------


def register(api: LiveApi, username: str) -> Any:
    body = api.models.RegisterRequest(
        username=username, email=f"{username}@example.com", password=DEFAULT_PASSWORD
    )
    return api.call(
        "auth.post_api_v1_auth_register",
        client=api.anonymous(),
        body=body,
        expect=(201, api.models.AuthTokens),
    )


def sign_in(api: LiveApi, login: str, model: Any) -> Any:
    """Password sign-in; ``model`` says which of the answer's two shapes is expected."""
    return api.call(
        "auth.post_api_v1_auth_login",
        client=api.anonymous(),
        body=api.models.LoginRequest(login=login, password=DEFAULT_PASSWORD),
        expect=(200, model),
    )


def me(api: LiveApi, tokens: Any) -> Any:
    return api.call(
        "profile.get_api_v1_me", client=api.signed_in(tokens), expect=(200, api.models.Profile)
    )


def test_the_generator_reads_the_served_document_without_a_warning(live_api: LiveApi) -> None:
    generated = live_api.generated
    assert "Warning" not in generated.output, generated.output
    assert generated.seconds < GENERATION_BUDGET_SECONDS
    # Every operation of the document is in the client: none was dropped.
    status, document = live_api.server.call("GET", "/openapi.json")
    assert status == 200
    api_folder = Path(generated.package.__file__).parent / "api"
    endpoints = [path for path in api_folder.glob("*/*.py") if path.name != "__init__.py"]
    assert len(endpoints) == sum(len(methods) for methods in document["paths"].values())
    # And no body model was dropped: a schema the generator cannot read (a top-level `oneOf`
    # beside `properties`, for one) becomes `body: Any` without a warning.
    untyped = [path.name for path in endpoints if "body: Any" in path.read_text()]
    assert untyped == []


def test_register_and_sign_in_with_mfa(live_api: LiveApi) -> None:
    api, models = live_api, live_api.models
    registered = register(api, "gen_mfa")
    assert me(api, registered).username == "gen_mfa"

    enrolment = api.call(
        "auth.post_api_v1_auth_mfa_enroll",
        client=api.signed_in(registered),
        body=models.MfaEnrolRequest(password=DEFAULT_PASSWORD),
        expect=(201, models.AuthMfaEnrolment),
    )
    assert enrolment.otpauth_uri.startswith("otpauth://totp/")
    enabled = api.call(
        "auth.post_api_v1_auth_mfa_confirm",
        client=api.signed_in(registered),
        body=models.CodeRequest(code=totp.code_for(enrolment.secret)),
        expect=(200, models.AuthMfaEnabled),
    )
    assert len(enabled.recovery_codes) == 10

    challenge = sign_in(api, "gen_mfa", models.AuthMfaChallenge)
    assert challenge.mfa_required is True
    # Confirming spent the current time step and a step is never accepted twice: the next.
    code = totp.code_for(enrolment.secret, now=time.time() + 30)
    tokens = api.call(
        "auth.post_api_v1_auth_login_mfa",
        client=api.anonymous(),
        body=models.MfaLoginRequest(mfa_token=challenge.mfa_token, code=code),
        expect=(200, models.AuthTokens),
    )
    assert me(api, tokens).mfa_enabled is True

    renewed = api.call(
        "auth.post_api_v1_auth_refresh",
        client=api.anonymous(),
        body=models.RefreshRequest(refresh_token=tokens.refresh_token),
        expect=(200, models.AuthTokens),
    )
    api.call("auth.post_api_v1_auth_logout", client=api.signed_in(renewed), expect=(204, None))
    # An error is a problem document, parsed as one.
    problem = api.call(
        "profile.get_api_v1_me",
        client=api.signed_in(renewed),
        expect=(401, models.ProblemDocument),
    )
    assert problem.status == 401 and problem.type_.startswith("urn:pathfinder:problem:")


def test_experiences_and_skills_crud(live_api: LiveApi) -> None:
    api, models = live_api, live_api.models
    client = api.signed_in(register(api, "gen_career"))

    created = api.call(
        "experiences.post_api_v1_me_experiences",
        client=client,
        body=models.ExperienceCreate(
            title="Staff accountant",
            company="Example Manufacturing Ltd.",
            start_date=date(2021, 3, 1),
            end_date=date(2023, 6, 30),
            technologies=["Excel", "SAP"],
        ),
        expect=(201, models.CareerExperience),
    )
    assert created.title == "Staff accountant" and created.start_date == date(2021, 3, 1)
    listed = api.call(
        "experiences.get_api_v1_me_experiences",
        client=client,
        expect=(200, models.CareerExperiencePage),
    )
    assert [item.id for item in listed.items] == [created.id]
    assert isinstance(listed.items[0], models.CareerExperience)
    edited = api.call(
        "experiences.patch_api_v1_me_experiences_career_experience_id",
        created.id,
        client=client,
        body=models.ExperienceUpdate(title="Senior accountant"),
        expect=(200, models.CareerExperience),
    )
    assert edited.title == "Senior accountant" and edited.company == created.company
    read = api.call(
        "experiences.get_api_v1_me_experiences_career_experience_id",
        created.id,
        client=client,
        expect=(200, models.CareerExperience),
    )
    assert read.title == "Senior accountant"

    skill = api.call(
        "skills.post_api_v1_me_skills",
        client=client,
        body=models.SkillCreate(
            name="IFRS 15", experience_id=created.id, proficiency_level=3, category="finance"
        ),
        expect=(201, models.CareerSkill),
    )
    # The name is matched to the reference catalogue ("IFRS 15" is revenue recognition).
    assert skill.name and skill.experience_id == created.id
    attached = api.call(
        "experiences.get_api_v1_me_experiences_career_experience_id_skills",
        created.id,
        client=client,
        expect=(200, models.CareerExperienceSkillPage),
    )
    assert [item.id for item in attached.items] == [skill.id]
    changed = api.call(
        "skills.patch_api_v1_me_skills_skill_id",
        skill.id,
        client=client,
        body=models.SkillUpdate(proficiency_level=4),
        expect=(200, models.CareerSkill),
    )
    assert changed.proficiency_level == 4
    listed_skills = api.call(
        "skills.get_api_v1_me_skills", client=client, expect=(200, models.CareerSkillPage)
    )
    assert [item.id for item in listed_skills.items] == [skill.id]
    api.call(
        "skills.get_api_v1_me_skills_summary",
        client=client,
        expect=(200, models.CareerSkillsSummary),
    )

    api.call("skills.delete_api_v1_me_skills_skill_id", skill.id, client=client, expect=(204, None))
    gone = api.call(
        "skills.get_api_v1_me_skills_skill_id",
        skill.id,
        client=client,
        expect=(404, models.ProblemDocument),
    )
    assert gone.status == 404
    api.call(
        "experiences.delete_api_v1_me_experiences_career_experience_id",
        created.id,
        client=client,
        expect=(204, None),
    )
    empty = api.call(
        "experiences.get_api_v1_me_experiences",
        client=client,
        expect=(200, models.CareerExperiencePage),
    )
    assert empty.items == []


def test_cpa_report_through_submission_and_export(live_api: LiveApi) -> None:
    api, models = live_api, live_api.models
    client = api.signed_in(register(api, "gen_cpa"))

    report = api.call(
        "cpa_reports.post_api_v1_cpa_reports",
        client=client,
        body=models.ReportCreate(
            route=models.ReportCreateRoute("EVR"),
            employer_name="Example Manufacturing Ltd.",
            position_title="Staff accountant",
            period_start=date(2023, 1, 1),
            period_end=date(2023, 6, 30),
        ),
        expect=(201, models.CpaReportChecked),
    )
    experience = api.call(
        "cpa_experiences.post_api_v1_cpa_reports_report_id_experiences",
        report.id,
        client=client,
        body=models.CpaExperienceCreate(
            sub_competency_code="FR1",
            experience_title="Revenue recognition review",
            experience_start_date=date(2023, 2, 1),
            proficiency_level=1,
            challenge=CHALLENGE,
            actions=ACTIONS,
            results=RESULTS,
            lessons_learned=LESSONS,
        ),
        expect=(201, models.CpaExperience),
    )
    # A model nested in another parses into its own generated class.
    assert isinstance(experience.counts, models.CpaCharacterCounts)
    assert experience.counts.total == experience.character_count > 0
    detail = api.call(
        "cpa_reports.get_api_v1_cpa_reports_report_id",
        report.id,
        client=client,
        expect=(200, models.CpaReportDetail),
    )
    api.call(
        "cpa_progress.get_api_v1_cpa_progress", client=client, expect=(200, models.CpaProgress)
    )
    submission = api.call(
        "cpa_submissions.post_api_v1_cpa_reports_report_id_submissions",
        report.id,
        client=client,
        body=models.SubmissionCreate(
            submission_type=models.SubmissionCreateSubmissionType("final"),
            version=detail.version,
        ),
        expect=(201, models.CpaSubmission),
    )
    assert submission.is_final and len(submission.checksum_sha256) == 64

    # Each format is a download: the generated client hands back its bytes as a File.
    downloads = {
        name: api.call(
            "cpa_submissions.get_api_v1_cpa_submissions_submission_id_export",
            submission.id,
            client=client,
            format_=models.GetApiV1CpaSubmissionsSubmissionIdExportFormat(name),
            expect=(200, api.generated.types.File),
        ).payload.read()
        for name in ("json", "pdf", "docx")
    }
    payload = json.loads(downloads["json"])["payload"]
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert hashlib.sha256(canonical.encode()).hexdigest() == submission.checksum_sha256
    pdf_text = " ".join(
        page.extract_text() for page in PdfReader(io.BytesIO(downloads["pdf"])).pages
    )
    assert " ".join(ACTIONS.split()) in " ".join(pdf_text.split())
    assert CHALLENGE in [
        paragraph.text for paragraph in Document(io.BytesIO(downloads["docx"])).paragraphs
    ]

    outcome = api.call(
        "cpa_submissions.post_api_v1_cpa_submissions_submission_id_status",
        submission.id,
        client=client,
        body=models.SubmissionStatusChange(
            status=models.SubmissionStatusChangeStatus("accepted"), notes="Accepted."
        ),
        expect=(200, models.CpaSubmissionStatusChanged),
    )
    assert outcome.report_status == "accepted"
    history = api.call(
        "cpa_submissions.get_api_v1_cpa_submissions_submission_id_history",
        submission.id,
        client=client,
        expect=(200, models.CpaPageCpaSubmissionEvent),
    )
    assert [event.new_status for event in history.items] == ["pending", "accepted"]


def test_an_admin_invitation_is_accepted(live_api: LiveApi) -> None:
    api, models = live_api, live_api.models
    # The first site admin is made on the server, as the operator does it.
    operator = make_app(api.database_url, api.instance)
    try:
        made = operator.test_cli_runner().invoke(
            args=["admin", "create-site-admin", "gen_root", "--email", "gen_root@example.com"]
            + ["--password-stdin"],
            input=f"{DEFAULT_PASSWORD}\n",
        )
    finally:
        get_database(operator).dispose()
    assert made.exit_code == 0, made.output
    admin = api.signed_in(sign_in(api, "gen_root", models.AuthTokens))

    batch = api.call(
        "admin.post_api_v1_admin_invitations",
        client=admin,
        body=models.InvitationBatch(
            invitations=[
                models.InvitationItem(
                    email="gen_invited@example.com", role=models.InvitationItemRole("admin")
                )
            ]
        ),
        expect=(201, models.AdminInvitationBatch),
    )
    assert [item.email for item in batch.created] == ["gen_invited@example.com"]
    assert isinstance(batch.created[0], models.AdminInvitation)
    page = api.call(
        "admin.get_api_v1_admin_invitations", client=admin, expect=(200, models.AdminInvitationPage)
    )
    assert [item.id for item in page.items] == [batch.created[0].id]

    token = invitation_token(api.database_url, "gen_invited@example.com")
    shown = api.call(
        "invitations.get_api_v1_invitations_token",
        token,
        client=api.anonymous(),
        expect=(200, models.InvitationPreview),
    )
    assert shown.email == "gen_invited@example.com"
    tokens = api.call(
        "invitations.post_api_v1_invitations_token_accept",
        token,
        client=api.anonymous(),
        body=models.AcceptInvitation(username="gen_invited", password=DEFAULT_PASSWORD),
        expect=(201, models.AuthTokens),
    )
    profile = me(api, tokens)
    assert profile.username == "gen_invited" and profile.role == "admin"
    # The link works once.
    api.call(
        "invitations.get_api_v1_invitations_token",
        token,
        client=api.anonymous(),
        expect=(404, models.ProblemDocument),
    )


def invitation_token(database_url: str, recipient: str) -> str:
    """The token of the invitation link mailed to ``recipient`` (the development outbox)."""
    engine = sa.create_engine(database_url, poolclass=sa.NullPool)
    try:
        with engine.connect() as conn:
            body = (
                conn.execute(
                    sa.select(outbox.c.body)
                    .where(outbox.c.recipient == recipient, outbox.c.template == "invitation")
                    .order_by(outbox.c.created_at.desc())
                )
                .scalars()
                .first()
            )
    finally:
        engine.dispose()
    assert body is not None, f"no invitation mailed to {recipient}"
    return link_token(body, "invitations")
