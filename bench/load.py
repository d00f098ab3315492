"""Load test: ask, extract and ingest at once against a real server on loopback.

    .venv/bin/python bench/load.py [--duration 150] [--requests 3000] [--concurrency 16]
                                   [--seed-docs 4] [--write bench/BENCHMARKS.md] [--json out.json]

A server is started as `make run` starts it (``python -m services.cli serve``: the real
default container, i.e. the default embedder, embedded on-disk Qdrant, SQLite, the
sandboxed parser, the PII pipeline and the extractive generator) on a free loopback port
with a temporary data dir; only the per-key rate limit is raised, so that the test keys
measure the service and not the limiter. A pseudonymised collection (the default) is
seeded with a few generated claim PDFs, then ``--concurrency`` asyncio workers
(httpx.AsyncClient) send a fixed, seeded mix until ``--duration`` seconds or
``--requests`` requests, whichever comes first:

- ``ask``: a question about a seeded claim (or one the corpus cannot answer);
- ``extract_doc``: a claim schema on an indexed document (JSON body);
- ``extract_upload``: the same schema on an uploaded PDF (multipart);
- ``ingest``: the upload of a new one-page PDF with ``?wait=true`` (ends indexed).

An error is anything but the expected answer: another status (a limit's 4xx included),
a transport error or timeout, or a body without the promised shape (an ingested document
not ``indexed``). One request of each kind warms the server up first and is not counted.
Afterwards the server must still answer ``/healthz`` and the collection's ``chunks`` must
equal its ``index_points``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]
SECTION = "## Load"
KEY = "k-load-writer-00000000000000"
TENANT = "load"
COLLECTION = "claims"
ROUTES = ("ask", "extract_doc", "extract_upload", "ingest")
DEFAULT_MIX = {"ask": 5, "extract_doc": 2, "extract_upload": 2, "ingest": 1}
EXPECTED_STATUS = {"ask": 200, "extract_doc": 200, "extract_upload": 200, "ingest": 201}

SCHEMA = {
    "type": "object",
    "properties": {
        "policy_number": {"type": "string", "description": "the policy number"},
        "claim_date": {"type": "string", "format": "date", "description": "date the claim was filed"},
        "amount": {"type": "number", "description": "amount claimed in euros"},
        "city": {"type": "string", "description": "city where the loss happened"},
    },
}
PERILS = ["water damage", "a kitchen fire", "a burglary", "storm damage to the roof", "a broken windscreen",
          "a flooded basement", "a stolen bicycle", "hail damage to the car"]
CITIES = ["Lyon", "Nantes", "Bordeaux", "Lille", "Toulouse", "Rennes", "Grenoble", "Dijon"]
NAMES = ["Jean Dupont", "Marie Lefèvre", "Paul Martin", "Claire Bernard", "Luc Moreau", "Sophie Laurent"]


# ---- documents ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Claim:
    number: int
    policy: str
    date: str
    amount: int
    city: str
    peril: str
    insured: str

    def text(self, filler: int = 3) -> str:
        paragraphs = [
            (f"Claim report {self.number}. The policy number is {self.policy}. The claim was filed on "
             f"{self.date} by {self.insured} for {self.peril} in {self.city}."),
            (f"The amount claimed is {self.amount} euros. The insurer acknowledged receipt and appointed "
             "an independent adjuster to assess the damage."),
        ]
        paragraphs += [
            ("The policyholder must notify the insurer of any claim within five working days. Coverage "
             "includes accidental damage and third-party liability; exclusions apply to wear and tear.")
        ] * filler
        return "\n\n".join(paragraphs)


def make_claim(rng: random.Random, number: int) -> Claim:
    return Claim(
        number=number,
        policy=f"POL-{rng.randint(1000, 9999)}-{rng.choice('ABCDEFGH')}{rng.randint(10, 99)}",
        date=f"2025-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}",
        amount=rng.randint(300, 25000),
        city=rng.choice(CITIES),
        peril=rng.choice(PERILS),
        insured=rng.choice(NAMES),
    )


def claim_pdf(claim: Claim, *, marker: str = "") -> bytes:
    """A one-page text PDF; ``marker`` makes the bytes unique (a new document each upload)."""
    import pymupdf as fitz

    doc = fitz.open()
    page = doc.new_page()
    text = claim.text() + (f"\n\nInternal reference {marker}." if marker else "")
    page.insert_textbox(fitz.Rect(50, 60, 545, 800), text, fontsize=10)
    data = doc.tobytes()
    doc.close()
    return data


def questions_for(claim: Claim) -> list[str]:
    return [
        f"What is the policy number of the claim for {claim.peril}?",
        f"How much was claimed for {claim.peril} in {claim.city}?",
        f"When was the claim for {claim.peril} filed?",
        "What is the boiling point of mercury?",  # not in the corpus: an abstention is a valid answer
    ]


# ---- the server --------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """``python -m services.cli serve`` in a temporary data dir, as `make run` runs it."""

    def __init__(self, data_dir: Path, *, env: dict[str, str] | None = None):
        self.data_dir = data_dir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = data_dir.parent / "server.log"
        inherited = {k: v for k, v in os.environ.items()  # the operator's own settings stay out
                     if not k.startswith("DOCINTEL_") and k not in ("QDRANT_URL", "QDRANT_API_KEY")}
        self.env = {
            **inherited,
            "DOCINTEL_DATA_DIR": str(data_dir),
            "DOCINTEL_HOST": "127.0.0.1",
            "DOCINTEL_PORT": str(self.port),
            "DOCINTEL_API_KEYS": json.dumps([{"key": KEY, "tenant": TENANT, "role": "writer", "groups": []}]),
            # Raised for the test key: the limiter is not what this measures.
            "DOCINTEL_RATE_LIMIT_PER_MINUTE": "1000000",
            "DOCINTEL_RATE_LIMIT_BURST": "100000",
            "DOCINTEL_LOG_LEVEL": "WARNING",
            **(env or {}),
        }
        self.proc: subprocess.Popen | None = None
        self._log = None

    def start(self, timeout: float = 300) -> float:
        """Start and wait for /readyz (models loaded); returns the seconds it took."""
        started = time.monotonic()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._log = open(self.log_path, "ab")  # noqa: SIM115 (the server's stderr until stop())
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "services.cli", "serve"], cwd=REPO, env=self.env,
            stdout=subprocess.DEVNULL, stderr=self._log,
        )
        while time.monotonic() - started < timeout:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}; see {self.log_path}")
            try:
                if httpx.get(f"{self.url}/readyz", timeout=2).status_code == 200:
                    return time.monotonic() - started
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        raise RuntimeError(f"server not ready after {timeout} s; see {self.log_path}")

    def alive(self) -> bool:
        try:
            return self.proc is not None and self.proc.poll() is None and \
                httpx.get(f"{self.url}/healthz", timeout=10).status_code == 200
        except httpx.HTTPError:
            return False

    def rss_mb(self) -> float:
        """Resident memory of the server and its worker processes."""
        if self.proc is None:
            return 0.0
        total, pids = 0, [self.proc.pid]
        while pids:
            pid = pids.pop()
            try:
                for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
                pids += [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
            except OSError:
                continue
        return total / 1024

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        if self._log is not None:
            self._log.close()
            self._log = None


# ---- the load ----------------------------------------------------------------------------


@dataclass
class RouteStats:
    latencies_s: list[float] = field(default_factory=list)
    errors: int = 0
    server_errors: int = 0
    error_samples: list[str] = field(default_factory=list)

    def record(self, seconds: float, problem: str | None, status: int | None) -> None:
        self.latencies_s.append(seconds)
        if status is not None and status >= 500:
            self.server_errors += 1
        if problem is not None:
            self.errors += 1
            if len(self.error_samples) < 5:
                self.error_samples.append(problem)


@dataclass
class Seeded:
    claims: list[Claim]
    document_ids: list[str]
    upload_pdfs: list[bytes]


def seed(url: str, n: int, rng: random.Random) -> Seeded:
    headers = {"Authorization": f"Bearer {KEY}"}
    with httpx.Client(base_url=url, headers=headers, timeout=600) as client:
        response = client.post("/v1/collections", json={"name": COLLECTION})  # pseudonymised: the default
        response.raise_for_status()
        claims = [make_claim(rng, i) for i in range(n)]
        files = [("file", (f"claim-{c.number}.pdf", claim_pdf(c), "application/pdf")) for c in claims]
        response = client.post(f"/v1/collections/{COLLECTION}/documents", params={"wait": "true"}, files=files)
        response.raise_for_status()
        documents = response.json()["documents"]
        if any(d["status"] != "indexed" for d in documents):
            raise RuntimeError(f"seeding failed: {documents}")
    uploads = [claim_pdf(make_claim(rng, 1000 + i)) for i in range(4)]
    return Seeded(claims, [d["document_id"] for d in documents], uploads)


class Load:
    def __init__(self, url: str, seeded: Seeded, *, mix: dict[str, int], seed: int = 7):
        self.url = url
        self.seeded = seeded
        self.mix = mix
        self.rng = random.Random(seed)
        self.stats = {route: RouteStats() for route in ROUTES}
        self.ingested = 0

    def _request(self, route: str) -> tuple[str, str, dict]:
        """(method, path, httpx keyword arguments) of one request of ``route``."""
        rng = self.rng
        if route == "ask":
            question = rng.choice(questions_for(rng.choice(self.seeded.claims)))
            return "POST", f"/v1/collections/{COLLECTION}/ask", {"json": {"question": question}}
        if route == "extract_doc":
            body = {"collection": COLLECTION, "document_id": rng.choice(self.seeded.document_ids), "schema": SCHEMA}
            return "POST", "/v1/extract", {"json": body}
        if route == "extract_upload":
            pdf = rng.choice(self.seeded.upload_pdfs)
            return "POST", "/v1/extract", {"files": {"file": ("claim.pdf", pdf, "application/pdf"),
                                                     "schema": (None, json.dumps(SCHEMA))}}
        self.ingested += 1
        pdf = claim_pdf(make_claim(rng, 2000 + self.ingested), marker=f"{self.ingested}-{rng.getrandbits(64):x}")
        return "POST", f"/v1/collections/{COLLECTION}/documents", {
            "params": {"wait": "true"}, "files": {"file": (f"new-{self.ingested}.pdf", pdf, "application/pdf")}}

    @staticmethod
    def _problem(route: str, response: httpx.Response) -> str | None:
        """Why this answer is not the promised one, or None."""
        if response.status_code != EXPECTED_STATUS[route]:
            return f"{route}: HTTP {response.status_code} {response.text[:200]}"
        body = response.json()
        if route == "ask":
            if not isinstance(body.get("answer"), str) or (not body["abstained"] and not body["citations"]):
                return f"ask: malformed answer {str(body)[:200]}"
        elif route.startswith("extract"):
            if not isinstance(body.get("data"), dict) or not isinstance(body.get("fields"), dict):
                return f"{route}: malformed extraction {str(body)[:200]}"
        elif [d.get("status") for d in body.get("documents", [])] != ["indexed"]:
            return f"ingest: not indexed {str(body)[:300]}"
        return None

    async def _one(self, client: httpx.AsyncClient, route: str, stats: RouteStats | None) -> None:
        method, path, kwargs = self._request(route)
        started = time.perf_counter()
        status, problem = None, None
        try:
            response = await client.request(method, path, **kwargs)
            status = response.status_code
            problem = self._problem(route, response)
        except (httpx.HTTPError, ValueError) as exc:  # transport errors, timeouts, bad JSON
            problem = f"{route}: {type(exc).__name__} {exc}"
        if stats is not None:
            stats.record(time.perf_counter() - started, problem, status)
        elif problem:
            raise RuntimeError(f"warm-up failed: {problem}")

    async def run(self, *, duration_s: float, max_requests: int, concurrency: int,
                  request_timeout_s: float = 600) -> dict:
        routes, weights = zip(*self.mix.items())
        limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
        async with httpx.AsyncClient(base_url=self.url, headers={"Authorization": f"Bearer {KEY}"},
                                     timeout=request_timeout_s, limits=limits) as client:
            for route in ROUTES:  # warm-up: first-use loading is not what this measures
                await self._one(client, route, None)
            issued = 0
            started = time.perf_counter()
            deadline = started + duration_s

            async def worker() -> None:
                nonlocal issued
                while issued < max_requests and time.perf_counter() < deadline:
                    issued += 1
                    route = self.rng.choices(routes, weights)[0]
                    await self._one(client, route, self.stats[route])

            await asyncio.gather(*(worker() for _ in range(concurrency)))
            wall = time.perf_counter() - started
        return self.report(wall)

    def report(self, wall_s: float) -> dict:
        def summary(latencies: list[float], errors: int, server_errors: int) -> dict:
            ordered = sorted(latencies)
            pick = (lambda q: ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000) if ordered else \
                (lambda q: 0.0)
            return {"requests": len(ordered), "errors": errors, "server_errors": server_errors,
                    "p50_ms": round(statistics.median(ordered) * 1000, 1) if ordered else 0.0,
                    "p95_ms": round(pick(0.95), 1), "max_ms": round(ordered[-1] * 1000, 1) if ordered else 0.0,
                    "throughput_rps": round(len(ordered) / wall_s, 2) if wall_s else 0.0}

        routes = {r: summary(s.latencies_s, s.errors, s.server_errors) for r, s in self.stats.items()}
        everything = [x for s in self.stats.values() for x in s.latencies_s]
        total = summary(everything, sum(s.errors for s in self.stats.values()),
                        sum(s.server_errors for s in self.stats.values()))
        samples = [e for s in self.stats.values() for e in s.error_samples]
        return {"wall_s": round(wall_s, 1), "routes": routes, "total": total, "error_samples": samples}


def collection_consistent(url: str, timeout: float = 300) -> dict:
    """Once no job runs: the registry's chunk count equals the points in the index."""
    headers = {"Authorization": f"Bearer {KEY}"}
    with httpx.Client(base_url=url, headers=headers, timeout=60) as client:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            jobs = client.get("/v1/jobs", params={"status": "running"}).json()["jobs"] + \
                client.get("/v1/jobs", params={"status": "queued"}).json()["jobs"]
            if not jobs:
                break
            time.sleep(1)
        info = client.get(f"/v1/collections/{COLLECTION}").json()
    return {"documents": info["documents"], "chunks": info["chunks"], "index_points": info["index_points"],
            "agree": info["chunks"] == info["index_points"]}


