"""The registry: collections, documents, stored pages, jobs and API keys.

SQLAlchemy Core over any URL (SQLite by default, PostgreSQL by URL). Tenancy is part of
every key: a lookup always names the tenant, so one tenant's rows are unreachable from
another's calls. Raw PII is never written here: page text is the *stored* text
(pseudonymised when the collection is), filenames are kept as given by the uploader.
"""

from __future__ import annotations

import hashlib
import json
import threading
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from pipelines.errors import Conflict, NotFound
from pipelines.migrations import upgrade_to_head
from pipelines.types import Block, OffsetMap, Page

metadata = sa.MetaData()

collections_t = sa.Table(
    "collections",
    metadata,
    sa.Column("tenant", sa.String(64), primary_key=True),
    sa.Column("name", sa.String(128), primary_key=True),
    sa.Column("anonymise", sa.Boolean, nullable=False),
    sa.Column("embedder", sa.String(64), nullable=False),
    sa.Column("embedder_version", sa.String(64), nullable=False),
    sa.Column("pii_entities", sa.JSON, nullable=True),
    sa.Column("generation", sa.Integer, nullable=False, default=1),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)

documents_t = sa.Table(
    "documents",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("tenant", sa.String(64), nullable=False),
    sa.Column("collection", sa.String(128), nullable=False),
    sa.Column("filename", sa.String(512), nullable=False),
    sa.Column("media_type", sa.String(128), nullable=True),
    sa.Column("sha256", sa.String(64), nullable=False),
    sa.Column("size", sa.BigInteger, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("pages", sa.Integer, nullable=False, default=0),
    sa.Column("chunks", sa.Integer, nullable=False, default=0),
    sa.Column("pii", sa.JSON, nullable=False, default=dict),
    sa.Column("acl_groups", sa.JSON, nullable=False, default=list),
    sa.Column("tags", sa.JSON, nullable=False, default=dict),
    sa.Column("error", sa.JSON, nullable=True),
    sa.Column("ocr_pages", sa.JSON, nullable=False, default=list),
    sa.Column("job_id", sa.String(64), nullable=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    # Version of the anonymiser the stored pages were pseudonymised with (migration 0002);
    # None for plain collections and for documents indexed before it was recorded.
    sa.Column("anonymiser_version", sa.String(64), nullable=True),
    sa.Index("ix_documents_tenant_collection", "tenant", "collection", "created_at", "id"),
)

pages_t = sa.Table(
    "pages",
    metadata,
    sa.Column("document_id", sa.String(64), primary_key=True),
    sa.Column("number", sa.Integer, primary_key=True),
    sa.Column("text", sa.Text, nullable=False),
    sa.Column("blocks", sa.JSON, nullable=False),
    sa.Column("offsets", sa.JSON, nullable=True),
    # ^ OffsetMap segments back to the original page (integers only, never text)
)

jobs_t = sa.Table(
    "jobs",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("tenant", sa.String(64), nullable=False),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("collection", sa.String(128), nullable=True),
    sa.Column("document_id", sa.String(64), nullable=True),
    sa.Column("params", sa.JSON, nullable=False, default=dict),
    sa.Column("progress_done", sa.Integer, nullable=False, default=0),
    sa.Column("progress_total", sa.Integer, nullable=False, default=0),
    sa.Column("stage", sa.String(32), nullable=True),
    sa.Column("error", sa.JSON, nullable=True),
    sa.Column("result", sa.JSON, nullable=True),
    sa.Column("cancel_requested", sa.Boolean, nullable=False, default=False),
    sa.Column("key_id", sa.String(64), nullable=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    sa.Index("ix_jobs_tenant_created", "tenant", "created_at", "id"),
)

api_keys_t = sa.Table(
    "api_keys",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("key_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("tenant", sa.String(64), nullable=False),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("groups", sa.JSON, nullable=False, default=list),
    sa.Column("source", sa.String(16), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
)

TERMINAL_JOB_STATES = frozenset({"succeeded", "failed", "cancelled"})


def utcnow() -> datetime:
    return datetime.now(UTC)


def hash_key(raw_key: str) -> str:
    """API keys are long random strings, so a plain SHA-256 is a sufficient at-rest hash."""
    return hashlib.sha256(raw_key.encode("utf-8")).hexdigest()


def document_id_for(tenant: str, collection: str, sha256_hex: str) -> str:
    """Same bytes in the same collection of the same tenant -> same id (API.md)."""
    digest = hashlib.sha256(f"{tenant}\x00{collection}\x00{sha256_hex}".encode()).hexdigest()
    return "doc_" + digest[:28]


@dataclass(frozen=True)
class CollectionRow:
    tenant: str
    name: str
    anonymise: bool
    embedder: str
    embedder_version: str
    pii_entities: list[str] | None
    generation: int
    created_at: datetime


@dataclass(frozen=True)
class DocumentRow:
    id: str
    tenant: str
    collection: str
    filename: str
    media_type: str | None
    sha256: str
    size: int
    status: str
    pages: int
    chunks: int
    pii: dict[str, int]
    acl_groups: list[str]
    tags: dict[str, str]
    error: dict | None
    ocr_pages: list[int]
    job_id: str | None
    created_at: datetime
    updated_at: datetime
    anonymiser_version: str | None = None

    def readable_by(self, groups: Sequence[str]) -> bool:
        """API.md: no groups = every key of the tenant; '*' holds every group."""
        return not self.acl_groups or "*" in groups or bool(set(self.acl_groups) & set(groups))


@dataclass(frozen=True)
class JobRow:
    id: str
    tenant: str
    kind: str
    status: str
    collection: str | None
    document_id: str | None
    params: dict[str, Any]
    progress_done: int
    progress_total: int
    stage: str | None
    error: dict | None
    result: dict | None
    cancel_requested: bool
    key_id: str | None
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class KeyRow:
    id: str
    tenant: str
    role: str
    groups: list[str]
    source: str
    created_at: datetime
    revoked_at: datetime | None


@dataclass
class Page_:
    """Cursor page of a listing."""

    items: list = field(default_factory=list)
    next_cursor: str | None = None


def _row(cls, row) -> Any:
    values = dict(row._mapping)
    for key, value in values.items():
        # SQLite drops tzinfo; every stored time is UTC.
        if isinstance(value, datetime) and value.tzinfo is None:
            values[key] = value.replace(tzinfo=UTC)
    return cls(**values)


class Registry:
    """Registry over one SQLAlchemy engine. Thread-safe (SQLite writes are serialised)."""

    def __init__(self, engine: Engine):
        self.engine = engine
        self._write_lock = threading.RLock() if engine.dialect.name == "sqlite" else _NullLock()
        # The schema comes from the migrations (pipelines/migrations), never create_all:
        # a database made by an older docintel is upgraded in place on open.
        upgrade_to_head(engine)

    @classmethod
    def from_url(cls, url: str) -> "Registry":
        kwargs: dict[str, Any] = {"future": True, "pool_pre_ping": True}
        if url.startswith("sqlite"):
            kwargs["connect_args"] = {"check_same_thread": False, "timeout": 30}
        engine = sa.create_engine(url, **kwargs)
        if url.startswith("sqlite"):
            @sa.event.listens_for(engine, "connect")
            def _pragmas(dbapi_conn, _record):  # WAL: readers do not block the writer
                cur = dbapi_conn.cursor()
                cur.execute("PRAGMA journal_mode=WAL")
                cur.execute("PRAGMA synchronous=NORMAL")
                cur.execute("PRAGMA foreign_keys=ON")
                cur.close()
        return cls(engine)

    @contextmanager
    def write(self) -> Iterator[Connection]:
        with self._write_lock, self.engine.begin() as conn:
            yield conn

    def _decode_cursor(self, cursor: str) -> tuple[datetime, str]:
        ts, last_id = _decode_cursor(cursor)
        if self.engine.dialect.name == "sqlite":  # SQLite stores naive UTC datetimes
            ts = ts.replace(tzinfo=None)
        return ts, last_id

    def ping(self) -> None:
        with self.engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))

    # ---- collections -------------------------------------------------------------

    def create_collection(
        self,
        tenant: str,
        name: str,
        *,
        anonymise: bool,
        embedder: str,
        embedder_version: str,
        pii_entities: list[str] | None = None,
    ) -> CollectionRow:
        row = dict(
            tenant=tenant,
            name=name,
            anonymise=anonymise,
            embedder=embedder,
            embedder_version=embedder_version,
            pii_entities=pii_entities,
            generation=1,
            created_at=utcnow(),
        )
        with self.write() as conn:
            exists = conn.execute(
                sa.select(collections_t.c.name).where(
                    collections_t.c.tenant == tenant, collections_t.c.name == name
                )
            ).first()
            if exists:
                raise Conflict(f"collection '{name}' already exists")
            conn.execute(collections_t.insert().values(**row))
        return CollectionRow(**row)

    def get_collection(self, tenant: str, name: str) -> CollectionRow:
        with self.engine.connect() as conn:
            row = conn.execute(
                sa.select(collections_t).where(collections_t.c.tenant == tenant, collections_t.c.name == name)
            ).first()
        if row is None:
            raise NotFound(f"collection '{name}' not found")
        return _row(CollectionRow, row)

    def list_collections(self, tenant: str) -> list[CollectionRow]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(collections_t).where(collections_t.c.tenant == tenant).order_by(collections_t.c.name)
            ).all()
        return [_row(CollectionRow, r) for r in rows]

    def all_collections(self) -> list[CollectionRow]:
        with self.engine.connect() as conn:
            return [_row(CollectionRow, r) for r in conn.execute(sa.select(collections_t)).all()]

    def update_collection_model(self, tenant: str, name: str, *, embedder: str, embedder_version: str, generation: int) -> None:
        with self.write() as conn:
            conn.execute(
                collections_t.update()
                .where(collections_t.c.tenant == tenant, collections_t.c.name == name)
                .values(embedder=embedder, embedder_version=embedder_version, generation=generation)
            )

    def delete_collection(self, tenant: str, name: str) -> list[str]:
        """Delete the collection and every row under it; returns the removed document ids."""
        with self.write() as conn:
            ids = [
                r[0]
                for r in conn.execute(
                    sa.select(documents_t.c.id).where(
                        documents_t.c.tenant == tenant, documents_t.c.collection == name
                    )
                )
            ]
            if ids:
                conn.execute(pages_t.delete().where(pages_t.c.document_id.in_(ids)))
            conn.execute(
                documents_t.delete().where(documents_t.c.tenant == tenant, documents_t.c.collection == name)
            )
            conn.execute(
                collections_t.delete().where(collections_t.c.tenant == tenant, collections_t.c.name == name)
            )
        return ids

    def collection_counts(self, tenant: str, name: str) -> tuple[int, int]:
        """(documents, chunks) counting only indexed documents' chunks."""
        with self.engine.connect() as conn:
            row = conn.execute(
                sa.select(
                    sa.func.count(documents_t.c.id),
                    sa.func.coalesce(
                        sa.func.sum(sa.case((documents_t.c.status == "indexed", documents_t.c.chunks), else_=0)), 0
                    ),
                ).where(documents_t.c.tenant == tenant, documents_t.c.collection == name)
            ).one()
        return int(row[0]), int(row[1])

    # ---- documents ---------------------------------------------------------------

    def insert_document(
        self,
        *,
        document_id: str,
        tenant: str,
        collection: str,
        filename: str,
        sha256: str,
        size: int,
        acl_groups: list[str],
        tags: dict[str, str],
        job_id: str | None,
        status: str = "queued",
        media_type: str | None = None,
        error: dict | None = None,
    ) -> tuple[DocumentRow, bool]:
        """Insert a new document row; returns ``(row, created)``. An existing id is returned
        unchanged with ``created=False`` (same bytes uploaded again changes nothing)."""
        now = utcnow()
        with self.write() as conn:
            existing = conn.execute(sa.select(documents_t).where(documents_t.c.id == document_id)).first()
            if existing is not None:
                return _row(DocumentRow, existing), False
            values = dict(
                id=document_id,
                tenant=tenant,
                collection=collection,
                filename=filename,
                media_type=media_type,
                sha256=sha256,
                size=size,
                status=status,
                pages=0,
                chunks=0,
                pii={},
                acl_groups=acl_groups,
                tags=tags,
                error=error,
                ocr_pages=[],
                job_id=job_id,
                created_at=now,
                updated_at=now,
            )
            conn.execute(documents_t.insert().values(**values))
        return DocumentRow(**values), True

    def get_document(self, tenant: str, collection: str, document_id: str) -> DocumentRow:
        with self.engine.connect() as conn:
            row = conn.execute(
                sa.select(documents_t).where(
                    documents_t.c.id == document_id,
                    documents_t.c.tenant == tenant,
                    documents_t.c.collection == collection,
                )
            ).first()
        if row is None:
            raise NotFound("document not found")
        return _row(DocumentRow, row)

    def document_by_id(self, document_id: str) -> DocumentRow | None:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(documents_t).where(documents_t.c.id == document_id)).first()
        return _row(DocumentRow, row) if row else None

    def list_documents(
        self,
        tenant: str,
        collection: str,
        *,
        limit: int = 100,
        cursor: str | None = None,
        status: str | None = None,
        groups: Sequence[str] | None = None,
    ) -> Page_:
        """Keyset pagination on (created_at, id); ACL filtering happens in SQL-free Python
        because JSON containment differs between SQLite and PostgreSQL."""
        query = sa.select(documents_t).where(
            documents_t.c.tenant == tenant, documents_t.c.collection == collection
        )
        if status:
            query = query.where(documents_t.c.status == status)
        if cursor:
            ts, last_id = self._decode_cursor(cursor)
            query = query.where(
                sa.or_(
                    documents_t.c.created_at > ts,
                    sa.and_(documents_t.c.created_at == ts, documents_t.c.id > last_id),
                )
            )
        query = query.order_by(documents_t.c.created_at, documents_t.c.id)
        out: list[DocumentRow] = []
        with self.engine.connect() as conn:
            for raw in conn.execute(query).yield_per(500):
                row = _row(DocumentRow, raw)
                if groups is not None and not row.readable_by(groups):
                    continue
                out.append(row)
                if len(out) > limit:
                    break
        if len(out) > limit:
            out = out[:limit]
            return Page_(out, _encode_cursor(out[-1].created_at, out[-1].id))
        return Page_(out, None)

    def documents_with_status(self, statuses: Sequence[str]) -> list[DocumentRow]:
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(documents_t).where(documents_t.c.status.in_(list(statuses)))).all()
        return [_row(DocumentRow, r) for r in rows]

    def document_ids_in(self, tenant: str, collection: str, *, status: str | None = None) -> list[str]:
        query = sa.select(documents_t.c.id).where(
            documents_t.c.tenant == tenant, documents_t.c.collection == collection
        )
        if status:
            query = query.where(documents_t.c.status == status)
        with self.engine.connect() as conn:
            return [r[0] for r in conn.execute(query)]

    def update_document(self, document_id: str, **values: Any) -> None:
        values["updated_at"] = utcnow()
        with self.write() as conn:
            conn.execute(documents_t.update().where(documents_t.c.id == document_id).values(**values))

    def save_pages_and_mark_indexed(
        self,
        document_id: str,
        pages: Sequence[Page],
        *,
        offsets: Sequence[OffsetMap] | None = None,
        chunks: int,
        media_type: str,
        pii: dict[str, int],
        ocr_pages: Sequence[int],
        anonymiser_version: str | None = None,
    ) -> None:
        """One transaction: stored page texts + status ``indexed``."""
        with self.write() as conn:
            _replace_pages(conn, document_id, pages, offsets)
            conn.execute(
                documents_t.update()
                .where(documents_t.c.id == document_id)
                .values(
                    status="indexed",
                    pages=len(pages),
                    chunks=chunks,
                    media_type=media_type,
                    pii=pii,
                    ocr_pages=list(ocr_pages),
                    error=None,
                    anonymiser_version=anonymiser_version,
                    updated_at=utcnow(),
                )
            )

    def replace_pages_and_model(
        self,
        tenant: str,
        name: str,
        documents: Sequence[StoredPages],
        *,
        embedder: str,
        embedder_version: str,
        generation: int,
    ) -> None:
        """One transaction: new stored pages (texts, offset maps, PII counts, anonymiser
        version, chunk count) of already indexed ``documents`` and the collection's model
        and generation. A re-index that pseudonymised documents again commits them with
        its swap: nobody ever reads new pages with the old generation or the reverse."""
        with self.write() as conn:
            for d in documents:
                _replace_pages(conn, d.document_id, d.pages, d.offsets)
                conn.execute(
                    documents_t.update()
                    .where(documents_t.c.id == d.document_id)
                    .values(pages=len(d.pages), chunks=d.chunks, pii=d.pii,
                            anonymiser_version=d.anonymiser_version, updated_at=utcnow())
                )
            conn.execute(
                collections_t.update()
                .where(collections_t.c.tenant == tenant, collections_t.c.name == name)
                .values(embedder=embedder, embedder_version=embedder_version, generation=generation)
            )

    def get_page(self, document_id: str, number: int) -> Page:
        with self.engine.connect() as conn:
            row = conn.execute(
                sa.select(pages_t).where(pages_t.c.document_id == document_id, pages_t.c.number == number)
            ).first()
        if row is None:
            raise NotFound(f"page {number} not found")
        return _page(row)

    def get_page_offsets(self, document_id: str, number: int) -> OffsetMap:
        with self.engine.connect() as conn:
            raw = conn.execute(
                sa.select(pages_t.c.offsets).where(pages_t.c.document_id == document_id, pages_t.c.number == number)
            ).scalar()
        return OffsetMap(tuple(tuple(seg) for seg in raw)) if raw else OffsetMap.identity()

    def get_pages(self, document_id: str) -> list[Page]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(pages_t).where(pages_t.c.document_id == document_id).order_by(pages_t.c.number)
            ).all()
        return [_page(r) for r in rows]

    def delete_document(self, document_id: str) -> None:
        with self.write() as conn:
            conn.execute(pages_t.delete().where(pages_t.c.document_id == document_id))
            conn.execute(documents_t.delete().where(documents_t.c.id == document_id))

    # ---- jobs --------------------------------------------------------------------

    def create_job(
        self,
        *,
        tenant: str,
        kind: str,
        collection: str | None = None,
        document_id: str | None = None,
        params: dict | None = None,
        key_id: str | None = None,
        total: int = 0,
    ) -> JobRow:
        now = utcnow()
        values = dict(
            id="job_" + uuid.uuid4().hex[:24],
            tenant=tenant,
            kind=kind,
            status="queued",
            collection=collection,
            document_id=document_id,
            params=params or {},
            progress_done=0,
            progress_total=total,
            stage="queued",
            error=None,
            result=None,
            cancel_requested=False,
            key_id=key_id,
            created_at=now,
            updated_at=now,
        )
        with self.write() as conn:
            conn.execute(jobs_t.insert().values(**values))
        return JobRow(**values)

    def get_job(self, job_id: str, tenant: str | None = None) -> JobRow:
        query = sa.select(jobs_t).where(jobs_t.c.id == job_id)
        if tenant is not None:
            query = query.where(jobs_t.c.tenant == tenant)
        with self.engine.connect() as conn:
            row = conn.execute(query).first()
        if row is None:
            raise NotFound("job not found")
        return _row(JobRow, row)

    def list_jobs(
        self,
        tenant: str,
        *,
        status: str | None = None,
        kind: str | None = None,
        limit: int = 100,
        cursor: str | None = None,
        visible: Callable[[JobRow], bool] | None = None,
        max_scanned: int | None = None,
    ) -> Page_:
        """Jobs of ``tenant``, newest first, ``limit`` per page.

        ``visible`` (the caller's view): hidden jobs are skipped *before* the page is cut,
        so a page is short only when the listing ends or after ``max_scanned`` rows
        (default ``10 * limit``; the cursor then continues after the last row looked at).
        """
        query = sa.select(jobs_t).where(jobs_t.c.tenant == tenant)
        if status:
            query = query.where(jobs_t.c.status == status)
        if kind:
            query = query.where(jobs_t.c.kind == kind)
        query = query.order_by(jobs_t.c.created_at.desc(), jobs_t.c.id.desc())
        budget = max_scanned if max_scanned is not None else 10 * limit
        out: list[JobRow] = []
        scanned = 0
        last: JobRow | None = None
        position = self._decode_cursor(cursor) if cursor else None
        while True:
            batch = query
            if position is not None:
                ts, last_id = position
                batch = batch.where(
                    sa.or_(jobs_t.c.created_at < ts, sa.and_(jobs_t.c.created_at == ts, jobs_t.c.id < last_id))
                )
            with self.engine.connect() as conn:
                rows = [_row(JobRow, r) for r in conn.execute(batch.limit(limit + 1)).all()]
            if not rows:
                return Page_(out, None)
            for row in rows[:limit]:
                scanned += 1
                last = row
                if visible is None or visible(row):
                    out.append(row)
                    if len(out) == limit:
                        break
            more = len(rows) > limit or last is not rows[-1]  # rows after ``last`` exist
            if not more:
                return Page_(out, None)
            if len(out) == limit or scanned >= budget:
                return Page_(out, _encode_cursor(last.created_at, last.id))
            position = (last.created_at, last.id)

    def jobs_with_status(self, statuses: Sequence[str]) -> list[JobRow]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(jobs_t).where(jobs_t.c.status.in_(list(statuses))).order_by(jobs_t.c.created_at)
            ).all()
        return [_row(JobRow, r) for r in rows]

    def count_jobs(self, statuses: Sequence[str]) -> int:
        with self.engine.connect() as conn:
            return int(
                conn.execute(
                    sa.select(sa.func.count()).select_from(jobs_t).where(jobs_t.c.status.in_(list(statuses)))
                ).scalar_one()
            )

    def update_job(self, job_id: str, **values: Any) -> None:
        values["updated_at"] = utcnow()
        with self.write() as conn:
            conn.execute(jobs_t.update().where(jobs_t.c.id == job_id).values(**values))

    def request_cancel(self, job_id: str) -> bool:
        """Mark a queued or running job for cancellation; False when already finished."""
        with self.write() as conn:
            result = conn.execute(
                jobs_t.update()
                .where(jobs_t.c.id == job_id, jobs_t.c.status.in_(["queued", "running"]))
                .values(cancel_requested=True, updated_at=utcnow())
            )
        return result.rowcount > 0

    def is_cancel_requested(self, job_id: str) -> bool:
        with self.engine.connect() as conn:
            return bool(
                conn.execute(sa.select(jobs_t.c.cancel_requested).where(jobs_t.c.id == job_id)).scalar()
            )

    # ---- keys --------------------------------------------------------------------

    def upsert_key(self, raw_key: str, *, tenant: str, role: str, groups: list[str], source: str) -> KeyRow:
        key_hash = hash_key(raw_key)
        key_id = "key_" + key_hash[:12]
        now = utcnow()
        with self.write() as conn:
            existing = conn.execute(sa.select(api_keys_t).where(api_keys_t.c.key_hash == key_hash)).first()
            if existing is None:
                conn.execute(
                    api_keys_t.insert().values(
                        id=key_id, key_hash=key_hash, tenant=tenant, role=role, groups=groups,
                        source=source, created_at=now, revoked_at=None,
                    )
                )
            else:
                conn.execute(
                    api_keys_t.update()
                    .where(api_keys_t.c.key_hash == key_hash)
                    .values(tenant=tenant, role=role, groups=groups, source=source)
                )
        return self.key_by_hash(key_hash)  # type: ignore[return-value]

    def key_by_hash(self, key_hash: str) -> KeyRow | None:
        with self.engine.connect() as conn:
            row = conn.execute(
                sa.select(
                    api_keys_t.c.id, api_keys_t.c.tenant, api_keys_t.c.role, api_keys_t.c.groups,
                    api_keys_t.c.source, api_keys_t.c.created_at, api_keys_t.c.revoked_at,
                ).where(api_keys_t.c.key_hash == key_hash)
            ).first()
        return _row(KeyRow, row) if row else None

    def list_keys(self) -> list[KeyRow]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(
                    api_keys_t.c.id, api_keys_t.c.tenant, api_keys_t.c.role, api_keys_t.c.groups,
                    api_keys_t.c.source, api_keys_t.c.created_at, api_keys_t.c.revoked_at,
                ).order_by(api_keys_t.c.created_at)
            ).all()
        return [_row(KeyRow, r) for r in rows]

    def revoke_key(self, key_id: str) -> bool:
        with self.write() as conn:
            result = conn.execute(
                api_keys_t.update()
                .where(api_keys_t.c.id == key_id, api_keys_t.c.revoked_at.is_(None))
                .values(revoked_at=utcnow())
            )
        return result.rowcount > 0

    def has_active_keys(self) -> bool:
        with self.engine.connect() as conn:
            return (
                conn.execute(
                    sa.select(sa.func.count()).select_from(api_keys_t).where(api_keys_t.c.revoked_at.is_(None))
                ).scalar_one()
                > 0
            )


