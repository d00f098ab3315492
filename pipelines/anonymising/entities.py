"""The entity types the anonymiser knows, and which of them are pseudonymised by default.

Names follow Presidio's where Presidio has the type (``PERSON``, ``EMAIL_ADDRESS``, ...);
French identifiers are prefixed ``FR_``. A type name is also the stem of its token
(``<PERSON_3>``), so names are stable: renaming one changes every stored pseudonym.
"""

from __future__ import annotations

PERSON = "PERSON"
EMAIL_ADDRESS = "EMAIL_ADDRESS"
PHONE_NUMBER = "PHONE_NUMBER"
IP_ADDRESS = "IP_ADDRESS"
IBAN_CODE = "IBAN_CODE"
CREDIT_CARD = "CREDIT_CARD"
FR_NIR = "FR_NIR"
FR_SIREN = "FR_SIREN"
FR_SIRET = "FR_SIRET"
FR_LICENSE_PLATE = "FR_LICENSE_PLATE"
US_SSN = "US_SSN"
ADDRESS = "ADDRESS"
"""A postal address with at least a street number and a street type (not a bare city)."""
DATE_OF_BIRTH = "DATE_OF_BIRTH"
"""A date introduced by a birth cue ("né le", "date de naissance", "born on")."""

# Not pseudonymised by default: they carry the meaning that questions need.
LOCATION = "LOCATION"
ORGANIZATION = "ORGANIZATION"
DATE_TIME = "DATE_TIME"
NRP = "NRP"

DEFAULT_ENTITIES: frozenset[str] = frozenset(
    {
        PERSON,
        EMAIL_ADDRESS,
        PHONE_NUMBER,
        IP_ADDRESS,
        IBAN_CODE,
        CREDIT_CARD,
        FR_NIR,
        FR_SIREN,
        FR_SIRET,
        FR_LICENSE_PLATE,
        US_SSN,
        ADDRESS,
        DATE_OF_BIRTH,
    }
)
"""What identifies a person: names, contact details, identifiers, full postal
addresses and dates of birth."""

ALL_ENTITIES: frozenset[str] = DEFAULT_ENTITIES | {LOCATION, ORGANIZATION, DATE_TIME, NRP}

# When two detections overlap, the span becomes their union and takes the type of the
# most specific detection: a checksum-validated identifier beats a pattern, which beats
# statistical NER (e.g. "FR76 ..." tagged LOCATION by spaCy stays an IBAN).
TYPE_PRIORITY: dict[str, int] = {
    FR_NIR: 100,
    IBAN_CODE: 100,
    CREDIT_CARD: 95,
    FR_SIRET: 95,
    FR_SIREN: 90,
    US_SSN: 90,
    EMAIL_ADDRESS: 90,
    IP_ADDRESS: 90,
    PHONE_NUMBER: 85,
    FR_LICENSE_PLATE: 80,
    DATE_OF_BIRTH: 80,
    ADDRESS: 70,
    PERSON: 50,
    ORGANIZATION: 20,
    LOCATION: 20,
    NRP: 10,
    DATE_TIME: 10,
}


def priority(entity_type: str) -> int:
    return TYPE_PRIORITY.get(entity_type, 30)


def check_entities(names) -> frozenset[str]:
    """The entity set a caller asked for, or ``InvalidRequest`` naming the unknown
    ones (for the API's ``entities`` field and a collection's own set)."""
    from pipelines.errors import InvalidRequest

    wanted = frozenset(names)
    unknown = sorted(wanted - ALL_ENTITIES)
    if unknown:
        raise InvalidRequest(
            f"unknown entity types: {', '.join(unknown)}",
            errors=[{"loc": ["entities"], "msg": f"unknown entity type {u!r}", "type": "value_error"} for u in unknown],
        )
    return wanted
