"""Audit replay: an ask recorded through the API is re-run over its recorded chunks with
its recorded generator, and the answer hash compared. Unchanged -> match; a deleted or
edited chunk, or another generator version -> named. The question is never stored: the
operator gives it again and its hash must match first."""

from __future__ import annotations

import json

import pytest

from pipelines.answer import ANSWERER_VERSION
from pipelines.replay import chunk_version
from services.replay import ReplayRefused, replay_ask

CLAIM = ("The policy number is AB-1234. The claim was filed on 14 March 2025 by the insured.\f"
         "The total amount claimed is 1,250.00 EUR. The vehicle is a blue Renault Clio.")
OTHER = "The salary band of the HR director is B7. Jean Dupont signed the contract."
QUESTION = "What is the policy number?"


@pytest.fixture
def asked(api):
    api.create_collection("docs", anonymise=True)
    claim = api.upload("docs", [("claim.txt", CLAIM.encode())]).json()["documents"][0]
    api.upload("docs", [("other.txt", OTHER.encode())])
    body = api.client.post("/v1/collections/docs/ask", json={"question": QUESTION}, headers=api.h("reader")).json()
    assert not body["abstained"] and "AB-1234" in body["answer"]
    return {"audit_id": body["audit_id"], "claim": claim["document_id"], "body": body}


def _replay(api, asked, question=QUESTION):
    return replay_ask(api.container, api.container.audit, asked["audit_id"], question)


def test_the_ask_record_carries_what_replay_needs_and_no_text(api, asked):
    details = api.container.audit.get(asked["audit_id"]).details
    assert len(details["chunk_ids"]) == len(details["chunk_versions"]) == len(details["chunk_document_ids"]) > 0
    alias = api.container.documents.index_alias(api.container.registry.get_collection("acme", "docs"))
    texts = {p.id: p.payload["text"] for p in api.container.index.scroll(alias)}
    assert details["chunk_versions"] == [chunk_version(texts[c]) for c in details["chunk_ids"]]
    assert details["generator"] == {"name": "extractive", "version": "4"}
    assert details["answerer"] == ANSWERER_VERSION
    assert "policy" not in json.dumps(details) and "AB-1234" not in json.dumps(details)


def test_unchanged_collection_replays_to_a_match(api, asked):
    report = _replay(api, asked)
    assert report.match and report.verdict == "match" and report.reasons == ()
    assert report.replayed_answer_hash == report.recorded_answer_hash


def _delete_document(api, asked):
    response = api.client.delete(f"/v1/collections/docs/documents/{asked['claim']}", headers=api.h("admin"))
    assert response.status_code == 204


def _edit_cited_chunk(api, asked):
    import dataclasses

    cited = api.container.audit.get(asked["audit_id"]).details["cited_chunk_ids"][0]
    index = api.container.index
    alias = api.container.documents.index_alias(api.container.registry.get_collection("acme", "docs"))
    (point,) = [p for p in index.scroll(alias) if p.id == cited]
    edited = dataclasses.replace(point, payload={**point.payload, "text": "The policy number is ZZ-0000. Nothing else."})
    index.upsert(index.resolve_alias(alias), [edited])  # same id: the chunk's text changes in place


def _bump_generator_version(api, asked):
    api.container.generators()["extractive"].version = "99"


def _bump_answerer_version(api, asked):
    api.container.answerer(api.container.registry.get_collection("acme", "docs").embedder).version = "99"


@pytest.mark.parametrize(
    ("change", "match", "reason"),
    [
        (_delete_document, False, "of document {claim} was deleted"),
        (_edit_cited_chunk, False, "of document {claim} changed (its text is not the recorded version)"),
        (_bump_generator_version, True, "generator version differs: recorded extractive 4, now 99"),
        (_bump_answerer_version, True, f"answerer version differs: recorded {ANSWERER_VERSION}, now 99"),
    ],
    ids=["document deleted", "chunk edited", "generator version", "answerer version"],
)
def test_changes_since_the_ask_are_named(api, asked, change, match, reason):
    change(api, asked)
    report = _replay(api, asked)
    assert report.match is match
    assert any(reason.format(claim=asked["claim"]) in r for r in report.reasons), report.reasons


def test_an_abstention_replays_too(api, asked):
    body = api.client.post("/v1/collections/docs/ask", json={"question": "Who painted the Mona Lisa?"},
                           headers=api.h("reader")).json()
    assert body["abstained"]
    report = replay_ask(api.container, api.container.audit, body["audit_id"], "Who painted the Mona Lisa?")
    assert report.match and report.reasons == ()


@pytest.mark.parametrize(
    ("audit_id", "question", "message"),
    [
        (None, "What is the policy number ?", "the question given is not the recorded one"),
        ("aud_missing", QUESTION, "no audit record aud_missing"),
        ("upload", QUESTION, "records a 'upload', not an 'ask'"),
    ],
)
def test_replay_refuses_what_it_cannot_check(api, asked, audit_id, question, message):
    if audit_id == "upload":
        audit_id = api.container.audit.list(tenant="acme", operation="upload", limit=1)[0].audit_id
    with pytest.raises(ReplayRefused, match=message.replace("(", r"\(").replace("?", r"\?")):
        replay_ask(api.container, api.container.audit, audit_id or asked["audit_id"], question)
