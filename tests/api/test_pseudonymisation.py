"""Pseudonymised collections through the HTTP surface: what is stored, what is returned,
who may reverse it. The detector is a fake here (the real one is tested in e2e and unit
tests); what is under test is that the service never lets a detected value through."""

from __future__ import annotations

from tests.api.test_auth_and_problems import assert_problem

SEEDED = ["Jean Dupont", "jean.dupont@example.org", "Marie Curie"]
TEXT = ("Le dossier de Jean Dupont est suivi. Contact: jean.dupont@example.org.\f"
        "Marie Curie a signé. Jean Dupont aussi.")


def _upload_seeded(api):
    api.create_collection("pii", anonymise=True)
    response = api.upload("pii", [("claim.txt", TEXT.encode())])
    assert response.status_code == 201, response.text
    return response.json()["documents"][0]


def test_stored_pages_and_index_hold_tokens_only(api):
    doc = _upload_seeded(api)
    assert doc["pii"] == {"PERSON": 3, "EMAIL_ADDRESS": 1}
    page1 = api.client.get(f"/v1/collections/pii/documents/{doc['document_id']}/pages/1",
                           headers=api.h("reader")).json()["text"]
    assert "<PERSON_1>" in page1 and "<EMAIL_ADDRESS_1>" in page1
    page2 = api.client.get(f"/v1/collections/pii/documents/{doc['document_id']}/pages/2",
                           headers=api.h("reader")).json()["text"]
    assert page2.count("<PERSON_1>") == 1, "the same person gets the same token across pages"
    alias = api.container.documents.index_alias(api.container.registry.get_collection("acme", "pii"))
    payloads = [p.payload for p in api.container.index.scroll(alias)]
    assert payloads
    for value in SEEDED:
        assert value not in str(payloads)


def test_chunks_keep_offsets_into_the_original_page(api):
    doc = _upload_seeded(api)
    alias = api.container.documents.index_alias(api.container.registry.get_collection("acme", "pii"))
    scope = api.container.vault_scope(api.container.registry.get_collection("acme", "pii"))
    originals = TEXT.split("\f")
    points = list(api.container.index.scroll(alias, document_id=doc["document_id"]))
    assert points
    for point in points:
        p = point.payload
        stored = api.container.registry.get_page(doc["document_id"], p["page"]).text
        assert stored[p["start"]:p["end"]] == p["text"]
        # the original slice is the chunk with its tokens restored
        assert originals[p["page"] - 1][p["orig_start"]:p["orig_end"]] == scope.reveal(p["text"])


def test_anonymise_text_operators(api):
    for operator, expected in [("pseudonymise", "<PERSON_1>"), ("redact", "<PERSON>"), ("mask", "***********")]:
        body = api.client.post("/v1/anonymise", json={"text": "Bonjour Jean Dupont.", "operator": operator},
                               headers=api.h("reader")).json()
        assert body["text"] == f"Bonjour {expected}.", body
        assert body["entities"][0]["start"] == 8 and body["entities"][0]["end"] == 19
    hashed = api.client.post("/v1/anonymise", json={"text": "Jean Dupont", "operator": "hash"},
                             headers=api.h("reader")).json()["text"]
    assert "Jean" not in hashed and hashed != "Jean Dupont"
    assert_problem(api.client.post("/v1/anonymise", json={"text": "x", "operator": "shred"},
                                   headers=api.h("reader")), 422)
    assert_problem(api.client.post("/v1/anonymise", json={"text": "x", "entities": ["NOPE"]},
                                   headers=api.h("reader")), 422)


def test_anonymise_with_collection_uses_its_vault(api):
    _upload_seeded(api)
    body = api.client.post("/v1/anonymise", json={"text": "Marie Curie et Jean Dupont", "collection": "pii"},
                           headers=api.h("writer")).json()
    assert body["text"] == "<PERSON_2> et <PERSON_1>"
    assert_problem(api.client.post("/v1/anonymise", json={"text": "x", "collection": "pii"},
                                   headers=api.h("reader")), 403)
    assert_problem(api.client.post("/v1/anonymise", json={"text": "x", "collection": "pii", "operator": "redact"},
                                   headers=api.h("other_admin")), 404)


def test_deanonymise_is_admin_only_and_always_audited(api):
    _upload_seeded(api)
    request = {"collection": "pii", "text": "<PERSON_1> wrote to <EMAIL_ADDRESS_1>."}
    assert_problem(api.client.post("/v1/deanonymise", json=request, headers=api.h("writer")), 403)
    revealed = api.client.post("/v1/deanonymise", json=request, headers=api.h("admin"))
    assert revealed.json() == {"text": "Jean Dupont wrote to jean.dupont@example.org."}
    records = api.client.get("/v1/audit", params={"operation": "deanonymise"}, headers=api.h("admin")).json()
    assert [r["outcome"] for r in records["records"]] == ["ok", "forbidden"]
    assert "Jean" not in str(records)


def test_erasure_forgets_vault_entries_only_when_unused(api):
    first = _upload_seeded(api)
    second = api.upload("pii", [("other.txt", "Jean Dupont seul.".encode())]).json()["documents"][0]
    scope = api.container.vault_scope(api.container.registry.get_collection("acme", "pii"))
    assert scope.count_entries() == 3
    api.client.delete(f"/v1/collections/pii/documents/{first['document_id']}", headers=api.h("admin"))
    # Jean Dupont is still used by the second document; Marie Curie and the e-mail are gone
    assert scope.count_entries() == 1
    assert scope.reveal("<PERSON_1>") == "Jean Dupont"
    assert scope.load_original_pages(first["document_id"]) == {}
    assert scope.load_original_pages(second["document_id"]) == {1: "Jean Dupont seul."}


def test_registry_and_logs_never_hold_seeded_values(api, caplog):
    _upload_seeded(api)
    import sqlalchemy as sa

    with api.container.registry.engine.connect() as conn:
        for table in sa.inspect(conn).get_table_names():
            dump = str(conn.execute(sa.text(f'SELECT * FROM "{table}"')).all())
            for value in SEEDED:
                assert value not in dump, table
    for value in SEEDED:
        assert value not in caplog.text
    metrics = api.client.get("/metrics").text
    for value in SEEDED:
        assert value not in metrics


def test_ask_about_a_person_reads_their_token_and_no_one_else_answers_for_them(api):
    """The question's name becomes the vault's token, which the passages hold; a person
    no document names gets an abstention, not another person's sentence."""
    _upload_seeded(api)

    def ask(question):
        response = api.client.post("/v1/collections/pii/ask", json={"question": question},
                                   headers=api.h("reader"))
        assert response.status_code == 200, response.text
        return response.json()

    known = ask("Le dossier de Jean Dupont est-il suivi ?")
    assert not known["abstained"] and "<PERSON_1>" in known["answer"]
    # "dossier" and "suivi" cover the question well: only the name tells them apart
    assert ask("Le dossier de M. Lefort est-il suivi ?")["abstained"]
