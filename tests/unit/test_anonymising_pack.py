"""The French recogniser pack, one table per recogniser: (text, expected value or None).

These run the pack's Presidio recognisers directly (no spaCy model): every row is a
regular expression plus its checksum and context rule. A row whose expected value is
None must produce no detection of that type.
"""

from __future__ import annotations

import pytest

from pipelines.anonymising import entities as E
from pipelines.anonymising.fr_pack import PACK
from pipelines.anonymising.recognisers import NameCueRecognizer, PackRecognizer

THRESHOLD = 0.5  # the detector's default score threshold
_BY_NAME = {spec.name: spec for spec in PACK}
_MAIN = {
    E.FR_NIR: "FrNirRecognizer", E.FR_SIREN: "FrSirenRecognizer", E.FR_SIRET: "FrSiretRecognizer",
    E.IBAN_CODE: "IbanAnyCountryRecognizer", E.CREDIT_CARD: "CardNumberRecognizer",
    E.PHONE_NUMBER: "FrPhoneRecognizer", E.FR_LICENSE_PLATE: "FrLicencePlateRecognizer",
    E.ADDRESS: "FrPostalAddressRecognizer", E.DATE_OF_BIRTH: "DateOfBirthRecognizer",
}


@pytest.mark.parametrize(
    "text, expected",
    [
        ("ship to 1600 Pennsylvania Avenue, Washington, DC 20500 asap", "1600 Pennsylvania Avenue, Washington, DC 20500"),
        ("lives at 221B Baker Street, London NW1 6XE.", "221B Baker Street, London NW1 6XE"),
        ("Meet me at 15 Millicent Drive tonight", "15 Millicent Drive"),
        ("42 Elm St. Apt 5, Springfield, IL 62704", "42 Elm St. Apt 5, Springfield, IL 62704"),
        ("see chapter 3 Main Findings", None),  # no street type
        ("we scored 3 points", None),
    ],
)
def test_english_street_address(text, expected):
    found = detected(E.ADDRESS, text, "EnglishStreetAddressRecognizer")
    assert found == ([] if expected is None else [expected])


def detected(entity: str, text: str, recogniser_name: str | None = None) -> list[str]:
    recogniser = PackRecognizer(_BY_NAME[recogniser_name or _MAIN[entity]], "fr")
    results = recogniser.analyze(text, [entity])
    return [text[r.start : r.end] for r in results if r.score >= THRESHOLD]


def names(text: str) -> list[str]:
    results = NameCueRecognizer("fr").analyze(text, [E.PERSON])
    return [text[r.start : r.end] for r in results if r.score >= THRESHOLD]


def check(entity: str, text: str, expected: str | None) -> None:
    found = detected(entity, text)
    if expected is None:
        assert found == [], f"{entity} should not match in {text!r}"
    else:
        assert found == [expected]


@pytest.mark.parametrize(
    "text, expected",
    [
        ("N° de sécurité sociale : 1 85 05 78 006 084 91", "1 85 05 78 006 084 91"),
        ("NIR 185057800608491.", "185057800608491"),
        ("assurée 2 69 05 49 588 157 80", "2 69 05 49 588 157 80"),
        ("née en Corse-du-Sud : 2 85 05 2A 123 456 80", "2 85 05 2A 123 456 80"),
        ("né en Haute-Corse : 1 79 11 2B 012 345 11", "1 79 11 2B 012 345 11"),
        ("séparateurs variés 1.85.05.78.006.084.91", "1.85.05.78.006.084.91"),
        ("clé séparée 1 85 05 78 006 084 / 91", "1 85 05 78 006 084 / 91"),
        # wrong key, wrong Corsican key, impossible sex digit
        ("N° SS 1 85 05 78 006 084 92", None),
        ("N° SS 2 85 05 2A 123 456 81", None),
        ("N° SS 5 85 05 78 006 084 91", None),
        ("numéro de commande 185057800608", None),
    ],
)
def test_nir(text, expected):
    check(E.FR_NIR, text, expected)


@pytest.mark.parametrize(
    "text, expected",
    [
        ("SIREN : 732 829 320", "732 829 320"),
        ("RCS Paris 552 100 554", "552 100 554"),
        ("immatriculée sous le numéro 732829320", "732829320"),
        ("SIREN : 732 829 321", None),  # Luhn fails
        ("SIREN 111 111 111", None),  # all-equal placeholder
        ("le montant de 732 829 320 euros", None),  # weak format without its context word
    ],
)
def test_siren(text, expected):
    check(E.FR_SIREN, text, expected)


