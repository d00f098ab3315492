"""The extraction evaluation: normalisation tables and metrics on a tiny dataset."""

import json

import pytest

from pipelines.eval.extraction import (
    evaluate_extraction,
    format_report,
    kleister_value,
    plain_value,
)
from pipelines.types import Page


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("party", "NIKE, Inc.", "NIKE_INC."),
        ("party", "Brightwater Holdings Incorporated", "BRIGHTWATER_HOLDINGS_INC."),
        ("party", "Harbor Point Partners III, L.P.", "HARBOR_POINT_PARTNERS_III_LP"),
        ("party", "Northgate Advisors II, LLC", "NORTHGATE_ADVISORS_II_LLC"),
        ("party", "J.R. Baxter’s Garden Supply, Inc", "J.R._BAXTER’S_GARDEN_SUPPLY_INC."),
        ("jurisdiction", "New  York", "NEW_YORK"),
        ("term", "2 years", "2_YEARS"),
        ("effective_date", "2014-09-22", "2014-09-22"),
    ],
)
def test_kleister_value(key, value, expected):
    assert kleister_value(key, value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [(48.17, "48.17"), (812345678, "812345678.00"), ("0.01", "0.01"), ("  Meridiaan   B.V. ", "meridiaan b.v."), (True, "true")],
)
def test_plain_value(value, expected):
    assert plain_value(value) == expected


@pytest.fixture()
def dataset(tmp_path):
    (tmp_path / "docs").mkdir()
    (tmp_path / "schemas").mkdir()
    (tmp_path / "docs" / "a.txt").write_text("Invoice 42, total 10.00 EUR")
    (tmp_path / "docs" / "b.txt").write_text("Agreement between Foo Inc. and Bar LLC")
    (tmp_path / "schemas" / "inv.json").write_text(json.dumps({"type": "object", "properties": {}}))
    items = [
        {"id": "inv-1", "source": "invoice2data", "file": "docs/a.txt", "schema_file": "schemas/inv.json",
         "gold": {"total": 10.0, "number": "42", "currency": None, "lines": [{"name": "x", "qty": 1}]}},
        {"id": "nda-1", "source": "Kleister-NDA", "file": "docs/b.txt", "schema_file": "schemas/inv.json",
         "gold": {"party": ["Foo Inc.", "Bar LLC"], "term": None}},
    ]
    (tmp_path / "items.jsonl").write_text("\n".join(json.dumps(i) for i in items))
    return tmp_path


def test_metrics_on_a_tiny_dataset(dataset):
    answers = {
        "a.txt": {"data": {"total": 10, "number": "43", "currency": "EUR", "lines": [{"name": "X", "qty": 1.0}]},
                  "fields": {"/total": {"value": 10, "citations": [{"page": 1, "start": 18, "end": 23, "quote": "10.00"}]},
                             "/currency": {"value": "EUR", "citations": [{"page": 1, "start": 0, "end": 3, "quote": "EUR"}]}}},
        "b.txt": {"data": {"party": ["FOO, INC.", "Baz Corp."], "term": None}, "fields": {}},
    }
    report = evaluate_extraction(dataset, lambda path, schema: answers[path.name],
                                 pages_of=lambda path: [Page(1, path.read_text())])
    inv = report["groups"]["invoice"]
    assert inv["items"] == 1
    assert inv["fields"]["total"]["f1"] == 1.0
    assert (inv["fields"]["number"]["tp"], inv["fields"]["number"]["fp"], inv["fields"]["number"]["fn"]) == (0, 1, 1)
    assert inv["fields"]["currency"]["fp"] == 1  # a value where the gold has none
    assert inv["fields"]["lines/name"]["tp"] == 1 and inv["fields"]["lines/qty"]["tp"] == 1
    nda = report["groups"]["kleister_nda"]
    assert (nda["tp"], nda["fp"], nda["fn"]) == (1, 1, 1)
    assert nda["f1"] == 0.5
    # "EUR" is not the text at 0:3 ("Inv"): one invalid citation is reported
    assert report["citations"]["invalid"] == 1 and not report["citations"]["valid"]
    text = format_report(report)
    assert "[kleister_nda] items 1" in text and "citations: " in text


def test_a_failing_extractor_is_counted_not_fatal(dataset):
    def broken(path, schema):
        raise RuntimeError("boom")

    report = evaluate_extraction(dataset, broken, pages_of=lambda path: [])
    assert report["failures"] == 2
    assert report["overall"]["recall"] == 0.0
