"""Collections, documents, pages and jobs through the HTTP surface (fake embedder and a
text parser: the behaviour under test is the service's, not the models')."""

from __future__ import annotations

import hashlib

import pytest

from tests.api.test_auth_and_problems import assert_problem


def _points_of(api, collection: str, document_id: str) -> list:
    alias = api.container.documents.index_alias(api.container.registry.get_collection("acme", collection))
    return list(api.container.index.scroll(alias, document_id=document_id))


def test_upload_wait_returns_indexed_document_with_pages_and_chunks(api):
    api.create_collection("docs")
    text = "First page. It has two sentences.\fSecond page, with more words here."
    response = api.upload("docs", [("report.txt", text.encode())])
    assert response.status_code == 201
    (doc,) = response.json()["documents"]
    assert doc["status"] == "indexed"
    assert doc["pages"] == 2 and doc["chunks"] >= 2
    assert doc["sha256"] == hashlib.sha256(text.encode()).hexdigest()
    assert doc["filename"] == "report.txt"
    page = api.client.get(f"/v1/collections/docs/documents/{doc['document_id']}/pages/2",
                          headers=api.h("reader")).json()
    assert page == {"page": 2, "text": "Second page, with more words here.", "blocks": []}
    # every stored point quotes its page exactly
    for point in _points_of(api, "docs", doc["document_id"]):
        p = point.payload
        stored = api.container.registry.get_page(doc["document_id"], p["page"]).text
        assert stored[p["start"]:p["end"]] == p["text"]
        assert p["ready"] is True


def test_upload_without_wait_is_202_with_job_that_succeeds(api):
    api.create_collection("docs")
    response = api.upload("docs", [("a.txt", b"Some content to index.")], wait=False)
    assert response.status_code == 202
    (item,) = response.json()["documents"]
    assert item["status"] == "queued" and item["job_id"]
    api.container.runner.wait(item["job_id"], timeout=30)
    job = api.client.get(f"/v1/jobs/{item['job_id']}", headers=api.h("reader")).json()
    assert job["status"] == "succeeded" and job["kind"] == "ingest"
    assert job["progress"]["done"] == job["progress"]["total"]


def test_same_bytes_again_is_a_duplicate_and_changes_nothing(api):
    api.create_collection("docs")
    first = api.upload("docs", [("a.txt", b"Identical bytes.")], metadata={"tags": {"v": "1"}}).json()["documents"][0]
    before = api.client.get("/v1/collections/docs", headers=api.h("admin")).json()
    second = api.upload("docs", [("renamed.txt", b"Identical bytes.")], metadata={"tags": {"v": "2"}})
    assert second.status_code == 201
    dup = second.json()["documents"][0]
    assert dup["document_id"] == first["document_id"] and dup["duplicate"] is True
    assert dup["filename"] == "a.txt" and dup["tags"] == {"v": "1"}
    after = api.client.get("/v1/collections/docs", headers=api.h("admin")).json()
    assert after == before
    assert after["chunks"] == after["index_points"]


def test_same_bytes_in_another_collection_is_another_document(api):
    api.create_collection("a")
    api.create_collection("b")
    one = api.upload("a", [("x.txt", b"shared bytes")]).json()["documents"][0]
    two = api.upload("b", [("x.txt", b"shared bytes")]).json()["documents"][0]
    assert one["document_id"] != two["document_id"]


def test_multi_file_upload_keeps_order_and_reports_each(api):
    api.create_collection("docs")
    response = api.upload("docs", [("1.txt", b"one"), ("empty.txt", b""), ("3.txt", b"three")])
    assert response.status_code == 201
    items = response.json()["documents"]
    assert [i["filename"] for i in items] == ["1.txt", "empty.txt", "3.txt"]
    assert [i["status"] for i in items] == ["indexed", "failed", "indexed"]
    assert items[1]["error"]["status"] == 422 and items[1]["error"]["type"].endswith("/empty-document")


def test_when_every_file_fails_the_answer_is_the_problem(api):
    api.create_collection("docs")
    response = api.upload("docs", [("empty.txt", b"   ")])
    body = assert_problem(response, 422)
    assert body["documents"][0]["status"] == "failed"


