"""The load test of `bench/load.py`, reduced: the real server (`python -m services.cli
serve`, default container) on loopback, ask + extract (indexed document and upload) +
ingest at concurrency 16 for 15 s or 150 requests. Every answer must be the promised one
(no error of any status, none >= 500), the server must survive, and the registry and the
index must agree afterwards. No timing assertions: the figures go to BENCHMARKS.md."""

from __future__ import annotations

import asyncio
import random

import pytest

from bench.load import DEFAULT_MIX, Load, Server, collection_consistent, seed

CONCURRENCY = 16
DURATION_S = 15
MAX_REQUESTS = 150


@pytest.mark.slow
def test_mixed_load_has_no_errors_and_the_server_survives(tmp_path):
    server = Server(tmp_path / "data")
    try:
        server.start()
        seeded = seed(server.url, 2, random.Random(3))
        report = asyncio.run(Load(server.url, seeded, mix=DEFAULT_MIX, seed=5).run(
            duration_s=DURATION_S, max_requests=MAX_REQUESTS, concurrency=CONCURRENCY))
        log_tail = server.log_path.read_text(errors="replace")[-3000:]
        assert report["total"]["requests"] > 0
        assert report["total"]["server_errors"] == 0, (report, log_tail)
        assert report["total"]["errors"] == 0, (report["error_samples"], log_tail)
        assert all(r["requests"] > 0 for r in report["routes"].values()), report["routes"]
        assert server.alive(), log_tail
        consistency = collection_consistent(server.url)
        assert consistency["agree"], consistency
        assert consistency["documents"] == 2 + 1 + report["routes"]["ingest"]["requests"]  # seeds, warm-up, load
    finally:
        server.stop()