class _NullLock:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


@dataclass(frozen=True)
class StoredPages:
    """What ``Registry.replace_pages_and_model`` writes for one document."""

    document_id: str
    pages: Sequence[Page]
    offsets: Sequence[OffsetMap] | None
    pii: dict[str, int]
    chunks: int
    anonymiser_version: str | None


def _replace_pages(conn: Connection, document_id: str, pages: Sequence[Page],
                   offsets: Sequence[OffsetMap] | None) -> None:
    conn.execute(pages_t.delete().where(pages_t.c.document_id == document_id))
    if pages:
        conn.execute(
            pages_t.insert(),
            [
                {
                    "document_id": document_id,
                    "number": p.number,
                    "text": p.text,
                    "blocks": [[b.start, b.end, *b.bbox] for b in p.blocks],
                    "offsets": [list(seg) for seg in offsets[i].segments] if offsets else None,
                }
                for i, p in enumerate(pages)
            ],
        )


def _page(row) -> Page:
    blocks = tuple(Block(int(b[0]), int(b[1]), (b[2], b[3], b[4], b[5])) for b in row.blocks)
    return Page(number=row.number, text=row.text, blocks=blocks)


def _encode_cursor(ts: datetime, last_id: str) -> str:
    import base64

    raw = json.dumps([ts.isoformat(), last_id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[datetime, str]:
    import base64

    from pipelines.errors import InvalidRequest

    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        ts_text, last_id = json.loads(raw)
        ts = datetime.fromisoformat(ts_text)
        if not isinstance(last_id, str):
            raise ValueError
    except (ValueError, TypeError, json.JSONDecodeError):
        raise InvalidRequest("invalid cursor") from None
    return (ts if ts.tzinfo else ts.replace(tzinfo=UTC)), last_id
