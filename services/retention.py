"""Audit retention: records older than ``audit_retention_days`` are purged on a schedule.

The API process runs one ``RetentionScheduler`` (started and stopped by the app's
lifespan): a daemon thread that purges once at start-up and then every
``audit_purge_interval_s`` (daily by default; 0 turns it off). ``docintel audit purge``
does the same once, on demand. Purging keeps the chain verifiable: see
``AuditLog.purge_older_than`` (the first kept record anchors the chain and the head
checkpoint records how far the purge went).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime

from pipelines.audit import AuditLog

log = logging.getLogger("docintel.retention")

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


class RetentionScheduler:
    """Purges the audit trail every ``interval_s`` seconds in a daemon thread.

    Invariants: at most one purge runs at a time; ``stop`` returns once the thread has
    finished (a purge in progress completes first); a failing purge is logged and
    retried at the next tick, it never stops the schedule.
    """

    def __init__(self, audit: AuditLog, *, retention_days: float, interval_s: float,
                 clock: Clock = utc_now) -> None:
        if retention_days <= 0:
            raise ValueError("retention_days must be positive")
        self.audit = audit
        self.retention_days = retention_days
        self.interval_s = interval_s
        self.clock = clock
        self.runs = 0
        self.purged_total = 0
        self._stop = threading.Event()
        self._run_lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def run_once(self) -> int:
        """One purge at the clock's current time; returns how many records went."""
        with self._run_lock:
            purged = self.audit.purge_older_than(self.retention_days, now=self.clock())
            self.runs += 1
            self.purged_total += purged
        if purged:
            log.info("audit retention purge", extra={"purged": purged, "retention_days": self.retention_days})
        return purged

    def start(self) -> None:
        if self.interval_s <= 0 or self._thread is not None:
            return
        self._thread = threading.Thread(target=self._loop, name="docintel-audit-retention", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.run_once()
            except Exception:  # a database hiccup must not end the schedule
                log.exception("audit retention purge failed; retrying at the next interval")
            self._stop.wait(self.interval_s)

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
