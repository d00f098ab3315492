"""Typed value finders: dates, numbers and amounts, durations, currencies, identifiers.

Every finder returns :class:`Found` values whose ``start``/``end`` index the text it was
given, so that ``text[start:end]`` is the verbatim source of ``value`` (the citation quote).
Values are normalised: dates to ISO 8601, numbers to ``float``/``int``, durations to
``"<n> <unit>"``. Languages covered: English and French first; Dutch and German month
names are recognised too because invoices mix them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from typing import Any

import regex


@dataclass(frozen=True)
class Found:
    """A typed value found in a text: ``text[start:end]`` is its verbatim source."""

    start: int
    end: int
    value: Any
    kind: str


# --------------------------------------------------------------------------- dates

_MONTHS: dict[str, int] = {}
for _number, _names in enumerate(
    [
        "january jan janvier janv januari januar janeiro enero gennaio stycznia",
        "february feb feb. fevrier février févr fevr februari februar fevereiro febrero lutego",
        "march mar mars maart märz marz marzo março marca",
        "april apr avril avr abril aprile kwietnia",
        "may mai mei maj maggio mayo maio",
        "june jun juin juni junho junio giugno czerwca",
        "july jul juillet juil juli julho julio luglio lipca",
        "august aug août aout augustus agosto sierpnia",
        "september sep sept septembre september settembre septiembre setembro września",
        "october oct octobre oktober okt octubre ottobre outubro października",
        "november nov novembre november noviembre novembro listopada",
        "december dec décembre decembre dez dezember diciembre dicembre dezembro grudnia",
    ],
    start=1,
):
    for _name in _names.split():
        _MONTHS[_name.rstrip(".")] = _number

_MONTH_ALT = "|".join(sorted((re.escape(m) for m in _MONTHS), key=len, reverse=True))
_ORD = r"(?:st|nd|rd|th|er|ème|e)?"
_SP = r"[ \t\u00a0\u202f]"

# "14 mars 2025", "1er mars 2025", "31st day of May, 2007", "19 april 2014", "14. März 2025"
_DAY_MONTH_YEAR = regex.compile(
    rf"(?<![\w/])(?P<d>[0-3]?\d){_ORD}\.?{_SP}*(?:day{_SP}+of{_SP}+)?(?P<m>{_MONTH_ALT})\.?,?{_SP}+(?P<y>\d{{4}})(?!\d)",
    regex.IGNORECASE,
)
# "March 14, 2025", "August 3 , 2014", "April 6th            , 2005", "Jan 1, 2022"
_MONTH_DAY_YEAR = regex.compile(
    rf"(?<!\w)(?P<m>{_MONTH_ALT})\.?{_SP}+(?P<d>[0-3]?\d){_ORD}{_SP}*,?{_SP}*(?P<y>\d{{4}})(?!\d)",
    regex.IGNORECASE,
)
_ISO = regex.compile(r"(?<!\d)(?P<y>\d{4})-(?P<m>\d{2})-(?P<d>\d{2})(?:[T ](?P<t>\d{2}:\d{2}(?::\d{2})?))?(?!\d)")
_NUMERIC = regex.compile(r"(?<![\d/.\-])(?P<a>\d{1,2})(?P<s>[/.\-])(?P<b>\d{1,2})(?P=s)(?P<y>\d{4}|\d{2})(?![\d/\-]|\.\d)")


def _make_date(year: int, month: int, day: int) -> str | None:
    try:
        return date(year, month, day).isoformat()
    except ValueError:
        return None


def _year(text: str) -> int:
    y = int(text)
    if len(text) == 2:
        y += 2000 if y < 70 else 1900
    return y


def find_dates(text: str, *, day_first: bool = True) -> list[Found]:
    """Every complete calendar date in ``text`` (day, month and year), normalised to ISO.

    Numeric dates are read day-first (French and European order: 14/03/2025) unless
    ``day_first`` is False or that reading is impossible. Partial dates ("August 2010",
    "the ___ day of May, 2007") are not dates: they cannot be normalised honestly.
    """
    found: list[Found] = []
    taken: list[tuple[int, int]] = []

    def add(m: regex.Match, iso: str | None) -> None:
        if iso is None:
            return
        s, e = m.span()
        if any(s < te and e > ts for ts, te in taken):
            return
        taken.append((s, e))
        found.append(Found(s, e, iso, "date"))

    for m in _ISO.finditer(text):
        add(m, _make_date(int(m["y"]), int(m["m"]), int(m["d"])))
    for pattern in (_DAY_MONTH_YEAR, _MONTH_DAY_YEAR):
        for m in pattern.finditer(text):
            month = _MONTHS.get(m["m"].lower().rstrip("."))
            if month:
                add(m, _make_date(int(m["y"]), month, int(m["d"])))
    for m in _NUMERIC.finditer(text):
        a, b, y = int(m["a"]), int(m["b"]), _year(m["y"])
        day, month = (a, b) if day_first else (b, a)
        iso = _make_date(y, month, day) or _make_date(y, day, month)
        add(m, iso)
    found.sort(key=lambda f: f.start)
    return found


_TIME_AFTER = regex.compile(
    rf"(?:,?{_SP}*(?:at|à|a|um|-)?{_SP}*)(?P<h>[01]?\d|2[0-3])(?:(?P<sep>[:h])(?P<m>[0-5]\d)?(?::(?P<s>[0-5]\d))?)?{_SP}*(?P<ampm>[ap]\.?m\.?)?(?!\w)",
    regex.IGNORECASE,
)


def find_datetimes(text: str, *, day_first: bool = True) -> list[Found]:
    """Dates followed by a time ("14 mars 2025 à 14h30", "2025-03-14T09:15", "March 14,
    2025 at 2:30 pm") as ``YYYY-MM-DDTHH:MM:SS``; the span covers date and time."""
    found = []
    for d in find_dates(text, day_first=day_first):
        iso_time = _ISO.match(text, d.start)
        if iso_time and iso_time["t"]:
            t = iso_time["t"] + (":00" if len(iso_time["t"]) == 5 else "")
            found.append(Found(d.start, iso_time.end(), f"{d.value}T{t}", "datetime"))
            continue
        m = _TIME_AFTER.match(text, d.end)
        # "14h", "14:30", "2 pm" are times; a bare number after a date is not.
        if not m or not (m["m"] or m["ampm"] or (m["sep"] or "").lower() == "h"):
            continue
        hour = int(m["h"])
        if m["ampm"]:
            if hour > 12:
                continue
            hour = hour % 12 + (12 if m["ampm"].lower().startswith("p") else 0)
        minute, second = int(m["m"] or 0), int(m["s"] or 0)
        found.append(Found(d.start, m.end(), f"{d.value}T{hour:02d}:{minute:02d}:{second:02d}", "datetime"))
    return found


def parse_date(text: str, *, day_first: bool = True) -> str | None:
    """The ISO form of the single date that ``text`` holds, or None."""
    dates = find_dates(text.strip(), day_first=day_first)
    return dates[0].value if len(dates) == 1 else None


# --------------------------------------------------------------------------- numbers

CURRENCY_SYMBOLS: dict[str, str] = {
    "€": "EUR", "$": "USD", "us$": "USD", "£": "GBP", "¥": "JPY", "₹": "INR", "rs": "INR",
    "rs.": "INR", "inr": "INR", "zł": "PLN", "chf": "CHF", "fr.": "CHF", "kr": "SEK",
    "eur": "EUR", "usd": "USD", "gbp": "GBP", "pln": "PLN", "jpy": "JPY", "cad": "CAD",
    "aud": "AUD", "sek": "SEK", "nok": "NOK", "dkk": "DKK", "cny": "CNY", "mad": "MAD",
    "xof": "XOF", "euro": "EUR", "euros": "EUR", "dollars": "USD", "dollar": "USD",
}
_CUR_ALT = "|".join(sorted((re.escape(c) for c in CURRENCY_SYMBOLS), key=len, reverse=True))
_NUM = r"[-−]?(?:\d{1,3}(?:(?:[ \u00a0\u202f](?=\d{3}(?!\d))|[.,'](?=\d{3}(?!\d)))\d{3})+(?:[.,]\d{1,4})?|\d+(?:[.,]\d+)?)"
_AMOUNT = regex.compile(
    rf"(?:(?P<pre>{_CUR_ALT}){_SP}*)?(?<![\w.,])(?P<num>{_NUM})(?![\w]|[.,]\d)(?:{_SP}*(?P<post>{_CUR_ALT}|%)(?!\w))?",
    regex.IGNORECASE,
)


def parse_number(text: str, *, decimal_comma: bool | None = None) -> float | None:
    """A number written in French or English conventions, currency signs ignored.

    "1 250,00 €" -> 1250.0, "$1,250.00" -> 1250.0, "1.250,00" -> 1250.0, "-9,32" -> -9.32.
    With one kind of separator followed by exactly three digits ("1,250", "1.250") the
    separator is read as a thousands separator unless ``decimal_comma`` says the document
    writes decimals with that mark.
    """
    s = text.strip()
    negative = s.startswith(("-", "−", "(")) and not s.startswith("()")
    s = regex.sub(rf"(?i){_CUR_ALT}|%", "", s)
    s = regex.sub(r"[\s\u00a0\u202f'()+\-−]", "", s)
    if not s or not regex.fullmatch(r"[\d.,]+", s) or not any(c.isdigit() for c in s):
        return None
    if "," in s and "." in s:
        decimal = "," if s.rfind(",") > s.rfind(".") else "."
    elif "," in s or "." in s:
        mark = "," if "," in s else "."
        groups = s.split(mark)
        if len(groups) > 2:
            decimal = None  # "1,250,000": thousands separators only
        elif len(groups[1]) == 3 and not (
            (mark == "," and decimal_comma) or (mark == "." and decimal_comma is False)
        ):
            decimal = None
        else:
            decimal = mark
    else:
        decimal = None
    if decimal is None:
        digits = s.replace(",", "").replace(".", "")
    else:
        thousands = "." if decimal == "," else ","
        digits = s.replace(thousands, "").replace(decimal, ".")
    try:
        value = float(digits)
    except ValueError:
        return None
    return -value if negative else value


def currency_of(text: str) -> str | None:
    """ISO 4217 code for a currency sign or code ("€" -> "EUR", "Rs" -> "INR")."""
    return CURRENCY_SYMBOLS.get(text.strip().lower())


def find_numbers(text: str, *, decimal_comma: bool | None = None) -> list[Found]:
    """Numbers and amounts in ``text``.

    ``kind`` is "money" when a currency sign or code touches the number, "percent"
    before a ``%``, else "number". The span includes the sign, so the quote reads "€ 4,24".
    """
    found = []
    for m in _AMOUNT.finditer(text):
        value = parse_number(m["num"], decimal_comma=decimal_comma)
        if value is None:
            continue
        pre, post = m["pre"], m["post"]
        if post == "%":
            kind = "percent"
        elif pre or post:
            kind = "money"
        else:
            kind = "number"
        found.append(Found(m.start(), m.end(), value, kind))
    return found


def uses_decimal_comma(text: str) -> bool | None:
    """Whether the text writes decimals with a comma ("12,50") rather than a point."""
    commas = len(regex.findall(r"\d,\d{2}(?!\d)", text))
    points = len(regex.findall(r"\d\.\d{2}(?!\d)", text))
    if commas == points:
        return None
    return commas > points


# --------------------------------------------------------------------------- durations

_NUMBER_WORDS = {
    "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
    "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14,
    "fifteen": 15, "sixteen": 16, "seventeen": 17, "eighteen": 18, "nineteen": 19,
    "twenty": 20, "twenty-four": 24, "thirty": 30, "thirty-six": 36, "forty-eight": 48,
    "sixty": 60, "ninety": 90,
    "un": 1, "une": 1, "deux": 2, "trois": 3, "quatre": 4, "cinq": 5, "dix": 10,
    "douze": 12, "dix-huit": 18, "vingt-quatre": 24, "trente": 30,
}
_UNITS = {
    "year": "year", "years": "year", "month": "month", "months": "month", "week": "week",
    "weeks": "week", "day": "day", "days": "day", "an": "year", "ans": "year",
    "année": "year", "années": "year", "mois": "month", "semaine": "week",
    "semaines": "week", "jour": "day", "jours": "day",
}
_WORD_ALT = "|".join(sorted(_NUMBER_WORDS, key=len, reverse=True))
_UNIT_ALT = "|".join(sorted(_UNITS, key=len, reverse=True))
_DURATION = regex.compile(
    rf"(?<!\w)(?:(?P<w>{_WORD_ALT}){_SP}*(?:\({_SP}*(?P<p>\d{{1,3}}){_SP}*\))?|(?P<n>\d{{1,3}}))"
    rf"(?:{_SP}*|-)(?:calendar{_SP}+|full{_SP}+)?(?P<u>{_UNIT_ALT})(?!\w)",
    regex.IGNORECASE,
)


def find_durations(text: str) -> list[Found]:
    """Lengths of time ("two (2) years", "18 months", "trois ans") as ``"<n> <unit>"``."""
    found = []
    for m in _DURATION.finditer(text):
        if m["p"]:
            n = int(m["p"])
        elif m["n"]:
            n = int(m["n"])
        else:
            n = _NUMBER_WORDS[m["w"].lower()]
        if n <= 0:
            continue
        unit = _UNITS[m["u"].lower()]
        found.append(Found(m.start(), m.end(), f"{n} {unit}{'s' if n != 1 else ''}", "duration"))
    return found


# --------------------------------------------------------------------------- identifiers

IDENTIFIER_PATTERNS: dict[str, regex.Pattern] = {
    "email": regex.compile(r"(?<![\w.+-])[\w.+-]+@[\w-]+(?:\.[\w-]+)+(?<!\.)"),
    "uri": regex.compile(r"(?<!\w)(?:https?://|www\.)[^\s<>\"']+[\w/]|(?<![@\w.])(?:[a-z0-9-]+\.)+(?:com|org|net|fr|eu|io|de|nl|be|uk|pl|in)(?:/[^\s<>\"']*)?(?!\w)", regex.IGNORECASE),
    "iban": regex.compile(r"(?<![A-Z0-9])[A-Z]{2}\d{2}(?:[ ]?[A-Z0-9]){11,30}(?![A-Z0-9])"),
    "bic": regex.compile(r"(?<![A-Za-z0-9])[A-Z]{4}(?:AT|BE|BG|CH|CY|CZ|DE|DK|EE|ES|FI|FR|GB|GR|HR|HU|IE|IT|LT|LU|LV|MT|NL|NO|PL|PT|RO|SE|SI|SK|US|IN|HK|CA|AU|JP|CN|MA)[A-Z0-9]{2}(?:[A-Z0-9]{3})?(?![A-Za-z0-9])"),
    "vat": regex.compile(r"(?<![A-Z0-9])(?:ATU\d{8}|BE0?\d{9}|DE\d{9}|FR[0-9A-Z]{2}\d{9}|NL\d{9}B\d{2}|IT\d{11}|ES[0-9A-Z]\d{7}[0-9A-Z]|GB\d{9}|PL\d{10}|LU\d{8}|\d{2}[A-Z]{5}\d{4}[A-Z]\d[A-Z]\d)(?![A-Z0-9])"),
    "phone": regex.compile(r"(?<![\w+])(?:\+\d{1,3}[ .]?)?(?:\(0\)[ .]?)?\d{1,4}(?:[ .-]?\d{2,4}){2,5}(?!\w)"),
    "siren": regex.compile(r"(?<!\d)\d{3}[ \u00a0]?\d{3}[ \u00a0]?\d{3}(?![ \u00a0]?\d)"),
    "siret": regex.compile(r"(?<!\d)\d{3}[ \u00a0]?\d{3}[ \u00a0]?\d{3}[ \u00a0]?\d{5}(?!\d)"),
    "pseudonym": regex.compile(r"<[A-Z][A-Z_]*_\d+>"),
}

# A generic reference: a token with at least one digit, made of letters, digits and - / . _
CODE_PATTERN = regex.compile(r"(?<![\w/\-])(?=[\w\-/.]*\d)[A-Za-z0-9][\w\-/.]{2,40}(?<![.\-/])(?![\w/\-])")


def find_codes(text: str) -> list[Found]:
    """Reference-like tokens (policy, invoice, booking numbers): letters and digits."""
    return [Found(m.start(), m.end(), m.group(), "code") for m in CODE_PATTERN.finditer(text)]


def iban_is_valid(iban: str) -> bool:
    """ISO 13616 mod-97 check."""
    s = iban.replace(" ", "").upper()
    if not 15 <= len(s) <= 34:
        return False
    digits = "".join(str(int(c, 36)) for c in s[4:] + s[:4])
    return int(digits) % 97 == 1


def _ibans(text: str) -> list[Found]:
    # Groupings vary ("FR76 10107 00245 ..."), so the regex over-reaches: keep the
    # longest prefix that passes the checksum.
    found = []
    for m in IDENTIFIER_PATTERNS["iban"].finditer(text):
        raw = m.group()
        for end in range(len(raw), 14, -1):
            if raw[end - 1] != " " and iban_is_valid(raw[:end]):
                found.append(Found(m.start(), m.start() + end, raw[:end], "iban"))
                break
    return found


def find_pattern(kind: str, text: str) -> list[Found]:
    """Matches of one of :data:`IDENTIFIER_PATTERNS` (value is the verbatim text)."""
    if kind == "iban":
        return _ibans(text)
    return [Found(m.start(), m.end(), m.group(), kind) for m in IDENTIFIER_PATTERNS[kind].finditer(text)]


def shape_of(text: str) -> str:
    """The shape of an example value: letters -> 'A', digits -> '9', runs collapsed."""
    out = []
    for ch in text:
        c = "A" if ch.isalpha() else "9" if ch.isdigit() else ch
        if not out or out[-1] != c or c not in "A9":
            out.append(c)
    return "".join(out)


# --------------------------------------------------------------------------- booleans

TRUE_WORDS = frozenset(["yes", "true", "oui", "vrai", "ja", "x", "☑", "☒", "✓", "✔"])
FALSE_WORDS = frozenset(["no", "false", "non", "faux", "nee", "☐"])
NEGATIONS = frozenset(
    ["not", "no", "never", "none", "neither", "nor", "without", "n't", "pas", "aucun", "aucune", "jamais", "sans", "ni", "non"]
)
