"""Zero-downtime re-indexing: a new physical collection is built and swapped in while
questions keep being answered."""

from __future__ import annotations

import threading

import pytest

from tests.api.test_auth_and_problems import assert_problem
from tests.fakes import HashingEmbedder

TOPICS = ["water damage", "vehicle theft", "fire in the kitchen", "broken window", "storm on the roof",
          "flooded cellar", "stolen bicycle", "cracked windscreen", "burst pipe", "fallen tree"]


class SmallWindowEmbedder(HashingEmbedder):
    max_tokens = 64  # small chunks: a thousand of them from a modest corpus


class OtherEmbedder(SmallWindowEmbedder):
    name = "test-hashing-wide"
    version = "2"


@pytest.fixture
def big_api(tmp_path):
    from fastapi.testclient import TestClient

    from tests.conftest import Api, build_test_app

    app = build_test_app(tmp_path, embedder=SmallWindowEmbedder(), extra_embedders=[OtherEmbedder(dimension=96)])
    with TestClient(app) as client:
        api = Api(client, app.state.container)
        api.create_collection("claims")
        files = []
        for d in range(60):
            sentences = [f"Claim {d}-{i} concerns {TOPICS[(d + i) % len(TOPICS)]} and reference number R{d:03d}{i:02d}."
                         for i in range(60)]
            files.append((f"claim-{d}.txt", " ".join(sentences).encode()))
        for i in range(0, len(files), 10):
            response = api.upload("claims", files[i:i + 10])
            assert response.status_code == 201
        yield api


def _ask(api, question):
    return api.client.post("/v1/collections/claims/ask", json={"question": question}, headers=api.h("reader"))


def test_reindex_same_embedder_under_continuous_questions(big_api):
    api = big_api
    before = api.client.get("/v1/collections/claims", headers=api.h("admin")).json()
    assert before["chunks"] >= 1000 and before["chunks"] == before["index_points"]
    questions = [f"Which claim has reference number R{d:03d}{i:02d}?" for d, i in [(3, 7), (17, 42), (35, 11)]]
    baseline = [_ask(api, q).json() for q in questions]
    assert all(not b["abstained"] for b in baseline)

    failures, answers, stop = [], [], threading.Event()

    def client_loop():
        while not stop.is_set():
            for q, base in zip(questions, baseline):
                response = _ask(api, q)
                if response.status_code != 200:
                    failures.append(response.status_code)
                else:
                    answers.append((response.json()["answer"], base["answer"]))

    thread = threading.Thread(target=client_loop)
    thread.start()
    try:
        job = api.client.post("/v1/collections/claims/reindex", json={}, headers=api.h("admin"))
        assert job.status_code == 202
        assert api.container.runner.wait(job.json()["job_id"], timeout=300)
    finally:
        stop.set()
        thread.join(60)
    state = api.client.get(f"/v1/jobs/{job.json()['job_id']}", headers=api.h("admin")).json()
    assert state["status"] == "succeeded", state
    assert failures == []
    assert answers and all(a == b for a, b in answers)
    after = api.client.get("/v1/collections/claims", headers=api.h("admin")).json()
    assert after["chunks"] == after["index_points"] == before["chunks"]
    assert [_ask(api, q).json()["answer"] for q in questions] == [b["answer"] for b in baseline]
    assert len(api.container.index.physical_collections()) == 1, "the old physical collection is dropped"


def test_reindex_to_another_embedder_pins_the_collection(big_api):
    api = big_api
    job = api.client.post("/v1/collections/claims/reindex", json={"embedder": "test-hashing-wide"},
                          headers=api.h("admin")).json()
    api.container.runner.wait(job["job_id"], timeout=300)
    detail = api.client.get("/v1/collections/claims", headers=api.h("reader")).json()
    assert detail["embedder"] == "test-hashing-wide" and detail["embedder_version"] == "2"
    assert detail["chunks"] == detail["index_points"]
    body = _ask(api, "Which claim has reference number R01002?").json()
    assert body["embedder"] == {"name": "test-hashing-wide", "version": "2"}
    assert body["citations"], "the swapped index answers"
    for c in body["citations"]:
        assert api.container.registry.get_page(c["document_id"], c["page"]).text[c["start"]:c["end"]] == c["quote"]


def test_reindex_roles_and_errors(big_api):
    api = big_api
    assert_problem(api.client.post("/v1/collections/claims/reindex", json={}, headers=api.h("writer")), 403)
    assert_problem(api.client.post("/v1/collections/claims/reindex", json={"embedder": "nope"},
                                   headers=api.h("admin")), 422)
    assert_problem(api.client.post("/v1/collections/nope/reindex", json={}, headers=api.h("admin")), 404)
