"""Limits that protect the service: requests per API key, jobs per tenant, and deadlines
on the two routes whose cost depends on the input (ask, extract).

- **Rate.** A token bucket per key id: capacity ``rate_limit_burst``, refilled at
  ``rate_limit_per_minute / 60`` tokens a second, one token per ``/v1`` request. In memory
  and per process (several API processes each apply it). Every role is limited, admins
  included: an admin key is the one whose leak or runaway script hurts most, and the
  operator raises the limit in settings when a batch tool needs more. Requests without a
  known key are not counted here (they get their 401 from the route).
- **Jobs.** A request that creates jobs (uploads, ``extract?async=true``) reserves its
  slots first (``JobRunner.reserve``): over ``max_jobs_per_tenant`` jobs queued or running
  for its tenant it gets a 429, over ``max_queued_jobs`` for the whole process a 503; in
  both cases nothing of the request is queued. Jobs are not queued beyond the limits
  because a queue only grows when callers outpace the workers.
- **Deadlines.** ``ask_timeout_s`` and ``extract_timeout_s`` bound the time to the first
  byte of the answer. On expiry the caller gets a 504 problem at once; the work already
  running in its thread cannot be interrupted and finishes in the background, its output
  discarded (a streamed answer that has started is not cut).

Every refusal is an RFC 9457 problem; 429 and 503 carry ``Retry-After`` (seconds).
Refusals are counted in ``docintel_limit_rejections_total{route, limit}``: the route
template and the limit's name, never a key id or tenant, so the label set stays bounded.
"""

from __future__ import annotations

import asyncio
import logging
import math
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from prometheus_client import Counter
from starlette.routing import compile_path
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from pipelines.registry import hash_key
from services.api.problems import ProblemException, problem_dict, problem_response
from services.jobs import JobsFull, Reservation

log = logging.getLogger("docintel.limits")

ASK_ROUTE = "/v1/collections/{name}/ask"
EXTRACT_ROUTE = "/v1/extract"
JOB_RETRY_AFTER_S = 30
"""Retry-After of a job refusal: jobs take seconds to minutes; this is a polite floor."""


def retry_after(seconds: float) -> str:
    """``Retry-After`` is whole seconds (RFC 9110 delay-seconds); never 0, which would
    invite an immediate retry that is refused again."""
    return str(max(1, math.ceil(seconds)))


class TokenBucketLimiter:
    """Token buckets by key. Invariants: a bucket holds between 0 and ``burst`` tokens; it
    gains ``per_minute / 60`` tokens a second of ``clock`` time; ``acquire`` takes one
    token or, when less than one is left, takes nothing and says how long until one is.
    Memory: one small entry per key that made a request (keys are operator-issued, so
    this is bounded by the key table)."""

    def __init__(self, per_minute: float, burst: int, *, clock: Callable[[], float] = time.monotonic):
        if per_minute <= 0 or burst < 1:
            raise ValueError("per_minute must be > 0 and burst >= 1")
        self.rate = per_minute / 60.0
        self.burst = float(burst)
        self.clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}  # key -> (tokens, at)
        self._lock = threading.Lock()

    def acquire(self, key: str) -> float:
        """0.0 when admitted; otherwise the seconds until a token will be available."""
        now = self.clock()
        with self._lock:
            tokens, at = self._buckets.get(key, (self.burst, now))
            tokens = min(self.burst, tokens + max(0.0, now - at) * self.rate)
            if tokens >= 1.0:
                self._buckets[key] = (tokens - 1.0, now)
                return 0.0
            self._buckets[key] = (tokens, now)
            return (1.0 - tokens) / self.rate


class Limits:
    """The limits of one container (one process), built from its settings on first use.
    Tests may put their own in ``container.extras["limits"]`` (e.g. with a fake clock)."""

    def __init__(self, settings, metrics_registry, *, clock: Callable[[], float] = time.monotonic):
        self.rate = (TokenBucketLimiter(settings.rate_limit_per_minute, settings.rate_limit_burst, clock=clock)
                     if settings.rate_limit_per_minute > 0 else None)
        self.per_minute = settings.rate_limit_per_minute
        self.max_jobs_per_tenant = settings.max_jobs_per_tenant
        self.max_queued_jobs = settings.max_queued_jobs
        self.deadlines = {ASK_ROUTE: settings.ask_timeout_s, EXTRACT_ROUTE: settings.extract_timeout_s}
        self.rejections = _rejections_counter(metrics_registry)

    @classmethod
    def of(cls, container) -> Limits:
        limits = container.extras.get("limits")
        if limits is None:
            with _BUILD_LOCK:
                limits = container.extras.get("limits")
                if limits is None:
                    limits = container.extras["limits"] = cls(container.settings, container.metrics.registry)
        return limits


_BUILD_LOCK = threading.RLock()  # Limits.of builds the counter under it too
_COUNTERS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _rejections_counter(metrics_registry) -> Counter:
    """One counter per metrics registry, however many ``Limits`` are built on it."""
    with _BUILD_LOCK:
        counter = _COUNTERS.get(metrics_registry)
        if counter is None:
            counter = _COUNTERS[metrics_registry] = Counter(
                "docintel_limit_rejections", "Requests refused by a protective limit", ["route", "limit"],
                registry=metrics_registry,
            )
        return counter


