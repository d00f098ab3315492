"""Checksum and structure checks used by the recogniser pack.

Each takes the matched text (separators included) and says whether it is a real
identifier. They delegate to ``python-stdnum`` and ``phonenumbers``, which keep the
national rules up to date (IBAN lengths per country, NIR Corsica departments, ...).
"""

from __future__ import annotations

import re

import phonenumbers
from stdnum import iban as _iban
from stdnum import luhn as _luhn
from stdnum.fr import nir as _nir
from stdnum.fr import siren as _siren
from stdnum.fr import siret as _siret

_SEPARATORS = re.compile(r"[\s.\-/]")


def compact(value: str) -> str:
    """The value without spaces, dots, dashes or slashes."""
    return _SEPARATORS.sub("", value)


def nir(value: str) -> bool:
    """French social security number: 15 characters, key = 97 - (n mod 97).

    Corsica departments 2A/2B count as 19/18 in the key (stdnum handles it). The first
    digit is the sex (1, 2) or a temporary number (3, 4, 7, 8).
    """
    number = compact(value).upper()
    return len(number) == 15 and number[0] in "123478" and _nir.is_valid(number)


def siren(value: str) -> bool:
    """9 digits with a Luhn key; all-equal digits pass Luhn but are placeholders."""
    number = compact(value)
    return len(number) == 9 and len(set(number)) > 1 and _siren.is_valid(number)


def siret(value: str) -> bool:
    """14 digits: a valid SIREN followed by an establishment number, Luhn over the whole."""
    number = compact(value)
    return len(number) == 14 and len(set(number)) > 1 and _siret.is_valid(number)


def iban(value: str) -> bool:
    """ISO 13616 IBAN of any country: country length and mod-97 check."""
    return _iban.is_valid(compact(value).upper())


_CARD_PREFIX = re.compile(r"^(?:4|5[1-5]|2[2-7]|3[47]|6(?:011|5|4[4-9]|2)|35|30[0-5]|36|38|2131|1800)")


def credit_card(value: str) -> bool:
    """Payment card: issuer prefix, 14-19 digits, Luhn."""
    number = compact(value)
    return (
        number.isdigit()
        and 14 <= len(number) <= 19
        and bool(_CARD_PREFIX.match(number))
        and _luhn.is_valid(number)
    )


def french_phone(value: str) -> bool:
    """A French number that ``phonenumbers`` considers valid (fixed, mobile, VoIP, ...)."""
    try:
        number = phonenumbers.parse(value, "FR")
    except phonenumbers.NumberParseException:
        return False
    return phonenumbers.is_valid_number(number)


def any_phone(value: str) -> bool:
    """A number valid for its country: +country (or 00) prefix, else North American."""
    text = value.strip()
    if text.startswith("00"):
        text = "+" + text[2:]
    try:
        number = phonenumbers.parse(text, None if text.startswith("+") else "US")
    except phonenumbers.NumberParseException:
        return False
    return phonenumbers.is_valid_number(number)


def phone_digits(value: str) -> bool:
    """A number written after a phone label: 6 to 15 digits (E.164 allows 15)."""
    digits = sum(c.isdigit() for c in value)
    return 6 <= digits <= 15


_PLATE_LETTERS = re.compile(r"^[A-HJ-NP-TV-Z]{2}\d{3}[A-HJ-NP-TV-Z]{2}$")


def licence_plate(value: str) -> bool:
    """SIV plate AA-123-AA: no I, O or U; 000 and the SS/WW series are never issued."""
    number = compact(value).upper()
    return (
        bool(_PLATE_LETTERS.match(number))
        and number[2:5] != "000"
        and number[:2] not in {"SS", "WW"}
        and number[5:] != "SS"
    )


VALIDATORS = {
    "nir": nir,
    "siren": siren,
    "siret": siret,
    "iban": iban,
    "credit_card": credit_card,
    "french_phone": french_phone,
    "phone_digits": phone_digits,
    "any_phone": any_phone,
    "licence_plate": licence_plate,
}
"""Named checks that pack entries refer to by name (the pack stays plain data)."""
