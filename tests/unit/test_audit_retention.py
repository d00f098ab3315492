"""Audit retention: records older than the retention period are purged on a schedule,
and the chain stays verifiable before, across and after a purge (an injected clock
stands in for the months)."""

from __future__ import annotations

import time
from datetime import datetime, timedelta

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from pipelines.audit import AuditLog, audit_t
from services.retention import RetentionScheduler


def _ts(log: AuditLog, seq: int) -> datetime:
    return datetime.fromisoformat(log.list(tenant=None, limit=1000)[-seq].ts)


@pytest.fixture
def log(tmp_path):
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'audit.db'}")
    audit = AuditLog(engine, b"k" * 32, tmp_path / "audit.head")
    for i in range(6):
        audit.record("upload", tenant="acme", key_id="key_1", collection="c", document_ids=[f"d{i}"])
        time.sleep(0.002)  # distinct timestamps
    return audit


def _seqs(log: AuditLog) -> list[int]:
    return sorted(r.seq for r in log.list(tenant=None, limit=1000))


@pytest.mark.parametrize(
    ("now_after_seq", "expected_purged", "kept"),
    [
        (None, 0, [1, 2, 3, 4, 5, 6]),      # nothing old enough
        (1, 1, [2, 3, 4, 5, 6]),
        (3, 3, [4, 5, 6]),
        (6, 6, []),                          # everything: the head file still anchors the chain
    ],
)
def test_purge_keeps_only_recent_records_and_the_chain_verifies(log, now_after_seq, expected_purged, kept):
    retention = timedelta(days=30)
    now = (_ts(log, now_after_seq) if now_after_seq else _ts(log, 1) - timedelta(days=1)) + retention
    now += timedelta(microseconds=1)
    assert log.purge_older_than(30, now=now) == expected_purged
    assert _seqs(log) == kept
    assert log.verify() == []
    # The chain goes on: numbers are never reused and the new record links to the old head.
    log.record("ask", tenant="acme", key_id="key_1", collection="c", question_hash="h")
    assert _seqs(log) == [*kept, 7]
    assert log.verify() == []


def test_tampering_is_still_detected_after_a_purge(log):
    log.purge_older_than(30, now=_ts(log, 3) + timedelta(days=30, microseconds=1))
    with log.engine.begin() as conn:
        conn.execute(audit_t.delete().where(audit_t.c.seq == 6))
    problems = log.verify()
    assert [p.reason for p in problems] == ["records 6..6 were removed from the end"]
    with log.engine.begin() as conn:
        conn.execute(audit_t.update().where(audit_t.c.seq == 4).values(outcome="forged"))
    assert 4 in {p.seq for p in log.verify()}


def test_scheduler_purges_on_its_interval_with_an_injected_clock_and_stops(log):
    clock = {"now": _ts(log, 1)}  # nothing older than 1 day yet
    scheduler = RetentionScheduler(log, retention_days=1, interval_s=0.02, clock=lambda: clock["now"])
    scheduler.start()
    try:
        deadline = time.monotonic() + 5
        while scheduler.runs < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert scheduler.runs >= 2 and _seqs(log) == [1, 2, 3, 4, 5, 6]
        clock["now"] = _ts(log, 4) + timedelta(days=1, microseconds=1)  # two days later...
        deadline = time.monotonic() + 5
        while _seqs(log) != [5, 6] and time.monotonic() < deadline:
            time.sleep(0.01)
        assert _seqs(log) == [5, 6] and scheduler.purged_total == 4
    finally:
        scheduler.stop()
    runs = scheduler.runs
    time.sleep(0.1)
    assert scheduler.runs == runs, "no purge after stop"
    assert log.verify() == []


def test_interval_zero_never_starts_a_thread(log):
    scheduler = RetentionScheduler(log, retention_days=1, interval_s=0, clock=lambda: _ts(log, 6) + timedelta(days=9))
    scheduler.start()
    time.sleep(0.05)
    assert scheduler.runs == 0 and len(_seqs(log)) == 6
    scheduler.stop()


def test_the_app_runs_the_scheduler_and_stops_it(tmp_path):
    from fastapi.testclient import TestClient

    from tests.conftest import KEYS, build_test_app

    app = build_test_app(tmp_path, audit_retention_days=7, audit_purge_interval_s=0.02)
    admin = {"Authorization": f"Bearer {KEYS['admin']['key']}"}
    with TestClient(app) as client:
        assert client.post("/v1/collections", json={"name": "c", "anonymise": False}, headers=admin).status_code == 201
        client.post("/v1/collections/c/documents", params={"wait": "true"}, files={"file": ("a.txt", b"hello")},
                    headers=admin)
        assert client.get("/v1/audit", headers=admin).json()["records"], "recent records are kept"
        scheduler = app.state.retention
        assert scheduler.retention_days == 7
        scheduler.clock = lambda: datetime.now().astimezone() + timedelta(days=8)
        deadline = time.monotonic() + 5
        while client.get("/v1/audit", headers=admin).json()["records"] and time.monotonic() < deadline:
            time.sleep(0.02)
        assert client.get("/v1/audit", headers=admin).json()["records"] == []
        assert app.state.container.audit.verify() == []
    assert scheduler._thread is None, "stopped with the app"


def test_cli_audit_purge_uses_the_retention_setting(tmp_path, monkeypatch):
    import pipelines.audit as audit_module
    from services.cli import _audit_log, _registry
    from services.cli import app as cli

    monkeypatch.setenv("DOCINTEL_DATA_DIR", str(tmp_path / "data"))
    settings, registry = _registry()
    audit = _audit_log(settings, registry)

    class _Then(datetime):  # a record written 200 days ago
        @classmethod
        def now(cls, tz=None):
            return datetime.now(tz) - timedelta(days=200)

    monkeypatch.setattr(audit_module, "datetime", _Then)
    audit.record("key_change", tenant=None, key_id=None, action="create")
    monkeypatch.setattr(audit_module, "datetime", datetime)
    audit.record("key_change", tenant=None, key_id=None, action="revoke")

    runner = CliRunner()
    result = runner.invoke(cli, ["audit", "purge", "--older-than-days", "365"])
    assert result.exit_code == 0 and "purged 0 audit record(s) older than 365 days" in result.output
    result = runner.invoke(cli, ["audit", "purge"])  # DOCINTEL_AUDIT_RETENTION_DAYS: 183
    assert result.exit_code == 0 and "purged 1 audit record(s) older than 183 days" in result.output
    assert [r.details["action"] for r in audit.list(tenant=None)] == ["revoke"]
    result = runner.invoke(cli, ["audit", "verify"])
    assert result.exit_code == 0 and "intact" in result.output
    registry.engine.dispose()
