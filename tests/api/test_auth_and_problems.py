"""Authentication, roles, tenancy and the problem+json shape, through the HTTP surface."""

from __future__ import annotations

import pytest

PROBLEM_KEYS = {"type", "title", "status", "detail", "instance"}


def assert_problem(response, status: int) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert PROBLEM_KEYS <= set(body)
    assert body["status"] == status
    assert "Traceback" not in response.text
    return body


@pytest.mark.parametrize(
    "method, path",
    [
        ("GET", "/v1/collections"),
        ("POST", "/v1/collections"),
        ("GET", "/v1/collections/docs"),
        ("DELETE", "/v1/collections/docs"),
        ("GET", "/v1/collections/docs/documents"),
        ("GET", "/v1/jobs"),
        ("GET", "/v1/jobs/job_x"),
        ("GET", "/v1/models"),
        ("GET", "/v1/audit"),
    ],
)
@pytest.mark.parametrize("header", [None, "Bearer not-a-key", "Basic abc"])
def test_missing_or_unknown_key_is_401(api, method, path, header):
    headers = {"Authorization": header} if header else {}
    body = assert_problem(api.client.request(method, path, headers=headers), 401)
    assert body["type"].endswith("/unauthorized")


@pytest.mark.parametrize(
    "who, method, path, json_body, expected",
    [
        ("reader", "POST", "/v1/collections", {"name": "x", "anonymise": False}, 403),
        ("writer", "POST", "/v1/collections", {"name": "x", "anonymise": False}, 201),
        ("writer", "DELETE", "/v1/collections/docs", None, 403),
        ("admin", "DELETE", "/v1/collections/docs", None, 204),
        ("reader", "GET", "/v1/audit", None, 403),
        ("writer", "GET", "/v1/audit", None, 403),
        ("admin", "GET", "/v1/audit", None, 200),
        ("reader", "GET", "/v1/collections/docs", None, 200),
        ("reader", "GET", "/v1/models", None, 200),
    ],
)
def test_roles(api, who, method, path, json_body, expected):
    api.create_collection("docs")
    response = api.client.request(method, path, json=json_body, headers=api.h(who))
    assert response.status_code == expected, response.text
    if expected >= 400:
        assert_problem(response, expected)


def test_reader_cannot_upload_or_delete_documents(api):
    api.create_collection("docs")
    assert_problem(api.upload("docs", [("a.txt", b"hello")], who="reader"), 403)
    doc = api.upload("docs", [("a.txt", b"hello there")]).json()["documents"][0]
    path = f"/v1/collections/docs/documents/{doc['document_id']}"
    assert_problem(api.client.delete(path, headers=api.h("reader")), 403)
    assert_problem(api.client.patch(path, json={"tags": {"a": "b"}}, headers=api.h("reader")), 403)


def test_other_tenant_sees_404_not_403(api):
    api.create_collection("docs")
    doc = api.upload("docs", [("a.txt", b"tenant secret text")]).json()["documents"][0]
    for path in (
        "/v1/collections/docs",
        "/v1/collections/docs/documents",
        f"/v1/collections/docs/documents/{doc['document_id']}",
        f"/v1/collections/docs/documents/{doc['document_id']}/pages/1",
        f"/v1/jobs/{doc['job_id']}",
    ):
        assert_problem(api.client.get(path, headers=api.h("other_admin")), 404)
    assert api.client.get("/v1/collections", headers=api.h("other_admin")).json() == {"collections": []}
    assert api.client.get("/v1/jobs", headers=api.h("other_admin")).json()["jobs"] == []
    assert_problem(api.client.delete("/v1/collections/docs", headers=api.h("other_admin")), 404)
    # ... and the same name can exist independently in the other tenant
    response = api.client.post("/v1/collections", json={"name": "docs", "anonymise": False},
                               headers=api.h("other_admin"))
    assert response.status_code == 201


def test_unknown_route_and_method_are_problems(api):
    assert_problem(api.client.get("/v1/nothing-here", headers=api.h("admin")), 404)
    body = assert_problem(api.client.put("/v1/collections", headers=api.h("admin")), 405)
    assert "PUT" in body["detail"]


@pytest.mark.parametrize(
    "payload",
    [
        {"name": ""},
        {"name": "../etc"},
        {"name": "a" * 200},
        {"name": "ok", "anonymise": "maybe"},
        {"name": "ok", "unknown_field": 1},
        {},
    ],
)
def test_validation_errors_are_422_with_errors_list(api, payload):
    body = assert_problem(api.client.post("/v1/collections", json=payload, headers=api.h("admin")), 422)
    assert body["errors"], body


def test_malformed_json_body_is_422(api):
    response = api.client.post("/v1/collections", content=b"{not json", headers={
        **api.h("admin"), "content-type": "application/json"})
    assert_problem(response, 422)


def test_unexpected_error_is_generic_500_without_internals(tmp_path, caplog):
    from fastapi.testclient import TestClient

    from tests.conftest import build_test_app

    app = build_test_app(tmp_path)

    @app.get("/boom")
    def boom():
        name = "-".join(["Jean", "Dupont"])  # built at run time: only a runtime leak can show it
        raise RuntimeError(f"secret internal detail {name}")

    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.get("/boom")
    body = assert_problem(response, 500)
    assert "secret" not in response.text and "RuntimeError" not in response.text
    assert body["type"].endswith("/internal-error")
    assert "Jean-Dupont" not in caplog.text
    assert "unhandled RuntimeError" in caplog.text


def test_anonymise_true_without_pseudonymiser_is_clear_501_or_works(api):
    response = api.client.post("/v1/collections", json={"name": "pii"}, headers=api.h("admin"))
    if api.container.anonymiser_available:
        assert response.status_code == 201
        assert response.json()["anonymise"] is True
    else:
        body = assert_problem(response, 501)
        assert "anonymise" in body["detail"]


def test_duplicate_collection_is_409(api):
    api.create_collection("docs")
    assert_problem(api.client.post("/v1/collections", json={"name": "docs", "anonymise": False},
                                   headers=api.h("admin")), 409)


def test_unknown_embedder_is_422(api):
    body = assert_problem(api.client.post("/v1/collections", json={"name": "e", "anonymise": False,
                                                                   "embedder": "nope"},
                                          headers=api.h("admin")), 422)
    assert "nope" in body["detail"]


def test_health_ready_metrics_need_no_key(api):
    assert api.client.get("/healthz").json()["status"] == "ok"
    ready = api.client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["checks"]["registry"] == "ok"
    metrics = api.client.get("/metrics")
    assert metrics.status_code == 200
    from prometheus_client.parser import text_string_to_metric_families

    names = {family.name for family in text_string_to_metric_families(metrics.text)}
    assert "docintel_http_requests" in names


def test_request_id_is_echoed(api):
    response = api.client.get("/healthz", headers={"X-Request-ID": "abc123"})
    assert response.headers["x-request-id"] == "abc123"