@pytest.mark.parametrize(
    "text, expected",
    [
        ("SIRET : 732 829 320 00074", "732 829 320 00074"),
        ("SIRET 73282932000074", "73282932000074"),
        ("établissement 552 100 554 00013,", "552 100 554 00013"),
        ("SIRET : 732 829 320 00075", None),
    ],
)
def test_siret(text, expected):
    check(E.FR_SIRET, text, expected)


def test_siren_is_not_reported_inside_a_siret():
    assert detected(E.FR_SIREN, "SIRET : 732 829 320 00074") == []


@pytest.mark.parametrize(
    "text, expected",
    [
        ("IBAN : FR76 3000 6000 0112 3456 7890 189", "FR76 3000 6000 0112 3456 7890 189"),
        ("IBAN FR7630006000011234567890189.", "FR7630006000011234567890189"),
        ("virement sur DE89 3704 0044 0532 0130 00 demain", "DE89 3704 0044 0532 0130 00"),
        ("account GB82 WEST 1234 5698 7654 32", "GB82 WEST 1234 5698 7654 32"),
        ("ES91 2100 0418 4502 0005 1332", "ES91 2100 0418 4502 0005 1332"),
        ("IT60 X054 2811 1010 0000 0123 456", "IT60 X054 2811 1010 0000 0123 456"),
        ("NL91ABNA0417164300", "NL91ABNA0417164300"),
        ("CH93 0076 2011 6238 5295 7", "CH93 0076 2011 6238 5295 7"),
        # a greedy match that swallowed the next word is shortened to the valid IBAN
        ("IBAN FR76 3000 6000 0112 3456 7890 189 BIC BNPAFRPP", "FR76 3000 6000 0112 3456 7890 189"),
        ("IBAN : FR76 3000 6000 0112 3456 7890 188", None),  # mod 97 fails
    ],
)
def test_iban(text, expected):
    check(E.IBAN_CODE, text, expected)


@pytest.mark.parametrize(
    "text, expected",
    [
        ("carte 4970 1012 3456 7893", "4970 1012 3456 7893"),
        ("CB n° 4970101234567893", "4970101234567893"),
        ("Mastercard 5130-1712-3456-7890", "5130-1712-3456-7890"),
        ("Amex 3782 822463 10005", "3782 822463 10005"),
        ("card 6011 0009 9990 0016 expires 12/27", "6011 0009 9990 0016"),
        ("carte 4970 1012 3456 7894", None),  # Luhn fails
        ("référence 1234 5678 9012 3456", None),  # Luhn fails, no issuer
    ],
)
def test_card_number(text, expected):
    check(E.CREDIT_CARD, text, expected)


@pytest.mark.parametrize(
    "text, expected",
    [
        ("Tél. : 06 12 34 56 78", "06 12 34 56 78"),
        ("portable 06.12.34.56.78", "06.12.34.56.78"),
        ("mobile 06-12-34-56-78", "06-12-34-56-78"),
        ("appelez le 0612345678 demain", "0612345678"),
        ("standard +33 1 42 68 53 00", "+33 1 42 68 53 00"),
        ("+33612345678", "+33612345678"),
        ("+33 (0)1 42 68 53 00", "+33 (0)1 42 68 53 00"),
        ("0033 1 42 68 53 00", "0033 1 42 68 53 00"),
        ("(+33) 6 12 34 56 78", "(+33) 6 12 34 56 78"),
        ("fixe : 04 78 12 34 56", "04 78 12 34 56"),
        ("n° vert 08 00 12 34 56", "08 00 12 34 56"),
        ("code 0012345678", None),  # 00 is not a French number
        ("montant 1 234 567,89", None),
    ],
)
def test_french_phone(text, expected):
    check(E.PHONE_NUMBER, text, expected)


@pytest.mark.parametrize(
    "text, expected",
    [
        ("Phone: 382 7140", "382 7140"),
        ("Tél. : +41 22 345 67 89", "+41 22 345 67 89"),
        ("fax 0032 2 555 12 34", "0032 2 555 12 34"),
        ("mobile: (212) 555-0199", "(212) 555-0199"),
        ("téléphone : 12 34", None),  # too few digits
        ("phone: call me", None),
    ],
)
def test_labelled_phone_numbers_of_any_country(text, expected):
    found = detected(E.PHONE_NUMBER, text, "LabelledPhoneRecognizer")
    assert found == ([] if expected is None else [expected])


