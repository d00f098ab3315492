"""Background jobs: persistent state in the registry, execution in worker threads.

The API process is the only writer of the embedded index (DESIGN.md, "one owner"), so
jobs run in threads of that process; CPU-heavy parsing inside them is pushed to the
sandboxed parser's worker processes.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from pipelines.errors import DocintelError, JobCancelled
from pipelines.registry import Registry

log = logging.getLogger("docintel.jobs")

JobFn = Callable[["JobContext"], dict | None]


@dataclass
class JobContext:
    """What a running job may do: report progress and ask whether it was cancelled."""

    job_id: str
    registry: Registry
    _last_progress: tuple[str, int, int] | None = None

    def progress(self, stage: str, done: int, total: int) -> None:
        if self._last_progress == (stage, done, total):
            return
        self._last_progress = (stage, done, total)
        self.registry.update_job(self.job_id, stage=stage, progress_done=done, progress_total=total)

    def cancelled(self) -> bool:
        return self.registry.is_cancel_requested(self.job_id)


class JobsFull(Exception):
    """Admission refused. ``scope`` is ``"tenant"`` (that tenant's own quota) or
    ``"server"`` (every tenant's jobs together)."""

    def __init__(self, scope: str, limit: int):
        super().__init__(f"{scope} job limit {limit} reached")
        self.scope = scope
        self.limit = limit


class Reservation:
    """Job slots held by one request between its admission check and its submissions, so
    that concurrent requests cannot all pass the check and overshoot the limit together.
    Each ``submit(..., reservation=r)`` turns one slot into a job; slots not used are given
    back when the ``reserve`` block ends."""

    def __init__(self, tenant: str, slots: int):
        self.tenant = tenant
        self.slots = slots


class JobRunner:
    """Runs jobs on ``workers`` threads, first in, first out.

    Invariant: ``outstanding(t)`` is the number of jobs of tenant ``t`` submitted to this
    runner and not finished, plus the slots that requests of ``t`` hold in a ``reserve``
    block. It is per process, like the runner itself."""

    def __init__(self, registry: Registry, *, workers: int = 1,
                 problem_for: Callable[[Exception], dict], on_state: Callable[[str, str], None] | None = None):
        self.registry = registry
        self._queue: queue.Queue[tuple[str, JobFn] | None] = queue.Queue()
        self._events: dict[str, threading.Event] = {}
        self._events_lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._workers = workers
        self._problem_for = problem_for
        self._on_state = on_state or (lambda kind, state: None)
        self._outstanding: Counter[str] = Counter()
        self._job_tenant: dict[str, str] = {}
        self._count_lock = threading.Lock()

    def outstanding(self, tenant: str | None = None) -> int:
        with self._count_lock:
            return self._outstanding[tenant] if tenant is not None else sum(self._outstanding.values())

    @contextmanager
    def reserve(self, tenant: str, slots: int, *, per_tenant: int, total: int) -> Iterator[Reservation]:
        """Hold ``slots`` job slots for ``tenant`` or raise ``JobsFull`` without holding any."""
        with self._count_lock:
            if self._outstanding[tenant] + slots > per_tenant:
                raise JobsFull("tenant", per_tenant)
            if sum(self._outstanding.values()) + slots > total:
                raise JobsFull("server", total)
            self._outstanding[tenant] += slots
        reservation = Reservation(tenant, slots)
        try:
            yield reservation
        finally:
            with self._count_lock:
                self._release(tenant, reservation.slots)
                reservation.slots = 0

    def _release(self, tenant: str, n: int) -> None:
        self._outstanding[tenant] -= n
        if self._outstanding[tenant] <= 0:
            del self._outstanding[tenant]

    def start(self) -> None:
        for i in range(self._workers):
            thread = threading.Thread(target=self._loop, name=f"docintel-job-{i}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self, timeout: float = 10.0) -> None:
        for _ in self._threads:
            self._queue.put(None)
        for thread in self._threads:
            thread.join(timeout)
        self._threads.clear()

    def submit(self, job_id: str, fn: JobFn, *, reservation: Reservation | None = None) -> None:
        """Queue a job. With a reservation, one of its slots becomes this job; without one
        (recovery after a restart, re-index) the job is counted for its tenant all the same."""
        tenant = reservation.tenant if reservation is not None else self.registry.get_job(job_id).tenant
        with self._count_lock:
            if reservation is not None and reservation.slots > 0:
                reservation.slots -= 1
            else:
                self._outstanding[tenant] += 1
            self._job_tenant[job_id] = tenant
        with self._events_lock:
            self._events.setdefault(job_id, threading.Event())
        self._queue.put((job_id, fn))

    def wait(self, job_id: str, timeout: float | None = None) -> bool:
        with self._events_lock:
            event = self._events.setdefault(job_id, threading.Event())
        job = self.registry.get_job(job_id)
        if job.status in ("succeeded", "failed", "cancelled"):
            return True
        return event.wait(timeout)

    def _finish(self, job_id: str) -> None:
        with self._count_lock:
            tenant = self._job_tenant.pop(job_id, None)
            if tenant is not None:
                self._release(tenant, 1)
        with self._events_lock:
            event = self._events.pop(job_id, None)
        if event is not None:
            event.set()

    def _loop(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            job_id, fn = item
            try:
                self._run_one(job_id, fn)
            except Exception:  # never let a worker thread die
                log.exception("job bookkeeping failed")
            finally:
                self._finish(job_id)

    def _run_one(self, job_id: str, fn: JobFn) -> None:
        job = self.registry.get_job(job_id)
        if job.status != "queued":
            return
        if job.cancel_requested:
            self.registry.update_job(job_id, status="cancelled", stage="cancelled")
            self._on_state(job.kind, "cancelled")
            return
        self.registry.update_job(job_id, status="running", stage="starting")
        self._on_state(job.kind, "running")
        ctx = JobContext(job_id, self.registry)
        try:
            result = fn(ctx)
        except JobCancelled:
            self.registry.update_job(job_id, status="cancelled", stage="cancelled")
            self._on_state(job.kind, "cancelled")
        except DocintelError as exc:
            self.registry.update_job(job_id, status="failed", stage="failed", error=self._problem_for(exc))
            self._on_state(job.kind, "failed")
        except Exception as exc:
            log.error("job %s (%s) failed with %s", job_id, job.kind, type(exc).__name__, exc_info=False)
            self.registry.update_job(job_id, status="failed", stage="failed", error=self._problem_for(exc))
            self._on_state(job.kind, "failed")
        else:
            self.registry.update_job(job_id, status="succeeded", stage="done", result=result)
            self._on_state(job.kind, "succeeded")
