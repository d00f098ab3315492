"""PII evaluation: precision, recall, F2 and leak rate per entity type, source and language.

Datasets are JSON lines with ``text`` and gold ``spans`` (``start``, ``end``,
``label``), plus ``source`` and ``lang`` (format of ``shared/eval/dev/pii`` and of
``tests/data/pii_fr_structured.jsonl``). Gold labels of every source map onto our
categories (``GOLD_TO_CATEGORY``); labels that map to nothing (quantities, titles,
nationalities, ...) are not scored.

Definitions (per category, within one source and language):

- a gold span is *caught* when the predicted spans of its category, together, cover
  every one of its characters (a partial hit leaves part of the value in clear);
- recall = caught gold spans / gold spans;
- precision = predicted spans overlapping a gold span of their category / predicted
  spans (overlap, because gold boundaries differ between annotation guides);
- F2 = 5PR / (4P + R): recall weighs more, a leak costs more than an over-redaction;
- leak rate = gold spans NOT fully covered by the predicted spans of *any* type (what
  stays readable after anonymisation), / gold spans.

Categories the detector is not asked for (``entities``) have no recall to speak of:
they are listed as "not in the entity set" rather than scored as misses.
"""

from __future__ import annotations

import json
import time
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

GOLD_TO_CATEGORY: dict[str, str] = {
    # persons
    "PER": "PERSON", "LEGAL_PROFESSIONAL": "PERSON", "PERSON": "PERSON", "person": "PERSON",
    # places
    "STREET_ADDRESS": "ADDRESS", "ADDRESS": "ADDRESS",
    "LOC": "LOCATION", "GPE": "LOCATION", "location": "LOCATION",
    # organisations
    "ORG": "ORGANIZATION", "ORGANIZATION": "ORGANIZATION", "corporation": "ORGANIZATION", "group": "ORGANIZATION",
    # dates
    "DATE": "DATE_TIME", "DATETIME": "DATE_TIME", "DATE_TIME": "DATE_TIME", "TIME": "DATE_TIME",
    "DATE_OF_BIRTH": "DATE_OF_BIRTH",
    # contact details and identifiers
    "EMAIL_ADDRESS": "EMAIL_ADDRESS", "PHONE_NUMBER": "PHONE_NUMBER", "IP_ADDRESS": "IP_ADDRESS",
    "IBAN_CODE": "IBAN_CODE", "CREDIT_CARD": "CREDIT_CARD", "US_SSN": "US_SSN",
    "FR_NIR": "FR_NIR", "FR_SIREN": "FR_SIREN", "FR_SIRET": "FR_SIRET",
    "FR_LICENSE_PLATE": "FR_LICENSE_PLATE",
}

PREDICTED_TO_CATEGORY: dict[str, str] = {"NRP": "NRP"}
"""Predicted types are categories already, except where listed."""

# Which detector types may answer for a gold category when that is not just the
# category's own type (empty: every category is answered by its own type).
CATEGORY_ENTITIES: dict[str, frozenset[str]] = {}


@dataclass
class Counts:
    gold: int = 0
    caught: int = 0
    not_leaked: int = 0
    predicted: int = 0
    predicted_correct: int = 0

    @property
    def recall(self) -> float | None:
        return self.caught / self.gold if self.gold else None

    @property
    def precision(self) -> float | None:
        return self.predicted_correct / self.predicted if self.predicted else None

    @property
    def f2(self) -> float | None:
        p, r = self.precision, self.recall
        if p is None or r is None or (4 * p + r) == 0:
            return None
        return 5 * p * r / (4 * p + r)

    @property
    def leak_rate(self) -> float | None:
        return (self.gold - self.not_leaked) / self.gold if self.gold else None

    def as_dict(self) -> dict:
        return {
            "gold": self.gold,
            "predicted": self.predicted,
            "precision": self.precision,
            "recall": self.recall,
            "f2": self.f2,
            "leak_rate": self.leak_rate,
        }


@dataclass
class GroupResult:
    source: str
    language: str
    items: int = 0
    chars: int = 0
    seconds: float = 0.0
    by_category: dict[str, Counts] = field(default_factory=lambda: defaultdict(Counts))
    examples_leaked: list[str] = field(default_factory=list)


def load_items(dataset: Path | str | Sequence[Path | str]) -> list[dict]:
    """Items of one JSON-lines file, of every ``*.jsonl`` in a directory, or of several."""
    paths: list[Path] = []
    for entry in [dataset] if isinstance(dataset, (str, Path)) else dataset:
        entry = Path(entry)
        paths.extend(sorted(entry.glob("*.jsonl")) if entry.is_dir() else [entry])
    items = []
    for path in paths:
        with path.open(encoding="utf-8") as handle:
            items.extend(json.loads(line) for line in handle if line.strip())
    return items


