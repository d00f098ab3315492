"""Protective limits as a specification: the per-key token bucket (with an injected
clock), job admission per tenant and per server, and the deadlines of ask and extract.
Every refusal is a problem+json with the right status, and 429/503 carry Retry-After."""

from __future__ import annotations

import json
import threading
import time

import pytest
from fastapi.testclient import TestClient

from services.api.ratelimit import Limits, TokenBucketLimiter, retry_after
from tests.api.test_auth_and_problems import assert_problem
from tests.conftest import KEYS, Api, build_test_app
from tests.fakes import HashingEmbedder, TextParser


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


# ---- the token bucket -----------------------------------------------------------------

# Bucket of 3 tokens refilled at 60 a minute (1 a second). Each step: advance the clock,
# acquire once for a key, expect this wait (0 = admitted).
BUCKET_SCENARIOS = {
    "burst then refused": [(0, "a", 0), (0, "a", 0), (0, "a", 0), (0, "a", 1.0)],
    "refills at the rate": [(0, "a", 0), (0, "a", 0), (0, "a", 0), (0.25, "a", 0.75), (0.75, "a", 0)],
    "refill never exceeds the burst": [(0, "a", 0), (3600, "a", 0), (0, "a", 0), (0, "a", 0), (0, "a", 1.0)],
    "keys are independent": [(0, "a", 0), (0, "a", 0), (0, "a", 0), (0, "a", 1.0), (0, "b", 0), (0, "b", 0)],
    "a refusal costs nothing": [(0, "a", 0), (0, "a", 0), (0, "a", 0), (0, "a", 1.0), (0, "a", 1.0), (1.0, "a", 0)],
}


@pytest.mark.parametrize("steps", BUCKET_SCENARIOS.values(), ids=BUCKET_SCENARIOS.keys())
def test_token_bucket(steps):
    clock = FakeClock()
    bucket = TokenBucketLimiter(per_minute=60, burst=3, clock=clock)
    for i, (advance, key, expected_wait) in enumerate(steps):
        clock.advance(advance)
        assert bucket.acquire(key) == pytest.approx(expected_wait), f"step {i}"


@pytest.mark.parametrize("seconds, header", [(0.001, "1"), (0.5, "1"), (1.0, "1"), (1.01, "2"), (29.2, "30")])
def test_retry_after_is_whole_seconds_never_zero(seconds, header):
    assert retry_after(seconds) == header


# ---- the rate per key through the API ---------------------------------------------------


@pytest.fixture
def limited(tmp_path):
    """Burst 2, then 1 request a second per key; the limiter's clock is ours."""
    app = build_test_app(tmp_path, rate_limit_per_minute=60, rate_limit_burst=2)
    clock = FakeClock()
    with TestClient(app) as client:
        container = app.state.container
        container.extras["limits"] = Limits(container.settings, container.metrics.registry, clock=clock)
        yield Api(client, container), clock


# (key, seconds to advance first, expected status); one sequence, read top to bottom.
RATE_STEPS = [
    ("reader", 0, 200),
    ("reader", 0, 200),
    ("reader", 0, 429),      # burst spent
    ("reader", 0, 429),      # still nothing refilled
    ("writer", 0, 200),      # another key is unaffected
    ("writer", 0, 200),
    ("reader", 1.0, 200),    # one token back after a second
    ("reader", 0, 429),
    ("admin", 0, 200),       # admins are limited like everyone
    ("admin", 0, 200),
    ("admin", 0, 429),
    ("reader", 60, 200),     # a quiet minute refills the burst, not more
    ("reader", 0, 200),
    ("reader", 0, 429),
]


