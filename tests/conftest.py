"""Shared fixtures. Every test runs with the network blocked except loopback: nothing in
docintel may reach the internet at run time."""

from __future__ import annotations

import ipaddress
import json
import os
import socket
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

# The llama.cpp server fixture (LLM test extra), one server for the whole session.
pytest_plugins = ["tests.conftest_llm"]

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS", "")
os.environ.setdefault("UNSTRUCTURED_DISABLE_NOTICE", "1")


def eval_dir() -> Path:
    """``../shared/eval/dev`` beside the repository (override: DOCINTEL_EVAL_DIR)."""
    return Path(os.environ.get("DOCINTEL_EVAL_DIR", REPO.parent / "shared" / "eval" / "dev"))


@pytest.fixture(scope="session")
def dev_data() -> Path:
    path = eval_dir()
    if not path.is_dir():
        pytest.skip("dev evaluation data (../shared/eval/dev) is not present")
    return path


_real_connect = socket.socket.connect


def _guarded_connect(self, address):
    if self.family in (socket.AF_INET, socket.AF_INET6):
        host = address[0]
        try:
            loopback = ipaddress.ip_address(host).is_loopback
        except ValueError:
            loopback = host == "localhost"
        if not loopback:
            raise OSError(f"network access blocked in tests: {host}")
    return _real_connect(self, address)


@pytest.fixture(autouse=True)
def _block_network(monkeypatch):
    monkeypatch.setattr(socket.socket, "connect", _guarded_connect)


# ---- an API on a temporary data dir, fast fakes for the embedder ----------------------

KEYS = {
    "admin": {"key": "k-acme-admin-000000000000", "tenant": "acme", "role": "admin", "groups": ["*"]},
    "writer": {"key": "k-acme-writer-00000000000", "tenant": "acme", "role": "writer", "groups": []},
    "reader": {"key": "k-acme-reader-00000000000", "tenant": "acme", "role": "reader", "groups": []},
    "hr_reader": {"key": "k-acme-hr-reader-00000000", "tenant": "acme", "role": "reader", "groups": ["hr"]},
    "hr_writer": {"key": "k-acme-hr-writer-00000000", "tenant": "acme", "role": "writer", "groups": ["hr"]},
    "other_admin": {"key": "k-other-admin-0000000000", "tenant": "other", "role": "admin", "groups": ["*"]},
}


@dataclass
class Api:
    client: object
    container: object

    def h(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {KEYS[who]['key']}"}

    def create_collection(self, name: str = "docs", who: str = "admin", **body) -> dict:
        body.setdefault("anonymise", False)
        response = self.client.post("/v1/collections", json={"name": name, **body}, headers=self.h(who))
        assert response.status_code == 201, response.text
        return response.json()

    def upload(self, collection: str, files: list[tuple[str, bytes]], who: str = "admin", wait: bool = True,
               metadata: dict | None = None):
        data = {"metadata": json.dumps(metadata)} if metadata is not None else None
        return self.client.post(
            f"/v1/collections/{collection}/documents", params={"wait": str(wait).lower()},
            files=[("file", (name, content)) for name, content in files], data=data, headers=self.h(who),
        )


def build_test_app(tmp_path: Path, *, parser=None, embedder=None, pii_detector=None, extra_embedders=(),
                   **settings_overrides):
    from services.api.app import create_app
    from services.api.settings import Settings
    from tests.fakes import HashingEmbedder, PatternDetector, TextParser

    embedder = embedder or HashingEmbedder()
    # No rate limit unless a test sets one (tests/api/test_limits.py): a module-scoped app
    # takes hundreds of requests a key, and on a fast machine they come in faster than
    # the default 600 a minute, which would fail tests about something else with a 429.
    settings_overrides.setdefault("rate_limit_per_minute", 0)
    settings = Settings(
        data_dir=tmp_path / "data",
        api_keys=json.dumps(list(KEYS.values())),
        qdrant_path=":memory:",
        default_embedder=embedder.name,
        embedders=[embedder.name, *(e.name for e in extra_embedders)],
        preload_models=False,
        log_json=True,
        **settings_overrides,
    )
    overrides = {"embedders": {e.name: e for e in (embedder, *extra_embedders)}}
    overrides["parser"] = parser or TextParser()
    overrides["pii_detector"] = pii_detector or PatternDetector()
    overrides["extraction_ner"] = None  # spaCy NER is covered by the extraction e2e tests
    return create_app(settings, overrides=overrides)


@pytest.fixture
def api(tmp_path):
    from fastapi.testclient import TestClient

    app = build_test_app(tmp_path)
    with TestClient(app) as client:
        yield Api(client, app.state.container)
