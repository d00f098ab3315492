"""The PII evaluation's definitions, on hand-made items and a fake detector."""

from __future__ import annotations

import json

import pytest

from pipelines.eval.pii import evaluate_pii, format_report
from pipelines.types import PiiEntity


class FixedDetector:
    """Returns the predictions listed for each text."""

    entities = frozenset({"PERSON", "EMAIL_ADDRESS"})

    def __init__(self, predictions: dict[str, list[tuple[str, str]]]):
        self.predictions = predictions

    def detect(self, text, language=None, *, entities=None):
        out = []
        for entity_type, value in self.predictions.get(text, []):
            start = text.index(value)
            out.append(PiiEntity(entity_type, start, start + len(value), 0.9))
        return out


def item(text, *spans, source="S", lang="fr"):
    return {
        "text": text,
        "source": source,
        "lang": lang,
        "spans": [
            {"start": text.index(v), "end": text.index(v) + len(v), "label": label, "text": v} for label, v in spans
        ],
    }


def run(tmp_path, items, predictions):
    path = tmp_path / "set.jsonl"
    path.write_text("\n".join(json.dumps(i, ensure_ascii=False) for i in items), encoding="utf-8")
    result = evaluate_pii(path, FixedDetector(predictions))
    return {(g["source"], g["language"]): g for g in result["groups"]}, result


@pytest.mark.parametrize(
    "gold, predicted, caught",
    [
        ("M. Jean Dupont", [("PERSON", "M. Jean Dupont")], True),  # exact
        ("M. Jean Dupont", [("PERSON", "Jean Dupont")], False),  # civility left: not fully covered
        ("M. Jean Dupont", [("PERSON", "M. Jean"), ("PERSON", "Dupont")], True),  # two spans cover it
        ("M. Jean Dupont", [("PERSON", "a dit M. Jean Dupont")], True),  # wider is fine
        ("M. Jean Dupont", [("EMAIL_ADDRESS", "M. Jean Dupont")], False),  # wrong type: no recall...
    ],
)
def test_a_gold_span_is_caught_when_fully_covered_by_its_type(tmp_path, gold, predicted, caught):
    text = f"Alors a dit {gold} hier."
    groups, _ = run(tmp_path, [item(text, ("PER", gold))], {text: predicted})
    person = groups[("S", "fr")]["categories"]["PERSON"]
    assert person["recall"] == (1.0 if caught else 0.0)


def test_leak_rate_counts_coverage_by_any_type(tmp_path):
    text = "Alors a dit M. Jean Dupont hier."
    groups, _ = run(tmp_path, [item(text, ("PER", "M. Jean Dupont"))], {text: [("EMAIL_ADDRESS", "M. Jean Dupont")]})
    person = groups[("S", "fr")]["categories"]["PERSON"]
    assert person["recall"] == 0.0
    assert person["leak_rate"] == 0.0  # ...but the value is hidden all the same


def test_precision_f2_and_groups_per_source_and_language(tmp_path):
    a = "Jean Dupont et Marie Curie."
    b = "Hello John Smith from Paris."
    items = [item(a, ("PER", "Jean Dupont"), ("PER", "Marie Curie")), item(b, ("PERSON", "John Smith"), source="T", lang="en")]
    predictions = {a: [("PERSON", "Jean Dupont"), ("PERSON", "et")], b: [("PERSON", "John Smith"), ("PERSON", "Paris")]}
    groups, result = run(tmp_path, items, predictions)
    fr = groups[("S", "fr")]["categories"]["PERSON"]
    assert (fr["gold"], fr["predicted"], fr["precision"], fr["recall"], fr["leak_rate"]) == (2, 2, 0.5, 0.5, 0.5)
    assert fr["f2"] == pytest.approx(5 * 0.5 * 0.5 / (4 * 0.5 + 0.5))
    en = groups[("T", "en")]["categories"]["PERSON"]
    assert (en["precision"], en["recall"]) == (0.5, 1.0)
    report = format_report(result)
    assert "| PERSON | 2 | 2 | 0.500 | 0.500 |" in report


def test_unscored_and_unrequested_labels(tmp_path):
    text = "Le 3 mai 2015 à Lyon, 12 euros."
    items = [item(text, ("DATE", "3 mai 2015"), ("LOC", "Lyon"), ("QUANTITY", "12 euros"))]
    groups, _ = run(tmp_path, items, {})
    group = groups[("S", "fr")]
    assert group["categories"] == {}
    assert group["not_in_entity_set"] == ["DATE_TIME", "LOCATION"]  # QUANTITY is never scored