def test_rate_limit_per_key(limited):
    api, clock = limited
    for i, (who, advance, status) in enumerate(RATE_STEPS):
        clock.advance(advance)
        response = api.client.get("/v1/collections", headers=api.h(who))
        assert response.status_code == status, f"step {i}: {who} {response.text}"
        if status == 429:
            body = assert_problem(response, 429)
            assert body["type"].endswith("/too-many-requests")
            assert response.headers["Retry-After"] == "1" and body["retry_after"] == 1
            assert response.headers.get("X-Request-ID"), "refusals go through the request middleware"
    metrics = api.client.get("/metrics").text
    refused = sum(1 for _, _, s in RATE_STEPS if s == 429)
    assert f'docintel_limit_rejections_total{{limit="rate",route="/v1/collections"}} {refused}.0' in metrics
    assert 'docintel_http_requests_total{method="GET",route="/v1/collections",status="429"}' in metrics
    assert "key_" not in metrics.split("docintel_limit_rejections")[1].split("\n# ")[0], "no key ids in labels"


@pytest.mark.parametrize("path, headers, status", [
    ("/healthz", None, 200),                                      # operations routes are not counted
    ("/v1/collections", None, 401),                               # no key: its 401, never a 429
    ("/v1/collections", {"Authorization": "Bearer k-unknown-key-0000000000"}, 401),
])
def test_requests_without_a_known_key_are_not_counted(limited, path, headers, status):
    api, _ = limited
    for _ in range(5):
        assert api.client.get(path, headers=headers).status_code == status


def test_rate_limit_zero_disables_it(tmp_path):
    with TestClient(build_test_app(tmp_path, rate_limit_per_minute=0, rate_limit_burst=1)) as client:
        headers = {"Authorization": f"Bearer {KEYS['reader']['key']}"}
        assert {client.get("/v1/collections", headers=headers).status_code for _ in range(30)} == {200}


# ---- jobs per tenant and per server -----------------------------------------------------


class GatedParser(TextParser):
    """Holds every parse until the gate opens, so that jobs stay queued or running."""

    def __init__(self) -> None:
        self.gate = threading.Event()

    def parse(self, data, *, filename="", password=None):
        self.gate.wait(30)
        return super().parse(data, filename=filename, password=password)


@pytest.fixture
def gated(tmp_path):
    parser = GatedParser()
    app = build_test_app(tmp_path, parser=parser, max_jobs_per_tenant=3, max_queued_jobs=4)
    try:
        with TestClient(app) as client:
            api = Api(client, app.state.container)
            api.create_collection("docs", who="admin")
            api.create_collection("docs", who="other_admin")
            yield api, parser
    finally:
        parser.gate.set()


def _files(tag: str, n: int) -> list[tuple[str, bytes]]:
    return [(f"{tag}-{i}.txt", f"Document {tag} {i}: the policy number is AB-{i}.".encode()) for i in range(n)]


def _extract_async(api: Api, who: str):
    return api.client.post("/v1/extract", params={"async": "true"}, headers=api.h(who),
                           files={"file": ("x.txt", b"Policy AB-1."), "schema": (None, json.dumps(
                               {"type": "object", "properties": {"policy": {"type": "string"}}}))})


# Tenant quota 3 jobs, server queue 4 jobs; nothing finishes meanwhile (the parser is held).
# (key, what, files, expected status, acme's outstanding jobs after, all outstanding after)
JOB_STEPS = [
    ("admin", "upload", 2, 202, 2, 2),
    ("admin", "upload", 2, 429, 2, 2),        # 2 + 2 > 3: refused whole, nothing queued
    ("writer", "extract", 1, 202, 3, 3),      # async extraction takes a slot of the same tenant
    ("writer", "upload", 1, 429, 3, 3),       # the quota is the tenant's, not the key's
    ("writer", "extract", 1, 429, 3, 3),
    ("other_admin", "upload", 1, 202, 3, 4),  # another tenant has its own quota...
    ("other_admin", "upload", 1, 503, 3, 4),  # ...but the server's queue is full
]


