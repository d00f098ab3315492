"""Embedded index at scale: qdrant-client local mode vs Qdrant Edge.

    .venv/bin/python bench/index_scale.py [--backends qdrant-local,qdrant-edge]
        [--sizes 10000,100000,1000000] [--local-max 100000] [--queries 100]
        [--write bench/BENCHMARKS.md]
    .venv/bin/python bench/index_scale.py --tune [--tune-size 30000]   # HNSW m / ef_construct / ef

Each (backend, size) runs in a fresh child process (so RSS is its own) on disk, under a
temporary folder, with the production classes (``QdrantIndex`` / ``QdrantEdgeIndex``)
and payloads (``chunk_payload``: chunk text, offsets, ACL groups, ``ready``):

* vectors: real USE embeddings of real and generated chunks (``bench/corpus.py embed``
  caches them) as far as they go, then synthetic ones drawn from a Gaussian with the
  real vectors' mean and covariance (``corpus.VectorStats``); sparse vectors of the same
  chunk texts (cycled beyond the cache);
* ACL: 20 chunks per document; 10% of documents public, the rest in 1 group (70%) or 2
  groups (20%) of 200; the caller holds 5 groups, so it sees about 13% of the points;
* insert: batches of 256 points (one document's worth of upsert calls); for Edge the
  HNSW builds triggered by those writes are timed apart (``optimize``), as the
  production code runs them after each upsert;
* queries: the dev QA questions (real French/English questions, USE query vectors and
  lexical sparse vectors), top-10 hybrid (dense + sparse, RRF), with and without the
  ACL filter; p50/p95 over ``--queries`` after 5 warm-up queries;
* recall@10: the dense branch alone (``sparse=None``) against exact search (numpy, same
  filter) on the same points; reported only where every point is a real embedding.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import corpus

CHUNKS_PER_DOC = 20
GROUPS = 200
CALLER_GROUPS = tuple(f"g{i}" for i in range(5))
BATCH = 256
SECTION = "## Embedded index at scale"


def groups_of(document: int) -> tuple[str, ...]:
    """Deterministic ACL of a document (see the module docstring)."""
    rng = np.random.default_rng(document)
    draw = rng.random()
    if draw < 0.1:
        return ()
    count = 1 if draw < 0.8 else 2
    return tuple(f"g{g}" for g in rng.choice(GROUPS, size=count, replace=False))


def rss_mb(field: str = "VmRSS") -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def open_index(backend: str, folder: Path, params: dict):
    if backend == "qdrant-local":
        from pipelines.indexing import QdrantIndex

        return QdrantIndex.from_location(str(folder / "qdrant"))
    from pipelines.indexing import QdrantEdgeIndex

    return QdrantEdgeIndex(folder / "edge", optimize_on_write=False, **params)


def run_case(backend: str, size: int, queries: int, params: dict, recall_queries: int) -> dict:
    from pipelines.indexing import alias_name, chunk_payload, physical_collection_name, point_id
    from pipelines.types import Chunk, IndexFilter, IndexPoint, SparseVector

    params = dict(params)
    sweep = params.pop("hnsw_efs", [])
    bulk = params.pop("bulk", False)

    real = corpus.cached_vectors()
    indptr, indices, values = corpus.sparse_cached(min(size, 100_000))
    n_sparse = len(indptr) - 1
    all_texts = corpus.chunk_corpus(n_sparse)
    n_real = min(len(real), size)
    all_real = n_real == size
    stats = corpus.VectorStats.of(real) if not all_real else None
    synthetic = corpus.synthetic_vectors(stats, size - n_real, seed=size) if stats is not None else iter(())
    question_vectors = corpus.embed_questions()
    from models.sparse import LexicalSparseEncoder

    encoder = LexicalSparseEncoder()
    question_sparse = [encoder.encode_query(q) for q in corpus.dev_questions()]

    kept = real[:n_real].copy() if all_real else None  # for exact search
    base_rss = rss_mb()
    alias = alias_name("bench", "scale")
    physical = physical_collection_name("bench", "scale", "use", "1", 1)
    with tempfile.TemporaryDirectory(dir=os.environ.get("BENCH_TMP")) as tmp:
        # bulk: no HNSW while loading, then one build of one graph over every point
        # (reopening applies the real thresholds): the recall of a graph of that size.
        index = open_index(backend, Path(tmp), {**params, "indexing_threshold_kb": 10**9} if bulk else params)
        index.create_physical(physical, real.shape[1])
        index.point_alias(alias, physical)

        def dense_rows():
            for start in range(0, n_real, BATCH):
                yield real[start:min(start + BATCH, n_real)]
            pending = np.zeros((0, real.shape[1]), np.float32)
            for block in synthetic:
                pending = np.concatenate([pending, block])
                while len(pending) >= BATCH:
                    yield pending[:BATCH]
                    pending = pending[BATCH:]
            if len(pending):
                yield pending

        t_upsert = t_optimize = 0.0
        longest_optimize = 0.0
        row = 0
        for rows in dense_rows():
            batch = []
            for vector in rows:
                k = row % n_sparse
                text = all_texts[k]
                doc = row // CHUNKS_PER_DOC
                chunk = Chunk(page=1, start=0, end=len(text), text=text, index=row % CHUNKS_PER_DOC)
                sparse = SparseVector(tuple(indices[indptr[k]:indptr[k + 1]].tolist()),
                                      tuple(values[indptr[k]:indptr[k + 1]].tolist()))
                payload = chunk_payload(chunk, document_id=f"doc{doc}", filename=f"doc{doc}.pdf",
                                        acl_groups=groups_of(doc), ready=True, extra={"row": row})
                batch.append(IndexPoint(id=point_id(f"doc{doc}", row % CHUNKS_PER_DOC), dense=vector,
                                        sparse=sparse, payload=payload))
                row += 1
            started = time.perf_counter()
            index.upsert(physical, batch)
            t_upsert += time.perf_counter() - started
            if backend == "qdrant-edge":
                pause = index.optimize(physical)
                t_optimize += pause
                longest_optimize = max(longest_optimize, pause)
        if bulk:
            index.close()
            index = open_index(backend, Path(tmp), {**params, "indexing_threshold_kb": 1})
            t_optimize = longest_optimize = index.optimize(physical)
        assert index.count(alias) == size, index.count(alias)
        built_rss = rss_mb()

        acl = IndexFilter(acl_groups=CALLER_GROUPS)
        visible = np.array([bool(set(groups_of(r // CHUNKS_PER_DOC)) & set(CALLER_GROUPS))
                            or not groups_of(r // CHUNKS_PER_DOC) for r in range(size)]) if kept is not None else None

        def measure() -> tuple[dict[str, list[float]], dict[str, float]]:
            latencies: dict[str, list[float]] = {"hybrid": [], "hybrid_acl": []}
            for name, flt in (("hybrid", IndexFilter()), ("hybrid_acl", acl)):
                for i in range(queries + 5):
                    q = i % len(question_vectors)
                    started = time.perf_counter()
                    index.search(alias, dense=question_vectors[q], sparse=question_sparse[q], flt=flt, limit=10)
                    if i >= 5:
                        latencies[name].append((time.perf_counter() - started) * 1000)
            recall: dict[str, float] = {}
            if kept is not None:
                n_q = min(recall_queries, len(question_vectors))
                for name, flt, mask in (("dense", IndexFilter(), None), ("dense_acl", acl, visible)):
                    found = 0
                    for q in range(n_q):
                        scores = kept @ question_vectors[q]
                        if mask is not None:
                            scores = np.where(mask, scores, -np.inf)
                        exact = set(np.argpartition(-scores, 10)[:10].tolist())
                        hits = index.search(alias, dense=question_vectors[q], sparse=None, flt=flt, limit=10)
                        found += len(exact & {h.payload["row"] for h in hits})
                    recall[name] = found / (10 * n_q)
                recall["visible_share"] = float(visible.mean())
            return latencies, recall

        by_ef = {}
        for ef in sweep:  # HNSW tuning: the same build, several search-time ef
            index.hnsw_ef = ef
            lat, rec = measure()
            by_ef[ef] = {"recall": rec, "acl_p50_ms": float(np.percentile(lat["hybrid_acl"], 50)),
                         "acl_p95_ms": float(np.percentile(lat["hybrid_acl"], 95)),
                         "p95_ms": float(np.percentile(lat["hybrid"], 95))}
        latencies, recall = measure() if not sweep else (lat, rec)
        info = {}
        if backend == "qdrant-edge":
            shard = index._shard(physical).info()
            info = {"segments": shard.segments_count, "indexed_vectors": shard.indexed_vectors_count}
        index.close()
        disk_mb = sum(f.stat().st_size for f in Path(tmp).rglob("*") if f.is_file()) / 2**20

    def pct(xs, p):
        return float(np.percentile(xs, p)) if xs else float("nan")

    return {
        "backend": backend, "size": size, "real_vectors": n_real, "params": params,
        "insert_pts_s": size / t_upsert, "upsert_s": t_upsert, "optimize_s": t_optimize,
        "longest_optimize_s": longest_optimize, "insert_incl_build_pts_s": size / (t_upsert + t_optimize),
        "p50_ms": pct(latencies["hybrid"], 50), "p95_ms": pct(latencies["hybrid"], 95),
        "acl_p50_ms": pct(latencies["hybrid_acl"], 50), "acl_p95_ms": pct(latencies["hybrid_acl"], 95),
        "queries": queries, "recall": recall, "rss_delta_mb": built_rss - base_rss,
        "rss_peak_mb": rss_mb("VmHWM"), "disk_mb": disk_mb, "by_ef": by_ef, **info,
    }


def child(backend: str, size: int, queries: int, params: dict, recall_queries: int) -> dict:
    command = [sys.executable, __file__, "--case", backend, str(size), "--queries", str(queries),
               "--params", json.dumps(params), "--recall-queries", str(recall_queries)]
    out = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def tune(size: int, queries: int, acorn: bool = True) -> list[dict]:
    """Recall@10 (dense, with and without ACL) and latency over an HNSW grid on real vectors."""
    results = []
    for m, ef_construct in ((16, 100), (32, 200)):
        # One segment holding every point: the recall of one HNSW graph of that size.
        params = {"m": m, "ef_construct": ef_construct, "hnsw_efs": [32, 64, 128, 256],
                  "max_segment_size_kb": 10**8, "bulk": True, "acorn": acorn}
        result = child("qdrant-edge", size, queries, params, recall_queries=244)
        print(json.dumps(result), flush=True)
        results.append(result)
    return results


def tune_markdown(results: list[dict]) -> str:
    lines = [("| m | ef_construct | ACORN | build s | hnsw_ef | recall@10 dense | recall@10 with ACL | "
              "ACL p50 / p95 ms | no-filter p95 ms |"), "|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        p = r["params"]
        for ef, v in r["by_ef"].items():
            lines.append(f"| {p['m']} | {p['ef_construct']} | {'on' if p.get('acorn') else 'off'} | "
                         f"{r['optimize_s']:.0f} | {ef} | {v['recall']['dense']:.3f} | {v['recall']['dense_acl']:.3f} | "
                         f"{v['acl_p50_ms']:.1f} / {v['acl_p95_ms']:.1f} | {v['p95_ms']:.1f} |")
    return "\n".join(lines) + "\n"


def machine() -> str:
    mem = next(line for line in Path("/proc/meminfo").read_text().splitlines() if line.startswith("MemTotal"))
    model = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                  if line.startswith("model name")), platform.machine())
    return (f"{model}, {os.cpu_count()} cores, {int(mem.split()[1]) / 2**20:.0f} GB RAM, Python "
            f"{platform.python_version()}, qdrant-client and qdrant-edge-py as pinned; load average at start "
            f"{os.getloadavg()[0]:.1f} (cores shared with other jobs)")


def markdown(results: list[dict], command: str) -> str:
    lines = [
        ("| backend | points (real) | insert pts/s (raw / with HNSW builds) | longest build pause s | "
         "top-10 hybrid p50 / p95 ms | with ACL filter p50 / p95 ms | recall@10 dense / with ACL | RSS MB | disk MB |"),
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        rec = r["recall"]
        recall = f"{rec['dense']:.3f} / {rec['dense_acl']:.3f}" if rec else "n/a (synthetic)"
        build = (f"{r['insert_pts_s']:.0f} / {r['insert_incl_build_pts_s']:.0f}" if r["backend"] == "qdrant-edge"
                 else f"{r['insert_pts_s']:.0f}")
        lines.append(
            f"| {r['backend']} | {r['size']:,} ({r['real_vectors']:,}) | {build} | "
            f"{r['longest_optimize_s']:.1f} | {r['p50_ms']:.1f} / {r['p95_ms']:.1f} | "
            f"{r['acl_p50_ms']:.1f} / {r['acl_p95_ms']:.1f} | {recall} | {r['rss_delta_mb']:.0f} | {r['disk_mb']:.0f} |"
        )
    return f"Command: `{command}`\n\n" + "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backends", default="qdrant-local,qdrant-edge")
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--local-max", type=int, default=100_000,
                        help="largest size for qdrant-local (brute force in Python beyond is hopeless)")
    parser.add_argument("--queries", type=int, default=100)
    parser.add_argument("--local-queries", type=int, default=10,
                        help="queries per measure for qdrant-local (seconds each at 100k)")
    parser.add_argument("--recall-queries", type=int, default=244)
    parser.add_argument("--params", default="{}", help="QdrantEdgeIndex keyword arguments (JSON)")
    parser.add_argument("--tune", action="store_true")
    parser.add_argument("--tune-size", type=int, default=0, help="default: every cached real vector")
    parser.add_argument("--case", nargs=2, metavar=("BACKEND", "SIZE"))
    parser.add_argument("--json", help="append each result to this JSON-lines file")
    args = parser.parse_args()
    params = json.loads(args.params)
    if args.case:
        result = run_case(args.case[0], int(args.case[1]), args.queries, params, args.recall_queries)
        print(json.dumps(result))
        return
    if args.tune:
        size = args.tune_size or len(corpus.cached_vectors())
        print(f"tuning on {size} real vectors", flush=True)
        results = tune(size, args.queries)
        print(tune_markdown(results))
        return
    print(machine(), flush=True)
    results = []
    for size in map(int, args.sizes.split(",")):
        for backend in args.backends.split(","):
            if backend == "qdrant-local" and size > args.local_max:
                continue
            local = backend == "qdrant-local"
            result = child(backend, size, args.local_queries if local else args.queries, params,
                           args.local_queries if local else args.recall_queries)
            print(json.dumps(result), flush=True)
            if args.json:
                with open(args.json, "a") as handle:
                    handle.write(json.dumps(result) + "\n")
            results.append(result)
    print(markdown(results, "bench/index_scale.py " + " ".join(sys.argv[1:])))


if __name__ == "__main__":
    main()
