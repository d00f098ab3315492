"""Whatever schema and text arrive, extraction answers or refuses cleanly (InvalidRequest)."""

import json
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipelines.errors import InvalidRequest
from pipelines.extract import ExtractiveExtractor, check_citations
from pipelines.types import Page

_names = st.sampled_from(["date", "amount", "party", "term", "iban", "status", "items", "a/b", "~x", "", "$ref"])
_leaf = st.fixed_dictionaries(
    {},
    optional={
        "type": st.sampled_from(["string", "number", "integer", "boolean", "null", "object", "array", "strng", 3]),
        "format": st.sampled_from(["date", "email", "uri", "date-time", "bogus"]),
        "enum": st.lists(st.one_of(st.text(max_size=8), st.integers(), st.none()), max_size=5),
        "description": st.text(max_size=30),
        "examples": st.lists(st.text(max_size=10), max_size=2),
        "$ref": st.sampled_from(["#", "#/$defs/x", "#/nowhere", "http://example.org/s", "x.json"]),
        "pattern": st.sampled_from(["^a", "((", "(a+)+$"]),
        "maxItems": st.integers(-2, 3),
    },
)
_schema = st.recursive(
    _leaf,
    lambda inner: st.one_of(
        st.fixed_dictionaries({"type": st.just("object"), "properties": st.dictionaries(_names, inner, max_size=4)}),
        st.fixed_dictionaries({"type": st.just("array"), "items": inner}),
        st.fixed_dictionaries({"anyOf": st.lists(inner, min_size=1, max_size=3)}),
    ),
    max_leaves=12,
)
_root = st.one_of(
    st.fixed_dictionaries({"type": st.just("object"), "properties": st.dictionaries(_names, _schema, max_size=5)},
                          optional={"$defs": st.fixed_dictionaries({"x": _schema}), "required": st.lists(_names, max_size=3)}),
    _schema,
    st.lists(st.integers(), max_size=2),
    st.text(max_size=5),
)
_text = st.one_of(
    st.text(max_size=400),
    st.sampled_from([
        "Date : 14/03/2025\nAmount due: $1,250.00\nStatus: a\nTerm: one (1) year\nParty: <PERSON_2>",
    ]),
    st.sampled_from([
        "Total TTC : 1 250,00 €\nDate : 14/03/2025\nIBAN FR76 3000 6000 0112 3456 7890 189",
        "between ACME Inc., a Delaware corporation, and <PERSON_1>; governed by the laws of France for two (2) years",
        "\x00\x01\ufffd" * 50,
        "x" * 5000,
    ]),
)

EXTRACTOR = ExtractiveExtractor()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(schema=_root, texts=st.lists(_text, min_size=1, max_size=3))
def test_extraction_answers_or_refuses(schema, texts):
    pages = [Page(number=i + 1, text=t) for i, t in enumerate(texts)]
    try:
        result = EXTRACTOR.extract(pages, schema)
    except InvalidRequest as exc:
        assert exc.errors and exc.errors[0]["loc"].startswith("/")
        return
    answer = result.to_dict()
    json.dumps(answer)  # the answer serialises
    assert check_citations(answer, pages) == []
    assert result.valid == (not result.errors)


PATHOLOGICAL = {
    "capitalised words": "Aaaa Bbbb Cccc Dddd " * 2500,
    "initials": "A. B. C. D. " * 4000,
    "digit groups": "123 456 789 " * 4000,
    "names and legal forms": ("Foo Bar Baz Qux Quux " * 6 + "Inc. ") * 500,
    "labels": "Label: \n" * 5000,
    "one long line": "x" * 50000,
}


@pytest.mark.timeout(120)
@pytest.mark.parametrize("text", PATHOLOGICAL.values(), ids=PATHOLOGICAL.keys())
def test_pathological_text_is_extracted_in_bounded_time(text):
    """No regular expression may backtrack without bound on hostile text (each of these
    took under 2 s on 2 shared cores; the limit leaves a wide margin)."""
    schema = {"type": "object", "properties": {
        "parties": {"type": "array", "items": {"type": "string"}}, "total": {"type": "number"},
        "invoice_number": {"type": "string"}, "date": {"type": "string", "format": "date"},
        "lines": {"type": "array", "items": {"type": "object", "properties": {
            "name": {"type": "string"}, "qty": {"type": "integer"}, "amount": {"type": "number"}}}}}}
    started = time.perf_counter()
    result = EXTRACTOR.extract([Page(number=1, text=text)], schema)
    assert check_citations(result.to_dict(), [Page(number=1, text=text)]) == []
    assert time.perf_counter() - started < 30