def test_job_admission_per_tenant_and_server(gated):
    api, parser = gated
    for i, (who, what, n, status, acme_after, total_after) in enumerate(JOB_STEPS):
        if what == "upload":
            collection_tenant = KEYS[who]["tenant"]
            response = api.upload("docs", _files(f"{collection_tenant}{i}", n), who=who, wait=False)
        else:
            response = _extract_async(api, who)
        assert response.status_code == status, f"step {i}: {response.text}"
        if status in (429, 503):
            body = assert_problem(response, status)
            assert body["type"].endswith("/too-many-jobs" if status == 429 else "/jobs-queue-full")
            assert response.headers["Retry-After"] == "30"
        assert api.container.runner.outstanding("acme") == acme_after, f"step {i}"
        assert api.container.runner.outstanding() == total_after, f"step {i}"
    listed = api.client.get("/v1/collections/docs/documents", headers=api.h("admin")).json()["documents"]
    assert len(listed) == 2, "a refused request leaves no document behind"

    parser.gate.set()
    deadline = time.monotonic() + 30
    while api.container.runner.outstanding() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert api.container.runner.outstanding() == 0, "finished jobs give their slots back"
    assert api.upload("docs", _files("later", 3), wait=True).status_code == 201
    assert api.container.runner.outstanding() == 0
    metrics = api.client.get("/metrics").text
    assert 'docintel_limit_rejections_total{limit="tenant_jobs",route="/v1/collections/{name}/documents"} 2.0' in metrics
    assert 'docintel_limit_rejections_total{limit="tenant_jobs",route="/v1/extract"} 1.0' in metrics
    assert 'docintel_limit_rejections_total{limit="server_jobs",route="/v1/collections/{name}/documents"} 1.0' in metrics


def test_duplicates_and_failed_files_give_their_slots_back(gated):
    api, parser = gated
    parser.gate.set()
    assert api.upload("docs", _files("d", 1), wait=True).status_code == 201
    # The same bytes again plus an empty file: neither becomes a job.
    response = api.upload("docs", [*_files("d", 1), ("empty.txt", b"")], wait=False)
    assert response.status_code == 202
    assert api.container.runner.outstanding() == 0


def test_runner_counts_reserved_slots_and_jobs_until_they_finish(tmp_path):
    """The runner's bookkeeping alone: a reservation's slots become jobs one by one,
    unused slots come back when the block ends, jobs submitted without one (recovery,
    re-index) count too, and a finished job frees its slot."""
    from pipelines.registry import Registry
    from services.jobs import JobRunner, JobsFull

    registry = Registry.from_url(f"sqlite:///{tmp_path / 'r.db'}")
    gate = threading.Event()
    runner = JobRunner(registry, workers=1, problem_for=lambda exc: {})
    runner.start()

    def job(tenant: str) -> str:
        return registry.create_job(tenant=tenant, kind="ingest").id

    def held(_ctx):
        gate.wait(10)

    try:
        with runner.reserve("a", 3, per_tenant=4, total=5) as reservation:
            assert runner.outstanding("a") == 3
            runner.submit(job("a"), held, reservation=reservation)
            assert (runner.outstanding("a"), reservation.slots) == (3, 2)
            with pytest.raises(JobsFull) as refused:
                runner.reserve("a", 2, per_tenant=4, total=5).__enter__()
            assert refused.value.scope == "tenant"
        assert runner.outstanding("a") == 1, "the two unused slots came back"
        runner.submit(job("b"), held)  # no reservation: counted for its tenant all the same
        assert (runner.outstanding("a"), runner.outstanding("b"), runner.outstanding()) == (1, 1, 2)
        with pytest.raises(JobsFull) as refused:
            runner.reserve("c", 4, per_tenant=4, total=5).__enter__()
        assert refused.value.scope == "server"
        gate.set()
        deadline = time.monotonic() + 10
        while runner.outstanding() and time.monotonic() < deadline:
            time.sleep(0.02)
        assert runner.outstanding() == 0
    finally:
        gate.set()
        runner.stop()
        registry.engine.dispose()


# ---- deadlines --------------------------------------------------------------------------


