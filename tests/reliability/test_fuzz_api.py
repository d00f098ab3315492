"""Schemathesis against the app's own OpenAPI, every operation, with a valid admin key:
no 5xx and responses that conform to the schema. A reduced run here (examples per
operation bounded); the long run is `bench/fuzz.py`."""

from __future__ import annotations


import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error

from tests.conftest import KEYS, build_test_app

_state: dict = {}


def _app():
    if "app" not in _state:
        import tempfile
        from pathlib import Path

        from fastapi.testclient import TestClient

        app = build_test_app(Path(tempfile.mkdtemp(prefix="docintel-fuzz-")))
        client = TestClient(app)
        client.__enter__()  # run the lifespan: the container and job workers
        admin = {"Authorization": f"Bearer {KEYS['admin']['key']}"}
        client.post("/v1/collections", json={"name": "docs", "anonymise": False}, headers=admin)
        client.post("/v1/collections/docs/documents", params={"wait": "true"},
                    files={"file": ("a.txt", b"The policy number is AB-1234. Claim filed on 14 March 2025.")},
                    headers=admin)
        _state.update(app=app, client=client)
    return _state["app"]


schema = schemathesis.openapi.from_asgi("/openapi.json", _app())


@pytest.mark.slow
@schema.parametrize()
@settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_no_server_errors_and_conforming_responses(case):
    headers = {"Authorization": f"Bearer {KEYS['admin']['key']}"}
    case.call_and_validate(headers=headers, checks=[not_a_server_error], excluded_checks=[])


def teardown_module(_module):
    client = _state.pop("client", None)
    if client is not None:
        client.__exit__(None, None, None)

