"""The audit chain: altering, inserting or deleting any record, the last ones included,
is detected and named."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa

from pipelines.audit import AuditLog, audit_t


@pytest.fixture
def audit(tmp_path):
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'audit.db'}")
    log = AuditLog(engine, b"k" * 32, tmp_path / "audit.head")
    for i in range(5):
        log.record("upload", tenant="acme", key_id="key_1", collection="c", document_ids=[f"d{i}"])
    assert log.verify() == []
    return log


def _exec(log, statement):
    with log.engine.begin() as conn:
        conn.execute(statement)


def test_altered_record_is_named(audit):
    _exec(audit, audit_t.update().where(audit_t.c.seq == 3).values(outcome="forbidden"))
    problems = audit.verify()
    assert [p.seq for p in problems] == [3]
    assert "altered" in problems[0].reason


def test_altered_details_are_named(audit):
    _exec(audit, audit_t.update().where(audit_t.c.seq == 2).values(details=json.dumps({"document_ids": ["x"]})))
    assert [p.seq for p in audit.verify()] == [2]


def test_deleted_middle_record_is_named(audit):
    _exec(audit, audit_t.delete().where(audit_t.c.seq == 3))
    problems = audit.verify()
    assert problems and problems[0].seq == 4 and "missing" in problems[0].reason


def test_deleted_last_records_are_detected_through_the_checkpoint(audit):
    _exec(audit, audit_t.delete().where(audit_t.c.seq >= 4))
    problems = audit.verify()
    assert len(problems) == 1 and "removed from the end" in problems[0].reason and problems[0].seq == 4


def test_inserted_record_is_named(audit):
    with audit.engine.begin() as conn:
        row = conn.execute(sa.select(audit_t).where(audit_t.c.seq == 5)).first()._mapping
        forged = dict(row)
        forged.update(seq=6, audit_id="aud_forged", outcome="ok")
        conn.execute(audit_t.insert().values(**forged))
    problems = audit.verify()
    assert {p.seq for p in problems} == {6}


def test_records_hold_no_free_text(audit):
    with pytest.raises(ValueError):
        audit.record("not-an-operation", tenant="acme", key_id=None)


def test_retention_purge_keeps_the_chain_verifiable(audit, monkeypatch):
    import pipelines.audit as module

    assert audit.purge_older_than(days=10_000) == 0
    # purge everything older than "now + 1 day": every record goes, the head remembers it
    from datetime import UTC, datetime, timedelta

    real = module.datetime

    class Future(real):
        @classmethod
        def now(cls, tz=None):
            return real.now(UTC) + timedelta(days=400)

    monkeypatch.setattr(module, "datetime", Future)
    assert audit.purge_older_than(days=183) == 5
    monkeypatch.setattr(module, "datetime", real)
    audit.record("ask", tenant="acme", key_id="key_1")
    assert audit.verify() == []
    assert datetime  # noqa: used above