def test_upload_over_size_limit_is_413(tmp_path):
    from fastapi.testclient import TestClient

    from tests.conftest import Api, build_test_app

    app = build_test_app(tmp_path, max_upload_mb=1)
    with TestClient(app) as client:
        api = Api(client, app.state.container)
        api.create_collection("docs")
        body = assert_problem(api.upload("docs", [("big.txt", b"a" * (1024 * 1024 + 1))]), 413)
        assert "1 MB" in body["detail"]


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("../../etc/passwd", "passwd"),
        ("..\\..\\windows\\system.ini", "system.ini"),
        ("a\x00b.txt", "ab.txt"),
        ("x" * 400 + ".txt", "x" * 255),
        ("...", "upload"),
    ],
)
def test_filenames_are_labels_never_paths(raw, expected):
    from services.api.routers.documents import safe_filename

    assert safe_filename(raw) == expected


@pytest.mark.parametrize("metadata", ['{"acl_groups": "hr"}', "not json", '{"unknown": 1}', "[1,2]"])
def test_bad_metadata_is_422(api, metadata):
    api.create_collection("docs")
    response = api.client.post("/v1/collections/docs/documents", files=[("file", ("a.txt", b"x y z"))],
                               data={"metadata": metadata}, headers=api.h("admin"))
    assert_problem(response, 422)


def test_delete_document_erases_points_pages_and_counts_agree(api):
    api.create_collection("docs")
    keep = api.upload("docs", [("keep.txt", b"This document stays.")]).json()["documents"][0]
    gone = api.upload("docs", [("gone.txt", b"This document goes away. Its text too.")]).json()["documents"][0]
    assert _points_of(api, "docs", gone["document_id"])
    response = api.client.delete(f"/v1/collections/docs/documents/{gone['document_id']}", headers=api.h("writer"))
    assert response.status_code == 204
    assert _points_of(api, "docs", gone["document_id"]) == []
    assert _points_of(api, "docs", keep["document_id"])
    assert_problem(api.client.get(f"/v1/collections/docs/documents/{gone['document_id']}/pages/1",
                                  headers=api.h("admin")), 404)
    detail = api.client.get("/v1/collections/docs", headers=api.h("admin")).json()
    assert detail["documents"] == 1 and detail["chunks"] == detail["index_points"] > 0


def test_delete_collection_removes_everything(api):
    api.create_collection("docs")
    api.upload("docs", [("a.txt", b"Some text here.")])
    alias = api.container.documents.index_alias(api.container.registry.get_collection("acme", "docs"))
    assert api.client.delete("/v1/collections/docs", headers=api.h("admin")).status_code == 204
    assert api.container.index.resolve_alias(alias) is None
    assert_problem(api.client.get("/v1/collections/docs", headers=api.h("admin")), 404)
    assert api.client.get("/v1/collections", headers=api.h("admin")).json() == {"collections": []}


def test_list_documents_paginates_with_cursor(api):
    api.create_collection("docs")
    for i in range(7):
        api.upload("docs", [(f"{i}.txt", f"document number {i}".encode())])
    seen, cursor = [], None
    while True:
        params = {"limit": 3, **({"cursor": cursor} if cursor else {})}
        body = api.client.get("/v1/collections/docs/documents", params=params, headers=api.h("reader")).json()
        assert len(body["documents"]) <= 3
        seen += [d["filename"] for d in body["documents"]]
        cursor = body["next_cursor"]
        if not cursor:
            break
    assert sorted(seen) == [f"{i}.txt" for i in range(7)]
    assert_problem(api.client.get("/v1/collections/docs/documents", params={"cursor": "garbage"},
                                  headers=api.h("reader")), 422)
    assert_problem(api.client.get("/v1/collections/docs/documents", params={"limit": 1001},
                                  headers=api.h("reader")), 422)