def run(*, duration_s: float, max_requests: int, concurrency: int, seed_docs: int, mix: dict[str, int],
        data_dir: Path | None = None, server_env: dict[str, str] | None = None) -> dict:
    own_dir = data_dir is None
    root = Path(tempfile.mkdtemp(prefix="docintel-load-")) if own_dir else data_dir
    server = Server(root / "data", env=server_env)
    load_before = os.getloadavg()[0]
    try:
        startup_s = server.start()
        rng = random.Random(11)
        t = time.perf_counter()
        seeded = seed(server.url, seed_docs, rng)
        seed_s = time.perf_counter() - t
        report = asyncio.run(Load(server.url, seeded, mix=mix).run(
            duration_s=duration_s, max_requests=max_requests, concurrency=concurrency))
        report.update(
            startup_s=round(startup_s, 1), seed_s=round(seed_s, 1), seed_docs=seed_docs, concurrency=concurrency,
            duration_s=duration_s, max_requests=max_requests, mix=mix,
            server_alive=server.alive(), server_rss_mb=round(server.rss_mb()),
            loadavg=[round(load_before, 1), round(os.getloadavg()[0], 1)],
        )
        report["collection"] = collection_consistent(server.url)
        report["server_alive"] = report["server_alive"] and server.alive()
        return report
    finally:
        server.stop()
        if own_dir:
            shutil.rmtree(root, ignore_errors=True)


