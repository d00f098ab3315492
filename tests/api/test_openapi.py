"""The committed OpenAPI file is the app's; routes and operation ids match API.md."""

from __future__ import annotations

from services.openapi_export import SPEC_PATH, current_spec, render

API_MD_ROUTES = {
    ("get", "/healthz"), ("get", "/readyz"), ("get", "/metrics"),
    ("get", "/v1/models"), ("get", "/v1/jobs/{job_id}"), ("get", "/v1/jobs"), ("delete", "/v1/jobs/{job_id}"),
    ("post", "/v1/collections"), ("get", "/v1/collections"), ("get", "/v1/collections/{name}"),
    ("delete", "/v1/collections/{name}"),
    ("post", "/v1/collections/{name}/documents"), ("get", "/v1/collections/{name}/documents"),
    ("get", "/v1/collections/{name}/documents/{document_id}"),
    ("patch", "/v1/collections/{name}/documents/{document_id}"),
    ("get", "/v1/collections/{name}/documents/{document_id}/pages/{n}"),
    ("delete", "/v1/collections/{name}/documents/{document_id}"),
    ("get", "/v1/audit"),
}


def test_committed_openapi_matches_the_app():
    assert SPEC_PATH.exists(), "run `python -m services.openapi_export`"
    assert SPEC_PATH.read_text(encoding="utf-8") == render(current_spec()), (
        "api_specs/openapi.yaml drifted from the app: run `python -m services.openapi_export`"
    )


def test_api_md_routes_exist_with_stable_operation_ids():
    spec = current_spec()
    present = {(method, path) for path, ops in spec["paths"].items() for method in ops}
    assert API_MD_ROUTES <= present, API_MD_ROUTES - present
    ids = [op["operationId"] for ops in spec["paths"].values() for op in ops.values()]
    assert len(ids) == len(set(ids))
    assert all("__" not in i for i in ids), "operation ids must be explicit, not generated"


def test_protected_routes_declare_problem_responses():
    spec = current_spec()
    for path, ops in spec["paths"].items():
        if not path.startswith("/v1/"):
            continue
        for method, op in ops.items():
            assert "401" in op["responses"], (method, path)
            assert "application/problem+json" in op["responses"]["401"]["content"], (method, path)
