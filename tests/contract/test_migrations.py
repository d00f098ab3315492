"""Registry schema migrations (Alembic) on SQLite and a real PostgreSQL.

Specification:

* a new database is built by the migrations and stamped at head;
* the migrations and the models do not drift: autogenerate finds nothing to write;
* a database created by ``create_all`` before Alembic (with rows in every table) is
  upgraded in place on open: rows intact, ``alembic_version`` at head, no drift;
* opening again is a no-op; a revision unknown to the code is refused;
* the scripts are found from the installed package (no alembic.ini needed).
"""

from __future__ import annotations

import threading
import uuid

import pytest
import sqlalchemy as sa

from pipelines import migrations
from pipelines.audit import AuditLog, audit_metadata
from pipelines.registry import Registry, metadata
from pipelines.types import Page


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_url(request, tmp_path):
    """A URL to an empty database (PostgreSQL: a fresh schema-less database each time)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'registry.db'}"
        return
    server = request.getfixturevalue("postgres_url")
    name = "mig_" + uuid.uuid4().hex[:12]
    admin = sa.create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    yield server.rsplit("/", 1)[0] + "/" + name
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE "{name}" WITH (FORCE)'))
    admin.dispose()


def _tables(engine) -> set[str]:
    return set(sa.inspect(engine).get_table_names())


def test_new_database_is_built_by_the_migrations_at_head_without_drift(empty_url):
    registry = Registry.from_url(empty_url)
    try:
        assert migrations.current_revision(registry.engine) == migrations.head_revision()
        assert _tables(registry.engine) == {*metadata.tables, *audit_metadata.tables, "alembic_version"}
        assert migrations.schema_differences(registry.engine) == []
    finally:
        registry.engine.dispose()


def _fill_legacy(engine, tmp_path) -> dict:
    """Rows in every table through the real code paths, as an older docintel wrote them."""
    metadata.create_all(engine)
    audit_metadata.create_all(engine)
    legacy = object.__new__(Registry)  # what the old constructor did after create_all
    legacy.engine = engine
    legacy._write_lock = threading.RLock()
    legacy.create_collection("acme", "docs", anonymise=True, embedder="e", embedder_version="1")
    legacy.insert_document(document_id="doc_1", tenant="acme", collection="docs", filename="a.pdf",
                           sha256="a" * 64, size=10, acl_groups=["hr"], tags={"k": "v"}, job_id=None)
    legacy.save_pages_and_mark_indexed("doc_1", [Page(1, "Bonjour <PERSON_1>.")], chunks=2,
                                       media_type="application/pdf", pii={"PERSON": 1}, ocr_pages=[])
    job = legacy.create_job(tenant="acme", kind="ingest", collection="docs", document_id="doc_1")
    key = legacy.upsert_key("raw-key-1234567890", tenant="acme", role="admin", groups=["*"], source="env")
    audit = AuditLog(engine, b"k" * 32, tmp_path / "audit.head")
    audit_id = audit.record("upload", tenant="acme", key_id=key.id, collection="docs", document_ids=["doc_1"])
    return {"job": job.id, "key": key.id, "audit_id": audit_id, "audit": audit}


def test_database_created_by_create_all_is_upgraded_in_place_without_loss(empty_url, tmp_path):
    engine = sa.create_engine(empty_url)
    before = _fill_legacy(engine, tmp_path)
    assert "alembic_version" not in _tables(engine)
    engine.dispose()

    registry = Registry.from_url(empty_url)
    try:
        assert migrations.current_revision(registry.engine) == migrations.head_revision()
        assert migrations.schema_differences(registry.engine) == []
        assert registry.get_collection("acme", "docs").anonymise is True
        doc = registry.get_document("acme", "docs", "doc_1")
        assert (doc.status, doc.chunks, doc.acl_groups, doc.tags) == ("indexed", 2, ["hr"], {"k": "v"})
        assert registry.get_page("doc_1", 1).text == "Bonjour <PERSON_1>."
        assert registry.get_job(before["job"]).kind == "ingest"
        assert [k.id for k in registry.list_keys()] == [before["key"]]
        audit = AuditLog(registry.engine, b"k" * 32, tmp_path / "audit.head")
        assert audit.get(before["audit_id"]).details == {"document_ids": ["doc_1"]}
        assert audit.verify() == []
    finally:
        registry.engine.dispose()


def test_partial_legacy_database_gets_only_its_missing_tables(empty_url):
    engine = sa.create_engine(empty_url)
    metadata.tables["collections"].create(engine)
    with engine.begin() as conn:
        conn.execute(metadata.tables["collections"].insert().values(
            tenant="acme", name="kept", anonymise=False, embedder="e", embedder_version="1", generation=3,
            created_at=sa.func.now()))
    engine.dispose()
    registry = Registry.from_url(empty_url)
    try:
        assert registry.get_collection("acme", "kept").generation == 3
        assert migrations.schema_differences(registry.engine) == []
    finally:
        registry.engine.dispose()


def test_reopening_is_a_no_op_and_an_unknown_revision_is_refused(tmp_path):
    url = f"sqlite:///{tmp_path / 'r.db'}"
    Registry.from_url(url).engine.dispose()
    engine = sa.create_engine(url)
    assert migrations.upgrade_to_head(engine) == migrations.head_revision()
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE alembic_version SET version_num = 'ffff_from_the_future'"))
    with pytest.raises(migrations.SchemaError, match="ffff_from_the_future"):
        Registry(engine)
    engine.dispose()


def test_scripts_ship_inside_the_package():
    location = migrations.SCRIPT_LOCATION
    assert (location / "env.py").is_file() and (location / "script.py.mako").is_file()
    assert location.parent.name == "pipelines"
    assert migrations.known_revisions() >= {"0001"}
