"""Typed value finders: each row is (text as written, normalised value)."""

import pytest

from pipelines.extraction.values import (
    find_dates,
    find_datetimes,
    find_durations,
    find_numbers,
    find_pattern,
    iban_is_valid,
    parse_date,
    parse_number,
    shape_of,
    uses_decimal_comma,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1 250,00 €", 1250.0),
        ("1\u00a0250,00\u00a0€", 1250.0),
        ("1\u202f250,00 EUR", 1250.0),
        ("$1,250.00", 1250.0),
        ("1.250,00", 1250.0),
        ("1,250,000", 1250000.0),
        ("€ 7,18", 7.18),
        ("-6,45", -6.45),
        ("Rs 2475", 2475.0),
        ("38,60 €", 38.6),
        ("0,45 €", 0.45),
        ("USD 12.5", 12.5),
        ("(125.00)", -125.0),
        ("abc", None),
        ("", None),
    ],
)
def test_parse_number(text, expected):
    assert parse_number(text) == expected


@pytest.mark.parametrize(
    ("text", "decimal_comma", "expected"),
    [
        ("1,250", None, 1250.0),  # English thousands by default
        ("1,250", True, 1.25),  # a document that writes decimals with commas
        ("1.250", True, 1250.0),
        ("1.250", False, 1.25),
    ],
)
def test_parse_number_ambiguous_separator_follows_the_document(text, decimal_comma, expected):
    assert parse_number(text, decimal_comma=decimal_comma) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [("Total 12,50 € et 3,20 €", True), ("Total $12.50 and $3.20", False), ("no numbers", None)],
)
def test_uses_decimal_comma(text, expected):
    assert uses_decimal_comma(text) is expected


@pytest.mark.parametrize(
    ("text", "kinds"),
    [
        ("Total TTC : 87,36 €", [(87.36, "money")]),
        ("TVA 20% : 14,56 €", [(20.0, "percent"), (14.56, "money")]),
        ("Qty 12 at $10.00", [(12.0, "number"), (10.0, "money")]),
    ],
)
def test_find_numbers_kinds(text, kinds):
    assert [(f.value, f.kind) for f in find_numbers(text)] == kinds


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("14 mars 2025", "2025-03-14"),
        ("1er mars 2025", "2025-03-01"),
        ("le 3 février 2024", "2024-02-03"),
        ("March 14, 2025", "2025-03-14"),
        ("Jan 1, 2022", "2022-01-01"),
        ("September 9 , 2016", "2016-09-09"),
        ("as of October 9th            , 2011", "2011-10-09"),
        ("the 21st day of March, 2013", "2013-03-21"),
        ("14th March 2025", "2025-03-14"),
        ("14/03/2025", "2025-03-14"),  # French (day-first) order
        ("14.03.2025", "2025-03-14"),
        ("8 april 2019", "2019-04-08"),  # Dutch
        ("2021-01-01", "2021-01-01"),
        ("31/02/2025", None),  # no such day
        ("day of November, 2012", None),  # partial dates are not dates
        ("August 2010", None),
    ],
)
def test_parse_date(text, expected):
    assert parse_date(text) == expected


def test_numeric_dates_month_first_when_asked():
    assert parse_date("03/14/2025") == "2025-03-14"  # impossible day-first: read month-first
    assert parse_date("03/04/2025", day_first=False) == "2025-03-04"
    assert parse_date("03/04/2025") == "2025-04-03"


def test_date_spans_are_verbatim():
    text = "Signed on 14 mars 2025 and on March 15, 2025."
    found = find_dates(text)
    assert [text[f.start:f.end] for f in found] == ["14 mars 2025", "March 15, 2025"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("two (2) years", "2 years"),
        ("twelve (12) months", "12 months"),
        ("for one year after termination", "1 year"),
        ("a period of 90 days", "90 days"),
        ("pour une durée de trois ans", "3 years"),
        ("six month notice period", "6 months"),
    ],
)
def test_find_durations(text, expected):
    assert [f.value for f in find_durations(text)] == [expected]


@pytest.mark.parametrize(
    ("kind", "text", "expected"),
    [
        ("iban", "IBAN : FR76 14508 00731 04218857362 87 - BIC", "FR76 14508 00731 04218857362 87"),
        ("iban", "NL77RABO0317462985", "NL77RABO0317462985"),
        ("bic", "BIC : CCBPFRPP", "CCBPFRPP"),
        ("email", "write to claims@assur-example.fr.", "claims@assur-example.fr"),
        ("vat", "BTW NL854302117B01", "NL854302117B01"),
        ("pseudonym", "signed by <PERSON_3> for <ORGANIZATION_1>", "<PERSON_3>"),
    ],
)
def test_find_pattern(kind, text, expected):
    assert find_pattern(kind, text)[0].value == expected


def test_iban_checksum_rejects_a_typo():
    assert iban_is_valid("FR7614508007310421885736287")
    assert not iban_is_valid("FR7614508007310421885736286")


@pytest.mark.parametrize(("example", "shape"), [("AB-123", "A-9"), ("2023114507", "9"), ("F 12/34", "A 9/9")])
def test_shape_of(example, shape):
    assert shape_of(example) == shape


@pytest.mark.parametrize(
    ("text", "expected", "quote"),
    [
        ("le 14 mars 2025 à 14h30, puis", "2025-03-14T14:30:00", "14 mars 2025 à 14h30"),
        ("2025-03-14T09:15 ok", "2025-03-14T09:15:00", "2025-03-14T09:15"),
        ("March 14, 2025 at 2:30 pm", "2025-03-14T14:30:00", "March 14, 2025 at 2:30 pm"),
        ("14/03/2025 10:05:09", "2025-03-14T10:05:09", "14/03/2025 10:05:09"),
        ("14 mars 2025 à 14h", "2025-03-14T14:00:00", "14 mars 2025 à 14h"),
        ("March 14, 2025, 3 employees", None, None),  # a number after a date is not a time
        ("14/03/2025 25:00", None, None),
    ],
)
def test_find_datetimes(text, expected, quote):
    found = find_datetimes(text)
    if expected is None:
        assert found == []
    else:
        assert [(f.value, text[f.start:f.end]) for f in found] == [(expected, quote)]
