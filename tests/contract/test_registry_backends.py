"""The registry behaves the same on SQLite and on a real PostgreSQL server (started by
the test on loopback from Debian's binaries; skipped when they are not installed)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from pipelines.errors import Conflict, NotFound
from pipelines.registry import Registry, document_id_for
from pipelines.types import Block, OffsetMap, Page


@pytest.fixture(params=["sqlite", "postgresql"])
def registry(request, tmp_path):
    if request.param == "sqlite":
        reg = Registry.from_url(f"sqlite:///{tmp_path / 'registry.db'}")
    else:
        import sqlalchemy as sa

        url = request.getfixturevalue("postgres_url")
        engine = sa.create_engine(url)
        from pipelines.audit import audit_metadata
        from pipelines.registry import metadata

        metadata.drop_all(engine)
        audit_metadata.drop_all(engine)
        with engine.begin() as conn:  # the schema comes back from the migrations
            conn.execute(sa.text("DROP TABLE IF EXISTS alembic_version"))
        engine.dispose()
        reg = Registry.from_url(url)
    yield reg
    reg.engine.dispose()


def test_collections_are_per_tenant(registry):
    registry.create_collection("acme", "docs", anonymise=True, embedder="e", embedder_version="1")
    registry.create_collection("other", "docs", anonymise=False, embedder="e", embedder_version="1")
    with pytest.raises(Conflict):
        registry.create_collection("acme", "docs", anonymise=True, embedder="e", embedder_version="1")
    assert [c.name for c in registry.list_collections("acme")] == ["docs"]
    assert registry.get_collection("other", "docs").anonymise is False
    with pytest.raises(NotFound):
        registry.get_collection("nobody", "docs")


def test_documents_pages_offsets_and_pagination(registry):
    registry.create_collection("acme", "docs", anonymise=False, embedder="e", embedder_version="1")
    ids = []
    for i in range(5):
        doc_id = document_id_for("acme", "docs", f"{i:064x}")
        row, created = registry.insert_document(
            document_id=doc_id, tenant="acme", collection="docs", filename=f"{i}.txt", sha256=f"{i:064x}",
            size=10, acl_groups=["hr"] if i == 2 else [], tags={"n": str(i)}, job_id=None,
        )
        assert created and row.created_at.tzinfo is not None
        ids.append(doc_id)
    _, created = registry.insert_document(document_id=ids[0], tenant="acme", collection="docs", filename="again",
                                          sha256="0" * 64, size=1, acl_groups=[], tags={}, job_id=None)
    assert not created
    pages = [Page(1, "Bonjour <PERSON_1>.", (Block(0, 18, (1.0, 2.0, 3.0, 4.0)),)), Page(2, "Deux")]
    registry.save_pages_and_mark_indexed(ids[0], pages, offsets=[OffsetMap(((8, 18, 8, 19),)), OffsetMap()],
                                         chunks=3, media_type="text/plain", pii={"PERSON": 1}, ocr_pages=[])
    assert registry.get_page(ids[0], 1) == pages[0]
    assert registry.get_page_offsets(ids[0], 1).to_original(18, is_end=True) == 19
    assert registry.get_document("acme", "docs", ids[0]).status == "indexed"
    assert registry.collection_counts("acme", "docs") == (5, 3)

    seen, cursor = [], None
    while True:
        page = registry.list_documents("acme", "docs", limit=2, cursor=cursor, groups=[])
        seen += [d.id for d in page.items]
        cursor = page.next_cursor
        if not cursor:
            break
    assert sorted(seen) == sorted(set(ids) - {ids[2]}), "ACL-filtered listing"
    registry.delete_document(ids[0])
    with pytest.raises(NotFound):
        registry.get_page(ids[0], 1)


def test_jobs_and_keys(registry):
    job = registry.create_job(tenant="acme", kind="ingest", total=3)
    registry.update_job(job.id, status="running", progress_done=1)
    assert registry.request_cancel(job.id) and registry.is_cancel_requested(job.id)
    registry.update_job(job.id, status="cancelled")
    assert not registry.request_cancel(job.id)
    assert registry.list_jobs("acme").items[0].status == "cancelled"
    assert registry.list_jobs("other").items == []
    row = registry.upsert_key("secret-key", tenant="acme", role="reader", groups=["hr"], source="env")
    from pipelines.registry import hash_key

    assert registry.key_by_hash(hash_key("secret-key")).groups == ["hr"]
    assert registry.revoke_key(row.id) and registry.key_by_hash(hash_key("secret-key")).revoked_at <= datetime.now(UTC)


@pytest.mark.parametrize(("hidden", "limit", "max_scanned", "expected_pages"), [
    # hidden: indexes (0 = newest) of the 9 jobs the caller may not see
    (set(), 4, None, [[0, 1, 2, 3], [4, 5, 6, 7], [8]]),
    ({0, 1, 2, 3, 4}, 2, None, [[5, 6], [7, 8]]),           # hidden jobs do not shorten a page
    ({1, 3, 5, 7}, 3, None, [[0, 2, 4], [6, 8]]),
    (set(range(9)), 3, None, [[]]),
    ({0, 1, 2, 3, 4, 5}, 2, 4, [[], [6, 7], [8]]),          # scan budget spent: short page + cursor
])
def test_job_pages_skip_hidden_jobs_before_the_cut(registry, hidden, limit, max_scanned, expected_pages):
    jobs = [registry.create_job(tenant="acme", kind="ingest") for _ in range(9)]
    newest_first = [j.id for j in sorted(jobs, key=lambda j: (j.created_at, j.id), reverse=True)]
    hidden_ids = {newest_first[i] for i in hidden}
    pages, cursor = [], None
    while True:
        page = registry.list_jobs("acme", limit=limit, cursor=cursor, max_scanned=max_scanned,
                                  visible=lambda job: job.id not in hidden_ids)
        pages.append([newest_first.index(j.id) for j in page.items])
        cursor = page.next_cursor
        if cursor is None:
            break
    assert pages == expected_pages


def test_audit_chain_on_the_same_database(registry, tmp_path):
    from pipelines.audit import AuditLog

    log = AuditLog(registry.engine, b"k" * 32, tmp_path / "head")
    for _ in range(3):
        log.record("ask", tenant="acme", key_id="key_1", collection="docs", support=[0.9])
    assert log.verify() == []
    assert [r.seq for r in log.list(tenant="acme")] == [3, 2, 1]