@contextmanager
def admit_jobs(container, tenant: str, jobs: int, *, route: str) -> Iterator[Reservation]:
    """Reserve ``jobs`` job slots for ``tenant`` for the duration of the block, or raise the
    429/503 problem. Pass the reservation to ``JobRunner.submit``."""
    limits = Limits.of(container)
    try:
        with container.runner.reserve(tenant, jobs, per_tenant=limits.max_jobs_per_tenant,
                                      total=limits.max_queued_jobs) as reservation:
            yield reservation
    except JobsFull as exc:
        headers = {"Retry-After": retry_after(JOB_RETRY_AFTER_S)}
        if exc.scope == "tenant":
            limits.rejections.labels(route, "tenant_jobs").inc()
            raise ProblemException(
                429, f"this tenant already has the maximum of {exc.limit} jobs queued or running "
                f"(this request needs {jobs}); retry when some have finished",
                slug="too-many-jobs", title="Too many jobs", headers=headers, retry_after=JOB_RETRY_AFTER_S,
            ) from None
        limits.rejections.labels(route, "server_jobs").inc()
        raise ProblemException(
            503, f"the server's job queue is full ({exc.limit} jobs); retry later",
            slug="jobs-queue-full", title="Job queue full", headers=headers, retry_after=JOB_RETRY_AFTER_S,
        ) from None


def _bearer(scope: Scope) -> str | None:
    for name, value in scope.get("headers", ()):
        if name == b"authorization":
            scheme, _, token = value.decode("latin-1").partition(" ")
            if scheme.lower() != "bearer":
                return None
            return token.strip() or None
    return None


class _RouteTable:
    """Route templates of the app's operations, matched the way the router matches them
    (anchored regexes from the same templates): a refusal happens before routing, yet its
    metrics and logs name the route. Built from the OpenAPI document, which lists exactly
    the API's operations."""

    def __init__(self, app) -> None:
        self.entries = []
        for template, operations in app.openapi().get("paths", {}).items():
            regex, _, _ = compile_path(template)
            self.entries.append((regex, {m.upper() for m in operations}, template))

    def template(self, method: str, path: str) -> str:
        for regex, methods, template in self.entries:
            if method in methods and regex.match(path):
                return template
        return "unmatched"


class _RouteLabel:
    """Stands in for ``scope["route"]`` on a refused request: the request middleware
    labels its metrics and log line with ``scope["route"].path``."""

    def __init__(self, path: str) -> None:
        self.path = path


class LimitsMiddleware:
    """Applies the per-key rate and the deadlines before the request reaches its route.

    Pure ASGI (no BaseHTTPMiddleware): a refused upload is answered before its body is
    read, and streamed answers pass through untouched. Installed inside the request-context
    middleware so that refusals get a request id, a log line and request metrics."""

    def __init__(self, app: ASGIApp):
        self.app = app
        self._abandoned: set[asyncio.Task] = set()  # strong references until they finish
        self._routes: _RouteTable | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith("/v1/"):
            await self.app(scope, receive, send)
            return
        container = getattr(scope["app"].state, "container", None)
        if container is None:  # not started: nothing to protect yet
            await self.app(scope, receive, send)
            return
        limits = Limits.of(container)
        if self._routes is None:
            self._routes = _RouteTable(scope["app"])
        template = self._routes.template(scope["method"], scope["path"])

        token = _bearer(scope) if limits.rate is not None else None
        if token:
            # Cached by the key store; a miss is one indexed registry read.
            row = container.keys.lookup(hash_key(token))
            if row is not None:
                wait = limits.rate.acquire(row.id)
                if wait > 0:
                    limits.rejections.labels(template, "rate").inc()
                    scope.setdefault("route", _RouteLabel(template))
                    seconds = int(retry_after(wait))
                    response = problem_response(
                        problem_dict(429, "too-many-requests", "Too many requests",
                                     f"more than {limits.per_minute} requests a minute with this API key; "
                                     f"retry in {seconds} s", scope["path"], retry_after=seconds),
                        headers={"Retry-After": str(seconds)},
                    )
                    await response(scope, receive, send)
                    return

        deadline = limits.deadlines.get(template) if scope["method"] == "POST" else None
        if deadline is None:
            await self.app(scope, receive, send)
            return
        await self._with_deadline(scope, receive, send, deadline, template, limits)

    async def _with_deadline(self, scope: Scope, receive: Receive, send: Send, deadline: float,
                             template: str, limits: Limits) -> None:
        started = asyncio.Event()
        abandoned = False

        async def guarded_send(message: Message) -> None:
            if abandoned:
                return  # the caller already has its 504
            if message["type"] == "http.response.start":
                started.set()
            await send(message)

        async def guarded_receive() -> Message:
            if abandoned:
                return {"type": "http.disconnect"}
            return await receive()

        task = asyncio.ensure_future(self.app(scope, guarded_receive, guarded_send))
        first_byte = asyncio.ensure_future(started.wait())
        try:
            await asyncio.wait({task, first_byte}, timeout=deadline, return_when=asyncio.FIRST_COMPLETED)
        finally:
            first_byte.cancel()
        if task.done() or started.is_set():
            await task  # finishes the (possibly streamed) response and raises what it raised
            return
        # From here nothing of the late answer reaches the caller (no await in between,
        # so the task cannot have started its response meanwhile).
        abandoned = True
        self._abandoned.add(task)
        task.add_done_callback(self._reap)
        limits.rejections.labels(template, "timeout").inc()
        scope.setdefault("route", _RouteLabel(template))
        detail = f"no answer within {deadline:g} s"
        if template == EXTRACT_ROUTE:
            detail += "; use ?async=true for large or scanned documents"
        response = problem_response(problem_dict(504, "timeout", "Request timed out", detail, scope["path"]))
        await response(scope, receive, send)

    def _reap(self, task: asyncio.Task) -> None:
        self._abandoned.discard(task)
        if not task.cancelled() and task.exception() is not None:
            # Type only: the message of an unexpected error may quote document text.
            log.warning("abandoned request failed after its deadline: %s", type(task.exception()).__name__)
