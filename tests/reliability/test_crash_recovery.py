"""kill -9 the server while it ingests, during a delete, then restart: every document ends
indexed completely or failed with a reason, and the registry and the index agree exactly
(no orphan points, no missing chunks)."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import KEYS
from tests.reliability.crash_server import Server

ADMIN = {"Authorization": f"Bearer {KEYS['admin']['key']}"}


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
    from pipelines.indexing.qdrant_index import alias_name
    from services.api.container import build_index
    from services.api.settings import Settings

    index = build_index(Settings(data_dir=data_dir))
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


# ---- kill -9 during a re-index ---------------------------------------------------------------

OLD, NEW = "test-hashing", "test-hashing-b"  # 64 and 32 dimensions (crash_server)


def _ingest(client: httpx.Client, n: int) -> list[dict]:
    assert client.post("/v1/collections", json={"name": "docs", "anonymise": False}).status_code == 201
    files = [("file", (f"{i}.txt", _doc_text(i))) for i in range(n)]
    response = client.post("/v1/collections/docs/documents", params={"wait": "true"}, files=files)
    assert response.status_code == 201, response.text
    return response.json()["documents"]


def _ask_cites_known_documents(client: httpx.Client, known: set[str]) -> None:
    """A query is answered (from whichever index collection the alias names) with citations
    of documents the registry lists: never a 500 from a vector size that does not match."""
    response = client.post("/v1/collections/docs/ask", json={"question": "Which document talks about claim number 305?"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert not body["abstained"] and body["citations"]
    assert {c["document_id"] for c in body["citations"]} <= known


def _assert_one_index_collection(data_dir: Path, expected_dimension: int) -> None:
    """Exactly one physical collection is left, the alias names it, and its vectors have
    the dimension of the embedder the registry names (the server is stopped)."""
    from pipelines.indexing.qdrant_index import alias_name
    from services.api.container import build_index
    from services.api.settings import Settings

    index = build_index(Settings(data_dir=data_dir))
    try:
        target = index.resolve_alias(alias_name("acme", "docs"))
        assert index.physical_collections() == [target], "a half-built or superseded index collection is left"
        dimensions = {len(point.dense) for point in index.scroll(target)}
        assert dimensions == {expected_dimension}
    finally:
        index.close()


def _job(client: httpx.Client, job_id: str) -> dict:
    response = client.get(f"/v1/jobs/{job_id}")
    assert response.status_code == 200, response.text
    return response.json()


@pytest.mark.slow
def test_kill9_during_reindex_then_restart(tmp_path):
    """Killed mid-build: the old index keeps answering, the half-built one is dropped and
    the job says it was interrupted (starting it again is an ordinary re-index)."""
    data = tmp_path / "data"
    server = Server(data)
    server.start()
    try:
        with httpx.Client(base_url=server.url, headers=ADMIN, timeout=60) as client:
            documents = _ingest(client, 10)
            known = {d["document_id"] for d in documents}
            job = client.post("/v1/collections/docs/reindex", json={"embedder": NEW}).json()
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                state = _job(client, job["job_id"])
                if state["status"] == "running" and state["progress"]["done"] >= 2:
                    break
                assert state["status"] in ("queued", "running"), state
                time.sleep(0.02)
        server.kill9()
        server.start()
        with httpx.Client(base_url=server.url, headers=ADMIN, timeout=60) as client:
            state = _job(client, job["job_id"])
            assert state["progress"]["done"] < len(documents), "the kill came after the build"
            assert state["status"] == "failed" and state["error"]["type"].endswith("/interrupted"), state
            detail = client.get("/v1/collections/docs").json()
            assert (detail["embedder"], detail["documents"]) == (OLD, len(documents))
            assert detail["chunks"] == detail["index_points"] > 0
            docs = _wait_settled(client)
            assert all(d["status"] == "indexed" for d in docs)
            _ask_cites_known_documents(client, known)
        server.stop()
        _assert_registry_and_index_agree(data, docs)
        _assert_one_index_collection(data, expected_dimension=64)
    finally:
        server.stop()


@pytest.mark.slow
@pytest.mark.parametrize(
    "crash_after, window",
    [
        ("point_alias:2", "alias swapped, registry not yet updated"),  # call 1 is the collection's creation
        ("update_collection_model:1", "registry updated, old index collection not yet dropped"),
    ],
)
def test_kill9_inside_the_reindex_swap_rolls_forward(tmp_path, crash_after, window):
    """Killed between the writes of the swap (exact points, by fault injection): the new
    index collection was complete, so recovery finishes the swap. (Queries then work: the
    alias names a collection whose vectors have the registry's embedder's dimension.)"""
    data = tmp_path / "data"
    server = Server(data)
    server.start("--crash-after", crash_after)
    try:
        with httpx.Client(base_url=server.url, headers=ADMIN, timeout=60) as client:
            known = {d["document_id"] for d in _ingest(client, 4)}
            job = client.post("/v1/collections/docs/reindex", json={"embedder": NEW}).json()
        assert server.wait_exit(60) == -9, window
        server.start()
        with httpx.Client(base_url=server.url, headers=ADMIN, timeout=60) as client:
            state = _job(client, job["job_id"])
            assert state["status"] == "succeeded" and state["result"]["completed_at_restart"], state
            detail = client.get("/v1/collections/docs").json()
            assert detail["embedder"] == NEW and detail["chunks"] == detail["index_points"] > 0
            docs = _wait_settled(client)
            assert {d["document_id"] for d in docs} == known
        server.stop()
        _assert_registry_and_index_agree(data, docs)
        _assert_one_index_collection(data, expected_dimension=32)
    finally:
        server.stop()


@pytest.mark.slow
def test_ask_spanning_a_reindex_swap_answers_from_one_index(tmp_path):
    """Deterministic version of the race: the query embedding takes 4 s, the re-index of
    three documents ~1 s, so the ask reads the old model and searches after the swap."""
    import threading

    server = Server(tmp_path / "data")
    server.start("--query-delay", "4")
    try:
        with httpx.Client(base_url=server.url, headers=ADMIN, timeout=60) as client:
            known = {d["document_id"] for d in _ingest(client, 3)}
            failures: list[BaseException] = []

            def ask() -> None:
                try:
                    _ask_cites_known_documents(client, known)
                except BaseException as exc:  # noqa: BLE001 - reported by the main thread
                    failures.append(exc)

            asking = threading.Thread(target=ask)
            asking.start()
            time.sleep(0.5)  # the ask has read the collection and is embedding the question
            job = client.post("/v1/collections/docs/reindex", json={"embedder": NEW}).json()
            asking.join(60)
            assert _job(client, job["job_id"])["status"] == "succeeded"
            if failures:
                raise failures[0]
    finally:
        server.stop()
