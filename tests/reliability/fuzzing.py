"""What the schemathesis runs share: the checks, the app under test and its seed data.

Used by the reduced run in tests/reliability/test_fuzz_api.py and by the long run
bench/fuzz_long.py, so that both assert the same thing against the same app.
"""

from __future__ import annotations

from pathlib import Path

from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

# Issue 8: "no 5xx, responses conform to the schema". Passing an explicit list to
# schemathesis REPLACES its default checks, so conformance must be listed here.
SERVER_CHECKS = (not_a_server_error,)
CONFORMANCE_CHECKS = SERVER_CHECKS + (
    status_code_conformance,  # every status the API answers is declared in the route's responses
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
)

SEED_TEXT = b"The policy number is AB-1234. Claim filed on 14 March 2025."


def build_app(data_dir: Path, **settings_overrides):
    """The app (fake embedder and text parser) with its lifespan entered; returns
    ``(app, client, admin_headers)``. The caller exits ``client`` when done."""
    from fastapi.testclient import TestClient

    from tests.conftest import KEYS, build_test_app

    app = build_test_app(data_dir, **settings_overrides)
    client = TestClient(app)
    client.__enter__()  # runs the lifespan: the container and the job workers
    admin = {"Authorization": f"Bearer {KEYS['admin']['key']}"}
    return app, client, admin


def ensure_seed(client, headers: dict) -> dict:
    """The collection, document and job that cases may address (generated names alone
    would almost always answer 404); idempotent, so it also re-creates them after a fuzzed
    DELETE. The document id derives from the bytes, so it is the same every time."""
    client.post("/v1/collections", json={"name": "docs", "anonymise": False}, headers=headers)
    response = client.post("/v1/collections/docs/documents", params={"wait": "true"}, headers=headers,
                           files={"file": ("a.txt", SEED_TEXT)})
    document = response.json()["documents"][0]
    # The first answer loads its components (seconds): not inside a fuzzed call's timeout.
    client.post("/v1/collections/docs/ask", json={"question": "policy number?"}, headers=headers)
    return {"name": "docs", "document_id": document["document_id"], "n": 1,
            "job_id": document.get("job_id") or "job_none"}
