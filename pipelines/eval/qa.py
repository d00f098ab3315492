"""Grounded-QA evaluation: datasets in, metrics out.

``evaluate_qa(dataset_dir, ingest, ask)`` is transport-agnostic: ``ingest(path,
manifest_row)`` puts one corpus file in the collection under test, ``ask(question)``
returns the API.md answer dict, optionally with

* ``retrieved``: the first-stage chunks in rank order, each ``{document_id, page,
  start, end, orig_start, orig_end, text}`` (for recall@k);
* ``verification``: ``{"generated": n, "dropped": m, "returned_unsupported": r,
  "uncited": u, "post_hoc": p}`` (for the unsupported-sentence rate before/after
  verification; ``u`` proposals cited no source, ``p`` returned sentences were
  attributed post hoc).

Documents are matched to the gold ``doc_id`` through their filename (manifest ``file``);
``ask`` results carry ``document_id``s that ``doc_id_of`` maps back. Offsets of
``.txt`` evidence are in the original file text, so chunks and citations are compared
through their ``orig_start``/``orig_end`` (identical to ``start``/``end`` in a plain
collection). TAT-QA ``.html`` evidence is a paragraph (matched by text overlap) or the
table (matched when the chunk holds at least two of the table's numeric cells).

Metrics, per language and per source: recall@k, answer accuracy (a normalised gold
answer inside the answer *and* inside one cited quote), citation precision,
abstention on unanswerable questions, false abstention on answerable span questions,
unsupported-sentence rate before/after verification, share of proposals citing no source
and of returned sentences attributed post hoc. TAT-QA arithmetic questions are
reported apart (the extractive generator cannot compute).

``build_local_index`` is an in-process harness (chunk, embed, in-memory Qdrant) that
needs no HTTP service; ``python -m pipelines.eval.qa --help`` runs it.
"""

from __future__ import annotations

import html
import json
import os
import string
import time
import unicodedata
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

from pipelines import lexical

RECALL_KS = (1, 3, 5, 8)


# -- dataset -----------------------------------------------------------------------------------


def load_jsonl(path: Path) -> list[dict]:
    with path.open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def load_questions(dataset_dir: Path, languages: Sequence[str] = ("fr", "en")) -> list[dict]:
    items: list[dict] = []
    for lang in languages:
        path = dataset_dir / f"qa_{lang}.jsonl"
        if path.exists():
            items.extend(load_jsonl(path))
    return items


def subsample(items: Sequence[dict], per_group: int) -> list[dict]:
    """The first ``per_group`` items of each (language, source, answerable) group:
    deterministic, and every group stays represented."""
    counts: dict[tuple, int] = defaultdict(int)
    out = []
    for item in items:
        key = (item["lang"], item["source"], item["answerable"])
        if counts[key] < per_group:
            counts[key] += 1
            out.append(item)
    return out


