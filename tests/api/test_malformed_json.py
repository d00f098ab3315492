"""JSON that is not a syntax error yet cannot be decoded (nested past the recursion limit,
not UTF-8, an integer over Python's 4300-digit limit) is a 422 problem on every route that
takes JSON, like a syntax error: never a 500 (issue 8: ``[`` x 100000 crashed /v1/extract)
nor a bare 400. A broken multipart envelope is a 400, declared by the routes taking one."""

from __future__ import annotations

import pytest

from tests.api.test_auth_and_problems import assert_problem
from tests.conftest import KEYS, build_test_app

ADMIN = {"Authorization": f"Bearer {KEYS['admin']['key']}"}

# route -> (method, path); {doc} is the seeded document's id
JSON_ROUTES = {
    "ask": ("POST", "/v1/collections/docs/ask"),
    "extract": ("POST", "/v1/extract"),
    "anonymise": ("POST", "/v1/anonymise"),
    "deanonymise": ("POST", "/v1/deanonymise"),
    "create collection": ("POST", "/v1/collections"),
    "reindex": ("POST", "/v1/collections/docs/reindex"),
    "patch document": ("PATCH", "/v1/collections/docs/documents/{doc}"),
}

# body -> (bytes, the reason the problem gives)
UNDECODABLE = {
    "10^5 '['": (b"[" * 100_000, "nested too deeply"),
    "10^5 '{\"a\":'": (b'{"a":' * 100_000, "nested too deeply"),
    "depth 5000 inside a field": (b'{"schema": ' + b"[" * 5000 + b"]" * 5000 + b"}", "nested too deeply"),
    "not UTF-8": (b'{"text": "\xff\xfe"}', "not UTF-8"),
    "5000-digit integer": (b'{"text": ' + b"9" * 5000 + b"}", "a value exceeds the decoder's limits"),
}


@pytest.fixture(scope="module")
def seeded(tmp_path_factory):
    from fastapi.testclient import TestClient

    app = build_test_app(tmp_path_factory.mktemp("malformed"))
    with TestClient(app) as client:
        assert client.post("/v1/collections", json={"name": "docs", "anonymise": False}, headers=ADMIN).status_code == 201
        response = client.post("/v1/collections/docs/documents", params={"wait": "true"}, headers=ADMIN,
                               files={"file": ("a.txt", b"The policy number is AB-1234.")})
        assert response.status_code == 201, response.text
        yield client, response.json()["documents"][0]["document_id"]


@pytest.mark.parametrize("body_name", list(UNDECODABLE))
@pytest.mark.parametrize("route", list(JSON_ROUTES))
def test_undecodable_json_is_a_422_on_every_json_route(seeded, route, body_name):
    client, doc = seeded
    method, path = JSON_ROUTES[route]
    body, reason = UNDECODABLE[body_name]
    response = client.request(method, path.format(doc=doc), content=body,
                              headers={**ADMIN, "Content-Type": "application/json"})
    problem = assert_problem(response, 422)
    assert reason in [e["msg"] for e in problem["errors"]], problem


@pytest.mark.parametrize("route, path, files, data, loc", [
    ("extract: schema field", "/v1/extract", {"file": ("a.txt", b"text")}, {"schema": "[" * 100_000}, "schema"),
    ("extract: schema field, deep object", "/v1/extract", {"file": ("a.txt", b"text")},
     {"schema": '{"a":' * 100_000}, "schema"),
    ("upload: metadata field", "/v1/collections/docs/documents", {"file": ("b.txt", b"text")},
     {"metadata": "[" * 100_000}, "metadata"),
    ("upload: metadata field, 5000-digit integer", "/v1/collections/docs/documents", {"file": ("c.txt", b"text")},
     {"metadata": '{"tags": {"a": ' + "1" * 5000 + "}}"}, "metadata"),
    ("extract: schema field, 5000-digit integer", "/v1/extract", {"file": ("a.txt", b"text")},
     {"schema": '{"maxLength": ' + "1" * 5000 + "}"}, "schema"),
])
def test_undecodable_json_in_a_multipart_field_is_a_422(seeded, route, path, files, data, loc):
    client, _ = seeded
    problem = assert_problem(client.post(path, files=files, data=data, headers=ADMIN), 422)
    assert any(e["loc"][:2] == ["body", loc] for e in problem["errors"]), problem


@pytest.mark.parametrize("template", ["/v1/extract", "/v1/collections/{name}/documents", "/v1/anonymise/document"])
@pytest.mark.parametrize("content_type", ["multipart/form-data", "multipart/form-data; boundary=xyz"])
def test_a_broken_multipart_envelope_is_a_declared_400(seeded, template, content_type):
    client, _ = seeded
    path = template.format(name="docs")
    assert_problem(client.post(path, content=b"garbage", headers={**ADMIN, "Content-Type": content_type}), 400)
    declared = client.get("/openapi.json").json()["paths"][template]["post"]["responses"]
    assert "400" in declared
