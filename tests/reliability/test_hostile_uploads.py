"""The hostile corpus (``hostile_corpus.py``) uploaded through the HTTP API of a real server
process: the container's own sandboxed parser (worker processes with time, memory and
page limits), on-disk Qdrant and SQLite, a fake embedder only.

For every input: the status and problem title in the corpus table, a bounded time (a hang
guard, not a benchmark), the server alive afterwards. After the whole corpus: no status
>= 500, every document indexed completely or failed (registry and index agree point for
point), no outside host contacted (external entities, remote resources), and no file
named after anything an upload carried anywhere on disk, inside the data dir or out.

    .venv/bin/pytest -q -p no:cacheprovider tests/reliability/test_hostile_uploads.py -s

(``-s`` prints the per-input table with times and peak memory.)
"""

from __future__ import annotations

import http.server
import os
import tempfile
import threading
import time
import unicodedata
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psutil
import pytest

from tests.conftest import KEYS, REPO
from tests.reliability.crash_server import Server
from tests.reliability.hostile_corpus import HostileCase, build_corpus

ADMIN = {"Authorization": f"Bearer {KEYS['admin']['key']}"}
MAX_UPLOAD_MB = 2
MAX_PAGES = 5000
PARSE_TIMEOUT_S = 60
# The shipped default. RLIMIT_AS counts address space: at 1024 MB a worker cannot even
# import the Office parsers (every DOCX then fails as "corrupt"), so no lower value is used.
PARSE_MEMORY_MB = 3072
HANG_GUARD_S = 90  # per upload: above the parse timeout, far above any case here
CATEGORIES = ["zip bomb", "xml entities", "pdf structure", "truncated", "empty", "wrong extension", "encoding",
              "size", "file name", "e-mail attachments", "request"]


@dataclass
class Outcome:
    case: HostileCase
    status: int
    body: dict
    content_type: str
    seconds: float
    peak_rss_mb: float
    alive: bool
    text: str = ""  # the stored pages of an indexed document
    problems: list[str] = field(default_factory=list)


@dataclass
class Run:
    outcomes: list[Outcome]
    documents: list[dict]
    collection: dict
    listener_hits: list[str]
    index_disagreements: list[str]
    files_named_by_uploads: list[str]
    cwd_entries: list[str]
    spool_entries: list[str]
    workers_left: list[int]
    new_paths_outside_data: int
    phases: dict[str, float] = field(default_factory=dict)


class _Listener(http.server.ThreadingHTTPServer):
    """A loopback HTTP server that records every request: the SSRF target of the corpus."""

    def __init__(self):
        self.hits: list[str] = []
        listener = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                listener.hits.append(self.path)
                self.send_response(200)
                self.end_headers()
                self.wfile.write(b"<!ENTITY leaked 'SSRF'>")

            def log_message(self, *args):
                pass

        super().__init__(("127.0.0.1", 0), Handler)


def multipart(case: HostileCase) -> tuple[bytes, str]:
    """The request body, made by hand: file names go on the wire exactly as an attacker
    would send them (NUL, control characters, ``filename*``, an injected header)."""
    boundary = "hostile" + uuid.uuid4().hex
    parts = []
    for name, value in case.extra_form:
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'.encode() + value + b"\r\n")
    disposition = case.raw_disposition or (
        b'form-data; name="file"; filename="' + case.filename.replace('"', "%22").encode("utf-8", "surrogatepass") + b'"')
    parts.append(f"--{boundary}\r\n".encode() + b"Content-Disposition: " + disposition
                 + b"\r\nContent-Type: application/octet-stream\r\n\r\n" + case.data + b"\r\n")
    return b"".join(parts) + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


