"""Ask and extract through the HTTP surface (fake embedder): response shape, citation
invariants, ACL inside retrieval, streaming, audit, error cases."""

from __future__ import annotations

import json

import pytest

from tests.api.test_auth_and_problems import assert_problem

CLAIM = ("The policy number is AB-1234. The claim was filed on 14 March 2025 by the insured.\f"
         "The total amount claimed is 1,250.00 EUR. The vehicle is a blue Renault Clio.")
HR_NOTE = "The salary band of the HR director is B7. The policy number is ZZ-9999."
SCHEMA = {"type": "object", "properties": {
    "policy_number": {"type": "string", "description": "the policy number"},
    "amount": {"type": "number", "description": "total amount claimed"},
    "claim_date": {"type": "string", "format": "date"}}}


@pytest.fixture
def corpus(api):
    api.create_collection("docs")
    claim = api.upload("docs", [("claim.txt", CLAIM.encode())]).json()["documents"][0]
    hr = api.upload("docs", [("hr.txt", HR_NOTE.encode())], metadata={"acl_groups": ["hr"]}).json()["documents"][0]
    return {"claim": claim, "hr": hr}


def _assert_grounded(api, body):
    assert body["answer"] == " ".join(s["text"] for s in body["sentences"])
    ids = {c["id"] for c in body["citations"]}
    for sentence in body["sentences"]:
        assert sentence["citation_ids"] and set(sentence["citation_ids"]) <= ids
    for c in body["citations"]:
        page = api.container.registry.get_page(c["document_id"], c["page"]).text
        assert page[c["start"]:c["end"]] == c["quote"]


def test_ask_answers_with_exact_citations_and_audit(api, corpus):
    response = api.client.post("/v1/collections/docs/ask", json={"question": "What is the policy number?"},
                               headers=api.h("reader"))
    assert response.status_code == 200
    body = response.json()
    assert not body["abstained"] and "AB-1234" in body["answer"]
    _assert_grounded(api, body)
    assert body["generator"]["name"] == "extractive" and body["embedder"]["name"] == "test-hashing"
    record = api.container.audit.get(body["audit_id"])
    assert record.operation == "ask" and record.details["citation_ids"]
    assert "policy" not in json.dumps(record.details), "the audit keeps hashes, never the question"


# Text as PDF pages give it: hard-wrapped at ~80 characters, a word hyphenated at a
# line end, a line going on with a model number.
WRAPPED_REPORT = (
    "Le cadre expérimental de ces travaux est décrit en détail dans cette section.\n"
    "Les tests ont été réalisés sur un poste de travail de bureau de la gamme Core 2 Duo\n"
    "E8400 à 3 GHz, avec trois gigaoctets de mémoire vive exploitables pour les\n"
    "calculs et les journaux de requêtes du moteur de référence, sans autre régla-\n"
    "ge particulier de la configuration initiale du système, ni des journaux.\n"
)


def test_answers_from_wrapped_page_text_are_whole_sentences_read_as_prose(api):
    api.create_collection("reports")
    api.upload("reports", [("rapport.txt", WRAPPED_REPORT.encode())])
    body = api.client.post("/v1/collections/reports/ask",
                           json={"question": "Sur quelle machine les tests ont-ils été réalisés ?"},
                           headers=api.h("reader")).json()
    assert body["sentences"][0]["text"] == (
        "Les tests ont été réalisés sur un poste de travail de bureau de la gamme Core 2 Duo E8400 à 3 GHz, "
        "avec trois gigaoctets de mémoire vive exploitables pour les calculs et les journaux de requêtes du "
        "moteur de référence, sans autre réglage particulier de la configuration initiale du système, ni des "
        "journaux.")
    cited = body["citations"][body["sentences"][0]["citation_ids"][0] - 1]
    assert cited["quote"].startswith("Les tests ont") and "Duo\nE8400" in cited["quote"]  # the page text, exact
    _assert_grounded(api, body)