def score_item(item: dict, predicted: Sequence, result: GroupResult, wanted: frozenset[str]) -> None:
    text = item["text"]
    all_spans = [(p.start, p.end) for p in predicted]
    gold_by_cat: dict[str, list[tuple[int, int]]] = defaultdict(list)
    for span in item["spans"]:
        category = GOLD_TO_CATEGORY.get(span["label"])
        if category is None:
            continue
        gold_by_cat[category].append((span["start"], span["end"]))
    for category, golds in gold_by_cat.items():
        same = [
            (p.start, p.end)
            for p in predicted
            if PREDICTED_TO_CATEGORY.get(p.type, p.type) in CATEGORY_ENTITIES.get(category, {category})
        ]
        counts = result.by_category[category]
        for start, end in golds:
            counts.gold += 1
            counts.caught += _covered_text(text, start, end, same)
            hidden = _covered_text(text, start, end, all_spans)
            counts.not_leaked += hidden
            if not hidden and category == "PERSON" and len(result.examples_leaked) < 15:
                result.examples_leaked.append(text[start:end])
    for p in predicted:
        category = PREDICTED_TO_CATEGORY.get(p.type, p.type)
        gold_categories = [c for c, entities in _answering(category)]
        counts = result.by_category[category]
        counts.predicted += 1
        counts.predicted_correct += any(
            s < p.end and p.start < e for c in gold_categories for s, e in gold_by_cat.get(c, [])
        )


def _answering(predicted_category: str) -> list[tuple[str, frozenset[str]]]:
    """Gold categories a prediction of this category may be right about."""
    out = [(predicted_category, frozenset({predicted_category}))]
    for category, entities in CATEGORY_ENTITIES.items():
        if predicted_category in entities and category != predicted_category:
            out.append((category, entities))
    return out


def _covered_text(text: str, start: int, end: int, spans: Sequence[tuple[int, int]]) -> bool:
    inside = [(s, e) for s, e in spans if s < end and start < e]
    if not inside:
        return False
    gaps = [i for i in range(start, end) if not any(s <= i < e for s, e in inside)]
    return all(text[i].isspace() for i in gaps)


def evaluate_pii(
    dataset: Path | str | Sequence[Path | str],
    detector,
    *,
    entities: Iterable[str] | None = None,
    limit_per_source: int | None = None,
    every: int = 1,
) -> dict:
    """Run ``detector`` over the dataset(s) and score it (definitions above).

    Returns ``{"groups": [{source, language, items, chars, chars_per_second,
    categories: {CATEGORY: {gold, predicted, precision, recall, f2, leak_rate}},
    not_in_entity_set: [...], leaked_person_examples: [...]}], "entities": [...]}``.
    ``every`` keeps one item in ``every`` of each source and ``limit_per_source`` the
    first N of those (quick, still varied runs in tests).
    """
    wanted = frozenset(entities) if entities is not None else frozenset(detector.entities)
    groups: dict[tuple[str, str], GroupResult] = {}
    taken: dict[str, int] = defaultdict(int)
    seen: dict[str, int] = defaultdict(int)
    for item in load_items(dataset):
        source, language = item.get("source", "?"), item.get("lang", "?")
        seen[source] += 1
        if (seen[source] - 1) % every:
            continue
        if limit_per_source is not None and taken[source] >= limit_per_source:
            continue
        taken[source] += 1
        group = groups.setdefault((source, language), GroupResult(source, language))
        began = time.perf_counter()
        predicted = detector.detect(item["text"], language, entities=wanted)
        group.seconds += time.perf_counter() - began
        group.items += 1
        group.chars += len(item["text"])
        score_item(item, predicted, group, wanted)
    out = []
    for (source, language), group in sorted(groups.items()):
        categories = {}
        skipped = []
        for category, counts in sorted(group.by_category.items()):
            if counts.gold and not (CATEGORY_ENTITIES.get(category, {category}) & wanted):
                skipped.append(category)
                continue
            categories[category] = counts.as_dict()
        out.append(
            {
                "source": source,
                "language": language,
                "items": group.items,
                "chars": group.chars,
                "chars_per_second": group.chars / group.seconds if group.seconds else None,
                "categories": categories,
                "not_in_entity_set": skipped,
                "leaked_person_examples": group.examples_leaked,
            }
        )
    return {"entities": sorted(wanted), "groups": out}


def _fmt(value: float | None) -> str:
    return "–" if value is None else f"{value:.3f}"


def format_report(result: dict) -> str:
    """Markdown: one table per source and language."""
    lines = []
    for group in result["groups"]:
        speed = group["chars_per_second"]
        lines.append(
            f"### {group['source']} ({group['language']}): {group['items']} texts, "
            f"{group['chars']} chars" + (f", {speed:,.0f} chars/s" if speed else "")
        )
        lines.append("")
        lines.append("| type | gold | predicted | precision | recall | F2 | leak rate |")
        lines.append("|---|---:|---:|---:|---:|---:|---:|")
        for category, m in group["categories"].items():
            lines.append(
                f"| {category} | {m['gold']} | {m['predicted']} | {_fmt(m['precision'])} | "
                f"{_fmt(m['recall'])} | {_fmt(m['f2'])} | {_fmt(m['leak_rate'])} |"
            )
        if group["not_in_entity_set"]:
            lines.append("")
            lines.append("Not in the entity set (not pseudonymised by design): " + ", ".join(group["not_in_entity_set"]))
        lines.append("")
    return "\n".join(lines)