class _PeakRss:
    """Peak resident memory of the server and its parser workers while an upload runs."""

    def __init__(self, pid: int):
        self.process = psutil.Process(pid)
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.is_set():
            total = 0
            try:
                for proc in [self.process, *self.process.children(recursive=True)]:
                    try:
                        total += proc.memory_info().rss
                    except psutil.Error:
                        pass
            except psutil.Error:
                return
            self.peak = max(self.peak, total)
            self._stop.wait(0.02)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(2)


def _is_plain_label(name: str) -> bool:
    return bool(name) and len(name) <= 255 and not any(ch in name for ch in "/\\\x00") and all(
        ch.isprintable() and unicodedata.category(ch) != "Cf" for ch in name)


def _check(outcome: Outcome) -> None:
    case, body = outcome.case, outcome.body
    if outcome.status != case.expect:
        detail = body.get("detail") or (body.get("documents") or [{}])[0].get("status")
        outcome.problems.append(f"status {outcome.status} ({detail}), expected {case.expect}")
    if outcome.status >= 400:
        if outcome.content_type != "application/problem+json":
            outcome.problems.append(f"content-type {outcome.content_type}")
        if not all(body.get(k) for k in ("type", "title", "detail")) or body.get("status") != outcome.status:
            outcome.problems.append(f"not a complete problem: {body}")
        if case.title and body.get("title") != case.title:
            outcome.problems.append(f"title {body.get('title')!r}, expected {case.title!r}")
    else:
        item = (body.get("documents") or [{}])[0]
        if item.get("status") != "indexed":
            outcome.problems.append(f"document status {item.get('status')}")
        if not _is_plain_label(item.get("filename", "")):
            outcome.problems.append(f"stored filename is not a plain label: {item.get('filename')!r}")
        if case.must_contain and case.must_contain not in outcome.text:
            outcome.problems.append(f"stored text lacks {case.must_contain!r}: {outcome.text[:120]!r}")
        for forbidden in case.must_not_contain:
            if forbidden in outcome.text:
                outcome.problems.append(f"stored text holds {forbidden!r}")
    if outcome.seconds > HANG_GUARD_S:
        outcome.problems.append(f"took {outcome.seconds:.0f} s")
    if not outcome.alive:
        outcome.problems.append("server not alive afterwards")


def _warm_up(client: httpx.Client) -> None:
    """One DOCX and one e-mail before the corpus, in a collection of their own: the parser
    worker's first Office parse pays its library imports (10-30 s on a busy machine),
    which would otherwise be counted against the first hostile Office file."""
    from tests.reliability.hostile_corpus import docx_bytes, eml_bytes

    assert client.post("/v1/collections", json={"name": "warmup", "anonymise": False}).status_code == 201
    files = [("file", ("w.docx", docx_bytes("Warm-up document."))), ("file", ("w.eml", eml_bytes("Warm", "up", [])))]
    response = client.post("/v1/collections/warmup/documents", params={"wait": "true"}, files=files)
    assert response.status_code == 201, response.text


def _stored_text(client: httpx.Client, item: dict) -> str:
    texts = []
    for number in range(1, (item.get("pages") or 0) + 1):
        page = client.get(f"/v1/collections/hostile/documents/{item['document_id']}/pages/{number}")
        texts.append(page.json().get("text", "") if page.status_code == 200 else f"<page {number}: {page.status_code}>")
    return "\n".join(texts)


def _walk(roots: list[tuple[Path, int]]) -> set[str]:
    """Every path under each root: its entries, and those of subfolders down to ``depth``
    levels (0: the root's own entries only; -1: all the way)."""
    seen: set[str] = set()
    for root, depth in roots:
        base = len(root.parts)
        for folder, dirs, files in os.walk(root, onerror=lambda _e: None):
            seen.update(os.path.join(folder, name) for name in dirs + files)
            if depth >= 0 and len(Path(folder).parts) - base >= depth:
                dirs[:] = []
            else:
                dirs[:] = [d for d in dirs if not os.path.islink(os.path.join(folder, d))]
    return seen


