"""Backup -> wipe -> restore -> start again, with real files (PDFs written by PyMuPDF),
the real parser (in-process: the sandbox around it is covered elsewhere and costs a
worker start-up here), a real embedder (MiniLM), the real vault and on-disk
embedded Qdrant. After the restore: the same documents, chunks == index points, the
same answer, an intact audit chain, a vault that still decrypts, and the recorded ask
replays to a match through ``docintel audit replay``."""

from __future__ import annotations

import json
import shutil

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from services.cli import app as cli
from tests.conftest import KEYS

ADMIN = {"Authorization": f"Bearer {KEYS['admin']['key']}"}
EMBEDDER = "minilm-l6-v2"
QUESTION = "What is the deductible of policy AB-1234?"
PAGES = {
    "policy.pdf": [
        "Motor insurance policy AB-1234. The policy holder is Jean Dupont, living in Lyon.",
        "The deductible of policy AB-1234 is 450 EUR per claim. Glass breakage has no deductible.",
    ],
    "claim.pdf": [
        "Claim 77-B was filed on 14 March 2025 for a rear collision in Grenoble.",
        "The garage estimate for claim 77-B is 2,300 EUR. Marie Curie is the adjuster.",
    ],
}


def _pdf(pages: list[str]) -> bytes:
    import pymupdf

    doc = pymupdf.open()
    for text in pages:
        page = doc.new_page()
        page.insert_textbox(pymupdf.Rect(72, 72, 520, 400), text, fontsize=11)
    data = doc.tobytes()
    doc.close()
    return data


def _env(monkeypatch, data_dir):
    monkeypatch.setenv("DOCINTEL_DATA_DIR", str(data_dir))
    monkeypatch.setenv("DOCINTEL_DEFAULT_EMBEDDER", EMBEDDER)
    monkeypatch.setenv("DOCINTEL_EMBEDDERS", json.dumps([EMBEDDER]))
    monkeypatch.setenv("DOCINTEL_API_KEYS", json.dumps(list(KEYS.values())))
    monkeypatch.setenv("DOCINTEL_PRELOAD_MODELS", "false")


def _app(embedder, *, parser=None):
    from services.api.app import create_app
    from services.api.settings import Settings
    from tests.fakes import PatternDetector

    # Real embedder; the PII detector is the pattern fake: what is under test
    # is that the vault's ciphertexts survive the trip, not detection quality.
    overrides = {"embedders": {EMBEDDER: embedder}, "pii_detector": PatternDetector(), "extraction_ner": None}
    if parser is not None:
        overrides["parser"] = parser
    return create_app(Settings(), overrides=overrides)


def _state(client, container) -> dict:
    docs = client.get("/v1/collections/claims/documents", headers=ADMIN).json()["documents"]
    collection = container.registry.get_collection("acme", "claims")
    points = container.index.count(container.documents.index_alias(collection))
    answer = client.post("/v1/collections/claims/ask", json={"question": QUESTION}, headers=ADMIN).json()
    stored = container.registry.get_page(next(d["document_id"] for d in docs if d["filename"] == "policy.pdf"), 1)
    revealed = client.post("/v1/deanonymise", json={"collection": "claims", "text": stored.text}, headers=ADMIN)
    return {
        "documents": sorted((d["document_id"], d["filename"], d["status"], d["pages"], d["chunks"]) for d in docs),
        "chunks": sum(d["chunks"] for d in docs),
        "points": points,
        "answer": (answer["answer"], [(c["document_id"], c["page"], c["start"], c["end"]) for c in answer["citations"]]),
        "audit_id": answer["audit_id"],
        "stored": stored.text,
        "revealed": revealed.json()["text"],
    }


@pytest.mark.e2e
@pytest.mark.slow
def test_backup_wipe_restore_start_again(tmp_path, monkeypatch):
    from models.registry import build_embedder

    data_dir = tmp_path / "data"
    _env(monkeypatch, data_dir)
    from pipelines.parsing import DocumentParser

    embedder = build_embedder(EMBEDDER)
    with TestClient(_app(embedder, parser=DocumentParser())) as client:
        container = client.app.state.container
        assert client.post("/v1/collections", json={"name": "claims", "anonymise": True},
                           headers=ADMIN).status_code == 201
        for name, pages in PAGES.items():
            body = client.post("/v1/collections/claims/documents", params={"wait": "true"},
                               files={"file": (name, _pdf(pages))}, headers=ADMIN).json()
            assert body["documents"][0]["status"] == "indexed", body
        before = _state(client, container)
    assert "450 EUR" in before["answer"][0], before["answer"]
    assert before["chunks"] == before["points"] > 0
    assert "Jean Dupont" not in before["stored"] and "Jean Dupont" in before["revealed"]

    runner = CliRunner()
    result = runner.invoke(cli, ["backup", str(tmp_path / "backup"), "--include-keys"])
    assert result.exit_code == 0, result.stdout + result.stderr
    shutil.rmtree(data_dir)
    result = runner.invoke(cli, ["restore", str(tmp_path / "backup")])
    assert result.exit_code == 0, result.stdout + result.stderr

    from tests.fakes import TextParser

    with TestClient(_app(embedder, parser=TextParser())) as client:  # nothing to parse after a restore
        after = _state(client, client.app.state.container)
        assert client.app.state.container.audit.verify() == []
    for key in ("documents", "chunks", "points", "answer", "stored", "revealed"):
        assert after[key] == before[key], key

    result = runner.invoke(cli, ["audit", "verify"])
    assert result.exit_code == 0 and "intact" in result.stdout
    result = runner.invoke(cli, ["audit", "replay", before["audit_id"], "--question", QUESTION])
    assert result.exit_code == 0 and "match" in result.stdout, result.stdout + result.stderr
