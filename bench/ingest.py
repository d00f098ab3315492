"""Ingestion benchmark: the pipeline stage by stage next to the raw floors of the same run.

    .venv/bin/python bench/ingest.py [--pages 200] [--embedder use-multilingual-v3] [--anonymise]
                                     [--pii-workers N] [--index qdrant-edge|qdrant-local]
                                     [--write bench/BENCHMARKS.md]

A generated text PDF (French and English sentences, several paragraphs per page) is
ingested by the real pipeline (sandboxed PyMuPDF parser, sentence chunker, embedder,
lexical sparse encoder, on-disk embedded index; with ``--anonymise`` the service's
``PseudonymisingPreparer``, detecting in ``--pii-workers`` processes). The raw floors
are measured in the same process on the same data, one stage after the other: PyMuPDF
``get_text`` alone, the detector's spaCy NER alone, the embedder's raw encode of the same
chunk texts, the backend's own upsert of the same vectors. The ratio compares the
pipeline's wall time with the sum of the floors: above 1 is overhead; below 1 means
stages overlap (PII detection in other processes while this one embeds).
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

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS", "")

FR = [
    "Le contrat d'assurance habitation couvre les dommages causés par un dégât des eaux.",
    "L'assuré doit déclarer le sinistre dans un délai de cinq jours ouvrés.",
    "La franchise applicable s'élève à 150 euros par sinistre, sauf clause contraire.",
    "Les garanties prennent effet à la date indiquée aux conditions particulières.",
    "En cas de litige, le tribunal compétent est celui du domicile de l'assuré.",
    "La résiliation peut intervenir chaque année à la date d'échéance du contrat.",
]
EN = [
    "The policyholder must notify the insurer of any claim within thirty days.",
    "Coverage includes accidental damage to the insured vehicle and third-party liability.",
    "The annual premium is payable in advance and may be adjusted at renewal.",
    "Exclusions apply to losses caused by wear and tear or gradual deterioration.",
    "This agreement is governed by the laws of the State of New York.",
    "Either party may terminate the agreement with sixty days' written notice.",
]


def make_pdf(pages: int, seed: int = 7) -> bytes:
    import fitz

    rng = random.Random(seed)
    doc = fitz.open()
    for n in range(pages):
        page = doc.new_page()
        y = 60
        for _ in range(5):
            pool = FR if rng.random() < 0.5 else EN
            paragraph = " ".join(rng.choice(pool) for _ in range(4)) + f" (ref. {n}-{rng.randint(100, 999)})"
            rect = fitz.Rect(50, y, 545, y + 120)
            page.insert_textbox(rect, paragraph, fontsize=10)
            y += 130
    data = doc.tobytes()
    doc.close()
    return data


def timed(fn, *args, **kwargs):
    start = time.perf_counter()
    result = fn(*args, **kwargs)
    return result, time.perf_counter() - start


def run(pages: int, embedder_name: str, anonymise: bool, repeats: int, *, pii_workers: int = 0,
        backend: str = "qdrant-edge") -> dict:
    import fitz

    from models.registry import build_embedder
    from models.sparse import LexicalSparseEncoder
    from pipelines.chunking import chunker_for
    from pipelines.indexing.qdrant_index import physical_collection_name
    from pipelines.ingest import IngestPipeline, IngestTarget, identity_preparer
    from pipelines.parsing import SandboxedParser
    from pipelines.types import Page

    data = make_pdf(pages)
    embedder = build_embedder(embedder_name)
    embedder.embed_documents(["warm-up"])  # model load is not ingestion
    sparse = LexicalSparseEncoder()
    chunker = chunker_for(embedder)
    parser = SandboxedParser()
    parser.parse(make_pdf(1), filename="warm.pdf")  # start the worker pool

    prepare = identity_preparer
    pool = None
    if anonymise:
        from models.pii import build_nlp_engine
        from pipelines.anonymising import Anonymiser, InMemoryTokenStore, PiiDetector
        from pipelines.anonymising.pool import DetectorPool, PseudonymisingPreparer

        nlp_engine = build_nlp_engine()
        anonymiser = Anonymiser(PiiDetector(nlp_engine))
        if pii_workers:
            # The service's wiring: the default detector in worker processes, replacement
            # (the token store) in the ingesting thread.
            pool = DetectorPool(pii_workers)
            for future in [pool.submit(FR[0] + " " + EN[0]) for _ in range(pii_workers)]:
                future.result()  # the workers' model loads are not ingestion
        prepare = PseudonymisingPreparer(anonymiser, InMemoryTokenStore(), keep_originals=False, pool=pool)
        prepare(Page(1, FR[0] + " " + EN[0]), "warm")  # loads the spaCy pipelines

    results = []
    for repeat in range(repeats):
        with tempfile.TemporaryDirectory() as tmp:
            # ---- floors ------------------------------------------------------------
            def raw_parse():
                with fitz.open(stream=data, filetype="pdf") as doc:
                    return [p.get_text() for p in doc]

            page_texts, t_parse_floor = timed(raw_parse)
            floors = {"parse": t_parse_floor}
            if anonymise:
                from pipelines import lexical

                # The detector's raw floor: its spaCy NER pipeline alone over the same page
                # texts, in the language the detector picks per page (no recognisers, no
                # pseudonyms, no offset maps).
                nlp = nlp_engine.nlp

                def raw_ner():
                    for text in page_texts:
                        lang = lexical.detect_language(text)
                        nlp.get(lang, nlp.get("en"))(text)

                _, floors["anonymise"] = timed(raw_ner)

            index = open_index(backend, Path(tmp) / "pipeline")
            physical = physical_collection_name("bench", f"c{repeat}", embedder.name, embedder.version, 1)
            index.create_physical(physical, embedder.dimension)
            pipeline = IngestPipeline(parser=parser, index=index, sparse=sparse)
            target = IngestTarget(tenant="bench", collection=f"c{repeat}", index_name=physical,
                                  document_id=f"doc{repeat}", filename="bench.pdf")
            start = time.perf_counter()
            result = pipeline.run(data, target, embedder=embedder, chunker=chunker, prepare=prepare)
            pipeline.publish(target)
            t_pipeline = time.perf_counter() - start
            index.close()

            chunks = chunker.chunk_document(result.pages)
            chunk_texts = [c.text for c in chunks]
            raw_encode = getattr(embedder, "encode_raw", embedder.embed_documents)  # the model call alone
            _, t_embed_floor = timed(raw_encode, chunk_texts)
            vectors = embedder.embed_documents(chunk_texts)

            _, t_upsert_floor = timed(raw_upsert, backend, Path(tmp) / "raw", embedder.dimension,
                                      vectors, chunk_texts)
            results.append({
                "pipeline_s": t_pipeline,
                "stages_ms": result.timings_ms,
                "floors_s": {**floors, "embed": t_embed_floor, "upsert": t_upsert_floor},
                "chunks": result.chunks,
                "pages": len(result.pages),
            })
    parser.close()
    if pool is not None:
        pool.close()
    return {"runs": results, "embedder": f"{embedder.name} {embedder.version}", "anonymise": anonymise,
            "pii_workers": pii_workers, "backend": backend}


def open_index(backend: str, folder: Path):
    if backend == "qdrant-edge":
        from pipelines.indexing.edge_index import QdrantEdgeIndex

        return QdrantEdgeIndex(folder)
    from pipelines.indexing.qdrant_index import QdrantIndex

    return QdrantIndex.from_location(path=str(folder))


def raw_upsert(backend: str, folder: Path, dimension: int, vectors, texts) -> None:
    """The upsert floor: the backend's own client writing the same dense vectors with a
    text-only payload, 256 points per call (no sparse part, no ready flag, no ACL fields)."""
    if backend == "qdrant-edge":
        import qdrant_edge as qe

        from pipelines.indexing.edge_index import QdrantEdgeIndex

        index = QdrantEdgeIndex(folder)
        index.create_physical("raw", dimension)
        shard = index._shard("raw")  # the engine's shard itself, under the port
        points = [qe.Point(i, {"dense": v.tolist()}, {"text": t}) for i, (v, t) in enumerate(zip(vectors, texts))]
        for i in range(0, len(points), 256):
            shard.update(qe.UpdateOperation.upsert_points(points[i:i + 256]))
        shard.optimize()  # the port optimises after each write; once here
        index.close()
        return
    from qdrant_client import models as qm

    from pipelines.indexing.qdrant_index import QdrantIndex

    index = QdrantIndex.from_location(path=str(folder))
    index.create_physical("raw", dimension)
    points = [qm.PointStruct(id=i, vector={"dense": v.tolist()}, payload={"text": t})
              for i, (v, t) in enumerate(zip(vectors, texts))]
    for i in range(0, len(points), 256):
        index.client.upsert("raw", points[i:i + 256], wait=True)
    index.close()


def summarise(report: dict) -> dict:
    runs = report["runs"]
    med = lambda xs: statistics.median(xs)  # noqa: E731
    pipeline_s = med([r["pipeline_s"] for r in runs])
    stages = {k: med([r["stages_ms"].get(k, 0.0) for r in runs]) / 1000 for k in runs[0]["stages_ms"]}
    floors = {k: med([r["floors_s"][k] for r in runs]) for k in runs[0]["floors_s"]}
    pages, chunks = runs[0]["pages"], runs[0]["chunks"]
    return {"pipeline_s": pipeline_s, "stages_s": stages, "floors_s": floors, "pages": pages, "chunks": chunks,
            "ratio": pipeline_s / sum(floors.values())}


def markdown(summary: dict, report: dict, command: str) -> str:
    s = summary
    lines = [
        f"Command: `{command}`  ",
        f"Machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}; "
        f"embedder {report['embedder']}; index {report['backend']}; "
        f"pseudonymisation {'on, PII workers ' + str(report['pii_workers']) if report['anonymise'] else 'off'}; "
        f"medians of {len(report['runs'])} runs; floors measured one after the other in the bench process.",
        "",
        f"{s['pages']} pages, {s['chunks']} chunks. Pipeline: **{s['pages'] / s['pipeline_s']:.1f} pages/s**, "
        f"{s['chunks'] / s['pipeline_s']:.1f} chunks/s ({s['pipeline_s']:.2f} s).",
        "",
        "| stage | pipeline (s) | raw floor (s) | floor measured as |",
        "|---|---|---|---|",
    ]
    floor_of = {"parse": "PyMuPDF get_text alone", "embed": "embedder raw encode of the same chunks",
                "anonymise": "the detector's spaCy NER pipeline alone on the same pages (language per page)",
                "upsert": "the backend's own client writing the same dense vectors, no sparse part"}
    for stage, seconds in s["stages_s"].items():
        floor = s["floors_s"].get(stage)
        lines.append(f"| {stage} | {seconds:.3f} | {'' if floor is None else f'{floor:.3f}'} | "
                     f"{floor_of.get(stage, '')} |")
    total_floor = sum(s["floors_s"].values())
    lines += [
        f"| **total** | **{s['pipeline_s']:.3f}** | **{total_floor:.3f}** | sum of floors |",
        "",
        f"Ratio pipeline / sum of floors: **{s['ratio']:.2f}**.",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=200)
    parser.add_argument("--embedder", default="use-multilingual-v3")
    parser.add_argument("--anonymise", action="store_true")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--pii-workers", type=int, default=0,
                        help="PII detection processes (DOCINTEL_PII_WORKERS); 0 = in the ingesting thread")
    parser.add_argument("--index", choices=("qdrant-edge", "qdrant-local"), default="qdrant-edge")
    parser.add_argument("--write", type=Path, help="replace this run's section in a BENCHMARKS.md")
    args = parser.parse_args()
    report = run(args.pages, args.embedder, args.anonymise, args.repeats, pii_workers=args.pii_workers,
                 backend=args.index)
    summary = summarise(report)
    command = "python bench/ingest.py " + " ".join(sys.argv[1:])
    text = markdown(summary, report, command)
    print(text)
    if args.write:
        mode = f"on, {args.pii_workers} PII workers" if args.anonymise else "off"
        heading = f"### Ingestion, {args.embedder}, {args.index}, pseudonymisation {mode}"
        write_section(args.write, heading, text)


def write_section(path: Path, heading: str, body: str) -> None:
    """Replace (or append) the section under ``heading`` in a markdown file."""
    content = path.read_text(encoding="utf-8") if path.exists() else "# Benchmarks\n"
    lines = content.split("\n")
    out, skipping, replaced = [], False, False
    for line in lines:
        if line.strip() == heading:
            out += [heading, "", body, ""]
            skipping, replaced = True, True
            continue
        if skipping and line.startswith("#"):
            skipping = False
        if not skipping:
            out.append(line)
    if not replaced:
        out += ["", heading, "", body, ""]
    path.write_text("\n".join(out).rstrip() + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