def _roots(base: Path) -> list[tuple[Path, int]]:
    """Where a name used as a path would land: the temp dir (the server's cwd, data dir and
    spool are under it; ``../`` climbs stay in it or reach ``/``), the repository (where
    ``make run`` keeps ./data), and the top of ``/``, ``/etc`` and the home folder (absolute
    names). Nested roots are walked once."""
    roots = [(Path(tempfile.gettempdir()), -1), (REPO, -1), (base, -1),
             (Path("/"), 0), (Path("/etc"), 0), (Path.home(), 1)]
    full = [r for r, d in roots if d < 0]
    return [(r, d) for r, d in roots
            if not any(r != f and f in r.parents for f in full) and not (d >= 0 and any(r == f for f in full))]


def _index_disagreements(data_dir: Path, documents: list[dict]) -> list[str]:
    """Open the index the stopped server left and compare it with the registry's view."""
    from pipelines.indexing.qdrant_index import alias_name
    from services.api.container import build_index
    from services.api.settings import Settings

    problems = []
    index = build_index(Settings(data_dir=data_dir))
    try:
        alias = alias_name("acme", "hostile")
        indexed = {d["document_id"]: d["chunks"] for d in documents if d["status"] == "indexed"}
        present = index.document_ids(alias)
        if present != set(indexed):
            problems.append(f"orphan points: {sorted(present - set(indexed))}, missing: {sorted(set(indexed) - present)}")
        for document_id, chunks in indexed.items():
            points = index.count(alias, document_id=document_id, only_ready=True)
            if not chunks or points != chunks or index.count(alias, document_id=document_id) != chunks:
                problems.append(f"{document_id}: {chunks} chunks, {points} ready points")
    finally:
        index.close()
    return problems


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Run:
    phases: dict[str, float] = {}
    clock = time.monotonic()

    def phase(name: str) -> None:
        nonlocal clock
        now = time.monotonic()
        phases[name] = round(now - clock, 1)
        clock = now

    base = tmp_path_factory.mktemp("hostile")
    data, cwd = base / "data", base / "cwd"
    cwd.mkdir()
    marker = "hx" + uuid.uuid4().hex[:10]
    listener = _Listener()
    threading.Thread(target=listener.serve_forever, daemon=True).start()
    corpus = build_corpus(marker, max_upload_bytes=MAX_UPLOAD_MB * 1024 * 1024, max_pages=MAX_PAGES,
                          ssrf_url=f"http://127.0.0.1:{listener.server_address[1]}")
    phase("build corpus")
    roots = _roots(base)
    before = _walk(roots)
    phase("snapshot")
    server = Server(data, "--real-parser", "--set", f"max_upload_mb={MAX_UPLOAD_MB}", "--set", f"max_pages={MAX_PAGES}",
                    "--set", f"parse_timeout_s={PARSE_TIMEOUT_S}", "--set", f"parse_memory_mb={PARSE_MEMORY_MB}",
                    cwd=cwd, log=base / "server.log")
    server.start(timeout=120)
    phase("server start")
    outcomes: list[Outcome] = []
    workers: set[int] = set()
    try:
        with httpx.Client(base_url=server.url, headers=ADMIN, timeout=HANG_GUARD_S * 2) as client:
            created = client.post("/v1/collections", json={"name": "hostile", "anonymise": False})
            assert created.status_code == 201, created.text
            _warm_up(client)
            phase("warm-up")
            for case in corpus:
                content, content_type = multipart(case)
                started = time.monotonic()
                with _PeakRss(server.proc.pid) as rss:
                    response = client.post("/v1/collections/hostile/documents", params={"wait": "true"},
                                           content=content, headers={"content-type": content_type})
                seconds = time.monotonic() - started
                workers.update(p.pid for p in psutil.Process(server.proc.pid).children(recursive=True))
                try:
                    body = response.json()
                except ValueError:
                    body = {"unparsed": response.text[:200]}
                outcome = Outcome(case, response.status_code, body, response.headers.get("content-type", ""),
                                  seconds, rss.peak / 2**20, server.alive())
                if response.status_code < 300:
                    outcome.text = _stored_text(client, body["documents"][0])
                _check(outcome)
                outcomes.append(outcome)
            phase("corpus")
            documents = client.get("/v1/collections/hostile/documents", params={"limit": 1000}).json()["documents"]
            collection = client.get("/v1/collections/hostile").json()
    finally:
        server.stop()
    time.sleep(0.5)  # parser workers notice their parent is gone
    workers_left = [pid for pid in workers if psutil.pid_exists(pid) and psutil.Process(pid).status() != "zombie"]
    after = _walk(roots)
    new_outside = [p for p in after - before if not p.startswith(str(data) + os.sep) and p != str(data)]
    named = sorted(p for p in after if marker in p)  # anywhere, the data dir included
    disagreements = _index_disagreements(data, documents)
    phase("stop and checks")
    run = Run(outcomes, documents, collection, list(listener.hits), disagreements, named,
              sorted(os.listdir(cwd)), sorted(os.listdir(data / "spool")), workers_left, len(new_outside), phases)
    listener.shutdown()
    _print_table(run)
    return run


