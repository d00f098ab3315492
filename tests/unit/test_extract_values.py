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
        ("€ 4,24", 4.24),
        ("-9,32", -9.32),
        ("Rs 1939", 1939.0),
        ("45,93 €", 45.93),
        ("0,75 €", 0.75),
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
        ("Total TTC : 56,02 €", [(56.02, "money")]),
        ("TVA 20% : 9,34 €", [(20.0, "percent"), (9.34, "money")]),
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
        ("August 3 , 2014", "2014-08-03"),
        ("as of April 6th            , 2005", "2005-04-06"),
        ("the 31st day of May, 2007", "2007-05-31"),
        ("14th March 2025", "2025-03-14"),
        ("14/03/2025", "2025-03-14"),  # French (day-first) order
        ("14.03.2025", "2025-03-14"),
        ("19 april 2014", "2014-04-19"),  # Dutch
        ("2021-01-01", "2021-01-01"),
        ("31/02/2025", None),  # no such day
        ("day of August, 2010", None),  # partial dates are not dates
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
        ("eighteen (18) months", "18 months"),
        ("for one year from the date hereof", "1 year"),
        ("a period of 90 days", "90 days"),
        ("pour une durée de trois ans", "3 years"),
        ("six month limitation", "6 months"),
    ],
)
def test_find_durations(text, expected):
    assert [f.value for f in find_durations(text)] == [expected]


@pytest.mark.parametrize(
    ("kind", "text", "expected"),
    [
        ("iban", "IBAN : FR76 10107 00245 00617052317 39 - BIC", "FR76 10107 00245 00617052317 39"),
        ("iban", "NL50INGB0683251309", "NL50INGB0683251309"),
        ("bic", "BIC : BREDFRPP", "BREDFRPP"),
        ("email", "write to claims@assur-example.fr.", "claims@assur-example.fr"),
        ("vat", "BTW NL810433941B01", "NL810433941B01"),
        ("pseudonym", "signed by <PERSON_3> for <ORGANIZATION_1>", "<PERSON_3>"),
    ],
)
def test_find_pattern(kind, text, expected):
    assert find_pattern(kind, text)[0].value == expected


def test_iban_checksum_rejects_a_typo():
    assert iban_is_valid("FR7610107002450061705231739")
    assert not iban_is_valid("FR7610107002450061705231738")


@pytest.mark.parametrize(("example", "shape"), [("AB-123", "A-9"), ("2022089083", "9"), ("F 12/34", "A 9/9")])
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
