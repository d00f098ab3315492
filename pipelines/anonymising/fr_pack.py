"""The French recogniser pack, written as data.

Each entry is an entity type, regular expressions with a base score, French (and
English) context words, and optionally the name of a checksum in ``validators``.
``recognisers.PackRecognizer`` turns an entry into a Presidio recogniser.

Scoring rule (the same for every entry): a match whose checksum fails is dropped; a
match scores its pattern's base score, plus ``CONTEXT_BOOST`` when a context word
occurs within ``CONTEXT_WINDOW`` characters before it (or just after it) on its line
neighbourhood. Weak formats (a bare 9-digit SIREN) have a base score under the
detection threshold, so they need their context word; checksum-validated long
identifiers stand on their own.

When a pattern has a named group ``value``, only that group is reported (the rest of
the match is the cue, e.g. "né le").
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from pipelines.anonymising import entities as E

CONTEXT_WINDOW = 40
CONTEXT_BOOST = 0.35


@dataclass(frozen=True)
class PatternSpec:
    name: str
    regex: str
    score: float


@dataclass(frozen=True)
class RecogniserSpec:
    entity: str
    name: str
    patterns: tuple[PatternSpec, ...]
    context: tuple[str, ...] = ()
    """Lower-case, accent-free words or phrases (matched on normalised text)."""
    validator: str | None = None
    """Name of a check in ``validators.VALIDATORS``."""
    trim: bool = False
    """On a failed check, retry with the match shortened at each separator (a greedy
    grouped pattern may have eaten a following word or number)."""


# Building blocks -----------------------------------------------------------------

_UP = "A-ZÀ-ÖØ-Þ"  # upper-case letters, accented included
_SEP = r"[ .\-]?"
_MONTHS_FR = (
    "janvier|f[ée]vrier|mars|avril|mai|juin|juillet|ao[uû]t|septembre|octobre|novembre|"
    "d[ée]cembre|janv\\.?|f[ée]vr?\\.?|avr\\.?|juil\\.?|sept\\.?|oct\\.?|nov\\.?|d[ée]c\\.?"
)
_MONTHS_EN = (
    "January|February|March|April|May|June|July|August|September|October|November|"
    "December|Jan\\.?|Feb\\.?|Mar\\.?|Apr\\.?|Jun\\.?|Jul\\.?|Aug\\.?|Sep\\.?|Sept\\.?|"
    "Oct\\.?|Nov\\.?|Dec\\.?"
)
_DATE = (
    r"(?:\d{1,2}[/.\-]\d{1,2}[/.\-](?:\d{4}|\d{2})"
    r"|\d{4}-\d{2}-\d{2}"
    rf"|(?:1er|1ᵉʳ|\d{{1,2}})\s+(?i:{_MONTHS_FR})\s+\d{{4}}"
    rf"|(?:{_MONTHS_EN})\s+\d{{1,2}}(?:st|nd|rd|th)?,?\s+\d{{4}}"
    rf"|\d{{1,2}}(?:st|nd|rd|th)?\s+(?:{_MONTHS_EN})\s+\d{{4}})"
)
_STREET_TYPES = (
    "rue|avenue|av\\.|bd|boulevard|place|pl\\.|chemin|ch\\.|all[ée]e|impasse|imp\\.|route|rte|"
    "quai|cours|square|sq\\.|voie|passage|r[ée]sidence|lieu-dit|faubourg|fbg|rond-point|"
    "cit[ée]|hameau|sentier|esplanade|promenade|parvis|villa|mont[ée]e|chauss[ée]e|"
    "traverse|ruelle|mail|domaine|lotissement|quartier|clos|carrefour|côte|cote|venelle"
)
_POSTCODE = r"(?:\d{5}|\d{2} \d{3})"
_STREET_PARTICLE = r"(?i:de|du|des|la|le|les|et|aux|au|sur|sous|en|à|l['’]|d['’])"
# A street word is never a particle nor a postcode: every token has one reading, so a
# failed match backtracks linearly (overlapping readings made it exponential).
_STREET_WORD = (
    rf"(?:(?!(?i:de|du|des|la|le|les|et|aux|au|sur|sous|en|à)(?![\w'’]))(?!{_POSTCODE}(?!\d))"
    rf"[{_UP}0-9][\w'’.\-]*|[dl]['’][\w][\w'’\-]*)"
)
_CITY = (
    rf"(?>[{_UP}][\w'’\-]*(?:[ \-]+(?:(?!(?i:cedex)\b)[{_UP}][\w'’\-]*|sur|sous|en|lès|les|le|la|de|"
    rf"du|des|d['’]\w+|l['’]\w+))*)"
)
_ADDRESS = (
    rf"(?<![\w,])\d{{1,4}}(?:[ \t]?(?i:bis|ter|quater|[a-d])\b)?,?[ \t]+"
    rf"(?i:{_STREET_TYPES})"
    rf"(?:[ \t]+{_STREET_PARTICLE})*(?:[ \t]+{_STREET_WORD})"
    rf"(?:[ \t]+(?:{_STREET_PARTICLE}[ \t]+)*{_STREET_WORD})*"
)
_POSTAL_TAIL = (
    rf"(?:[ \t]*[,\n][ \t]*|[ \t]+|[ \t]*-[ \t]*)(?:(?i:BP|CS)[ \t]*\d{{1,6}}[ \t,]+)?"
    rf"{_POSTCODE}[ \t]+{_CITY}(?:[ \t]+(?i:cedex)(?:[ \t]+\d{{1,2}})?)?"
)

_EN_STREET_TYPES = (
    "Street|St\\.?|Avenue|Ave\\.?|Road|Rd\\.?|Boulevard|Blvd\\.?|Lane|Ln\\.?|Drive|Dr\\.?|"
    "Court|Ct\\.?|Way|Place|Pl\\.?|Terrace|Close|Crescent|Circle|Parkway|Highway|Square|Row|Gardens|Mews"
)
_EN_STREET = (
    rf"(?<![\w,.])\d{{1,5}}[A-Za-z]?[ \t]+(?:[{_UP}][\w'’\-]*[ \t]+){{1,3}}(?:{_EN_STREET_TYPES})(?![\w])"
)
_EN_UNIT = r"(?:,?[ \t]*(?:Apt\.?|Apartment|Suite|Ste\.?|Unit|Flat|#)[ \t]*\w{1,6})?"
_EN_TAIL = (
    rf"(?:,?[ \t\n]+[{_UP}][\w'’\-]*(?:[ \t]+[{_UP}][\w'’\-]*){{0,2}})?"  # town
    r",?[ \t\n]+(?:[A-Z]{2}[ \t]+\d{5}(?:-\d{4})?"  # US state + ZIP
    r"|[A-Z]{1,2}\d[A-Z\d]?[ \t]*\d[A-Z]{2})"  # UK postcode
)

# The pack ------------------------------------------------------------------------

PACK: tuple[RecogniserSpec, ...] = (
    RecogniserSpec(
        entity=E.FR_NIR,
        name="FrNirRecognizer",
        patterns=(
            PatternSpec(
                "nir",
                r"(?<![\w.\-])[1-478]" + _SEP + r"\d{2}" + _SEP + r"(?:0[1-9]|1[0-2]|[2-9]\d)"
                + _SEP + r"(?:\d{2}|2[AaBb])" + _SEP + r"\d{3}" + _SEP + r"\d{3}"
                + r"(?:" + _SEP + r"|\s*/\s*)\d{2}(?![\w\-])",
                0.85,
            ),
        ),
        context=(
            "securite sociale", "secu", "nir", "numero ss", "n° ss", "insee",
            "immatriculation", "assure", "assuree", "social security", "carte vitale",
        ),
        validator="nir",
    ),
    RecogniserSpec(
        entity=E.FR_SIRET,
        name="FrSiretRecognizer",
        patterns=(
            PatternSpec("siret grouped", r"(?<![\w.\-])\d{3}[ .]\d{3}[ .]\d{3}[ .]?\d{5}(?![\w\-]|[ .]\d)", 0.7),
            PatternSpec("siret", r"(?<![\w.\-])\d{14}(?![\w\-])", 0.55),
        ),
        context=("siret", "etablissement", "n° siret", "numero siret"),
        validator="siret",
    ),
    RecogniserSpec(
        entity=E.FR_SIREN,
        name="FrSirenRecognizer",
        patterns=(
            PatternSpec("siren grouped", r"(?<![\w.\-])\d{3}[ .]\d{3}[ .]\d{3}(?![\w\-]|[ .]?\d)", 0.4),
            PatternSpec("siren", r"(?<![\w.\-])\d{9}(?![\w\-])", 0.3),
        ),
        context=(
            "siren", "rcs", "r.c.s", "registre du commerce", "immatriculee", "immatriculation",
            "tva", "n° tva", "identification", "entreprise", "societe",
        ),
        validator="siren",
    ),
    RecogniserSpec(
        entity=E.IBAN_CODE,
        name="IbanAnyCountryRecognizer",
        patterns=(
            PatternSpec(
                "iban",
                r"(?<![\w])[A-Z]{2}\d{2}(?:[ ]?[A-Z0-9]{1,4}){3,9}(?![\w])",
                0.85,
            ),
        ),
        context=("iban", "rib", "compte", "virement", "bancaire", "bank", "account", "transfer"),
        validator="iban",
        trim=True,
    ),
    RecogniserSpec(
        entity=E.CREDIT_CARD,
        name="CardNumberRecognizer",
        patterns=(
            PatternSpec("card", r"(?<![\w.\-])\d{4}(?:[ \-]?\d{2,6}){2,4}(?![\w])", 0.8),
        ),
        context=(
            "carte", "cb", "carte bancaire", "visa", "mastercard", "amex", "paiement",
            "card", "credit", "debit",
        ),
        validator="credit_card",
        trim=True,
    ),
    RecogniserSpec(
        entity=E.PHONE_NUMBER,
        name="FrPhoneRecognizer",
        patterns=(
            PatternSpec(
                "fr phone international",
                r"(?<![\w+])\(?(?:\+|00)[ ]?33\)?[ .\-]?(?:\(0\)[ .\-]?)?[1-9](?:[ .\-]?\d{2}){4}(?!\d)",
                0.75,
            ),
            PatternSpec("fr phone national", r"(?<![\w+.\-])0[1-9](?:[ .\-]?\d{2}){4}(?![\d\-])", 0.7),
        ),
        context=(
            "tel", "tél", "telephone", "portable", "mobile", "fixe", "fax", "joindre",
            "appeler", "contact", "numero", "phone", "call",
        ),
        validator="french_phone",
    ),
    RecogniserSpec(
        entity=E.PHONE_NUMBER,
        name="InternationalPhoneRecognizer",
        patterns=(
            PatternSpec(
                "+country number",
                r"(?<![\w+])(?:\+|00)[1-9]\d{0,2}[ .\-]?(?:\(0\)[ .\-]?)?\(?\d[\d ().\-]{5,17}\d(?![\w])",
                0.7,
            ),
            PatternSpec("north american number", r"(?<![\w+\-])\(?[2-9]\d{2}\)?[ .\-]\d{3}[ .\-]\d{4}(?![\w\-])", 0.55),
        ),
        context=("tel", "tél", "telephone", "portable", "mobile", "fax", "phone", "call", "cell"),
        validator="any_phone",
        trim=True,
    ),
    RecogniserSpec(
        entity=E.PHONE_NUMBER,
        name="LabelledPhoneRecognizer",
        patterns=(
            PatternSpec(
                "phone label then number",
                r"(?i:\b(?:t[ée]l[ée]phone|t[ée]l|phone|mobile|portable|gsm|fax|cell)\b\.?"
                r"(?:\s*(?:n°|no\.?|number|num[ée]ro))?\s*:?)[ \t]*"
                r"(?P<value>\+?\(?\d[\d \-.()]{4,20}\d)(?![\w])",
                0.7,
            ),
        ),
        validator="phone_digits",
    ),
    RecogniserSpec(
        entity=E.FR_LICENSE_PLATE,
        name="FrLicencePlateRecognizer",
        patterns=(
            PatternSpec("siv plate", r"(?<![\w\-])[A-Z]{2}[\- ]\d{3}[\- ][A-Z]{2}(?![\w\-])", 0.65),
            PatternSpec("siv plate compact", r"(?<![\w\-])[A-Z]{2}\d{3}[A-Z]{2}(?![\w\-])", 0.3),
        ),
        context=(
            "immatriculation", "immatricule", "immatriculee", "plaque", "vehicule", "voiture",
            "automobile", "licence plate", "license plate", "registration",
        ),
        validator="licence_plate",
    ),
    RecogniserSpec(
        entity=E.ADDRESS,
        name="FrPostalAddressRecognizer",
        patterns=(
            PatternSpec("street, postcode and city", _ADDRESS + _POSTAL_TAIL, 0.85),
            PatternSpec("street", _ADDRESS, 0.6),
        ),
        context=("adresse", "domicile", "demeurant", "residant", "address", "sis", "situe"),
    ),
    RecogniserSpec(
        entity=E.ADDRESS,
        name="EnglishStreetAddressRecognizer",
        patterns=(
            PatternSpec("number, street, unit, town, postcode", _EN_STREET + _EN_UNIT + _EN_TAIL, 0.8),
            PatternSpec("number and street", _EN_STREET + _EN_UNIT, 0.6),
        ),
        context=("address", "live", "lives", "living", "resides", "ship", "deliver", "mail"),
    ),
    RecogniserSpec(
        entity=E.DATE_OF_BIRTH,
        name="DateOfBirthRecognizer",
        patterns=(
            PatternSpec(
                "birth cue then date",
                r"(?i:\bn[ée]e?s?(?:\s*\(e\))?(?:\s+(?:à|a)\s+[^\n,;:]{1,40}?)?,?\s+le"
                r"|\bdate\s+de\s+naissance|\bDDN|\bborn(?:\s+on)?|\bdate\s+of\s+birth|\bD\.?O\.?B\.?)"
                rf"\s*:?\s*(?P<value>{_DATE})",
                0.85,
            ),
        ),
    ),
)
"""Every recogniser of the pack. Registered for each detector language: identifiers
do not depend on the language of the page around them."""


# Person-name cues ------------------------------------------------------------------

CIVILITIES = (
    "M.", "MM.", "Mme", "Mmes", "Mlle", "Mlles", "Me", "Maître", "Maitre", "Dr", "Dr.",
    "Docteur", "Pr", "Pr.", "Professeur", "Monsieur", "Madame", "Mademoiselle",
    "Messieurs", "Mesdames", "Mr", "Mr.", "Mrs", "Mrs.", "Ms", "Ms.", "Miss", "Sir",
    "Lord", "Lady", "Dame", "Prof.",
)
"""Titles that introduce a person's name. They are part of the detected span (the
gold annotations and a careful reader both treat "M. Dupont" as one mention) and are
ignored when deciding whether two mentions are the same person."""

NAME_PARTICLES = ("de", "du", "des", "van", "von", "der", "den", "da", "di", "le", "la", "ben", "bin", "el", "al", "y")

_NAME_UP = _UP + "\u0100-\u017f"  # Latin Extended-A (Č, Ł, Ş, ...) holds both cases
_NAME_LOW = "a-zß-öø-ÿ\u0100-\u017f"
_INITIAL = rf"[{_NAME_UP}]\.(?:[ \t]*-[ \t]*[{_NAME_UP}]\.)?"
_NAME_WORD = (
    rf"(?:(?:Mc|Mac|Le|La|De|Di|Da|Van|O['’])[{_NAME_UP}][{_NAME_LOW}]+"
    rf"|[{_NAME_UP}][{_NAME_LOW}'’]+(?:[\-'’][{_NAME_UP}]?[{_NAME_LOW}]+)*"
    rf"|[{_NAME_UP}]{{2,}}(?:-[{_NAME_UP}]{{2,}})?)"
)
_PARTICLE = "(?:" + "|".join(NAME_PARTICLES) + ")"
_NAME_CHAIN = (
    rf"(?:{_INITIAL}[ \t]*)*{_NAME_WORD}"
    rf"(?:[ \t]+(?:{_PARTICLE}[ \t]+)?(?:{_INITIAL}[ \t]*)*{_NAME_WORD}){{0,3}}"
)
_CIVILITY = "(?:" + "|".join(
    re.escape(c) + (r"(?![\w])" if not c.endswith(".") else "")
    for c in sorted(CIVILITIES, key=len, reverse=True)
) + ")"

LIST_ITEM = rf"(?:{_CIVILITY}[ \t]+)?{_NAME_CHAIN}"
"""One item of an enumeration of names (see ``detector._names_in_lists``)."""

NAME_CUE_PATTERNS: tuple[PatternSpec, ...] = (
    # 0.9, above the NER's 0.85: Presidio keeps one of two results with the same span
    # and score in hash order, so on a tie "M. Petit" was kept as the NER's result (and
    # then rejected by the NER guards) in some processes and as ours in others.
    PatternSpec("civility then name", rf"(?<![\w]){_CIVILITY}[ \t]+{_NAME_CHAIN}", 0.9),
    PatternSpec(
        "initials then surname",
        # not at the start of a line: "A. La procédure" is a heading
        rf"(?<=[^\w.\n]){_INITIAL}(?:[ \t]*{_INITIAL})*[ \t]*[{_NAME_UP}][{_NAME_LOW}][\w'’\-]+"
        rf"(?:[ \t]+[{_NAME_UP}][{_NAME_LOW}][\w'’\-]+)?",
        0.6,
    ),
    PatternSpec(
        "form field then name",
        r"(?i:\b(?:nom(?:\s+de\s+naissance|\s+d['’]usage)?|pr[ée]noms?|nom\s+et\s+pr[ée]nom|"
        r"name|full\s+name|first\s+name|last\s+name|surname|patient|assur[ée]e?|"
        r"souscripteur|b[ée]n[ée]ficiaire|titulaire(?:\s+du\s+compte)?|salari[ée]e?|"
        r"employ[ée]e?|demandeur|requ[ée]rante?|user|client|cliente|customer|contact|"
        r"interlocut(?:eur|rice)|destinataire|exp[ée]diteur|signataire|auteur|author|"
        r"employee|responsable|r[ée]f[ée]rente?|conseill(?:er|[èe]re)|gestionnaire)\s*:)"
        r"[ \t]*(?P<value>" + _NAME_CHAIN + ")",
        0.8,
    ),
    PatternSpec(
        "role then name",
        r"(?i:\b(?:juges?|magistrat(?:e|s|es)?|avocat(?:e|s|es)?|greffi[eè]re?s?|pr[ée]sidente?|"
        r"procureure?|t[ée]moins?|notaires?|huissiers?|experts?|m[ée]decins?|infirmi[eè]re?s?|"
        r"judges?|justices?|lawyers?|attorneys?|counsel|witness(?:es)?|doctors?|nurses?|"
        r"officers?|notar(?:y|ies)|experts?|affaires?))"
        r"[ \t]+(?P<value>" + _NAME_CHAIN + ")",
        0.6,
    ),
)
"""Patterns that find names from cues rather than statistics (entity PERSON)."""

NAME_DENY = frozenset(
    {
        # Titles and generic legal or administrative words that NER models tag as
        # persons when capitalised; compared after normalisation.
        "monsieur", "madame", "mademoiselle", "maitre", "docteur", "professeur",
        "president", "presidente", "juge", "greffier", "greffiere", "procureur",
        "requerant", "requerante", "requerants", "defendeur", "etat", "cour", "tribunal",
        "gouvernement", "commission", "convention", "article", "assure", "assuree",
        "client", "cliente", "objet", "madame, monsieur", "nom", "prenom", "date",
        "signature", "tel", "adresse", "iban", "bic", "siret", "siren", "cedex",
    }
)

LOG_LEVELS = ("TRACE", "DEBUG", "INFO", "NOTICE", "WARN", "WARNING", "ERROR", "CRITICAL", "FATAL")