SLOW_S = 2.0  # what the slow components take on inputs that ask for it
DEADLINE_S = 1.0


class SlowQueryEmbedder(HashingEmbedder):
    def embed_query(self, text):
        if "slowly" in text:
            time.sleep(SLOW_S)
        return super().embed_query(text)


class SlowParser(TextParser):
    def parse(self, data, *, filename="", password=None):
        if b"slowly" in data:
            time.sleep(SLOW_S)
        return super().parse(data, filename=filename, password=password)


@pytest.fixture(scope="module")
def deadlines(tmp_path_factory):
    app = build_test_app(tmp_path_factory.mktemp("deadlines"), embedder=SlowQueryEmbedder(), parser=SlowParser(),
                         ask_timeout_s=DEADLINE_S, extract_timeout_s=DEADLINE_S)
    with TestClient(app) as client:
        api = Api(client, app.state.container)
        api.create_collection("docs")
        assert api.upload("docs", [("c.txt", b"The policy number is AB-1234.")]).status_code == 201
        # Warm up without deadlines: the first answer and extraction load their components
        # (seconds), which is not what these deadlines are about.
        limits = Limits.of(api.container)
        configured, limits.deadlines = limits.deadlines, {}
        assert _call(api, "ask", {"question": "what is the policy number?"}).status_code == 200
        assert _call(api, "extract", {"text": "the policy is AB-1."}).status_code == 200
        limits.deadlines = configured
        yield api
        time.sleep(SLOW_S)  # abandoned work finishes before the app shuts down


SCHEMA = json.dumps({"type": "object", "properties": {"policy": {"type": "string"}}})
ASK = "/v1/collections/{name}/ask"


def _call(api: Api, route: str, request_kwargs: dict):
    if route == "extract":
        return api.client.post("/v1/extract", headers=api.h("admin"), files={
            "file": ("a.txt", request_kwargs["text"].encode()), "schema": (None, SCHEMA)},
            params={"async": "true"} if request_kwargs.get("async") else None)
    return api.client.post("/v1/collections/docs/ask", headers=api.h("admin"), json=request_kwargs)


# The slow component takes 2 s on inputs that say "slowly"; both deadlines are 1 s.
# name: (route, request, expected status)
DEADLINE_CASES = {
    "slow answer": ("ask", {"question": "slowly: what is the policy number?"}, 504),
    "fast answer": ("ask", {"question": "what is the policy number?"}, 200),
    # A stream starts at once (events come as they are ready): a started answer is not cut.
    "slow streamed answer": ("ask", {"question": "slowly: what is the policy number?", "stream": True}, 200),
    "slow extraction": ("extract", {"text": "slowly: the policy is AB-1."}, 504),
    "fast extraction": ("extract", {"text": "the policy is AB-1."}, 200),
    "slow extraction as a job": ("extract", {"text": "slowly: the policy is AB-1.", "async": True}, 202),
}


@pytest.mark.parametrize("route, request_kwargs, status", DEADLINE_CASES.values(), ids=DEADLINE_CASES.keys())
def test_deadlines_answer_504_instead_of_hanging(deadlines, route, request_kwargs, status):
    api = deadlines
    started = time.monotonic()
    response = _call(api, route, request_kwargs)
    elapsed = time.monotonic() - started
    assert response.status_code == status, response.text
    if status == 504:
        body = assert_problem(response, 504)
        assert body["type"].endswith("/timeout")
        assert elapsed < SLOW_S - 0.2, "the caller does not wait for the abandoned work"
        assert ("async=true" in body["detail"]) == (route == "extract")
        template = ASK if route == "ask" else "/v1/extract"
        metrics = api.client.get("/metrics").text
        assert f'docintel_limit_rejections_total{{limit="timeout",route="{template}"}}' in metrics
        assert f'docintel_http_requests_total{{method="POST",route="{template}",status="504"}}' in metrics
    assert api.client.get("/healthz").status_code == 200