def _print_table(run: Run) -> None:
    print(f"\n{'case':28s} {'category':20s} {'status':>6s} {'seconds':>8s} {'peak MB':>8s}  title / problems")
    for o in run.outcomes:
        title = o.body.get("title") or (o.body.get("documents") or [{}])[0].get("status", "")
        print(f"{o.case.id:28s} {o.case.category:20s} {o.status:6d} {o.seconds:8.2f} {o.peak_rss_mb:8.0f}  {title}"
              + (f"  !! {'; '.join(o.problems)}" if o.problems else ""))
    statuses: dict[int, int] = {}
    for o in run.outcomes:
        statuses[o.status] = statuses.get(o.status, 0) + 1
    print(f"inputs: {len(run.outcomes)}, statuses: {dict(sorted(statuses.items()))}, "
          f"max seconds: {max(o.seconds for o in run.outcomes):.2f}, "
          f"max peak RSS (server + parser workers): {max(o.peak_rss_mb for o in run.outcomes):.0f} MB, "
          f"listener hits: {len(run.listener_hits)}, new paths outside the data dir (any process): "
          f"{run.new_paths_outside_data}")
    print(f"phases (s): {run.phases}")


@pytest.mark.slow
@pytest.mark.parametrize("category", CATEGORIES)
def test_each_hostile_input_gets_its_expected_answer(run, category):
    rows = [o for o in run.outcomes if o.case.category == category]
    assert rows, f"no input in category {category!r}"
    failures = [f"{o.case.id}: {'; '.join(o.problems)}" for o in rows if o.problems]
    assert not failures, "\n".join(failures)


@pytest.mark.slow
def test_no_server_error_and_the_server_never_died(run):
    assert {o.case.category for o in run.outcomes} == set(CATEGORIES)
    assert [o.case.id for o in run.outcomes if o.status >= 500] == []
    assert all(o.alive for o in run.outcomes)


@pytest.mark.slow
def test_registry_and_index_agree_after_the_corpus(run):
    assert [d["document_id"] for d in run.documents if d["status"] not in ("indexed", "failed")] == []
    assert run.collection["chunks"] == run.collection["index_points"] > 0
    assert run.index_disagreements == []
    assert run.spool_entries == [], "uploaded bytes left in the spool"


@pytest.mark.slow
def test_nothing_is_fetched_and_nothing_is_written_under_an_uploaded_name(run):
    assert run.listener_hits == [], "an external entity or remote resource was fetched"
    assert run.files_named_by_uploads == []
    assert run.cwd_entries == [], "the server wrote into its working directory"
    assert run.workers_left == [], "parser worker processes outlived the server"
