"""Schemathesis against the app's own OpenAPI, every operation, with a valid admin key:
no 5xx and responses that conform to the schema (status code declared in the route's
``responses``, content type, headers, body). A reduced run here (examples per operation
bounded); the long run, with the same checks, is `bench/fuzz_long.py`."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from tests.reliability.fuzzing import CONFORMANCE_CHECKS, build_app, ensure_seed

_state: dict = {}


def _app():
    if "app" not in _state:
        # No per-key rate limit: a 429 would stop the operation under test from being
        # exercised (the limiter has its own tests in tests/api/test_limits.py).
        app, client, headers = build_app(Path(tempfile.mkdtemp(prefix="docintel-fuzz-")), rate_limit_per_minute=0)
        ensure_seed(client, headers)
        _state.update(app=app, client=client, headers=headers)
    return _state["app"]


schema = schemathesis.openapi.from_asgi("/openapi.json", _app())


@pytest.mark.slow
@schema.parametrize()
@settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_no_server_errors_and_conforming_responses(case):
    case.call_and_validate(headers=_state["headers"], checks=list(CONFORMANCE_CHECKS))


def teardown_module(_module):
    client = _state.pop("client", None)
    if client is not None:
        client.__exit__(None, None, None)
