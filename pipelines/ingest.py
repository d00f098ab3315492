"""Ingestion: bytes -> parsed pages -> (pseudonymised pages) -> chunks -> vectors -> index.

Invariants this module keeps:

* A document is searchable only once every one of its chunks is in the index: points are
  written with ``ready: False`` and flipped to ``ready: True`` in one call at the end.
* Point ids are deterministic (document id + chunk index): running the same job twice
  writes the same points, so a job interrupted by a crash can simply run again.
* On any failure or cancellation the document's points are removed before the error
  propagates: nothing is ever half-indexed.
* ``page.text[chunk.start:chunk.end] == chunk.text`` for the *stored* page text (the
  pseudonymised one when the collection pseudonymises).
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace

from pipelines.errors import EmptyDocument, JobCancelled
from pipelines.indexing.qdrant_index import chunk_payload, point_id
from pipelines.ports import Embedder, Parser, SparseEncoder, VectorIndex
from pipelines.types import Chunk, IndexPoint, OffsetMap, Page, ParsedDocument

log = logging.getLogger("docintel.ingest")

ProgressFn = Callable[[str, int, int], None]
"""``progress(stage, done, total)``."""


@dataclass(frozen=True)
class IngestTarget:
    """Where a document goes and who may read it (payload fields of every point)."""

    tenant: str
    collection: str
    index_name: str
    """Physical collection (or alias) to write to."""
    document_id: str
    filename: str
    acl_groups: tuple[str, ...] = ()
    tags: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class PreparedPage:
    """A page as stored (maybe pseudonymised), with the map back to the original text."""

    page: Page
    offsets: OffsetMap
    pii: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class IngestResult:
    media_type: str
    pages: tuple[Page, ...]
    offsets: tuple[OffsetMap, ...]
    """Per page, the map from stored-text offsets back to the original page text."""
    chunks: int
    pii: dict[str, int]
    ocr_pages: tuple[int, ...]
    timings_ms: dict[str, float]
    warnings: tuple[str, ...] = ()


PagePreparer = Callable[[Page, str], PreparedPage]
"""``prepare(page, document_id)``: pseudonymise a page (or return it unchanged)."""


def identity_preparer(page: Page, _document_id: str) -> PreparedPage:
    return PreparedPage(page, OffsetMap.identity())


def prepared_stream(prepare: PagePreparer, pages: Sequence[Page], document_id: str) -> Iterator[PreparedPage]:
    """``prepare`` applied to each page, in order. A preparer with a ``stream(pages,
    document_id)`` method (e.g. one that detects PII in other processes, ahead of the
    consumer) provides the iterator itself; it must yield the same pages."""
    stream = getattr(prepare, "stream", None)
    if stream is not None:
        return iter(stream(pages, document_id))
    return (prepare(page, document_id) for page in pages)


class Chunker:
    """Structural type of the chunker used here (see ``pipelines.chunking``)."""

    def chunk_document(self, pages: Sequence[Page]) -> list[Chunk]: ...  # pragma: no cover


class IngestPipeline:
    """Composes the stages. Stateless between documents; safe to call from one worker thread
    per document (the embedder serialises its own model calls)."""

    def __init__(
        self,
        *,
        parser: Parser,
        index: VectorIndex,
        sparse: SparseEncoder,
        batch_size: int = 64,
    ):
        self.parser = parser
        self.index = index
        self.sparse = sparse
        self.batch_size = batch_size

    def parse(self, data: bytes, *, filename: str, password: str | None) -> ParsedDocument:
        parsed = self.parser.parse(data, filename=filename, password=password)
        if parsed.is_empty:
            raise EmptyDocument("the document contains no extractable text")
        return parsed

    def run(
        self,
        data: bytes,
        target: IngestTarget,
        *,
        embedder: Embedder,
        chunker: Chunker,
        prepare: PagePreparer = identity_preparer,
        password: str | None = None,
        progress: ProgressFn = lambda *_: None,
        cancelled: Callable[[], bool] = lambda: False,
        parsed: ParsedDocument | None = None,
    ) -> IngestResult:
        timings: dict[str, float] = {}
        try:
            t0 = time.perf_counter()
            progress("parse", 0, 1)
            if parsed is None:
                parsed = self.parse(data, filename=target.filename, password=password)
            timings["parse"] = (time.perf_counter() - t0) * 1000
            self._check(cancelled)
            return self.index_pages(
                parsed, target, embedder=embedder, chunker=chunker, prepare=prepare,
                progress=progress, cancelled=cancelled, timings=timings,
            )
        except BaseException:
            self.remove_points(target)
            raise

    def index_pages(
        self,
        parsed: ParsedDocument,
        target: IngestTarget,
        *,
        embedder: Embedder,
        chunker: Chunker,
        prepare: PagePreparer = identity_preparer,
        progress: ProgressFn = lambda *_: None,
        cancelled: Callable[[], bool] = lambda: False,
        timings: dict[str, float] | None = None,
    ) -> IngestResult:
        """Stages after parsing (also used by re-indexing from stored pages).

        Streamed page by page: a page's chunks are embedded and written while the
        preparer works on the pages after it (a ``stream``-capable preparer detects PII
        in other processes, see ``pipelines.anonymising.pool``), so pseudonymisation and
        embedding overlap. Chunk indices run 0..n-1 across the document, as with
        ``chunker.chunk_document(all pages)``; batches hold ``batch_size`` chunks.
        """
        timings = timings if timings is not None else {}
        try:
            batcher = _ChunkBatcher(self, target, embedder, progress, cancelled, len(parsed.pages))
            pages = prepared_stream(prepare, parsed.pages, target.document_id)
            progress("index", 0, len(parsed.pages))
            try:
                while True:
                    t0 = time.perf_counter()
                    item = next(pages, None)
                    batcher.ms["anonymise"] += (time.perf_counter() - t0) * 1000
                    if item is None:
                        break
                    batcher.add_page(item, chunker)
            finally:
                close = getattr(pages, "close", None)
                if close is not None:
                    close()  # a preparer working ahead stops (its queued pages are cancelled)
            batcher.flush()
            if batcher.written == 0:
                raise EmptyDocument("the document contains no extractable text")
            timings.update(batcher.ms)
            self._check(cancelled)
            prepared = batcher.prepared
            stored_pages = [p.page for p in prepared]
            total = batcher.written

            pii: Counter[str] = Counter()
            for p in prepared:
                pii.update(p.pii)
            return IngestResult(
                media_type=parsed.media_type,
                pages=tuple(stored_pages),
                offsets=tuple(p.offsets for p in prepared),
                chunks=total,
                pii=dict(pii),
                ocr_pages=parsed.ocr_pages,
                timings_ms=timings,
                warnings=parsed.warnings,
            )
        except BaseException:
            self.remove_points(target)
            raise

    def publish(self, target: IngestTarget) -> None:
        """Make every point of the document searchable, in one index call."""
        self.index.set_payload(target.index_name, target.document_id, {"ready": True})

    def remove_points(self, target: IngestTarget) -> None:
        try:
            self.index.delete_document(target.index_name, target.document_id)
        except Exception:  # the original error matters more; reconciliation catches leftovers
            log.exception("could not remove points of a failed document")

    @staticmethod
    def _check(cancelled: Callable[[], bool]) -> None:
        if cancelled():
            raise JobCancelled("the job was cancelled")


PROGRESS_INTERVAL_S = 0.5


class _ChunkBatcher:
    """Collects a document's chunks page by page and writes them ``batch_size`` at a time
    (dense + sparse vectors, upserted as not-yet-ready points).

    Invariant: chunk ``index`` values are 0..n-1 in page order, whatever the batching.
    """

    def __init__(self, pipeline: IngestPipeline, target: IngestTarget, embedder: Embedder,
                 progress: ProgressFn, cancelled: Callable[[], bool], total_pages: int):
        self.pipeline = pipeline
        self.target = target
        self.embedder = embedder
        self.progress = progress
        self.cancelled = cancelled
        self.total_pages = total_pages
        self.prepared: list[PreparedPage] = []
        self.pending: list[Chunk] = []
        self.offsets_by_page: dict[int, OffsetMap] = {}
        self.written = 0
        self.ms = dict.fromkeys(("anonymise", "chunk", "embed", "sparse", "upsert"), 0.0)
        self._reported_at = time.monotonic()

    def add_page(self, item: PreparedPage, chunker: Chunker) -> None:
        self.prepared.append(item)
        self.offsets_by_page[item.page.number] = item.offsets
        t0 = time.perf_counter()
        first = self.written + len(self.pending)
        self.pending.extend(replace(c, index=first + i) for i, c in enumerate(chunker.chunk_document([item.page])))
        self.ms["chunk"] += (time.perf_counter() - t0) * 1000
        IngestPipeline._check(self.cancelled)
        size = self.pipeline.batch_size
        while len(self.pending) >= size:
            self._write(self.pending[:size])
            del self.pending[:size]
            self._report()
        if not self.pending:
            self._report()

    def flush(self) -> None:
        if self.pending:
            self._write(self.pending)
            self.pending = []
        self._report(final=True)

    def _report(self, *, final: bool = False) -> None:
        # Pages whose chunks are all written (the chunk total is known only at the end).
        # At most every PROGRESS_INTERVAL_S: a job's progress is a database write, and a
        # page of a long document takes milliseconds.
        now = time.monotonic()
        if not final and now - self._reported_at < PROGRESS_INTERVAL_S:
            return
        self._reported_at = now
        waiting = len({c.page for c in self.pending})
        self.progress("index", len(self.prepared) - waiting, self.total_pages)

    def _write(self, batch: list[Chunk]) -> None:
        IngestPipeline._check(self.cancelled)
        target, embedder, ms = self.target, self.embedder, self.ms
        texts = [c.text for c in batch]
        t0 = time.perf_counter()
        dense = embedder.embed_documents(texts)
        t1 = time.perf_counter()
        sparse = self.pipeline.sparse.encode_documents(texts)
        t2 = time.perf_counter()
        points = []
        for chunk, vector, sparse_vector in zip(batch, dense, sparse, strict=True):
            offsets = self.offsets_by_page[chunk.page]
            located = replace(
                chunk,
                orig_start=offsets.to_original(chunk.start),
                orig_end=offsets.to_original(chunk.end, is_end=True),
            )
            points.append(
                IndexPoint(
                    id=point_id(target.document_id, chunk.index),
                    dense=vector,
                    sparse=sparse_vector,
                    payload=chunk_payload(
                        located,
                        document_id=target.document_id,
                        filename=target.filename,
                        acl_groups=target.acl_groups,
                        tags=target.tags,
                        ready=False,
                        extra={
                            "tenant": target.tenant,
                            "collection": target.collection,
                            "embedder": f"{embedder.name}@{embedder.version}",
                        },
                    ),
                )
            )
        self.pipeline.index.upsert(target.index_name, points)
        t3 = time.perf_counter()
        ms["embed"] += (t1 - t0) * 1000
        ms["sparse"] += (t2 - t1) * 1000
        ms["upsert"] += (t3 - t2) * 1000
        self.written += len(batch)
