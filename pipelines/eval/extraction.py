"""Evaluation of schema-driven extraction on a dataset of (document, schema, gold) items.

Dataset layout (``items.jsonl`` + ``docs/`` + ``schemas/``, see the dev set's README).
Every item's gold and prediction are flattened into multisets of ``(field, value)``
pairs, where ``field`` is the path without array indices (``party``, ``lines/name``) and
values are normalised; precision, recall and F1 follow per field, per schema group and
overall. ``null`` contributes no pair, so a value predicted for a decoy key is a false
positive and a missed value a false negative.

- Kleister-NDA items use the Kleister normalisation (upper-cased values, spaces and ':'
  as '_', punctuation inside party names dropped) and F1 over key=value pairs, as the
  dataset README states; we report it micro-averaged over items, and the mean of
  per-item F1 beside it.
- Other items (invoices): exact match after normalisation (numbers as floats to the
  cent, dates ISO, strings case- and space-insensitive).

Citation validity: every non-null leaf of every answer has a citation whose quote is the
stored page text at its span.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from pipelines.extraction.result import check_citations
from pipelines.types import Block, Page

ExtractFn = Callable[[Path, dict], dict]
PagesFn = Callable[[Path], Sequence[Page]]


def default_dataset_dir() -> Path:
    env = os.environ.get("DOCINTEL_EVAL_DIR")
    base = Path(env) if env else Path(__file__).resolve().parents[2].parent / "shared" / "eval" / "dev"
    return base / "extraction"


# --------------------------------------------------------------------------- pages


def load_pages(path: Path) -> list[Page]:
    """Pages of a dataset document: the project's parser when present, else PyMuPDF for
    PDFs (one block per text line, with its box) and plain text for the rest."""
    data = Path(path).read_bytes()
    try:
        from pipelines.parsing import DocumentParser  # type: ignore[attr-defined]
    except ImportError:
        DocumentParser = None
    if DocumentParser is not None:
        return list(DocumentParser().parse(data, filename=Path(path).name).pages)
    if data[:5] == b"%PDF-":
        return _pdf_pages(data)
    return [Page(number=1, text=data.decode("utf-8", errors="replace"))]


def _pdf_pages(data: bytes) -> list[Page]:
    import pymupdf

    pages = []
    with pymupdf.open(stream=data, filetype="pdf") as doc:
        for number, page in enumerate(doc, start=1):
            parts: list[str] = []
            blocks: list[Block] = []
            offset = 0
            for block in page.get_text("dict")["blocks"]:
                for line in block.get("lines", []):
                    text = "".join(span["text"] for span in line["spans"])
                    if not text.strip():
                        continue
                    blocks.append(Block(offset, offset + len(text), tuple(line["bbox"])))
                    parts.append(text + "\n")
                    offset += len(text) + 1
            pages.append(Page(number=number, text="".join(parts), blocks=tuple(blocks)))
    return pages


# --------------------------------------------------------------------------- normalisation

_LEGAL_FORMS = [
    (re.compile(r"\bINCORPORATED\b"), "INC."),
    (re.compile(r"\bL\.L\.C\.?"), "LLC"),
    (re.compile(r"\bL\.P\.?(?=\s|$)"), "LP"),
    (re.compile(r"\bL\.L\.P\.?"), "LLP"),
    (re.compile(r"\bINC\b(?!\.)"), "INC."),
]


def kleister_value(key: str, value: Any) -> str:
    """A value as Kleister-NDA compares it: upper case, punctuation inside party names
    dropped (commas), legal forms abbreviated, spaces and ':' as '_'."""
    s = " ".join(str(value).split()).upper()
    if key == "party":
        s = s.replace(",", "")
        for rx, repl in _LEGAL_FORMS:
            s = rx.sub(repl, s)
        s = " ".join(s.split())
    return re.sub(r"[ :]", "_", s)


def plain_value(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (int, float)):
        return f"{float(value):.2f}"
    s = " ".join(str(value).split()).casefold()
    try:  # numbers kept as strings in some schemas ("0.01")
        return f"{float(s):.2f}"
    except ValueError:
        return s


def flatten(obj: Any, prefix: str = "") -> list[tuple[str, Any]]:
    """``(field path without indices, leaf value)`` for every non-null leaf."""
    out: list[tuple[str, Any]] = []
    if isinstance(obj, dict):
        for k, v in obj.items():
            out.extend(flatten(v, f"{prefix}/{k}" if prefix else str(k)))
    elif isinstance(obj, list):
        for v in obj:
            out.extend(flatten(v, prefix))
    elif obj is not None:
        out.append((prefix, obj))
    return out


def pairs(obj: Any, *, kleister: bool) -> Counter:
    if kleister:
        return Counter((k, kleister_value(k, v)) for k, v in flatten(obj))
    return Counter((k, plain_value(v)) for k, v in flatten(obj))


def prf(tp: int, fp: int, fn: int) -> dict:
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    f = 2 * p * r / (p + r) if p + r else 0.0
    if tp + fp + fn == 0:
        p = r = f = 1.0
    return {"precision": round(p, 4), "recall": round(r, 4), "f1": round(f, 4), "tp": tp, "fp": fp, "fn": fn}


# --------------------------------------------------------------------------- evaluation


def _group_of(item: dict) -> str:
    if item.get("source", "").lower().startswith("kleister"):
        return "kleister_nda"
    return "invoice"


def evaluate_extraction(dataset_dir: Path | str, extract: ExtractFn, *, pages_of: PagesFn | None = None,
                        limit: int | None = None, ids: Sequence[str] | None = None) -> dict:
    """Run ``extract(document_path, schema) -> API answer dict`` on every item and score it.

    ``pages_of(document_path)`` gives the stored page texts that citations must quote
    (default :func:`load_pages`). Returns per-schema-group and per-field P/R/F1 with item
    counts, per-item details, citation validity and timings.
    """
    dataset_dir = Path(dataset_dir)
    pages_of = pages_of or load_pages
    items = [json.loads(line) for line in (dataset_dir / "items.jsonl").read_text().splitlines() if line.strip()]
    if ids:
        items = [it for it in items if it["id"] in set(ids)]
    if limit:
        items = items[:limit]

    counts: dict[str, dict[str, Counter]] = defaultdict(lambda: defaultdict(Counter))
    per_item = []
    citation_problems: list[str] = []
    cited_values = 0
    failures = 0
    started = time.perf_counter()
    for item in items:
        group = _group_of(item)
        kleister = group == "kleister_nda"
        doc_path = dataset_dir / item["file"]
        schema = json.loads((dataset_dir / item["schema_file"]).read_text())
        t0 = time.perf_counter()
        try:
            answer = extract(doc_path, schema)
        except Exception as exc:  # noqa: BLE001 -- an evaluation reports failures, it does not stop on them
            failures += 1
            per_item.append({"id": item["id"], "group": group, "error": f"{exc.__class__.__name__}: {exc}"})
            answer = {"data": {}, "fields": {}}
        seconds = time.perf_counter() - t0
        data = answer.get("data") or {}
        gold_pairs = pairs(item["gold"], kleister=kleister)
        pred_pairs = pairs(data, kleister=kleister)
        tp_pairs = gold_pairs & pred_pairs
        fields_seen = {k for k, _ in gold_pairs} | {k for k, _ in pred_pairs}
        for f in fields_seen:
            c = counts[group][f]
            c["tp"] += sum(n for (k, _), n in tp_pairs.items() if k == f)
            c["fp"] += sum(n for (k, _), n in (pred_pairs - gold_pairs).items() if k == f)
            c["fn"] += sum(n for (k, _), n in (gold_pairs - pred_pairs).items() if k == f)
        tp, fp, fn = sum(tp_pairs.values()), sum((pred_pairs - gold_pairs).values()), sum((gold_pairs - pred_pairs).values())
        for f in set(item["gold"] or {}) | {k for k, _ in gold_pairs}:
            counts[group][f]["items"] += 1
        problems = []
        if answer.get("fields"):
            problems = check_citations(answer, pages_of(doc_path))
            cited_values += sum(1 for e in answer["fields"].values() if e.get("value") is not None)
        citation_problems.extend(f"{item['id']}{p}" for p in problems)
        per_item.append({
            "id": item["id"], "group": group, "seconds": round(seconds, 2), **prf(tp, fp, fn),
            "missed": sorted(f"{k}={v}" for k, v in (gold_pairs - pred_pairs).elements()),
            "spurious": sorted(f"{k}={v}" for k, v in (pred_pairs - gold_pairs).elements()),
            "citation_problems": problems, "valid": answer.get("valid"),
        })

    groups = {}
    for group, by_field in counts.items():
        total = Counter()
        for c in by_field.values():
            total.update({k: c[k] for k in ("tp", "fp", "fn")})
        group_items = [r for r in per_item if r["group"] == group]
        macro = [r["f1"] for r in group_items if "f1" in r]
        groups[group] = {
            "items": len(group_items),
            **prf(total["tp"], total["fp"], total["fn"]),
            "mean_item_f1": round(sum(macro) / len(macro), 4) if macro else 0.0,
            "fields": {f: {**prf(c["tp"], c["fp"], c["fn"]), "items_with_key": c["items"]} for f, c in sorted(by_field.items())},
        }
    all_tp = sum(g["tp"] for g in groups.values())
    all_fp = sum(g["fp"] for g in groups.values())
    all_fn = sum(g["fn"] for g in groups.values())
    return {
        "dataset": str(dataset_dir),
        "items": len(items),
        "failures": failures,
        "overall": prf(all_tp, all_fp, all_fn),
        "groups": groups,
        "citations": {"cited_values": cited_values, "invalid": len(citation_problems),
                      "valid": not citation_problems, "problems": citation_problems[:20]},
        "seconds": round(time.perf_counter() - started, 1),
        "per_item": per_item,
    }


def format_report(report: dict, *, details: bool = True) -> str:
    """A plain-text table of the report (per schema group, per field, per item)."""
    lines = [f"extraction eval: {report['items']} items, {report['failures']} failures, {report['seconds']} s"]
    o = report["overall"]
    lines.append(f"overall  P {o['precision']:.3f}  R {o['recall']:.3f}  F1 {o['f1']:.3f}")
    for group, g in sorted(report["groups"].items()):
        metric = " (Kleister metric: key=value pairs, upper-cased, micro)" if group == "kleister_nda" else ""
        lines.append("")
        lines.append(f"[{group}] items {g['items']}  P {g['precision']:.3f}  R {g['recall']:.3f}  F1 {g['f1']:.3f}"
                     f"  mean item F1 {g['mean_item_f1']:.3f}{metric}")
        lines.append(f"  {'field':28} {'P':>6} {'R':>6} {'F1':>6} {'tp':>4} {'fp':>4} {'fn':>4} {'items':>5}")
        for f, s in g["fields"].items():
            if s["tp"] + s["fp"] + s["fn"] == 0 and any(k.startswith(f + "/") for k in g["fields"]):
                continue  # an array of objects: its columns have the rows below
            lines.append(f"  {f[:28]:28} {s['precision']:6.3f} {s['recall']:6.3f} {s['f1']:6.3f} {s['tp']:4} {s['fp']:4} {s['fn']:4} {s['items_with_key']:5}")
    c = report["citations"]
    lines.append("")
    lines.append(f"citations: {c['cited_values']} non-null values, {c['invalid']} invalid -> {'OK' if c['valid'] else 'FAIL'}")
    for p in c["problems"]:
        lines.append(f"  {p}")
    if details:
        lines.append("")
        for r in report["per_item"]:
            if "error" in r:
                lines.append(f"  {r['id']}: ERROR {r['error']}")
                continue
            lines.append(f"  {r['id']}: F1 {r['f1']:.3f} ({r['seconds']} s)")
            for m in r["missed"]:
                lines.append(f"      missed   {m[:110]}")
            for s in r["spurious"]:
                lines.append(f"      spurious {s[:110]}")
    return "\n".join(lines)


def extract_with(extractor, pages_of: PagesFn = load_pages) -> ExtractFn:
    """An ``extract`` callable for :func:`evaluate_extraction` from any extractor."""
    return lambda path, schema: extractor.extract(list(pages_of(path)), schema).to_dict()


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m pipelines.eval.extraction [--dataset DIR] [--no-ner] [--json FILE]``."""
    import argparse

    parser = argparse.ArgumentParser(description="Evaluate the extractive extractor on a dataset.")
    parser.add_argument("--dataset", type=Path, default=None, help="dataset folder (default: ../shared/eval/dev/extraction)")
    parser.add_argument("--no-ner", action="store_true", help="without spaCy persons/organisations")
    parser.add_argument("--json", type=Path, default=None, help="also write the full report as JSON")
    parser.add_argument("--brief", action="store_true", help="no per-item details")
    args = parser.parse_args(argv)

    from pipelines.extraction.extractive import ExtractiveExtractor

    ner = None
    if not args.no_ner:
        from pipelines.extraction.ner import SpacyEntityRecognizer

        ner = SpacyEntityRecognizer()
    cache: dict[Path, list[Page]] = {}

    def pages(path: Path) -> list[Page]:
        if path not in cache:
            cache[path] = load_pages(path)
        return cache[path]

    dataset = args.dataset or default_dataset_dir()
    report = evaluate_extraction(dataset, extract_with(ExtractiveExtractor(ner=ner), pages), pages_of=pages)
    print(format_report(report, details=not args.brief))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2, ensure_ascii=False))
    return 0 if report["citations"]["valid"] and not report["failures"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
