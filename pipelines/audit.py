"""Append-only, tamper-evident audit trail.

Each record carries ``mac = HMAC(key, prev_mac || canonical(record))``: altering or
inserting a record breaks the chain at that record. The chain head (sequence number and
MAC of the last record) is also checkpointed to a file outside the database, so that
deleting the *last* records is detected too. Records hold ids, versions, scores and
hashes only: never raw text, never PII (callers pass hashes of questions and answers).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import threading
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

audit_metadata = sa.MetaData()

audit_t = sa.Table(
    "audit",
    audit_metadata,
    sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("audit_id", sa.String(40), nullable=False, unique=True),
    sa.Column("ts", sa.String(40), nullable=False),
    sa.Column("key_id", sa.String(64), nullable=True),
    sa.Column("tenant", sa.String(64), nullable=True),
    sa.Column("operation", sa.String(32), nullable=False),
    sa.Column("collection", sa.String(128), nullable=True),
    sa.Column("outcome", sa.String(32), nullable=False),
    sa.Column("details", sa.Text, nullable=False),
    sa.Column("prev_mac", sa.String(64), nullable=False),
    sa.Column("mac", sa.String(64), nullable=False),
    sa.Index("ix_audit_tenant_ts", "tenant", "ts"),
)

OPERATIONS = frozenset(
    {
        "upload",
        "delete_document",
        "delete_collection",
        "ask",
        "extract",
        "deanonymise",
        "reindex",
        "patch_document",
        "key_change",
        "anonymise",
    }
)
GENESIS = "0" * 64


def text_hash(text: str) -> str:
    """Hash of a question or answer for the audit record (never the text itself)."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class AuditRecord:
    seq: int
    audit_id: str
    ts: str
    key_id: str | None
    tenant: str | None
    operation: str
    collection: str | None
    outcome: str
    details: dict[str, Any]
    prev_mac: str
    mac: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "audit_id": self.audit_id,
            "seq": self.seq,
            "time": self.ts,
            "key_id": self.key_id,
            "tenant": self.tenant,
            "operation": self.operation,
            "collection": self.collection,
            "outcome": self.outcome,
            "details": self.details,
        }


@dataclass(frozen=True)
class VerifyProblem:
    seq: int | None
    audit_id: str | None
    reason: str


def _canonical(seq: int, audit_id: str, ts: str, key_id, tenant, operation, collection, outcome, details: str) -> bytes:
    return json.dumps(
        [seq, audit_id, ts, key_id, tenant, operation, collection, outcome, details],
        separators=(",", ":"),
        ensure_ascii=False,
    ).encode("utf-8")


