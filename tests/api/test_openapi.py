"""The OpenAPI document covers every route, its docs page works offline, contracts bite.

Response bodies are checked against the document by the whole suite (``CHECK_CONTRACTS`` in
``tests/conftest.py``) and by the fuzzing run (``tests/api/test_fuzz.py``); this module
checks the document itself and that a broken contract is caught.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from flask import Flask, Response, jsonify
from flask.testing import FlaskClient
from pydantic import BaseModel

from pathfinder.api.contract import (
    Media,
    ResponseModel,
    component_name,
    contract,
    contract_of,
)
from pathfinder.api.fields import ID_PATTERN
from pathfinder.api.openapi import (
    ContractViolation,
    check_response,
    document_of,
    documented_views,
    fill_app_enums,
    openapi_path,
)
from pathfinder.api.validation import RequestModel, parse_body
from pathfinder.auth.policy import policy_of, public

METHODS = ("get", "put", "post", "delete", "patch")


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        for value in node.values():
            found.extend(_refs(value))
        return found
    if isinstance(node, list):
        return [ref for item in node for ref in _refs(item)]
    return []


def test_every_route_is_in_the_document(app: Flask) -> None:
    document = document_of(app)
    missing = []
    for (path, method), view in documented_views(app).items():
        if contract_of(view) is None:
            missing.append(f"{method.upper()} {path}: no @contract")
        elif method not in document["paths"].get(path, {}):
            missing.append(f"{method.upper()} {path}: not in openapi.json")
    assert missing == []


def test_the_document_lists_only_real_routes(app: Flask) -> None:
    document = document_of(app)
    real = set(documented_views(app))
    listed = {(path, method) for path, ops in document["paths"].items() for method in ops}
    assert listed == real


def test_every_reference_resolves(app: Flask) -> None:
    document = document_of(app)
    schemas = document["components"]["schemas"]
    unresolved = {
        ref for ref in _refs(document) if ref.removeprefix("#/components/schemas/") not in schemas
    }
    assert unresolved == set()


def _pointer(document: dict[str, Any], ref: str) -> Any:
    """The node a local ``$ref`` (``#/a/b``) points at; KeyError when it points nowhere."""
    node: Any = document
    for part in ref.removeprefix("#/").split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def _schema_nodes(node: Any, path: str = "#") -> list[tuple[str, dict[str, Any]]]:
    """Every object schema (a dict with ``properties``) in the document, with its place."""
    found: list[tuple[str, dict[str, Any]]] = []
    if isinstance(node, dict):
        if isinstance(node.get("properties"), dict):
            found.append((path, node))
        for key, value in node.items():
            found.extend(_schema_nodes(value, f"{path}/{key}"))
    elif isinstance(node, list):
        for index, item in enumerate(node):
            found.extend(_schema_nodes(item, f"{path}/{index}"))
    return found


def _contract_models(app: Flask) -> set[tuple[type[BaseModel], str]]:
    """Every model a route declares, with the pydantic mode spectree documents it in."""
    models: set[tuple[type[BaseModel], str]] = set()
    for view in documented_views(app).values():
        declared = contract_of(view)
        assert declared is not None
        for model in (declared.query, declared.body):
            if isinstance(model, type):
                models.add((model, "validation"))
        for answer in declared.responses.values():
            if isinstance(answer, type):
                models.add((answer, "serialization"))
    return models


# -- a document a client generator can use ------------------------------------------------------


def test_every_pointer_resolves(app: Flask) -> None:
    document = document_of(app)
    unresolved = []
    for ref in set(_refs(document)):
        try:
            _pointer(document, ref)
        except (KeyError, TypeError):
            unresolved.append(ref)
    assert unresolved == []


def test_schema_titles_are_unique(app: Flask) -> None:
    """A generator names a class after a schema's title: a shared title is a dropped model."""
    schemas = document_of(app)["components"]["schemas"]
    titles: dict[str, list[str]] = {}
    for name, schema in schemas.items():
        titles.setdefault(schema.get("title", name), []).append(name)
    assert {title: names for title, names in titles.items() if len(names) > 1} == {}


def test_no_model_is_copied(app: Flask) -> None:
    """Each model is one component, referenced wherever it is used, never inlined again."""
    document = document_of(app)
    schemas = document["components"]["schemas"]
    assert [name for name in schemas if "." in name] == []
    components = {f"#/components/schemas/{name}": schema for name, schema in schemas.items()}
    titles = {schema.get("title") for schema in schemas.values()}
    copies = [
        place
        for place, node in _schema_nodes(document)
        if place not in components and node.get("title") in titles
    ]
    assert copies == []
    bodies = [json.dumps(schema, sort_keys=True) for schema in schemas.values()]
    assert len(bodies) == len(set(bodies))


def test_each_component_is_its_model(app: Flask) -> None:
    """The component named after a model is what pydantic says of that model, and so is every
    model nested in it: a model documented one way as a request and another as an answer
    would otherwise be one component that is wrong for one of them."""
    schemas = document_of(app)["components"]["schemas"]
    wrong = []
    for model, mode in _contract_models(app):
        generated = model.model_json_schema(ref_template="#/components/schemas/{model}", mode=mode)
        expected = {component_name(model): generated, **generated.pop("$defs", {})}
        fill_app_enums(expected, app)  # the values this app's settings give (chat models)
        for name, schema in expected.items():
            if json.loads(json.dumps(schema)) != schemas.get(name):
                wrong.append(f"{name} ({model.__name__}, {mode})")
    assert sorted(set(wrong)) == []


def test_every_operation_answers_success_with_its_schema(app: Flask) -> None:
    """A 2xx with content and a schema (JSON or a file), a 204 without a body, or a
    redirect (3xx) without a body and with its ``Location`` header."""
    document = document_of(app)
    broken = []
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            successes = {
                status: answer
                for status, answer in operation["responses"].items()
                if status.startswith(("2", "3"))
            }
            if not successes:
                broken.append(f"{method.upper()} {path}: no success answer")
            for status, answer in successes.items():
                content = answer.get("content")
                if status.startswith("3"):
                    if content or "Location" not in answer.get("headers", {}):
                        broken.append(f"{method.upper()} {path}: {status} not a plain redirect")
                elif status == "204":
                    if content:
                        broken.append(f"{method.upper()} {path}: 204 with a body")
                elif not content or not all("schema" in media for media in content.values()):
                    broken.append(f"{method.upper()} {path}: {status} without a schema")
    assert broken == []


def test_file_answers_list_every_media_type(app: Flask, client: FlaskClient) -> None:
    # The served document, as a generator reads it: the order of its keys is kept.
    document = json.loads(client.get("/api/v1/openapi.json").get_data())
    for (path, method), view in documented_views(app).items():
        declared = contract_of(view)
        assert declared is not None
        for status, answer in declared.responses.items():
            if isinstance(answer, Media):
                content = document["paths"][path][method]["responses"][str(status)]["content"]
                assert set(content) == set(answer.media_types), f"{method} {path}"
                # A generator reads with the first type it knows: bytes serve every format.
                assert len(content) == 1 or next(iter(content)) != "application/json"


def test_operations_state_who_may_call_them(app: Flask) -> None:
    document = document_of(app)
    views = documented_views(app)
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            policy = policy_of(views[(path, method)])
            assert policy is not None
            if policy.public:
                assert operation["security"] == [], f"{method} {path}"
            else:
                assert operation["security"] == [{"bearerAuth": []}], f"{method} {path}"
                assert operation["x-pathfinder-role"] == policy.role
            default = operation["responses"]["default"]
            assert "application/problem+json" in default["content"]


def test_operation_ids_are_unique(app: Flask) -> None:
    document = document_of(app)
    ids = [op["operationId"] for ops in document["paths"].values() for op in ops.values()]
    assert len(ids) == len(set(ids))


def test_the_document_is_served(client: FlaskClient) -> None:
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    body = response.get_json()
    assert body["openapi"].startswith("3.1")
    assert body["paths"]["/api/v1/health"]["get"]["security"] == []


def test_docs_page_uses_packaged_assets_only(client: FlaskClient) -> None:
    page = client.get("/api/v1/docs")
    assert page.status_code == 200
    assert page.mimetype == "text/html"
    text = page.get_data(as_text=True)
    assert "http://" not in text and "https://" not in text and "//cdn" not in text
    for asset in ("swagger-ui.css", "swagger-ui-bundle.js", "init.js"):
        assert f"docs/{asset}" in text
        with client.get(f"/api/v1/docs/{asset}") as served:
            assert served.status_code == 200, asset
            assert len(served.get_data()) > 100
    with client.get("/api/v1/docs/swagger-ui-bundle.js") as bundle:
        assert "SwaggerUIBundle" in bundle.get_data(as_text=True)


def test_docs_serve_nothing_outside_the_allow_list(client: FlaskClient) -> None:
    for name in ("index.html", "..%2Fpyproject.toml", "oauth2-redirect.html"):
        response = client.get(f"/api/v1/docs/{name}")
        assert response.status_code == 404
        assert response.mimetype == "application/problem+json"


def test_openapi_path_converts_rule_arguments(app: Flask) -> None:
    rules = {rule.rule: rule for rule in app.url_map.iter_rules()}
    rule = rules["/api/v1/me/experiences/<id:career_experience_id>"]
    assert openapi_path(rule) == "/api/v1/me/experiences/{career_experience_id}"


def test_id_parameters_have_the_id_pattern(app: Flask) -> None:
    """Every id in a path is routed by its pattern and documented with it."""
    document = document_of(app)
    ids = [
        parameter
        for operations in document["paths"].values()
        for operation in operations.values()
        for parameter in operation.get("parameters", ())
        if parameter["in"] == "path" and parameter["name"].endswith("_id")
    ]
    assert len(ids) >= 70
    assert all(parameter["schema"]["pattern"] == ID_PATTERN for parameter in ids)


# -- the contract check bites ------------------------------------------------------------------


class _Thing(ResponseModel):
    id: str
    size: int


class _ThingBody(RequestModel):
    name: str


class _OtherBody(RequestModel):
    title: str


@contract(body=_ThingBody, responses={201: _Thing, 204: None, 200: Media("application/pdf")})
def _view() -> None:
    """A view used only to hold a contract."""


def _json(body: Any, status: int) -> Response:
    response = jsonify(body)
    response.status_code = status
    return response


def test_a_matching_answer_passes(app: Flask) -> None:
    with app.test_request_context():
        check_response(_view, _json({"id": "a", "size": 1}, 201))
        check_response(_view, Response(b"%PDF-1.7", mimetype="application/pdf"))
        check_response(_view, Response(b"", status=204))


@pytest.mark.parametrize(
    ("body", "status", "reason"),
    [
        ({"id": "a", "size": 1, "secret": "x"}, 201, "does not match"),
        ({"id": "a"}, 201, "does not match"),
        ({"id": "a", "size": "big"}, 201, "does not match"),
        ({"id": "a", "size": 1}, 202, "not declared"),
    ],
)
def test_a_breaking_answer_is_caught(app: Flask, body: Any, status: int, reason: str) -> None:
    with app.test_request_context(), pytest.raises(ContractViolation, match=reason):
        check_response(_view, _json(body, status))


def test_errors_must_be_problems(app: Flask) -> None:
    with app.test_request_context():
        with pytest.raises(ContractViolation, match="problem"):
            check_response(_view, _json({"error": "nope"}, 404))
        problem = Response(
            b'{"type": "about:blank", "title": "Not Found", "status": 404}',
            status=404,
            mimetype="application/problem+json",
        )
        check_response(_view, problem)
        with pytest.raises(ContractViolation, match="declared"):
            check_response(_view, Response(b"x", status=204))
        with pytest.raises(ContractViolation, match="application/pdf"):
            check_response(_view, Response(b"{}", status=200, mimetype="application/json"))


def test_a_route_parsing_another_model_than_declared_fails(
    app: Flask, caplog: pytest.LogCaptureFixture
) -> None:
    @app.post("/api/v1/contract-probe")
    @public
    @contract(body=_ThingBody, responses={200: _Thing})
    def probe() -> Any:
        parse_body(_OtherBody)
        return {"id": "x", "size": 1}

    response = app.test_client().post("/api/v1/contract-probe", json={"title": "t"})
    assert response.status_code == 500
    assert "parses its body as _OtherBody but its contract declares" in caplog.text


def test_a_route_answering_outside_its_contract_fails(app: Flask) -> None:
    @app.get("/api/v1/contract-probe")
    @public
    @contract(responses={200: _Thing})
    def probe() -> Any:
        return {"id": "x", "size": 1, "leak": "password-hash"}

    with pytest.raises(ContractViolation, match="leak"):
        app.test_client().get("/api/v1/contract-probe")


def test_models_with_one_name_clash_loudly() -> None:
    from pathfinder.api.contract import component_name

    class Clash(BaseModel):
        a: int

    first = Clash
    component_name(first)

    class Clash(BaseModel):  # type: ignore[no-redef]  # noqa: F811 - the point of the test
        b: int

    with pytest.raises(RuntimeError, match="two models"):
        component_name(Clash)


def test_a_file_upload_is_documented_with_its_media_types(app: Flask) -> None:
    operation = document_of(app)["paths"]["/api/v1/admin/invitations/csv"]["post"]
    content = operation["requestBody"]["content"]
    assert content["text/csv"]["schema"] == {"type": "string", "format": "binary"}
    assert content["multipart/form-data"]["schema"]["required"] == ["file"]


@contract(responses={200: Media("application/json", alternatives=("application/zip",))})
def _download() -> None:
    """A view used only to hold a contract with alternative media types."""


def test_alternative_media_types_are_accepted_and_others_refused(app: Flask) -> None:
    with app.test_request_context():
        check_response(_download, Response(b"PK", mimetype="application/zip"))
        check_response(_download, Response(b"{}", mimetype="application/json"))
        with pytest.raises(ContractViolation, match="application/json or application/zip"):
            check_response(_download, Response(b"x", mimetype="text/plain"))
