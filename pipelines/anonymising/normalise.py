"""When are two detected values "the same"? The consistency rule, in one place.

Rule (tested in ``tests/unit/test_anonymising_consistency.py``):

1. Two values of the same entity type get the same token when their *normal forms*
   are equal. The normal form of a person name drops civilities (M., Mme, Maître,
   Dr, Mr, ...), accents, case, punctuation (dots, hyphens, apostrophes) and repeated
   spaces: "M. Jean-Pierre DUPONT", "jean pierre dupont" and "Jean-Pierre Dupont"
   are one person. Identifiers drop separators and case ("FR76 3000 ..." equals
   "fr7630000..."); phone numbers compare in E.164 (+33 6 12 .. equals 06 12 ..);
   e-mail addresses compare case-insensitively.
2. Within one document, a person mentioned by a single word (a surname, with or
   without a civility) after a full name of several words that ends with that word
   gets the full name's token ("Jean Dupont ... M. Dupont" -> one token). When the
   document has several full names ending with that word (Jean and Marie Dupont),
   the single word is ambiguous and keeps a token of its own.
"""

from __future__ import annotations

import re
import unicodedata

import phonenumbers

from pipelines.anonymising import entities as E
from pipelines.anonymising.fr_pack import CIVILITIES, NAME_PARTICLES

_CIVILITY_RE = re.compile(
    r"^(?:"
    + "|".join(re.escape(c.rstrip(".").lower()) for c in sorted(CIVILITIES, key=len, reverse=True))
    + r")\b\.?\s*"
)
_NON_WORD = re.compile(r"[^\w]+")
_SEPARATORS = re.compile(r"[\s.\-/()]")


def fold(text: str) -> str:
    """Lower case without accents, whitespace collapsed (for context-word matching)."""
    decomposed = unicodedata.normalize("NFKD", text)
    stripped = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " ".join(stripped.casefold().split())


def strip_civility(folded_name: str) -> str:
    """Remove leading civilities from a folded name (several: "MM. Dr")."""
    previous = None
    name = folded_name.strip()
    while previous != name:
        previous = name
        name = _CIVILITY_RE.sub("", name, count=1).strip()
    return name or folded_name.strip()


def normalise_person(value: str) -> str:
    folded = strip_civility(fold(value))
    return " ".join(_NON_WORD.sub(" ", folded).split())


def normalise_value(entity_type: str, value: str) -> str:
    """The normal form under which two values of ``entity_type`` are the same."""
    if entity_type == E.PERSON:
        return normalise_person(value)
    if entity_type == E.PHONE_NUMBER:
        try:
            number = phonenumbers.parse(value, "FR")
            return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
        except phonenumbers.NumberParseException:
            return _SEPARATORS.sub("", value)
    if entity_type in (E.EMAIL_ADDRESS, E.IP_ADDRESS):
        return value.strip().casefold()
    if entity_type in (E.ADDRESS, E.DATE_OF_BIRTH, E.LOCATION, E.ORGANIZATION, E.DATE_TIME, E.NRP):
        return " ".join(_NON_WORD.sub(" ", fold(value)).split())
    # identifiers: NIR, SIREN, SIRET, IBAN, card, plate, SSN, ...
    return _SEPARATORS.sub("", value).upper()


def surname_of(entity_type: str, normal_form: str) -> str | None:
    """The last word of a multi-word person name that is not a particle (what a later
    lone mention may use): a name that ends with "de" must not make every "De" at the
    start of a question that person."""
    if entity_type != E.PERSON:
        return None
    words = normal_form.split()
    if len(words) < 2:
        return None
    while words and words[-1] in NAME_PARTICLES:
        words.pop()
    return words[-1] if len(words) >= 2 else None


def is_single_word_person(entity_type: str, normal_form: str) -> bool:
    return entity_type == E.PERSON and len(normal_form.split()) == 1