class AuditLog:
    """Audit store over an SQLAlchemy engine (the registry's, or its own)."""

    def __init__(self, engine: Engine, key: bytes, head_path: Path | None):
        self.engine = engine
        self._key = key
        self._head_path = head_path
        self._lock = threading.Lock()
        audit_metadata.create_all(engine)

    def _mac(self, prev_mac: str, payload: bytes) -> str:
        return hmac.new(self._key, prev_mac.encode() + payload, hashlib.sha256).hexdigest()

    def record(
        self,
        operation: str,
        *,
        tenant: str | None,
        key_id: str | None,
        collection: str | None = None,
        outcome: str = "ok",
        **details: Any,
    ) -> str:
        if operation not in OPERATIONS:
            raise ValueError(f"unknown audit operation {operation!r}")
        audit_id = "aud_" + uuid.uuid4().hex
        ts = datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")
        details_json = json.dumps(details, sort_keys=True, separators=(",", ":"), default=str)
        with self._lock, self.engine.begin() as conn:
            last = conn.execute(sa.select(audit_t.c.seq, audit_t.c.mac).order_by(audit_t.c.seq.desc()).limit(1)).first()
            if last is None:
                # Empty after a retention purge: continue the chain from the checkpointed
                # head, so sequence numbers are never reused and the link stays checkable.
                head = self._read_head()
                seq, prev_mac = int(head.get("seq", 0)) + 1, head.get("mac", GENESIS)
            else:
                seq, prev_mac = last.seq + 1, last.mac
            mac = self._mac(prev_mac, _canonical(seq, audit_id, ts, key_id, tenant, operation, collection, outcome, details_json))
            conn.execute(
                audit_t.insert().values(
                    seq=seq, audit_id=audit_id, ts=ts, key_id=key_id, tenant=tenant, operation=operation,
                    collection=collection, outcome=outcome, details=details_json, prev_mac=prev_mac, mac=mac,
                )
            )
            self._write_head(seq, mac)
        return audit_id

    def _read_head(self) -> dict[str, Any]:
        if self._head_path is None or not self._head_path.exists():
            return {}
        return json.loads(self._head_path.read_text())

    def _write_head(self, seq: int, mac: str, purged_through: int | None = None) -> None:
        if self._head_path is None:
            return
        head = self._read_head()
        head.update({"seq": seq, "mac": mac})
        if purged_through is not None:
            head["purged_through"] = purged_through
        tmp = self._head_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(head))
        os.replace(tmp, self._head_path)

    def list(
        self,
        *,
        tenant: str | None,
        since: datetime | None = None,
        operation: str | None = None,
        limit: int = 100,
    ) -> list[AuditRecord]:
        query = sa.select(audit_t)
        if tenant is not None:
            query = query.where(audit_t.c.tenant == tenant)
        if since is not None:
            query = query.where(audit_t.c.ts >= since.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z"))
        if operation:
            query = query.where(audit_t.c.operation == operation)
        query = query.order_by(audit_t.c.seq.desc()).limit(limit)
        with self.engine.connect() as conn:
            return [self._to_record(r) for r in conn.execute(query).all()]

    def get(self, audit_id: str) -> AuditRecord | None:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(audit_t).where(audit_t.c.audit_id == audit_id)).first()
        return self._to_record(row) if row else None

    @staticmethod
    def _to_record(row) -> AuditRecord:
        values = dict(row._mapping)
        values["details"] = json.loads(values["details"])
        return AuditRecord(**values)

    def verify(self) -> list[VerifyProblem]:
        """Walk the chain; every altered, inserted or removed record is named."""
        problems: list[VerifyProblem] = []
        prev_mac = GENESIS
        expected_seq = None
        last_seq, last_mac = 0, GENESIS
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(audit_t).order_by(audit_t.c.seq)).all()
        head = json.loads(self._head_path.read_text()) if self._head_path and self._head_path.exists() else {}
        purged_through = int(head.get("purged_through", 0))
        if rows and rows[0].seq > 1:
            if rows[0].seq - 1 > purged_through:
                problems.append(
                    VerifyProblem(rows[0].seq, rows[0].audit_id, f"records {purged_through + 1}..{rows[0].seq - 1} are missing")
                )
            prev_mac = rows[0].prev_mac  # retention purge: the first kept record anchors the chain
        for row in rows:
            if expected_seq is not None and row.seq != expected_seq:
                problems.append(
                    VerifyProblem(row.seq, row.audit_id, f"records {expected_seq}..{row.seq - 1} are missing")
                )
            if row.prev_mac != prev_mac:
                problems.append(VerifyProblem(row.seq, row.audit_id, "link to the previous record is broken"))
            payload = _canonical(
                row.seq, row.audit_id, row.ts, row.key_id, row.tenant, row.operation, row.collection,
                row.outcome, row.details,
            )
            if not hmac.compare_digest(self._mac(row.prev_mac, payload), row.mac):
                problems.append(VerifyProblem(row.seq, row.audit_id, "record content was altered or inserted"))
            prev_mac = row.mac
            expected_seq = row.seq + 1
            last_seq, last_mac = row.seq, row.mac
        if head:
            if head["seq"] > max(last_seq, purged_through):
                problems.append(
                    VerifyProblem(last_seq + 1, None, f"records {last_seq + 1}..{head['seq']} were removed from the end")
                )
            elif head["seq"] == last_seq and head["mac"] != last_mac:
                problems.append(VerifyProblem(last_seq, None, "last record does not match the checkpointed head"))
        return problems

    def purge_older_than(self, days: float, *, now: datetime | None = None) -> int:
        """Retention: drop records older than ``days`` (before ``now``, default the current
        time). The chain restarts from the first kept record, whose ``prev_mac`` is kept
        as the anchor (verify starts there); the head file records ``purged_through`` so
        the missing prefix reads as purged, not removed, even when nothing is left."""
        cutoff = ((now or datetime.now(UTC)) - timedelta(days=days)).isoformat(timespec="microseconds").replace("+00:00", "Z")
        with self._lock, self.engine.begin() as conn:
            doomed = conn.execute(sa.select(sa.func.max(audit_t.c.seq)).where(audit_t.c.ts < cutoff)).scalar()
            if doomed is None:
                return 0
            result = conn.execute(audit_t.delete().where(audit_t.c.seq <= doomed))
            last = conn.execute(sa.select(audit_t.c.seq, audit_t.c.mac).order_by(audit_t.c.seq.desc()).limit(1)).first()
            head = json.loads(self._head_path.read_text()) if self._head_path and self._head_path.exists() else {}
            self._write_head(last.seq if last else head.get("seq", doomed), last.mac if last else head.get("mac", GENESIS), doomed)
        return result.rowcount
