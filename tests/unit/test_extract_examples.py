"""The example schemas are sound and the documented answer is what the code produces."""

import json
from pathlib import Path

import pytest

from pipelines.extract import build_extractor, check_citations, validate_schema
from pipelines.types import Page

EXAMPLES = Path(__file__).resolve().parents[2] / "api_specs" / "examples"


@pytest.mark.parametrize("name", ["claim_fr", "invoice", "nda"])
def test_example_schema_is_accepted(name):
    validate_schema(json.loads((EXAMPLES / f"{name}.schema.json").read_text(encoding="utf-8")))


def test_documented_claim_answer_is_reproduced():
    pages = [Page(number=1, text=(EXAMPLES / "claim_fr.sample.txt").read_text(encoding="utf-8"))]
    schema = json.loads((EXAMPLES / "claim_fr.schema.json").read_text(encoding="utf-8"))
    documented = json.loads((EXAMPLES / "claim_fr.answer.json").read_text(encoding="utf-8"))
    answer = build_extractor().extract(pages, schema).to_dict()
    assert answer["data"] == documented["data"]
    assert answer["valid"] is True and answer["errors"] == []
    assert {k: [c["quote"] for c in v["citations"]] for k, v in answer["fields"].items()} == \
        {k: [c["quote"] for c in v["citations"]] for k, v in documented["fields"].items()}
    assert check_citations(answer, pages) == []
