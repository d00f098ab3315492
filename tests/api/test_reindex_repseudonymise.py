"""Re-indexing a pseudonymised collection after the recognisers changed: documents are
pseudonymised again from their encrypted original pages, and the new stored pages reach
the registry only with the alias swap.

The detector is the fake ``PatternDetector`` with a version derived from its name list;
changing the list between ingestion and re-index stands for a new recogniser pack. What
is under test is the service's wiring (real registry, vault, index and job runner).
"""

from __future__ import annotations

import threading

import pytest
from fastapi.testclient import TestClient

from tests.conftest import Api, build_test_app
from tests.fakes import PatternDetector

MISSED = "Paul Martin"  # not a known name at ingestion, detected after the "new pack"
KNOWN = "Jean Dupont"
PAGES = [
    (f"The claim of {KNOWN} is handled by {MISSED}. Contact: jean.dupont@example.org. "
     "The policy number is AB-1234 and the claim concerns water damage in the kitchen."),
    f"{MISSED} signed the report on 14 March 2025. {KNOWN} reported the leak on a Monday morning.",
]
QUESTION = "What is the policy number?"


class VersionedPatternDetector(PatternDetector):
    """``PatternDetector`` whose version follows its recognisers (the name list), like
    ``PiiDetector.version`` follows the pack. ``gate``, when set, holds detection of page
    text (not of questions) until it is opened: a re-index caught mid-build."""

    gate: threading.Event | None = None
    waiting = threading.Event()

    @property
    def version(self) -> str:
        return "pattern:" + "|".join(self.names)

    def detect(self, text, language=None, *, entities=None):
        if self.gate is not None and "signed" in text:
            self.waiting.set()
            assert self.gate.wait(30), "the test never opened the gate"
        return super().detect(text, language, entities=entities)


def _app(tmp_path, **settings):
    detector = VersionedPatternDetector(names=(KNOWN,))
    return build_test_app(tmp_path, pii_detector=detector, **settings), detector


@pytest.fixture
def pii_api(tmp_path):
    app, detector = _app(tmp_path)
    with TestClient(app) as client:
        api = Api(client, app.state.container)
        api.detector = detector
        yield api


def _ingest(api) -> str:
    api.create_collection("claims", anonymise=True)
    response = api.upload("claims", [("claim.txt", "\f".join(PAGES).encode())])
    assert response.status_code == 201, response.text
    return response.json()["documents"][0]["document_id"]


def _start_reindex(api) -> str:
    response = api.client.post("/v1/collections/claims/reindex", json={}, headers=api.h("admin"))
    assert response.status_code == 202, response.text
    return response.json()["job_id"]


def _reindex(api) -> dict:
    job_id = _start_reindex(api)
    assert api.container.runner.wait(job_id, timeout=60)
    return api.client.get(f"/v1/jobs/{job_id}", headers=api.h("admin")).json()


def _stored(api, doc_id) -> list[tuple]:
    """Every stored page as (text, blocks, offset segments): what must not move needlessly."""
    registry = api.container.registry
    return [(p.text, p.blocks, registry.get_page_offsets(doc_id, p.number).segments)
            for p in registry.get_pages(doc_id)]


def _payloads(api) -> list[dict]:
    c = api.container
    return [p.payload for p in c.index.scroll(c.documents.index_alias(c.registry.get_collection("acme", "claims")))]


def _assert_citations_are_stored_slices(api) -> dict:
    body = api.client.post("/v1/collections/claims/ask", json={"question": QUESTION}, headers=api.h("reader")).json()
    assert body["citations"], body
    for c in body["citations"]:
        assert api.container.registry.get_page(c["document_id"], c["page"]).text[c["start"]:c["end"]] == c["quote"]
    return body


