"""PII detection in worker processes (``DetectorPool``) gives the pages in-process
detection gives, in order, and survives a worker's death.

The first test runs the real detector (Presidio + spaCy fr/en) in two worker processes;
the others use the fake ``PatternDetector`` (same interface) so worker start-up is cheap.
"""

from __future__ import annotations

import os
import signal
from concurrent.futures.process import BrokenProcessPool

import pytest

from pipelines.anonymising import Anonymiser, InMemoryTokenStore
from pipelines.anonymising.pool import DetectorPool, PseudonymisingPreparer
from pipelines.types import Block, Page
from tests.fakes import PatternDetector

PAGES = [
    Page(1, "Je soussigné M. Jean-Pierre Dupont, demeurant 12 bis rue de la Paix, 75002 Paris, déclare le sinistre.",
         (Block(0, 30, (0, 0, 100, 10)),)),
    Page(2, "Hello, I am John Smith; reach me at john.smith@example.com or 192.168.12.7."),
    Page(3, "Virement sur le compte FR76 3000 6000 0112 3456 7890 189 au nom de Mme Sophie Martin."),
    Page(4, "Aucune donnée personnelle sur cette page, seulement des garanties et des franchises."),
    Page(5, "M. Dupont a rappelé Mme Sophie Martin le lendemain au 06 12 34 56 78."),
]


def prepared_pages(preparer, document_id="doc-1"):
    return [(p.page.text, p.page.blocks, p.offsets, p.pii) for p in preparer.stream(PAGES, document_id)]


def in_process_and_pooled(anonymiser, pool: DetectorPool, **preparer_options):
    """PAGES prepared without a pool, then through ``pool`` (closed afterwards)."""
    in_process = prepared_pages(PseudonymisingPreparer(anonymiser, InMemoryTokenStore(), keep_originals=False))
    try:
        pooled = prepared_pages(PseudonymisingPreparer(anonymiser, InMemoryTokenStore(), keep_originals=False,
                                                       pool=pool, **preparer_options))
    finally:
        pool.close()
    return in_process, pooled


@pytest.mark.slow
def test_pooled_detection_stores_the_same_pages_as_in_process_detection():
    from pipelines.anonymising.pool import default_detector

    # one worker: each one loads the spaCy pipelines (~10 s)
    in_process, pooled = in_process_and_pooled(Anonymiser(default_detector()), DetectorPool(1))
    assert pooled == in_process
    assert "Jean-Pierre Dupont" not in pooled[0][0] and "john.smith@example.com" not in pooled[1][0]
    # the same person gets the same token on every page of the document
    assert sum(p[3].get("PERSON", 0) for p in pooled) >= 4


def pattern_detector():
    return PatternDetector(names=("Jean-Pierre Dupont", "Sophie Martin", "John Smith", "Dupont"))


def test_a_killed_worker_costs_no_page():
    anonymiser = Anonymiser(pattern_detector())
    expected = prepared_pages(PseudonymisingPreparer(anonymiser, InMemoryTokenStore(), keep_originals=False))
    pool = DetectorPool(1, factory=pattern_detector)
    try:
        pool.submit("warm-up").result(timeout=60)
        preparer = PseudonymisingPreparer(anonymiser, InMemoryTokenStore(), keep_originals=False, pool=pool)
        stream = preparer.stream(PAGES, "doc-1")
        first = next(stream)  # the following pages are queued on the worker now
        for pid in list(pool._pool()._processes):
            os.kill(pid, signal.SIGKILL)
        rest = list(stream)
        got = [(p.page.text, p.page.blocks, p.offsets, p.pii) for p in [first, *rest]]
        assert got == expected
        # The pool recovers: new workers serve the next document. The executor learns of
        # the deaths from its own management thread, so when the pages above were done
        # before the kill, the first submit can still land on the dead pool; its future
        # then fails and, per ``submit``'s contract, ``recover`` drops those workers.
        future = pool.submit("Jean-Pierre Dupont")
        try:
            found = future.result(timeout=60)
        except BrokenProcessPool:
            pool.recover(future)
            future = pool.submit("Jean-Pierre Dupont")
            found = future.result(timeout=60)
        assert found[1][0].type == "PERSON"
        assert all(p.is_alive() for p in pool._pool()._processes.values())
    finally:
        pool.close()


def test_two_workers_yield_the_pages_in_order():
    expected, pooled = in_process_and_pooled(Anonymiser(pattern_detector()),
                                             DetectorPool(2, factory=pattern_detector), lookahead=5)
    assert pooled == expected


def test_stopping_a_stream_early_cancels_the_pages_queued_ahead():
    anonymiser = Anonymiser(pattern_detector())
    pool = DetectorPool(1, factory=pattern_detector)
    try:
        preparer = PseudonymisingPreparer(anonymiser, InMemoryTokenStore(), keep_originals=False, pool=pool,
                                          lookahead=4)
        stream = preparer.stream(PAGES, "doc-1")
        next(stream)
        stream.close()
        # the pool is still usable and answers in order
        assert [pool.submit(t).result(timeout=60)[1] != [] for t in ("Sophie Martin", "rien")] == [True, False]
    finally:
        pool.close()


def test_originals_are_kept_in_page_order_before_each_page_is_yielded():
    kept: list[int] = []

    class Store(InMemoryTokenStore):
        def store_original_page(self, document_id, number, text):
            kept.append(number)

    pool = DetectorPool(1, factory=pattern_detector)
    try:
        preparer = PseudonymisingPreparer(Anonymiser(pattern_detector()), Store(), pool=pool)
        for page in preparer.stream(PAGES, "doc-1"):
            assert kept[-1] == page.page.number
    finally:
        pool.close()
    assert kept == [1, 2, 3, 4, 5]


def test_a_pool_needs_a_worker():
    with pytest.raises(ValueError):
        DetectorPool(0)


ORPHAN_SCRIPT = """
import sys, time
sys.path.insert(0, {root!r})
from pipelines.anonymising.pool import DetectorPool
from tests.e2e.test_pii_pool import pattern_detector
pool = DetectorPool(1, factory=pattern_detector)
pool.submit("warm-up").result(timeout=60)
print(*pool._pool()._processes, flush=True)
time.sleep(600)
"""


def test_workers_exit_when_the_service_process_is_killed():
    import subprocess
    import sys
    import time
    from pathlib import Path

    root = str(Path(__file__).resolve().parents[2])
    parent = subprocess.Popen([sys.executable, "-c", ORPHAN_SCRIPT.format(root=root)], stdout=subprocess.PIPE,
                              text=True)
    try:
        workers = [int(pid) for pid in parent.stdout.readline().split()]
        assert workers, "the pool started no worker"
    finally:
        parent.kill()  # SIGKILL: nobody shuts the pool down
        parent.wait()
    deadline = time.monotonic() + 15
    alive = set(workers)
    while alive and time.monotonic() < deadline:
        for pid in list(alive):
            if not _running(pid):
                alive.discard(pid)
        time.sleep(0.2)
    assert not alive, "orphaned PII workers kept running"


def _running(pid: int) -> bool:
    """Alive and not a zombie (an orphan's exit may wait for a reaper that never comes)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def broken_factory():
    raise MemoryError("no room for the models")


def test_workers_that_cannot_start_leave_detection_to_the_ingesting_thread():
    expected, got = in_process_and_pooled(Anonymiser(pattern_detector()), DetectorPool(1, factory=broken_factory))
    assert got == expected