# ---- reporting ---------------------------------------------------------------------------


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        mem_kb = int(next(x for x in Path("/proc/meminfo").read_text().splitlines() if x.startswith("MemTotal")).split()[1])
        mem = f", {mem_kb / 1024 / 1024:.0f} GB RAM"
    except (OSError, StopIteration):
        mem = ""
    return f"{cpu}, {os.cpu_count()} cores{mem}, {platform.system()} {platform.release()}, " \
           f"Python {platform.python_version()}"


def markdown(report: dict, command: str) -> str:
    labels = {"ask": "ask (`POST /v1/collections/{name}/ask`)", "extract_doc": "extract, indexed document (JSON)",
              "extract_upload": "extract, uploaded PDF (multipart)", "ingest": "ingest, 1-page PDF, `?wait=true`"}
    c = report["collection"]
    mix = ", ".join(f"{k} {v}" for k, v in report["mix"].items())
    lines = [
        SECTION,
        "",
        f"Command: `{command}`  ",
        (f"Machine: {machine()} (shared with other work while it ran: 1-minute load average "
         f"{report['loadavg'][0]} before, {report['loadavg'][1]} after).  "),
        ("Server: `python -m services.cli serve` (the `make run` container: default embedder, embedded "
         "Qdrant on disk, SQLite, sandboxed parser, PII pipeline, extractive generator), defaults except the "
         f"per-key rate limit (raised); ready in {report['startup_s']} s. Collection pseudonymised, seeded with "
         f"{report['seed_docs']} claim PDFs in {report['seed_s']} s.  "),
        (f"Load: {report['concurrency']} concurrent asyncio clients (httpx), mix {mix}, until "
         f"{report['duration_s']:g} s or {report['max_requests']} requests; ran {report['wall_s']} s "
         "after one warm-up request per kind."),
        "",
        "| route | requests | errors | ≥ 500 | p50 ms | p95 ms | max ms | req/s |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for route, r in [*report["routes"].items(), ("total", report["total"])]:
        name = "**total**" if route == "total" else labels[route]
        lines.append(f"| {name} | {r['requests']} | {r['errors']} | {r['server_errors']} | {r['p50_ms']} | "
                     f"{r['p95_ms']} | {r['max_ms']} | {r['throughput_rps']} |")
    lines += [
        "",
        (f"After the run: server alive: **{'yes' if report['server_alive'] else 'NO'}**; collection "
         f"{c['documents']} documents, {c['chunks']} chunks, {c['index_points']} index points "
         f"(agree: **{'yes' if c['agree'] else 'NO'}**); server RSS with its workers {report['server_rss_mb']} MB."),
        ("Errors count every answer other than the promised one (a limit's 4xx included); latencies include "
         "queueing behind the single ingestion worker and the single parser process (defaults)."),
    ]
    if report["error_samples"]:
        lines += ["", "Error samples:", *[f"- `{e[:160]}`" for e in report["error_samples"]]]
    return "\n".join(lines) + "\n"


def write_section(path: Path, section: str) -> None:
    """Replace (or append) the Load section, leaving the rest of the file as it is."""
    text = path.read_text(encoding="utf-8") if path.exists() else "# Benchmarks\n"
    start = text.find(SECTION + "\n")
    if start == -1:
        text = text.rstrip("\n") + "\n\n" + section
    else:
        following = text.find("\n## ", start + len(SECTION))
        text = text[:start] + section + ("\n" + text[following + 1:] if following != -1 else "")
    path.write_text(text, encoding="utf-8")


def parse_mix(raw: str) -> dict[str, int]:
    mix = {}
    for item in raw.split(","):
        name, _, weight = item.partition("=")
        if name not in ROUTES or not weight.isdigit():
            raise argparse.ArgumentTypeError(f"mix items are ROUTE=WEIGHT with ROUTE in {ROUTES}")
        mix[name] = int(weight)
    return mix


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=150, help="seconds of load (after warm-up)")
    parser.add_argument("--requests", type=int, default=3000, help="stop after this many requests")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--seed-docs", type=int, default=4)
    parser.add_argument("--mix", type=parse_mix, default=DEFAULT_MIX,
                        help="weights, e.g. ask=5,extract_doc=2,extract_upload=2,ingest=1")
    parser.add_argument("--write", type=Path, help="replace the Load section of this BENCHMARKS.md")
    parser.add_argument("--json", type=Path, help="also write the raw report here")
    args = parser.parse_args()
    report = run(duration_s=args.duration, max_requests=args.requests, concurrency=args.concurrency,
                 seed_docs=args.seed_docs, mix=args.mix)
    command = "python bench/load.py " + " ".join(sys.argv[1:])
    text = markdown(report, command)
    print(text)
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))
    if args.write:
        write_section(args.write, text)
    ok = report["total"]["errors"] == 0 and report["server_alive"] and report["collection"]["agree"]
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