@pytest.mark.parametrize(
    "text, expected",
    [
        ("call +44 20 7946 0958 today", "+44 20 7946 0958"),
        ("Büro 0049 30 901820", "0049 30 901820"),
        ("bureau +32 2 555 12 34", "+32 2 555 12 34"),
        ("+1 (212) 555-2368", "+1 (212) 555-2368"),
        ("office (415) 555-2671", "(415) 555-2671"),
        ("version +1.2.3", None),
        ("ref +999 12 34 56 78", None),  # no country has code 999
    ],
)
def test_international_phone_numbers(text, expected):
    found = detected(E.PHONE_NUMBER, text, "InternationalPhoneRecognizer")
    assert found == ([] if expected is None else [expected])


@pytest.mark.parametrize(
    "text, expected",
    [
        ("véhicule immatriculé AB-123-CD", "AB-123-CD"),
        ("plaque GH 456 JK", "GH 456 JK"),
        ("immatriculation : FG789HJ", "FG789HJ"),
        ("plaque AI-123-CD", None),  # I is never used
        ("plaque AB-000-CD", None),  # series 000 is never issued
        ("ref FG789HJ", None),  # compact form needs its context word
    ],
)
def test_licence_plate(text, expected):
    check(E.FR_LICENSE_PLATE, text, expected)


@pytest.mark.parametrize(
    "text, expected",
    [
        ("demeurant 12 rue de la Paix, 75002 Paris.", "12 rue de la Paix, 75002 Paris"),
        ("au 3 bis avenue Victor Hugo 69003 Lyon", "3 bis avenue Victor Hugo 69003 Lyon"),
        ("5 ter, boulevard Saint-Michel\n75005 PARIS CEDEX 05", "5 ter, boulevard Saint-Michel\n75005 PARIS CEDEX 05"),
        ("sis 27 allée des Tilleuls, 33000 Bordeaux", "27 allée des Tilleuls, 33000 Bordeaux"),
        ("14 chemin du Moulin - 13100 Aix-en-Provence", "14 chemin du Moulin - 13100 Aix-en-Provence"),
        ("8 impasse d'Alsace, 67000 Strasbourg", "8 impasse d'Alsace, 67000 Strasbourg"),
        ("112 RUE DE RIVOLI 75001 PARIS", "112 RUE DE RIVOLI 75001 PARIS"),
        ("à l'adresse 4 place Bellecour", "4 place Bellecour"),  # street without postcode
        ("il a couru 3 rues plus loin", None),
        ("article 12 de la Convention", None),
    ],
)
def test_postal_address(text, expected):
    check(E.ADDRESS, text, expected)


@pytest.mark.parametrize(
    "text, expected",
    [
        ("Jean Dupont, né le 12 mars 1985 à Lyon", "12 mars 1985"),
        ("Mme Martin, née le 1er janvier 1990", "1er janvier 1990"),
        ("né(e) le : 03/04/1972", "03/04/1972"),
        ("née à Bastia le 14.07.1969", "14.07.1969"),
        ("Date de naissance : 1985-03-12", "1985-03-12"),
        ("born on March 5, 1980", "March 5, 1980"),
        ("DOB: 05/03/1980", "05/03/1980"),
        ("le contrat signé le 12 mars 1985", None),  # a date, but not a birth date
    ],
)
def test_date_of_birth(text, expected):
    check(E.DATE_OF_BIRTH, text, expected)


@pytest.mark.parametrize(
    "text, expected",
    [
        ("Les conseils de M. Vautrin ont écrit", ["M. Vautrin"]),
        ("représentés par Maître Jean-Paul Durand, avocat", ["Maître Jean-Paul Durand"]),
        ("le Dr Lemarchand et Mme Lemarchand", ["Dr Lemarchand", "Mme Lemarchand"]),
        ("ainsi que M. J. - L. Brunet et M. M. Ferrand", ["M. J. - L. Brunet", "M. M. Ferrand"]),
        ("Mme DUPONT Marie a signé", ["Mme DUPONT Marie"]),
        ("Dear Mr. John Smith,", ["Mr. John Smith"]),
        ("MM. A. - C. Delorme, T. Marchetti", ["MM. A. - C. Delorme", "T. Marchetti"]),
        ("Nom : DURAND\nPrénom : Sophie", ["DURAND", "Sophie"]),
        ("Monsieur le Président,", []),
        ("art. 6 § 1 de la Convention", []),
    ],
)
def test_name_cues(text, expected):
    assert names(text) == expected