class _HtmlText(HTMLParser):
    """Renders a TAT-QA excerpt as text: one line per table row (cells joined by
    " | "), one line per paragraph. Records each paragraph's and table's span."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.length = 0
        self.cells: list[str] = []
        self.row: list[str] | None = None
        self.cell: list[str] | None = None
        self.current_id: str | None = None
        self.current_start = 0
        self.paragraph: list[str] | None = None
        self.spans: dict[str, tuple[int, int]] = {}
        self.table_cells: dict[str, list[str]] = {}
        self.in_title = False

    def _emit(self, text: str) -> None:
        self.parts.append(text)
        self.length += len(text)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "title":
            self.in_title = True
        elif tag == "table":
            self.current_id, self.current_start = attrs.get("id", "t"), self.length
            self.table_cells[self.current_id] = []
        elif tag == "tr":
            self.row = []
        elif tag in ("td", "th"):
            self.cell = []
        elif tag == "p":
            self.current_id, self.current_start = attrs.get("id", "p"), self.length
            self.paragraph = []

    def handle_endtag(self, tag):
        if tag == "title":
            self.in_title = False
        elif tag in ("td", "th") and self.cell is not None and self.row is not None:
            value = " ".join("".join(self.cell).split())
            self.row.append(value)
            if value and self.current_id in self.table_cells:
                self.table_cells[self.current_id].append(value)
            self.cell = None
        elif tag == "tr" and self.row is not None:
            cells = [c for c in self.row if c]
            if cells:
                self._emit(" | ".join(cells) + "\n")
            self.row = None
        elif tag == "table" and self.current_id:
            self.spans[self.current_id] = (self.current_start, self.length)
            self._emit("\n")
            self.current_id = None
        elif tag == "p" and self.paragraph is not None:
            text = " ".join("".join(self.paragraph).split())
            start = self.length
            self._emit(text)
            if self.current_id:
                self.spans[self.current_id] = (start, self.length)
            self._emit("\n\n")
            self.paragraph = None
            self.current_id = None

    def handle_data(self, data):
        if self.in_title:
            return
        if self.cell is not None:
            self.cell.append(data)
        elif self.paragraph is not None:
            self.paragraph.append(data)


@dataclass(frozen=True)
class CorpusDocument:
    doc_id: str
    file: str
    lang: str
    source: str
    text: str
    """Original text of the (single) page, as the harness ingests it."""
    spans: dict[str, tuple[int, int]] = field(default_factory=dict)
    """HTML element id -> span in ``text`` (TAT-QA paragraphs and tables)."""
    table_cells: dict[str, list[str]] = field(default_factory=dict)


def read_corpus_document(dataset_dir: Path, row: Mapping[str, Any]) -> CorpusDocument:
    path = dataset_dir / row["file"]
    raw = path.read_text(encoding="utf-8")
    if path.suffix.lower() in (".html", ".htm"):
        parser = _HtmlText()
        parser.feed(raw)
        parser.close()
        text = "".join(parser.parts).strip() + "\n"
        return CorpusDocument(row["doc_id"], row["file"], row.get("lang", ""), row.get("source", ""),
                              text, parser.spans, parser.table_cells)
    return CorpusDocument(row["doc_id"], row["file"], row.get("lang", ""), row.get("source", ""), raw)


def load_corpus(dataset_dir: Path) -> dict[str, CorpusDocument]:
    rows = load_jsonl(dataset_dir / "corpus_manifest.jsonl")
    return {row["doc_id"]: read_corpus_document(dataset_dir, row) for row in rows}


# -- normalisation and matching -----------------------------------------------------------------

_ARTICLES = {"a", "an", "the", "le", "la", "les", "l", "un", "une", "des", "du", "d"}
_PUNCT = set(string.punctuation) | {"«", "»", "’", "‘", "“", "”", "–", "—", "…"}


def normalise_answer(text: str) -> str:
    """SQuAD-style: lower case, no accents, no punctuation, no articles, single spaces."""
    text = unicodedata.normalize("NFKC", html.unescape(text)).lower()
    text = "".join(" " if ch in _PUNCT else ch for ch in text)
    tokens = [t for t in text.split() if t not in _ARTICLES]
    return " ".join(lexical.fold(t) for t in tokens)


def contains_answer(haystack: str, answer: str) -> bool:
    """Normalised ``answer`` occurs in normalised ``haystack`` on token boundaries."""
    needle = normalise_answer(answer)
    if not needle:
        return False
    return f" {needle} " in f" {normalise_answer(haystack)} "


def _squash(text: str) -> str:
    return " ".join(lexical.fold(text).split())


def _overlaps(a0: int, a1: int, b0: int, b1: int) -> bool:
    return a0 < b1 and b0 < a1


def _text_overlaps(chunk_text: str, evidence_text: str, *, min_common: int = 60) -> bool:
    """Chunk and evidence share a substantial piece of text (either contains the other,
    or a common substring of ``min_common`` characters, or of half the evidence)."""
    a, b = _squash(chunk_text), _squash(evidence_text)
    if not a or not b:
        return False
    if a in b or b in a:
        return True
    need = min(min_common, max(10, len(b) // 2))
    step = max(1, need // 2)
    return any(b[i : i + need] in a for i in range(0, max(1, len(b) - need + 1), step))


@dataclass(frozen=True)
class Evidence:
    doc_id: str
    start: int | None = None
    end: int | None = None
    text: str | None = None
    table_cells: tuple[str, ...] = ()


def gold_evidence(item: Mapping[str, Any], corpus: Mapping[str, CorpusDocument]) -> list[Evidence]:
    out = []
    for ev in item.get("evidence", []):
        doc = corpus.get(ev["doc_id"])
        if "char_start" in ev:
            out.append(Evidence(ev["doc_id"], ev["char_start"], ev["char_end"], ev.get("text")))
        elif ev.get("kind") == "paragraph":
            out.append(Evidence(ev["doc_id"], text=ev.get("text", "")))
        elif ev.get("kind") == "table" and doc is not None:
            cells = doc.table_cells.get(ev.get("html_id", "t1"), [])
            numeric = tuple(c for c in cells if lexical.numbers(c))
            out.append(Evidence(ev["doc_id"], table_cells=numeric))
    return out


def span_matches_evidence(span: Mapping[str, Any], doc_id: str | None, evidence: Sequence[Evidence]) -> bool:
    """A retrieved chunk or a citation (``orig_start``/``orig_end``/``text`` or ``quote``)
    overlaps one gold evidence item."""
    text = span.get("text") if span.get("text") is not None else span.get("quote", "")
    for ev in evidence:
        if doc_id != ev.doc_id:
            continue
        if ev.start is not None:
            start = span.get("orig_start", span.get("start"))
            end = span.get("orig_end", span.get("end"))
            if start is not None and end is not None and _overlaps(int(start), int(end), ev.start, ev.end):
                return True
        elif ev.text:
            if _text_overlaps(text or "", ev.text):
                return True
        elif ev.table_cells:
            squashed = _squash(text or "")
            found = {c for c in ev.table_cells if _squash(c) and _squash(c) in squashed}
            if len(found) >= 2:
                return True
    return False


# -- evaluation ---------------------------------------------------------------------------------

IngestFn = Callable[[Path, dict], None]
AskFn = Callable[[str], dict]


@dataclass
class _Tally:
    n: int = 0
    hits: int = 0

    def add(self, ok: bool) -> None:
        self.n += 1
        self.hits += int(ok)

    def value(self) -> float | None:
        return round(self.hits / self.n, 4) if self.n else None


def _group_keys(item: Mapping[str, Any]) -> list[str]:
    return ["all", f"lang={item['lang']}", f"source={item['source']}"]


def evaluate_qa(
    dataset_dir: Path,
    ingest: IngestFn | None,
    ask: AskFn,
    *,
    doc_id_of: Callable[[str], str | None] | None = None,
    items: Sequence[dict] | None = None,
    recall_ks: Sequence[int] = RECALL_KS,
    progress: Callable[[int, int], None] | None = None,
) -> dict:
    """Ingest the corpus (unless ``ingest`` is None: already ingested), ask every
    question, return metrics per group plus per-item records.

    ``doc_id_of(document_id)`` maps an answer's ``document_id`` to the gold ``doc_id``
    (the caller knows which file it uploaded under which id); by default the ids are
    assumed equal.
    """
    dataset_dir = Path(dataset_dir)
    corpus = load_corpus(dataset_dir)
    if ingest is not None:
        for row in load_jsonl(dataset_dir / "corpus_manifest.jsonl"):
            ingest(dataset_dir / row["file"], row)
    items = list(items) if items is not None else load_questions(dataset_dir)
    to_gold = doc_id_of or (lambda document_id: document_id)

    tallies: dict[str, dict[str, _Tally]] = defaultdict(lambda: defaultdict(_Tally))
    records = []
    latencies = []
    for i, item in enumerate(items):
        started = time.perf_counter()
        result = ask(item["question"])
        latencies.append((time.perf_counter() - started) * 1000)
        record = score_item(item, result, corpus, to_gold, recall_ks)
        records.append(record)
        for key in _group_keys(item):
            t = tallies[key]
            for metric, value in record["metrics"].items():
                if isinstance(value, bool):
                    t[metric].add(value)
                elif isinstance(value, tuple):  # (hits, n) pairs: citation precision, unsupported
                    t[metric].hits += value[0]
                    t[metric].n += value[1]
        if progress:
            progress(i + 1, len(items))
    metrics = {
        group: {name: {"value": t.value(), "n": t.n} for name, t in sorted(ts.items())}
        for group, ts in sorted(tallies.items())
    }
    latencies.sort()
    return {
        "metrics": metrics,
        "latency_ms": {
            "p50": round(latencies[len(latencies) // 2], 1) if latencies else None,
            "p95": round(latencies[int(len(latencies) * 0.95)], 1) if latencies else None,
        },
        "records": records,
    }


def score_item(
    item: Mapping[str, Any],
    result: Mapping[str, Any],
    corpus: Mapping[str, CorpusDocument],
    to_gold: Callable[[str], str | None],
    recall_ks: Sequence[int] = RECALL_KS,
) -> dict:
    """Metrics of one question. Booleans count per question; (hits, n) pairs count per
    citation or per sentence."""
    metrics: dict[str, Any] = {}
    abstained = bool(result.get("abstained"))
    kind = item.get("answer_type")
    citations = result.get("citations") or []
    if not item["answerable"]:
        metrics["abstention_on_unanswerable"] = abstained
    else:
        evidence = gold_evidence(item, corpus)
        retrieved = result.get("retrieved")
        if retrieved is not None:
            for k in recall_ks:
                metrics[f"recall@{k}"] = any(
                    span_matches_evidence(r, to_gold(r.get("document_id", "")), evidence)
                    for r in retrieved[:k]
                )
        suffix = "arithmetic" if kind in ("arithmetic", "count") else ("multi_span" if kind == "multi-span" else "span")
        metrics[f"accuracy_{suffix}"] = (not abstained) and _answer_correct(item, result)
        if suffix == "span":
            metrics["false_abstention_span"] = abstained
        good = sum(
            1 for c in citations if span_matches_evidence(c, to_gold(c.get("document_id", "")), evidence)
        )
        if citations:
            metrics["citation_precision"] = (good, len(citations))
    verification = result.get("verification")
    if verification and verification.get("generated"):
        metrics["unsupported_before_verification"] = (verification["dropped"], verification["generated"])
        metrics["uncited_proposals"] = (verification.get("uncited", 0), verification["generated"])
        returned = len(result.get("sentences") or [])
        if returned:
            metrics["unsupported_after_verification"] = (verification.get("returned_unsupported", 0), returned)
            metrics["post_hoc_sentences"] = (verification.get("post_hoc", 0), returned)
    return {
        "id": item["id"],
        "lang": item["lang"],
        "source": item["source"],
        "answer_type": kind,
        "abstained": abstained,
        "answer": result.get("answer", "")[:400],
        "metrics": metrics,
        "evidence_score": result.get("evidence"),
    }


def _answer_correct(item: Mapping[str, Any], result: Mapping[str, Any]) -> bool:
    """A gold answer inside the answer and inside one cited quote (multi-span: all of
    them); arithmetic: the scaled number appears in a cited quote and the answer."""
    answer = result.get("answer", "")
    quotes = [c.get("quote", "") for c in result.get("citations") or []]

    def found(gold: str) -> bool:
        return contains_answer(answer, gold) and any(contains_answer(q, gold) for q in quotes)

    golds = [g for g in item.get("answers", []) if g]
    if not golds:
        return False
    if item.get("answer_type") == "multi-span":
        return all(found(g) for g in golds)
    if item.get("answer_type") in ("arithmetic", "count"):
        return any(found(g) or _numeric_found(g, answer, quotes) for g in golds)
    return any(found(g) for g in golds)


def _numeric_found(gold: str, answer: str, quotes: Sequence[str]) -> bool:
    values = lexical.numbers(gold)
    if not values:
        return False
    target = values[0]
    return target in lexical.numbers(answer) and any(target in lexical.numbers(q) for q in quotes)


# -- report -------------------------------------------------------------------------------------

_ORDER = [
    *(f"recall@{k}" for k in RECALL_KS),
    "accuracy_span", "accuracy_multi_span", "accuracy_arithmetic",
    "citation_precision", "abstention_on_unanswerable", "false_abstention_span",
    "unsupported_before_verification", "unsupported_after_verification",
    "uncited_proposals", "post_hoc_sentences",
]


def format_report(
    report: Mapping[str, Any], *, title: str = "QA evaluation", only: Sequence[str] | None = None
) -> str:
    """A Markdown table: one row per group, one column per metric (value and n)."""
    metrics = report["metrics"]
    names = [m for m in _ORDER if any(m in g for g in metrics.values()) and (only is None or m in only)]
    lines = [f"### {title}", "", "| group | " + " | ".join(names) + " |",
             "|---|" + "---|" * len(names)]
    groups = sorted(metrics, key=lambda g: (g != "all", not g.startswith("lang"), g))
    for group in groups:
        cells = []
        for name in names:
            m = metrics[group].get(name)
            cells.append("" if m is None or m["value"] is None else f"{m['value']:.2f} ({m['n']})")
        lines.append(f"| {group} | " + " | ".join(cells) + " |")
    lat = report.get("latency_ms") or {}
    if lat.get("p50") is not None:
        lines += ["", f"latency per question: p50 {lat['p50']} ms, p95 {lat['p95']} ms"]
    return "\n".join(lines)


def threshold_sweep(report: Mapping[str, Any], thresholds: Sequence[float]) -> str:
    """Abstention trade-off for a run made with abstention disabled (threshold 0).

    Each record's ``evidence_score`` is compared to every candidate threshold: a
    question below it would have abstained. This is how the one global abstention
    threshold is calibrated (no per-item tuning).
    """
    lines = [("| threshold | abstention (unanswerable) | false abstention (span) | accuracy span fr | "
             "accuracy span en |"), "|---|---|---|---|---|"]
    records = report["records"]
    for t in thresholds:
        def abstains(r: Mapping[str, Any]) -> bool:
            return bool(r["abstained"]) or (r.get("evidence_score") or 0.0) < t

        unans = [abstains(r) for r in records if "abstention_on_unanswerable" in r["metrics"]]
        span = [r for r in records if "accuracy_span" in r["metrics"]]
        false_abst = [abstains(r) for r in span]
        acc = {lang: [r["metrics"]["accuracy_span"] and not abstains(r) for r in span if r["lang"] == lang]
               for lang in ("fr", "en")}

        def mean(xs: Sequence[bool]) -> str:
            return f"{sum(xs) / len(xs):.2f}" if xs else "-"

        lines.append(f"| {t:.2f} | {mean(unans)} | {mean(false_abst)} | {mean(acc['fr'])} | {mean(acc['en'])} |")
    return "\n".join(lines)


# -- in-process harness -------------------------------------------------------------------------


@dataclass
class LocalIndex:
    """An in-memory collection built from a corpus, with what the evaluation needs."""

    index: Any
    index_name: str
    documents: dict[str, CorpusDocument]
    chunks: int
    build_seconds: float


def throwaway_index(backend: str | None = None) -> Any:
    """A fresh temporary index of ``backend`` (default: ``DOCINTEL_INDEX_BACKEND`` or the
    service's default, qdrant-edge), so the eval measures what the service runs."""
    backend = backend or os.environ.get("DOCINTEL_INDEX_BACKEND", "qdrant-edge")
    if backend == "qdrant-edge":
        from pipelines.indexing.edge_index import QdrantEdgeIndex

        return QdrantEdgeIndex.temporary()
    from pipelines.indexing.qdrant_index import QdrantIndex

    return QdrantIndex.from_location(":memory:")


def build_local_index(
    dataset_dir: Path,
    embedder: Any,
    sparse_encoder: Any,
    *,
    chunker: Any = None,
    anonymise: Callable[[str, str], tuple[str, Any]] | None = None,
    index: Any = None,
    index_name: str = "eval-qa",
    batch_size: int = 64,
    doc_ids: Iterable[str] | None = None,
) -> LocalIndex:
    """Chunk every corpus file as one page, embed it and load it into an index
    (by default a fresh throw-away index of the service's default embedded backend). Document ids are the manifest
    ``doc_id``s and filenames the manifest ``file``s.

    ``anonymise(text, lang) -> (stored_text, OffsetMap)`` pseudonymises each page
    first (the default collection setting); chunks then carry original offsets.
    """
    from pipelines.chunking.sentence_chunker import chunker_for
    from pipelines.indexing.qdrant_index import chunk_payload, point_id
    from pipelines.types import IndexPoint, OffsetMap, Page

    started = time.perf_counter()
    documents = load_corpus(Path(dataset_dir))
    if doc_ids is not None:
        wanted = set(doc_ids)
        documents = {k: v for k, v in documents.items() if k in wanted}
    chunker = chunker or chunker_for(embedder)
    if index is None:
        index = throwaway_index()
    index.create_physical(index_name, embedder.dimension)
    total = 0
    pending: list[tuple[Any, str, str]] = []

    def flush() -> None:
        nonlocal pending, total
        if not pending:
            return
        texts = [c.text for c, _, _ in pending]
        dense = embedder.embed_documents(texts)
        sparse = sparse_encoder.encode_documents(texts)
        points = [
            IndexPoint(
                id=point_id(doc_id, chunk.index),
                dense=vector,
                sparse=sv,
                payload=chunk_payload(chunk, document_id=doc_id, filename=filename, ready=True),
            )
            for (chunk, doc_id, filename), vector, sv in zip(pending, dense, sparse)
        ]
        index.upsert(index_name, points)
        total += len(points)
        pending = []

    for doc in documents.values():
        stored, offsets = (doc.text, OffsetMap.identity())
        if anonymise is not None:
            stored, offsets = anonymise(doc.text, doc.lang)
        page = Page(number=1, text=stored)
        for chunk in chunker.chunk_document([page]):
            chunk = _with_original_offsets(chunk, offsets)
            pending.append((chunk, doc.doc_id, doc.file))
            if len(pending) >= batch_size:
                flush()
    flush()
    return LocalIndex(index, index_name, documents, total, time.perf_counter() - started)


def _with_original_offsets(chunk: Any, offsets: Any) -> Any:
    from dataclasses import replace

    return replace(
        chunk,
        orig_start=offsets.to_original(chunk.start),
        orig_end=offsets.to_original(chunk.end, is_end=True),
    )


def answer_to_eval_dict(answer: Any, *, verifier_judge: Callable[[str, list[str]], bool] | None = None) -> dict:
    """``pipelines.answer.Answer`` -> the dict ``evaluate_qa`` expects from ``ask``."""
    data = answer.to_dict()
    data["retrieved"] = [
        {"document_id": r.document_id, "page": r.page, "start": r.start, "end": r.end,
         "orig_start": r.orig_start, "orig_end": r.orig_end, "text": r.text}
        for r in answer.retrieved
    ]
    data["evidence"] = round(answer.evidence, 4)
    returned_unsupported = 0
    if verifier_judge is not None:
        quotes_by_id = {c.id: c.quote for c in answer.citations}
        for s in answer.sentences:
            if not verifier_judge(s.text, [quotes_by_id[i] for i in s.citation_ids]):
                returned_unsupported += 1
    data["verification"] = {
        "generated": answer.generated_count,
        "dropped": len(answer.dropped),
        "returned_unsupported": returned_unsupported,
        "uncited": answer.uncited_count,
        "post_hoc": sum(1 for s in answer.sentences if s.post_hoc),
    }
    return data


def strict_lexical_judge(sentence: str, quotes: list[str]) -> bool:
    """An independent, stricter check than the verifier, for the 'after' rate: every
    number and every content word of the sentence must occur in its quotes."""
    lang = lexical.detect_language(sentence)
    cited = "\n".join(quotes)
    if any(_squash(sentence) in _squash(q) for q in quotes):
        return True
    if set(lexical.numbers(sentence)) - set(lexical.numbers(cited)):
        return False
    return lexical.Terms.of(sentence, lang).coverage_in(lexical.all_stems(cited, lang)) >= 0.999


# -- command line -------------------------------------------------------------------------------


def _default_dataset() -> Path:
    import os

    env = os.environ.get("DOCINTEL_EVAL_DIR")
    base = Path(env) if env else Path(__file__).resolve().parents[2].parent / "shared" / "eval" / "dev"
    return base / "qa"


def main(argv: Sequence[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(description="Grounded-QA evaluation on an in-memory index.")
    parser.add_argument("--dataset", type=Path, default=None)
    parser.add_argument("--embedder", default="use-multilingual-v3")
    parser.add_argument("--no-sparse", action="store_true")
    parser.add_argument("--retrieval-only", action="store_true")
    parser.add_argument("--pseudonymise", action="store_true")
    parser.add_argument("--generator", default="extractive", choices=["extractive", "openai-compatible"])
    parser.add_argument("--base-url", default=None)
    parser.add_argument("--model", default="smollm2")
    parser.add_argument("--llm-timeout", type=float, default=300.0,
                        help="seconds per LLM request (a small local server on a busy CPU is slow)")
    parser.add_argument("--llm-max-tokens", type=int, default=256, help="answer length cap per LLM request")
    parser.add_argument("--llm-replay", type=Path, default=None,
                        help="record the LLM's proposals per question and passages in this JSONL file and "
                             "replay them on later runs: answerer/verifier changes compared on the same outputs "
                             "(one file per model and --llm-max-tokens)")
    parser.add_argument("--per-group", type=int, default=0, help="subsample N questions per group")
    parser.add_argument("--distractor-stride", type=int, default=1,
                        help="with --per-group: index the selected questions' gold documents "
                             "plus every Nth other document (1 = the whole corpus)")
    parser.add_argument("--top-k", type=int, default=8)
    parser.add_argument("--similarity", action=argparse.BooleanOptionalAction, default=False,
                        help="add question-sentence similarity (sentence embeddings) to the "
                             "second-stage scoring, as DOCINTEL_QA_SENTENCE_SIMILARITY does")
    parser.add_argument("--abstain-threshold", type=float, default=None)
    parser.add_argument("--json", type=Path, default=None, help="write the full report here")
    parser.add_argument("--cache-dir", type=Path, default=None,
                        help="cache embeddings here between runs (calibration)")
    args = parser.parse_args(argv)
    if args.generator == "openai-compatible" and not args.base_url:
        parser.error("--generator openai-compatible needs --base-url (an OpenAI-compatible server's /v1 root)")

    import os

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS", "")

    dataset = args.dataset or _default_dataset()
    from models.registry import build_embedder
    from models.sparse import LexicalSparseEncoder
    from pipelines.types import IndexFilter

    embedder = build_embedder(args.embedder)
    if args.cache_dir:
        embedder = CachingEmbedder(embedder, args.cache_dir / f"{embedder.name}-{embedder.version}.pkl")
    sparse = LexicalSparseEncoder()
    items = load_questions(dataset)
    doc_ids = None
    if args.per_group:
        items = subsample(items, args.per_group)
        if args.distractor_stride > 1:
            gold = {d for item in items for d in item["gold_doc_ids"]}
            rows = load_jsonl(dataset / "corpus_manifest.jsonl")
            others = [r["doc_id"] for r in rows if r["doc_id"] not in gold]
            doc_ids = gold | set(others[:: args.distractor_stride])
    pseudonymiser = _Pseudonymiser.build() if args.pseudonymise else None
    local = build_local_index(dataset, embedder, sparse, doc_ids=doc_ids,
                              anonymise=pseudonymiser.page if pseudonymiser else None)
    print(f"indexed {len(local.documents)} documents, {local.chunks} chunks "
          f"in {local.build_seconds:.0f} s ({args.embedder})", flush=True)

    if args.retrieval_only:
        from pipelines.retrieval import HybridRetriever

        # Both sides from the same index: dense alone, then dense + sparse fused.
        for use_sparse in (False, True):
            retriever = HybridRetriever(embedder, sparse, local.index, use_sparse=use_sparse)

            def ask(question: str) -> dict:
                hits = retriever.retrieve(question, index_name=local.index_name, flt=IndexFilter(),
                                          limit=max(RECALL_KS))
                return {"abstained": True, "retrieved": [dict(h.payload) for h in hits], "citations": []}

            report = evaluate_qa(dataset, None, ask, items=items)
            side = "dense+sparse" if use_sparse else "dense only"
            recall = [f"recall@{k}" for k in RECALL_KS]
            print(format_report(report, title=f"retrieval, {args.embedder}, {side}", only=recall), flush=True)
        if isinstance(embedder, CachingEmbedder):
            embedder.save()
        return 0
    else:
        from models.generators import ExtractiveGenerator, OpenAICompatibleGenerator
        from pipelines.answer import DEFAULT_ABSTAIN_THRESHOLD, Answerer
        from pipelines.retrieval import PassageScorer

        scorer = PassageScorer(embedder if args.similarity else None)
        extractive = ExtractiveGenerator(embedder, scorer=scorer)
        generators: dict[str, Any] = {"extractive": extractive}
        if args.base_url:
            llm: Any = OpenAICompatibleGenerator(args.base_url, args.model, timeout=args.llm_timeout,
                                                 max_tokens=args.llm_max_tokens)
            if args.llm_replay:
                llm = ReplayingGenerator(llm, args.llm_replay)
            generators["openai-compatible"] = llm
        answerer = Answerer(
            embedder, sparse, local.index, generators[args.generator], generators=generators,
            top_k=args.top_k, use_sparse=not args.no_sparse, scorer=scorer,
            abstain_threshold=args.abstain_threshold if args.abstain_threshold is not None
            else DEFAULT_ABSTAIN_THRESHOLD,
        )

        def ask(question: str) -> dict:
            searched, aliases = None, None
            if pseudonymiser is not None:
                question, searched, aliases = pseudonymiser.question(question)
            answer = answerer.answer(question, index_name=local.index_name, flt=IndexFilter(),
                                     search_question=searched, search_aliases=aliases)
            result = answer_to_eval_dict(answer, verifier_judge=strict_lexical_judge)
            # Scored as a caller with reveal_pii=true sees it (gold answers are raw text).
            return pseudonymiser.reveal(result) if pseudonymiser is not None else result

    def progress(done: int, total: int) -> None:
        if done % 25 == 0 or done == total:
            print(f"  {done}/{total}", flush=True)

    report = evaluate_qa(dataset, None, ask, items=items, progress=progress)
    title = (f"{args.embedder}, {'dense only' if args.no_sparse else 'dense+sparse'}, "
             f"{'retrieval' if args.retrieval_only else args.generator}"
             f"{', sentence similarity' if args.similarity and not args.retrieval_only else ''}, "
             f"{'pseudonymised' if args.pseudonymise else 'plain'}")
    print(format_report(report, title=title))
    if args.abstain_threshold == 0:
        print()
        print(threshold_sweep(report, [round(0.3 + 0.05 * i, 2) for i in range(11)]))
    if args.json:
        args.json.write_text(json.dumps(report, ensure_ascii=False, indent=1), encoding="utf-8")
    if isinstance(embedder, CachingEmbedder):
        embedder.save()
    return 0


@dataclass
class _Pseudonymiser:
    """The project's anonymiser with one in-memory vault, as a pseudonymised
    collection uses it: pages at ingestion, questions at ask time, and re-identification
    of answers for callers allowed to see PII (``reveal_pii``)."""

    anonymiser: Any
    store: Any

    @classmethod
    def build(cls) -> _Pseudonymiser:
        from models.pii import build_nlp_engine
        from pipelines.anonymising import Anonymiser, PiiDetector
        from pipelines.anonymising.vault import InMemoryTokenStore

        store = InMemoryTokenStore()
        detector = PiiDetector(build_nlp_engine(), languages=("fr", "en"))
        return cls(Anonymiser(detector, store=store), store)

    def page(self, text: str, lang: str) -> tuple[str, Any]:
        result = self.anonymiser.anonymise(text, language=lang or None)
        return result.text, result.offsets

    def question(self, text: str) -> tuple[str, str, dict[str, str]]:
        """(asked, searched, aliases): as the ask route passes them to the answerer."""
        return self.anonymiser.question_forms(text)

    def reveal(self, answer: dict) -> dict:
        out = dict(answer)
        out["answer"] = self.store.reveal(answer.get("answer", ""))
        out["citations"] = [{**c, "quote": self.store.reveal(c.get("quote", ""))}
                            for c in answer.get("citations") or []]
        return out


class ReplayingGenerator:
    """Wraps a generator: its proposals for each (question, passage texts) are appended
    to a JSONL file and replayed from it on later runs, so two versions of the answerer
    or the verifier are compared on the very same LLM outputs (and the slow model is
    asked once). Same port as the wrapped generator; no streaming."""

    def __init__(self, inner: Any, path: Path) -> None:
        self.inner = inner
        self.name, self.version = inner.name, inner.version
        self.path = Path(path)
        self._proposals: dict[str, list] = {}
        if self.path.exists():
            for row in load_jsonl(self.path):
                self._proposals[row["key"]] = row["sentences"]

    @staticmethod
    def _key(question: str, passages: Sequence[Any]) -> str:
        import hashlib

        return hashlib.sha256(json.dumps([question, [p.text for p in passages]]).encode()).hexdigest()

    def generate(self, question: str, passages: Sequence[Any]) -> list:
        from pipelines.types import GeneratedSentence

        key = self._key(question, passages)
        if key not in self._proposals:
            sentences = [[s.text, list(s.citations), [list(x) for x in s.spans]]
                         for s in self.inner.generate(question, passages)]
            self._proposals[key] = sentences
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a", encoding="utf-8") as fh:
                fh.write(json.dumps({"key": key, "sentences": sentences}, ensure_ascii=False) + "\n")
        return [GeneratedSentence(text, tuple(citations), tuple(tuple(x) for x in spans))
                for text, citations, spans in self._proposals[key]]


class CachingEmbedder:
    """Wraps an embedder with an on-disk cache keyed by text (for repeated evaluation
    runs while calibrating: the corpus is embedded once per embedder version).

    Same port as the wrapped embedder; the cache file is a pickle of text -> vector.
    """

    def __init__(self, inner: Any, cache_path: Path) -> None:
        import pickle

        self.inner = inner
        self.name, self.version = inner.name, inner.version
        self.dimension, self.max_tokens = inner.dimension, inner.max_tokens
        self.cache_path = Path(cache_path)
        self._cache: dict[str, Any] = {}
        if self.cache_path.exists():
            with self.cache_path.open("rb") as fh:
                self._cache = pickle.load(fh)
        self._dirty = 0

    def embed_documents(self, texts: Sequence[str]):
        import numpy as np

        missing = [t for t in dict.fromkeys(texts) if t not in self._cache]
        if missing:
            for text, vector in zip(missing, self.inner.embed_documents(missing)):
                self._cache[text] = vector
            self._dirty += len(missing)
            if self._dirty >= 2000:
                self.save()
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        return np.stack([self._cache[t] for t in texts])

    def embed_query(self, text: str):
        key = "\x00query\x00" + text
        if key not in self._cache:
            self._cache[key] = self.inner.embed_query(text)
            self._dirty += 1
        return self._cache[key]

    def save(self) -> None:
        import pickle

        if self._dirty:
            self.cache_path.parent.mkdir(parents=True, exist_ok=True)
            with self.cache_path.open("wb") as fh:
                pickle.dump(self._cache, fh)
            self._dirty = 0


if __name__ == "__main__":
    raise SystemExit(main())