def _report_with_a_table() -> bytes:
    """A DOCX report: a sentence, then a table whose header row leaves the label cell empty."""
    import io

    import docx

    document = docx.Document()
    document.add_paragraph("The group keeps its leverage under review every quarter.")
    table = document.add_table(rows=3, cols=3)
    for row, cells in zip(table.rows, [("", "2019", "2018"), ("Net debt", "295.2", "235.8"),
                                       ("Net debt to EBITDA", "0.9", "0.8")]):
        for cell, text in zip(row.cells, cells):
            cell.text = text
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def test_a_table_row_is_answered_under_its_column_header(tmp_path):
    """Through the real parser: an office table arrives as rows of cells, and the row
    alone does not say which value is which year, so the answer shows the header row
    first (both cited, both exact)."""
    from fastapi.testclient import TestClient

    from pipelines.parsing import DocumentParser
    from tests.conftest import Api, build_test_app

    app = build_test_app(tmp_path, parser=DocumentParser(ocr_max_pages=1))
    with TestClient(app) as client:
        api = Api(client, app.state.container)
        api.create_collection("reports")
        assert api.upload("reports", [("report.docx", _report_with_a_table())]).status_code == 201
        body = client.post("/v1/collections/reports/ask",
                           json={"question": "What was the net debt to EBITDA ratio in 2019?"},
                           headers=api.h("reader")).json()
        assert [s["text"] for s in body["sentences"]][:2] == ["2019 | 2018", "Net debt to EBITDA | 0.9 | 0.8"]
        _assert_grounded(api, body)


def test_ask_never_retrieves_what_the_key_may_not_read(api, corpus):
    for who, may_see in [("reader", False), ("hr_reader", True), ("admin", True)]:
        body = api.client.post("/v1/collections/docs/ask", json={"question": "What is the salary band of the HR director?"},
                               headers=api.h(who)).json()
        cited = {c["document_id"] for c in body["citations"]}
        assert (corpus["hr"]["document_id"] in cited) == may_see, (who, body)
        if not may_see:
            assert "B7" not in body["answer"] and "ZZ-9999" not in json.dumps(body)


def test_ask_abstains_when_nothing_supports(api, corpus):
    body = api.client.post("/v1/collections/docs/ask", json={"question": "Who won the 1998 football world cup?"},
                           headers=api.h("reader")).json()
    assert body["abstained"] is True and body["sentences"] == [] and body["citations"] == []


def test_ask_filters_by_document_ids(api, corpus):
    body = api.client.post("/v1/collections/docs/ask", json={
        "question": "What is the policy number?", "filters": {"document_ids": [corpus["hr"]["document_id"]]}},
        headers=api.h("admin")).json()
    assert {c["document_id"] for c in body["citations"]} <= {corpus["hr"]["document_id"]}


def test_ask_stream_sends_sentences_then_done(api, corpus):
    response = api.client.post("/v1/collections/docs/ask", json={"question": "What is the policy number?", "stream": True},
                               headers=api.h("reader"))
    assert response.headers["content-type"].startswith("text/event-stream")
    events = [block.split("\n") for block in response.text.strip().split("\n\n")]
    names = [lines[0].removeprefix("event: ") for lines in events]
    assert names[-1] == "done" and set(names[:-1]) <= {"sentence"}
    done = json.loads(events[-1][1].removeprefix("data: "))
    assert len(names) - 1 == len(done["sentences"])
    _assert_grounded(api, done)


@pytest.mark.parametrize("payload, status", [
    ({"question": ""}, 422),
    ({"question": "x", "top_k": 0}, 422),
    ({"question": "x", "generator": "gpt-imaginary"}, 422),
    ({"question": "x", "reveal_pii": True}, 403),
])
def test_ask_errors(api, corpus, payload, status):
    assert_problem(api.client.post("/v1/collections/docs/ask", json=payload, headers=api.h("reader")), status)


def test_ask_unknown_collection_is_404(api):
    assert_problem(api.client.post("/v1/collections/nope/ask", json={"question": "x"}, headers=api.h("reader")), 404)


def test_extract_by_document_cites_stored_text(api, corpus):
    response = api.client.post("/v1/extract", json={"collection": "docs", "document_id": corpus["claim"]["document_id"],
                                                    "schema": SCHEMA}, headers=api.h("reader"))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["data"] == {"policy_number": "AB-1234", "amount": 1250.0, "claim_date": "2025-03-14"}
    assert body["valid"] is True
    for pointer, field in body["fields"].items():
        if field["value"] is None:
            continue
        assert field["citations"], pointer
        for c in field["citations"]:
            page = api.container.registry.get_page(corpus["claim"]["document_id"], c["page"]).text
            assert page[c["start"]:c["end"]] == c["quote"]
    assert api.container.audit.get(body["audit_id"]).operation == "extract"


