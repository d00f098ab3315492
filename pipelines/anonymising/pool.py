"""PII detection in worker processes, so pseudonymised ingestion uses more than one core.

Why processes: detection (spaCy NER + Presidio recognisers) is most of the CPU time of a
pseudonymised ingestion (bench/BENCHMARKS.md) and it holds the GIL, so a thread cannot
overlap it with embedding. A ``DetectorPool`` runs ``PiiDetector.detect`` in ``workers``
processes; the ingesting thread keeps what must stay in this process (pseudonyms come
from the collection's vault, a database handle here), chunks and embeds page *n* while the
workers detect the pages after it.

Invariants:

* ``pool.submit(text, language, entities).result()`` equals ``(language',
  factory().detect(text, language', entities=entities))`` where ``language'`` is
  ``language`` or the detector's guess: each worker builds its detector with the same
  picklable ``factory``, so pooled and in-process ingestion store the same text.
* ``PseudonymisingPreparer.stream`` yields exactly ``[prepare(p, doc) for p in pages]``,
  in page order, with or without a pool.
* A worker that dies (killed, out of memory) does not fail the document: its pages are
  detected in the calling thread and the pool starts fresh workers for the next one.
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import os
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import CancelledError, Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

from pipelines.anonymising.page import anonymise_page
from pipelines.types import Page, PiiEntity

log = logging.getLogger("docintel.anonymising")

_worker_detector = None


def default_detector():
    """The detector the service uses (Presidio + the default spaCy pipelines)."""
    from models.pii import build_nlp_engine
    from pipelines.anonymising.detector import PiiDetector

    return PiiDetector(build_nlp_engine())


def _start_worker(factory: Callable[[], object]) -> None:
    global _worker_detector
    _watch_parent(os.getppid())
    _worker_detector = factory()


def _watch_parent(parent: int) -> None:
    """Exit when the service process is gone (kill -9 leaves no one to shut the pool
    down, and an orphan worker would keep its ~0.5 GB of models forever)."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(0)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def _detect_in_worker(text: str, language: str | None,
                      entities: frozenset[str] | None) -> tuple[str, list[PiiEntity]]:
    language = language or _worker_detector.detect_language(text)
    return language, _worker_detector.detect(text, language, entities=entities)


class DetectorPool:
    """``workers`` processes, each with its own detector built by ``factory`` (a picklable
    zero-argument callable; it runs in the worker, so the models load there, once).

    Processes start on the first ``submit`` (or ``start``), with the ``spawn`` method:
    the service process holds threads and model handles that ``fork`` would copy in an
    unknown state.
    """

    def __init__(self, workers: int, factory: Callable[[], object] = default_detector):
        if workers < 1:
            raise ValueError("a detector pool needs at least one worker")
        self.workers = workers
        self._factory = factory
        self._executor: ProcessPoolExecutor | None = None
        self._lock = threading.Lock()

    def start(self) -> None:
        """Start the workers now (they load their models in the background)."""
        self._pool()

    def _pool(self) -> ProcessPoolExecutor:
        with self._lock:
            if self._executor is None:
                self._executor = ProcessPoolExecutor(
                    max_workers=self.workers, mp_context=mp.get_context("spawn"),
                    initializer=_start_worker, initargs=(self._factory,),
                )
            return self._executor

    def submit(self, text: str, language: str | None = None,
               entities: Iterable[str] | None = None) -> Future:
        """Detect in a worker: a future of ``(language, entities found)``. When a worker
        has died, the future raises ``BrokenProcessPool``: pass it to ``recover``."""
        wanted = frozenset(entities) if entities is not None else None
        for _attempt in range(2):
            executor = self._pool()
            try:
                future = executor.submit(_detect_in_worker, text, language, wanted)
            except BrokenProcessPool:
                self._drop(executor)
                continue
            future.executor = executor  # which workers to drop if this one fails
            return future
        raise BrokenProcessPool("PII detection workers keep dying")

    def recover(self, failed: Future) -> None:
        """After ``failed`` raised ``BrokenProcessPool``: drop its workers (once; later
        submits start new ones, and futures of the same dead pool change nothing)."""
        self._drop(getattr(failed, "executor", None))

    def _drop(self, executor: ProcessPoolExecutor | None) -> None:
        with self._lock:
            if executor is None or executor is not self._executor:
                return
            self._executor = None
        executor.shutdown(wait=False, cancel_futures=True)

    def close(self) -> None:
        with self._lock:
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=True, cancel_futures=True)


class PseudonymisingPreparer:
    """The ``PagePreparer`` of a pseudonymised collection (see ``pipelines.ingest``).

    Calling it prepares one page in this thread. ``stream`` prepares a document's pages in
    order; with a ``pool``, detection of up to ``lookahead`` pages runs ahead in the
    pool's processes while the caller chunks and embeds the pages already yielded (the
    queued pages' texts are already in memory; results are span lists).
    ``keep_original`` (``scope.store_original_page``) is called for each page, in order,
    before its pseudonymised text is yielded: re-pseudonymisation needs the originals.
    """

    def __init__(self, anonymiser, scope, *, entities: Sequence[str] | None = None,
                 keep_originals: bool = True, pool: DetectorPool | None = None,
                 lookahead: int | None = None):
        self.anonymiser = anonymiser
        self.scope = scope
        self.entities = entities
        self.keep_originals = keep_originals
        self.pool = pool
        # Far enough ahead to keep the workers busy while this thread embeds a whole batch
        # (64 chunks, ~30 pages of prose): with a few pages only, the workers idled during
        # each embedding call and the stages barely overlapped (bench/BENCHMARKS.md).
        self.lookahead = lookahead or (max(64, 4 * pool.workers) if pool is not None else 0)

    def __call__(self, page: Page, document_id: str, *, detected=None):
        from pipelines.ingest import PreparedPage

        if self.keep_originals:
            self.scope.store_original_page(document_id, page.number, page.text)
        language, found = detected if detected is not None else (None, None)
        new_page, result = anonymise_page(page, self.anonymiser, document_id=document_id,
                                          store=self.scope, entities=self.entities,
                                          language=language, found=found)
        return PreparedPage(new_page, result.offsets, dict(Counter(e.type for e in result.entities)))

    def stream(self, pages: Sequence[Page], document_id: str) -> Iterator:
        if self.pool is None:
            for page in pages:
                yield self(page, document_id)
            return
        entities = self.entities if self.entities is not None else self.anonymiser.entities
        pending: deque[tuple[Page, Future | None]] = deque()
        upcoming = iter(pages)
        pool_usable = True
        try:
            while True:
                while len(pending) < self.lookahead:
                    page = next(upcoming, None)
                    if page is None:
                        break
                    future = None
                    if pool_usable:
                        try:
                            future = self.pool.submit(page.text, None, entities)
                        except BrokenProcessPool:
                            # Workers die as they start (memory, a model missing there):
                            # the rest of this document is detected here.
                            log.warning("PII detection workers cannot start; detecting in the ingesting thread")
                            pool_usable = False
                    pending.append((page, future))
                if not pending:
                    return
                page, future = pending.popleft()
                detected = None
                if future is not None:
                    try:
                        detected = future.result()
                    except (BrokenProcessPool, CancelledError):
                        # A worker died (OOM killer, kill -9) or the pool was closed: this
                        # page is detected here; pages queued on the same workers too.
                        log.warning("PII detection worker lost; detecting page in the ingesting thread")
                        self.pool.recover(future)
                yield self(page, document_id, detected=detected)
        finally:
            for _, future in pending:
                if future is not None:
                    future.cancel()