def test_recogniser_change_repseudonymises_from_the_encrypted_originals(pii_api):
    api, c = pii_api, pii_api.container
    doc_id = _ingest(api)
    before = _stored(api, doc_id)
    assert MISSED in before[0][0], "precondition: the old recognisers miss the name"
    assert c.registry.document_by_id(doc_id).anonymiser_version == c.anonymiser.version
    known_token = c.vault_scope(c.registry.get_collection("acme", "claims")).lookup("PERSON", KNOWN)
    _assert_citations_are_stored_slices(api)

    api.detector.names = (MISSED, KNOWN)  # the new recogniser pack
    new_version = c.anonymiser.version
    assert c.registry.document_by_id(doc_id).anonymiser_version != new_version

    job = _reindex(api)

    assert job["status"] == "succeeded", job
    assert job["result"]["repseudonymised"] == 1 and job["result"]["repseudonymise_skipped"] == 0
    scope = c.vault_scope(c.registry.get_collection("acme", "claims"))
    missed_token = scope.lookup("PERSON", MISSED)
    assert missed_token and missed_token != known_token
    doc = c.registry.document_by_id(doc_id)
    assert doc.anonymiser_version == new_version
    assert doc.pii == {"PERSON": 4, "EMAIL_ADDRESS": 1}
    pages = c.registry.get_pages(doc_id)
    for page, original in zip(pages, PAGES, strict=True):
        assert MISSED not in page.text and KNOWN not in page.text
        assert missed_token in page.text and known_token in page.text, "known values keep their token"
        # the stored offset map takes every stored span back to the original page
        offsets = c.registry.get_page_offsets(doc_id, page.number)
        start = page.text.index(missed_token)
        end = start + len(missed_token)
        assert original[offsets.to_original(start):offsets.to_original(end, is_end=True)] == MISSED
    payloads = _payloads(api)
    assert payloads and MISSED not in str(payloads) and KNOWN not in str(payloads)
    assert any(missed_token in p["text"] for p in payloads)
    for p in payloads:
        stored = c.registry.get_page(doc_id, p["page"]).text
        assert stored[p["start"]:p["end"]] == p["text"]
        assert PAGES[p["page"] - 1][p["orig_start"]:p["orig_end"]] == scope.reveal(p["text"])
    body = _assert_citations_are_stored_slices(api)
    assert MISSED not in str(body)


@pytest.mark.parametrize(("anonymise", "store_originals", "change_recognisers", "repseudonymised", "skipped"), [
    (True, True, False, 0, 0),    # same version: stored pages reused as they are
    (True, False, True, 0, 1),    # outdated, but no originals kept: reused, and counted
    (False, True, True, None, None),  # plain collection: nothing to pseudonymise
])
def test_reindex_keeps_stored_pages_byte_identical_otherwise(tmp_path, anonymise, store_originals,
                                                             change_recognisers, repseudonymised, skipped):
    app, detector = _app(tmp_path, store_originals=store_originals)
    with TestClient(app) as client:
        api = Api(client, app.state.container)
        api.create_collection("claims", anonymise=anonymise)
        doc_id = api.upload("claims", [("claim.txt", "\f".join(PAGES).encode())]).json()["documents"][0]["document_id"]
        before, version_before = _stored(api, doc_id), api.container.registry.document_by_id(doc_id).anonymiser_version
        if change_recognisers:
            detector.names = (MISSED, KNOWN)

        job = _reindex(api)

        assert job["status"] == "succeeded", job
        assert job["result"].get("repseudonymised") == repseudonymised
        assert job["result"].get("repseudonymise_skipped") == skipped
        assert _stored(api, doc_id) == before
        assert api.container.registry.document_by_id(doc_id).anonymiser_version == version_before
        assert MISSED in str(_payloads(api)), "the new index is built from the stored pages as they are"
        _assert_citations_are_stored_slices(api)


def test_queries_during_the_job_cite_the_old_pages_until_the_swap(pii_api):
    api, c = pii_api, pii_api.container
    doc_id = _ingest(api)
    before = _stored(api, doc_id)
    api.detector.names = (MISSED, KNOWN)
    api.detector.gate = gate = threading.Event()
    api.detector.waiting.clear()
    try:
        job_id = _start_reindex(api)
        assert api.detector.waiting.wait(30), "the re-index never reached the pseudonymisation"
        # Mid-build: the new pseudonymisation exists only in the new physical collection.
        assert _stored(api, doc_id) == before
        _assert_citations_are_stored_slices(api)
    finally:
        gate.set()
    assert c.runner.wait(job_id, timeout=60)
    assert c.registry.get_job(job_id).status == "succeeded"
    assert _stored(api, doc_id) != before
    _assert_citations_are_stored_slices(api)


def test_a_failed_swap_leaves_the_old_pages_and_index_serving(pii_api, monkeypatch):
    api, c = pii_api, pii_api.container
    doc_id = _ingest(api)
    before = _stored(api, doc_id)
    collection = c.registry.get_collection("acme", "claims")
    version, physical = c.registry.document_by_id(doc_id).anonymiser_version, c.index.resolve_alias(
        c.documents.index_alias(collection))
    api.detector.names = (MISSED, KNOWN)

    def refuse(alias, target):
        raise RuntimeError("index unavailable at the swap")

    monkeypatch.setattr(c.index, "point_alias", refuse)
    job = _reindex(api)
    monkeypatch.undo()

    assert job["status"] == "failed"
    assert _stored(api, doc_id) == before
    assert c.registry.document_by_id(doc_id).anonymiser_version == version
    assert c.registry.get_collection("acme", "claims").generation == collection.generation
    assert c.index.resolve_alias(c.documents.index_alias(collection)) == physical
    assert c.index.physical_collections() == [physical], "the half-built collection is dropped"
    _assert_citations_are_stored_slices(api)
