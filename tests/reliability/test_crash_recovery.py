"""kill -9 the server while it ingests, during a delete, then restart: every document ends
indexed completely or failed with a reason, and the registry and the index agree exactly
(no orphan points, no missing chunks)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import KEYS, REPO

ADMIN = {"Authorization": f"Bearer {KEYS['admin']['key']}"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, data_dir: Path):
        self.data_dir = data_dir
        self.port = _free_port()
        self.proc: subprocess.Popen | None = None
        self.url = f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.reliability.crash_server", str(self.data_dir), str(self.port)],
            cwd=REPO, stdout=subprocess.DEVNULL, stderr=open(self.data_dir.parent / "server.log", "ab"),
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.2)
        raise RuntimeError("server did not start")

    def kill9(self) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()


def _doc_text(i: int) -> bytes:
    sentences = [f"Document {i} sentence {j} talks about claim number {i * 100 + j}." for j in range(60)]
    return " ".join(sentences).encode()


def _wait_settled(client: httpx.Client, timeout: float = 120) -> list[dict]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        docs = client.get("/v1/collections/docs/documents", params={"limit": 1000}).json()["documents"]
        if all(d["status"] in ("indexed", "failed") for d in docs):
            return docs
        time.sleep(0.5)
    raise AssertionError("documents did not settle after restart")


def _assert_registry_and_index_agree(data_dir: Path, docs: list[dict]) -> None:
    """Open the index the server left (the server is stopped: we own the folder now)."""
    from pipelines.indexing.qdrant_index import QdrantIndex, alias_name

    index = QdrantIndex.from_location(path=str(data_dir / "qdrant"))
    try:
        alias = alias_name("acme", "docs")
        indexed = {d["document_id"]: d["chunks"] for d in docs if d["status"] == "indexed"}
        present = index.document_ids(alias)
        assert present == set(indexed), f"orphans: {present - set(indexed)}, missing: {set(indexed) - present}"
        for document_id, chunks in indexed.items():
            assert index.count(alias, document_id=document_id) == chunks
            assert index.count(alias, document_id=document_id, only_ready=True) == chunks
    finally:
        index.close()


@pytest.mark.slow
def test_kill9_during_ingestion_then_restart(tmp_path):
    server = Server(tmp_path / "data")
    server.start()
    try:
        with httpx.Client(base_url=server.url, headers=ADMIN, timeout=30) as client:
            assert client.post("/v1/collections", json={"name": "docs", "anonymise": True}).status_code == 201
            files = [("file", (f"{i}.txt", _doc_text(i))) for i in range(12)]
            response = client.post("/v1/collections/docs/documents", files=files)
            assert response.status_code == 202
            # let some documents finish and one be mid-way
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                listing = client.get("/v1/collections/docs/documents")
                assert listing.status_code == 200, listing.text
                statuses = [d["status"] for d in listing.json()["documents"]]
                if statuses.count("indexed") >= 2:
                    break
                time.sleep(0.1)
        server.kill9()
        server.start()
        with httpx.Client(base_url=server.url, headers=ADMIN, timeout=30) as client:
            docs = _wait_settled(client)
            assert len(docs) == 12
            for d in docs:
                assert d["status"] == "indexed" or d.get("error", {}).get("detail"), d
            assert sum(d["status"] == "indexed" for d in docs) == 12, "resumable jobs resume from the spool"
            detail = client.get("/v1/collections/docs").json()
            assert detail["chunks"] == detail["index_points"]
        server.stop()
        _assert_registry_and_index_agree(tmp_path / "data", docs)
    finally:
        server.stop()


@pytest.mark.slow
def test_kill9_during_delete_then_restart(tmp_path):
    server = Server(tmp_path / "data")
    server.start()
    try:
        with httpx.Client(base_url=server.url, headers=ADMIN, timeout=60) as client:
            assert client.post("/v1/collections", json={"name": "docs", "anonymise": False}).status_code == 201
            files = [("file", (f"{i}.txt", _doc_text(i))) for i in range(3)]
            docs = client.post("/v1/collections/docs/documents", params={"wait": "true"}, files=files).json()
            target = docs["documents"][0]["document_id"]
        # fire the delete and kill right after it started
        deleter = subprocess.Popen([sys.executable, "-c", (
            "import httpx,sys; httpx.delete(sys.argv[1], headers={'Authorization': sys.argv[2]}, timeout=30)"),
            f"{server.url}/v1/collections/docs/documents/{target}", ADMIN["Authorization"]])
        time.sleep(0.3)
        server.kill9()
        deleter.wait(30)
        server.start()
        with httpx.Client(base_url=server.url, headers=ADMIN, timeout=30) as client:
            docs = _wait_settled(client)
            detail = client.get("/v1/collections/docs").json()
            assert detail["chunks"] == detail["index_points"]
        server.stop()
        _assert_registry_and_index_agree(tmp_path / "data", docs)
    finally:
        server.stop()
