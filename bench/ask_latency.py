"""Ask latency by stage (retrieve, score, answer, verify) at 10k and 100k chunks.

    .venv/bin/python bench/ask_latency.py [--sizes 10000 100000] [--backends qdrant-local qdrant-edge]
                                          [--questions 60] [--write bench/BENCHMARKS.md]

The whole extractive ask path runs as the API runs it (``pipelines.answer.Answerer``
with the default embedder, the lexical sparse encoder, the second-stage scorer and the
verifier) over an embedded index holding ``size`` chunks:

* texts: the dev QA corpus cut by the production chunker, then generated French/English
  pages (``bench/corpus.py``), so questions find real passages among many distractors;
* vectors: real embeddings where ``bench/corpus.py embed`` has cached them, the rest
  drawn from the mean and covariance of the real ones (embedding 100k chunks takes
  about an hour here); sparse vectors are real (the encoder is cheap);
* ACL: every chunk belongs to one group; "with ACL" the caller holds 2 of 20 groups: the
  dev corpus chunks (what the questions are about) are in the caller's groups, the
  generated distractors spread over all 20 (a tenth of them visible); the filter sits
  inside the index query. "Without" is an unrestricted internal call.

Questions are the dev QA questions (real embeddings at query time, as in production).
Timings are per question; medians and 95th percentiles come from the same run.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

os.environ.setdefault("HF_HUB_OFFLINE", "1")

GROUPS = [f"g{i:02d}" for i in range(20)]
CALLER_GROUPS = ("g03", "g11")
STAGES = ("retrieve", "score", "answer", "verify")


def open_index(backend: str, folder: Path):
    from pipelines.indexing import QdrantIndex

    if backend == "qdrant-local":
        # Local mode keeps every point in memory whichever location it is given; the
        # in-memory variant spares the SQLite writes of the on-disk one when loading.
        return QdrantIndex.from_location(":memory:")
    if backend == "qdrant-edge":
        from pipelines.indexing import QdrantEdgeIndex

        return QdrantEdgeIndex(folder / "edge")
    raise SystemExit(f"unknown backend {backend!r}")


def vectors_for(count: int, embedder_name: str) -> tuple[np.ndarray, int]:
    """(vectors, how many of them are real embeddings)."""
    import corpus

    try:
        real = corpus.cached_vectors(embedder_name)
    except (FileNotFoundError, OSError, ValueError):
        real = np.zeros((0, 0), np.float32)
    if len(real) >= count:
        return np.asarray(real[:count], np.float32), count
    if len(real) < 1000:
        raise SystemExit(f"run `python bench/corpus.py embed --count 5000` first (found {len(real)} real vectors)")
    stats = corpus.VectorStats.of(real[:20000])
    blocks = list(corpus.synthetic_vectors(stats, count - len(real), seed=1))
    return np.concatenate([np.asarray(real, np.float32), *blocks]), len(real)


def build(backend: str, size: int, folder: Path, embedder, sparse) -> tuple[object, float, int]:
    import corpus

    from pipelines.chunking import chunker_for
    from pipelines.indexing.qdrant_index import chunk_payload, point_id
    from pipelines.types import Chunk, IndexPoint, Page

    texts = corpus.chunk_corpus(size, embedder_name=embedder.name)
    # The dev corpus comes first in ``texts``: its chunks (what the questions are about)
    # belong to the caller's groups, so asks with the ACL filter still find and answer
    # from them while the filter hides the other groups' distractors.
    chunker = chunker_for(embedder)
    dev_chunks = sum(len(chunker.chunk_page(Page(1, t))) for t in corpus.dev_corpus_texts())
    vectors, n_real = vectors_for(len(texts), embedder.name)
    index = open_index(backend, folder)
    physical = "bench_v1"
    index.create_physical(physical, embedder.dimension)
    index.point_alias("bench", physical)
    rng = random.Random(5)
    started = time.perf_counter()
    batch = 512
    for first in range(0, len(texts), batch):
        block = texts[first : first + batch]
        sparse_vectors = sparse.encode_documents(block)
        points = []
        for i, (text, sv) in enumerate(zip(block, sparse_vectors)):
            n = first + i
            doc = f"doc-{n // 8}"
            chunk = Chunk(index=n % 8, page=1, start=0, end=len(text), text=text)
            payload = chunk_payload(chunk, document_id=doc, filename=f"{doc}.pdf",
                                    acl_groups=[CALLER_GROUPS[n % 2] if n < dev_chunks
                                                else GROUPS[rng.randrange(len(GROUPS))]],
                                    ready=True)
            points.append(IndexPoint(id=point_id(doc, n), dense=vectors[n], sparse=sv, payload=payload))
        index.upsert(physical, points)
    finish = getattr(index, "optimize", None)
    if finish is not None:
        finish(physical)
    return index, time.perf_counter() - started, n_real


def measure(index, embedder, sparse, questions: list[str], *, acl: bool,
            similarity: bool = False, respell: bool = True) -> dict[str, list[float]]:
    from models.generators import ExtractiveGenerator
    from pipelines.answer import Answerer
    from pipelines.types import IndexFilter

    answerer = Answerer(embedder, sparse, index, ExtractiveGenerator(embedder), sentence_similarity=similarity)
    answerer.retriever.respell = respell  # the typo query (HybridRetriever), on by default
    flt = IndexFilter(acl_groups=CALLER_GROUPS if acl else None)
    times: dict[str, list[float]] = {s: [] for s in (*STAGES, "total")}
    answerer.answer(questions[0], index_name="bench", flt=flt)  # warm-up (model graphs, caches)
    for q in questions:
        clock = time.perf_counter()
        answer = answerer.answer(q, index_name="bench", flt=flt)
        total = (time.perf_counter() - clock) * 1000
        for stage in STAGES:
            times[stage].append(answer.timings_ms.get(stage, 0.0))
        times["total"].append(total)
    return times


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--backends", nargs="+", default=["qdrant-local", "qdrant-edge"])
    parser.add_argument("--questions", type=int, default=60)
    parser.add_argument("--embedder", default="use-multilingual-v3")
    parser.add_argument("--similarity", choices=["off", "on", "both"], default="off",
                        help="question-sentence similarity in the score stage (DOCINTEL_QA_SENTENCE_SIMILARITY; "
                             "'both' measures each on the same index)")
    parser.add_argument("--respell", choices=["off", "on", "both"], default="on",
                        help="the second query of a typo's spellings (HybridRetriever.respell; on by default); "
                             "'both' measures each on the same index")
    parser.add_argument("--write", type=Path, default=None, help="replace the 'Ask latency' section of this file")
    args = parser.parse_args()

    import corpus

    from models.registry import build_embedder
    from models.sparse import LexicalSparseEncoder

    embedder = build_embedder(args.embedder)
    sparse = LexicalSparseEncoder()
    questions = corpus.dev_questions()
    random.Random(3).shuffle(questions)
    questions = questions[: args.questions]
    if not questions:
        raise SystemExit("no dev questions found (../shared/eval/dev/qa)")

    rows = []
    for size in args.sizes:
        for backend in args.backends:
            with tempfile.TemporaryDirectory(prefix="docintel-ask-bench-") as tmp:
                index, load_s, n_real = build(backend, size, Path(tmp), embedder, sparse)
                choices = {"off": (False,), "on": (True,), "both": (False, True)}
                for similarity, respell, acl in [(s, r, a) for s in choices[args.similarity]
                                                 for r in choices[args.respell] for a in (False, True)]:
                    times = measure(index, embedder, sparse, questions, acl=acl, similarity=similarity,
                                    respell=respell)
                    row = {"size": size, "backend": backend, "acl": acl, "load_s": load_s, "real": n_real,
                           "similarity": similarity, "respell": respell,
                           **{f"{s}_p50": statistics.median(times[s]) for s in (*STAGES, "total")},
                           **{f"{s}_p95": pct(times[s], 0.95) for s in (*STAGES, "total")}}
                    rows.append(row)
                    print(f"{size:>7} {backend:<13} acl={'yes' if acl else 'no ':<3} sim={'on ' if similarity else 'off'} "
                          f"respell={'on ' if respell else 'off'} "
                          + " ".join(f"{s} {row[s + '_p50']:.0f}/{row[s + '_p95']:.0f}" for s in (*STAGES, "total"))
                          + " ms (p50/p95)", flush=True)
                close = getattr(index, "close", None)
                if close is not None:
                    close()

    section = render(rows, args, len(questions))
    print(section)
    if args.write:
        replace_section(args.write, "## Ask latency by stage", section)


def render(rows: list[dict], args, n_questions: int) -> str:
    cpu = platform.processor() or platform.machine()
    lines = [
        "## Ask latency by stage",
        "",
        f"Command: `.venv/bin/python bench/ask_latency.py --sizes {' '.join(map(str, args.sizes))} "
        f"--backends {' '.join(args.backends)} --questions {args.questions} --similarity {args.similarity} "
        f"--respell {args.respell} --write bench/BENCHMARKS.md`",
        "",
        f"Machine: {os.cpu_count()} cores ({cpu}), Python {platform.python_version()}; one process, "
        f"{n_questions} dev questions per row after one warm-up; extractive generator, embedder "
        f"{args.embedder}, hybrid dense + sparse query. Milliseconds, p50 / p95 of the same run. "
        "'real' = how many index vectors are real embeddings (the rest are drawn from their "
        "statistics). ACL: the caller holds 2 of 20 groups; the dev corpus chunks are in them, a "
        "tenth of the generated distractors too.",
        "",
        "| chunks | backend | ACL | sentence similarity | typo query | retrieve | score | answer | verify | total "
        "| real vectors | load s |",
        "|---:|---|---|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        cells = " | ".join(f"{r[s + '_p50']:.0f} / {r[s + '_p95']:.0f}" for s in (*STAGES, "total"))
        lines.append(f"| {r['size']:,} | {r['backend']} | {'yes' if r['acl'] else 'no'} | "
                     f"{'on' if r['similarity'] else 'off'} | {'on' if r.get('respell', True) else 'off'} | {cells} | "
                     f"{r['real']:,} | {r['load_s']:.0f} |")
    lines.append("")
    return "\n".join(lines)


def replace_section(path: Path, heading: str, section: str) -> None:
    """Replace one '## ' section of a Markdown file (append it when missing), leaving
    every other section as it is."""
    text = path.read_text(encoding="utf-8") if path.exists() else "# Benchmarks\n"
    start = text.find(heading + "\n")
    if start < 0:
        text = text.rstrip("\n") + "\n\n" + section
    else:
        end = text.find("\n## ", start + len(heading))
        text = text[:start] + section.rstrip("\n") + "\n" + (text[end:] if end >= 0 else "")
    path.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
