"""A real docintel server process for crash tests: on-disk Qdrant and SQLite in the
given data dir; a slowed fake embedder so that a kill lands in the middle of ingestion.

    python -m tests.reliability.crash_server DATA_DIR PORT [--real-parser] [--set NAME=VALUE ...]
                                             [--crash-after METHOD:N] [--query-delay S]

``--real-parser`` keeps the container's own parser (the sandboxed worker processes with
their limits) instead of the plain-text fake; ``--set`` overrides a setting;
``--crash-after point_alias:2`` SIGKILLs the process right after the second call to
``point_alias`` of the embedded index returns (``update_collection_model`` works too): a kill -9 at
an exact point that an outside kill only hits by chance. ``--query-delay S`` makes the
first embedder take S seconds per query (an ask that spans a re-index swap).
"""

from __future__ import annotations

import argparse
import functools
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import uvicorn

from tests.conftest import KEYS, REPO
from tests.fakes import HashingEmbedder, PatternDetector, TextParser


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """This module run as a server process, from a test: start, kill -9, stop.

    ``args`` go to the command line (``--real-parser`` ...); ``cwd`` is the server's working
    directory (the repository is put on ``PYTHONPATH``, so it may be any folder)."""

    def __init__(self, data_dir: Path, *args: str, cwd: Path | None = None, log: Path | None = None):
        self.data_dir = data_dir
        self.args = list(args)
        self.cwd = cwd or REPO
        self.log = log or data_dir.parent / "server.log"
        self.port = free_port()
        self.proc: subprocess.Popen | None = None
        self.url = f"http://127.0.0.1:{self.port}"

    def start(self, *extra: str, timeout: float = 60) -> None:
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])))
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "tests.reliability.crash_server", str(self.data_dir), str(self.port),
                 *self.args, *extra],
                cwd=self.cwd, env=env, stdout=subprocess.DEVNULL, stderr=log,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode} (see {self.log})")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.2)
        raise RuntimeError("server did not start")

    def alive(self) -> bool:
        try:
            return self.proc is not None and self.proc.poll() is None and \
                httpx.get(f"{self.url}/healthz", timeout=5).status_code == 200
        except httpx.HTTPError:
            return False

    def kill9(self) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)

    def wait_exit(self, timeout: float = 60) -> int:
        """For a server that kills itself (``--crash-after``)."""
        assert self.proc is not None
        return self.proc.wait(timeout)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


class SlowEmbedder(HashingEmbedder):
    query_delay_s = 0.0  # --query-delay: an ask that takes long between reading and searching

    def embed_documents(self, texts):
        time.sleep(0.05 * len(texts))
        return super().embed_documents(texts)

    def embed_query(self, text):
        time.sleep(self.query_delay_s)
        return super().embed_query(text)


class SlowEmbedderB(SlowEmbedder):
    """A second embedder with another dimension: a re-index into it that mixed up the old
    and new index collections would fail loudly (vector size mismatch), not silently."""

    name = "test-hashing-b"

    def __init__(self):
        super().__init__(dimension=32)


_CRASH_TARGETS = {
    # Every embedded index backend (one counter across them: only the configured one runs).
    "point_alias": (("pipelines.indexing.qdrant_index", "QdrantIndex"),
                    ("pipelines.indexing.edge_index", "QdrantEdgeIndex")),
    "update_collection_model": (("pipelines.registry", "Registry"),),
}


def _crash_after(spec: str) -> None:
    """Wrap ``METHOD`` so that its ``N``-th call kills this process (SIGKILL) once it returned."""
    import importlib

    method, _, nth = spec.partition(":")
    calls = {"n": 0}

    def wrap(original):
        @functools.wraps(original)
        def wrapper(*args, **kwargs):
            result = original(*args, **kwargs)
            calls["n"] += 1
            if calls["n"] == int(nth or 1):
                os.kill(os.getpid(), signal.SIGKILL)
            return result

        return wrapper

    for module, cls_name in _CRASH_TARGETS[method]:
        cls = getattr(importlib.import_module(module), cls_name)
        setattr(cls, method, wrap(getattr(cls, method)))


def main(argv: list[str]) -> None:
    import json

    from services.api.app import create_app
    from services.api.settings import Settings

    parser = argparse.ArgumentParser()
    parser.add_argument("data_dir", type=Path)
    parser.add_argument("port", type=int)
    parser.add_argument("--real-parser", action="store_true")
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE")
    parser.add_argument("--crash-after", metavar="METHOD:N")
    parser.add_argument("--query-delay", type=float, default=0.0, metavar="SECONDS")
    args = parser.parse_args(argv)
    if args.crash_after:
        _crash_after(args.crash_after)
    embedder, second = SlowEmbedder(), SlowEmbedderB()
    embedder.query_delay_s = args.query_delay
    overrides = dict(item.split("=", 1) for item in args.set)
    settings = Settings(
        data_dir=args.data_dir, api_keys=json.dumps(list(KEYS.values())), default_embedder=embedder.name,
        embedders=[embedder.name, second.name], preload_models=False, **overrides,
    )
    components = {"embedders": {embedder.name: embedder, second.name: second},
                  "pii_detector": PatternDetector(), "extraction_ner": None}
    if not args.real_parser:
        components["parser"] = TextParser()
    app = create_app(settings, overrides=components)
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning")


if __name__ == "__main__":
    main(sys.argv[1:])