def test_extract_respects_acl_and_roles(api, corpus):
    request = {"collection": "docs", "document_id": corpus["hr"]["document_id"], "schema": SCHEMA}
    assert_problem(api.client.post("/v1/extract", json=request, headers=api.h("reader")), 404)
    assert api.client.post("/v1/extract", json=request, headers=api.h("hr_reader")).status_code == 200
    upload = {"schema": json.dumps(SCHEMA)}
    assert_problem(api.client.post("/v1/extract", files={"file": ("c.txt", CLAIM.encode())}, data=upload,
                                   headers=api.h("reader")), 403)


def test_extract_schema_may_be_sent_as_a_file_part(api):
    response = api.client.post("/v1/extract", files={"file": ("c.txt", CLAIM.encode()),
                                                     "schema": ("schema.json", json.dumps(SCHEMA).encode())},
                               headers=api.h("writer"))
    assert response.status_code == 200, response.text
    assert response.json()["data"]["policy_number"] == "AB-1234"


def test_extract_upload_sync_and_async(api):
    files = {"file": ("c.txt", CLAIM.encode())}
    sync = api.client.post("/v1/extract", files=files, data={"schema": json.dumps(SCHEMA)}, headers=api.h("writer"))
    assert sync.status_code == 200 and sync.json()["data"]["policy_number"] == "AB-1234"
    job = api.client.post("/v1/extract", params={"async": "true"}, files=files, data={"schema": json.dumps(SCHEMA)},
                          headers=api.h("writer"))
    assert job.status_code == 202
    api.container.runner.wait(job.json()["job_id"], timeout=60)
    done = api.client.get(f"/v1/jobs/{job.json()['job_id']}", headers=api.h("writer")).json()
    assert done["status"] == "succeeded" and done["result"]["data"] == sync.json()["data"]


@pytest.mark.parametrize("schema", [
    "not json",
    "[1, 2]",
    json.dumps({"type": "object", "properties": {"a": {"$ref": "http://example.org/s.json"}}}),
    json.dumps({"type": "object", "properties": {"a": {"$ref": "#/$defs/b"}}, "$defs": {"b": {"$ref": "#/$defs/b"}}}),
    json.dumps({"type": "object", "properties": {"a": {"enum": list(range(100_000))}}}),
    json.dumps({"type": "nonsense"}),
    "{" * 5000,
])
def test_hostile_schemas_are_422(api, schema):
    response = api.client.post("/v1/extract", files={"file": ("c.txt", CLAIM.encode())}, data={"schema": schema},
                               headers=api.h("writer"))
    assert_problem(response, 422)


def test_extract_wrong_content_type_is_415(api):
    assert_problem(api.client.post("/v1/extract", content=b"x", headers={**api.h("writer"), "content-type": "text/plain"}), 415)


@pytest.mark.parametrize("filename, data, status", [
    ("empty.pdf", b"", 422),
    ("blank.txt", b"  \n ", 422),
    ("broken.pdf", b"%PDF-1.7\n1 0 obj << /Type /Catalog >> garbage", 422),
    ("song.pdf", b"ID3\x03\x00\x00\x00" + bytes(300), 415),
    ("bomb.xml", b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;">]><r>&b;</r>', 422),
])
def test_malformed_documents_to_extract_are_4xx(tmp_path, filename, data, status):
    """Through the real sandboxed parser: a bad upload is a clear 4xx, never a 5xx."""
    from fastapi.testclient import TestClient

    from pipelines.parsing import SandboxedParser
    from tests.conftest import Api, build_test_app

    parser = SandboxedParser(timeout_s=60)
    try:
        app = build_test_app(tmp_path, parser=parser)
        with TestClient(app) as client:
            api = Api(client, app.state.container)
            response = client.post("/v1/extract", files={"file": (filename, data)},
                                   data={"schema": json.dumps(SCHEMA)}, headers=api.h("writer"))
            assert_problem(response, status)
    finally:
        parser.close()