def test_acl_groups_hide_documents_as_404(api):
    api.create_collection("docs")
    secret = api.upload("docs", [("hr.txt", b"Salary review notes.")], metadata={"acl_groups": ["hr"]})
    secret = secret.json()["documents"][0]
    public = api.upload("docs", [("pub.txt", b"Public notes.")]).json()["documents"][0]
    listed = lambda who: {d["document_id"] for d in api.client.get(  # noqa: E731
        "/v1/collections/docs/documents", headers=api.h(who)).json()["documents"]}
    assert listed("reader") == {public["document_id"]}
    assert listed("hr_reader") == {public["document_id"], secret["document_id"]}
    assert listed("admin") == {public["document_id"], secret["document_id"]}
    for path in (f"/v1/collections/docs/documents/{secret['document_id']}",
                 f"/v1/collections/docs/documents/{secret['document_id']}/pages/1"):
        assert_problem(api.client.get(path, headers=api.h("reader")), 404)
        assert api.client.get(path, headers=api.h("hr_reader")).status_code == 200
    assert_problem(api.client.get(f"/v1/jobs/{secret['job_id']}", headers=api.h("reader")), 404)


def test_patch_changes_acl_in_registry_and_index_together(api):
    api.create_collection("docs")
    doc = api.upload("docs", [("a.txt", b"Once public, then restricted.")]).json()["documents"][0]
    path = f"/v1/collections/docs/documents/{doc['document_id']}"
    response = api.client.patch(path, json={"acl_groups": ["hr"], "tags": {"kind": "memo"}}, headers=api.h("writer"))
    assert response.status_code == 200 and response.json()["acl_groups"] == ["hr"]
    assert all(p.payload["acl_groups"] == ["hr"] and p.payload["tags"] == {"kind": "memo"}
               for p in _points_of(api, "docs", doc["document_id"]))
    assert_problem(api.client.get(path, headers=api.h("reader")), 404)
    # the writer without the group can no longer see (nor patch) it
    assert_problem(api.client.patch(path, json={"acl_groups": []}, headers=api.h("writer")), 404)
    assert_problem(api.client.patch(path, json={"acl_groups": "x"}, headers=api.h("hr_writer")), 422)


def test_page_out_of_range_is_404(api):
    api.create_collection("docs")
    doc = api.upload("docs", [("a.txt", b"one page")]).json()["documents"][0]
    assert_problem(api.client.get(f"/v1/collections/docs/documents/{doc['document_id']}/pages/2",
                                  headers=api.h("admin")), 404)
    assert_problem(api.client.get(f"/v1/collections/docs/documents/{doc['document_id']}/pages/abc",
                                  headers=api.h("admin")), 422)


def test_jobs_list_filter_and_cancel_rules(api):
    api.create_collection("docs")
    item = api.upload("docs", [("a.txt", b"text of a job")]).json()["documents"][0]
    jobs = api.client.get("/v1/jobs", params={"status": "succeeded", "kind": "ingest"}, headers=api.h("reader"))
    assert item["job_id"] in {j["job_id"] for j in jobs.json()["jobs"]}
    assert_problem(api.client.delete(f"/v1/jobs/{item['job_id']}", headers=api.h("reader")), 403)
    assert_problem(api.client.delete(f"/v1/jobs/{item['job_id']}", headers=api.h("writer")), 409)
    assert_problem(api.client.get("/v1/jobs/job_does_not_exist", headers=api.h("reader")), 404)


def test_audit_records_uploads_and_deletions_without_text(api):
    api.create_collection("docs")
    doc = api.upload("docs", [("a.txt", b"Confidential words inside.")]).json()["documents"][0]
    api.client.delete(f"/v1/collections/docs/documents/{doc['document_id']}", headers=api.h("admin"))
    records = api.client.get("/v1/audit", headers=api.h("admin")).json()["records"]
    assert [r["operation"] for r in records][:2] == ["delete_document", "upload"]
    assert all(doc["document_id"] in r["details"]["document_ids"] for r in records[:2])
    assert "Confidential" not in str(records)
    assert api.container.audit.verify() == []


def test_models_lists_embedders_with_versions(api):
    body = api.client.get("/v1/models", headers=api.h("reader")).json()
    assert body["embedders"][0]["name"] == "test-hashing"
    assert {"name", "version", "dimension"} <= set(body["embedders"][0])
    assert set(body) >= {"embedders", "generators", "rerankers", "pii"}


@pytest.mark.parametrize("key", ["a.b", "with space", "", "x" * 65])
def test_tag_keys_that_the_index_would_misread_are_422(api, key):
    api.create_collection("docs")
    response = api.upload("docs", [("a.txt", b"tagged text")], metadata={"tags": {key: "v"}})
    assert_problem(response, 422)
