"""Generate ``pii_fr_structured.jsonl``: French documents with structured identifiers.

The dev set (ECHR judgments) has no French e-mails, phones, IBANs, NIR or SIRET, so
this set supplies them: our own templates of insurance claims, bank letters, HR forms,
health forms and supplier records, filled with generated values that pass their
checksums (NIR key, Luhn for SIREN/SIRET/cards, ISO 7064 mod 97 for IBANs, numbers
that ``phonenumbers`` accepts), written in the usual variants (spaces, dots, +33,
compact). Each document also carries non-PII distractors (amounts, policy and
invoice numbers, ordinary dates) that a good recogniser must leave alone.

Same format as the dev set: one JSON object per line with ``id``, ``lang``,
``source``, ``text`` and ``spans`` (``start``, ``end``, ``label``, ``text``).
Deterministic: ``python tests/data/make_pii_fr_structured.py`` rewrites the same file.
"""

from __future__ import annotations

import json
import random
import string
from pathlib import Path

import phonenumbers
from stdnum import iban as stdnum_iban
from stdnum import luhn
from stdnum.fr import nir as stdnum_nir

SOURCE = "docintel FR structured (synthetic)"
OUT = Path(__file__).with_name("pii_fr_structured.jsonl")
SEED = 20261121
DOCUMENTS_PER_TEMPLATE = 30

FIRST = [
    "Jean", "Marie", "Pierre", "Sophie", "Luc", "Camille", "Nicolas", "Élodie", "François",
    "Hélène", "Julien", "Chloé", "Mathieu", "Inès", "Antoine", "Léa", "Thomas", "Manon",
    "Olivier", "Aurélie", "Karim", "Fatima", "Yann", "Gaëlle", "Jean-Marc", "Anne-Sophie",
    "Benoît", "Céline", "Mohamed", "Nathalie",
]
LAST = [
    "Martin", "Bernard", "Dubois", "Thomas", "Robert", "Richard", "Petit", "Durand",
    "Leroy", "Moreau", "Simon", "Laurent", "Lefèvre", "Michel", "Garcia", "David",
    "Bertrand", "Roux", "Vincent", "Fournier", "Morel", "Girard", "André", "Mercier",
    "Boyer", "Blanc", "Guérin", "Chevalier", "Benali", "Le Gall",
]
CIVILITIES = ["M.", "Mme", "Monsieur", "Madame", "Mlle"]
STREETS = [
    ("rue", "de la République"), ("avenue", "Jean Jaurès"), ("boulevard", "Voltaire"),
    ("place", "de la Mairie"), ("chemin", "des Vignes"), ("allée", "des Tilleuls"),
    ("impasse", "du Moulin"), ("rue", "Victor Hugo"), ("quai", "de Saône"),
    ("route", "de Lyon"), ("rue", "Pasteur"), ("avenue", "de la Gare"),
    ("rue", "du Général Leclerc"), ("cours", "Lafayette"), ("rue", "d'Alsace"),
]
CITIES = [
    ("75011", "Paris"), ("69003", "Lyon"), ("13008", "Marseille"), ("31000", "Toulouse"),
    ("44000", "Nantes"), ("67000", "Strasbourg"), ("33000", "Bordeaux"), ("59000", "Lille"),
    ("35000", "Rennes"), ("20000", "Ajaccio"), ("06000", "Nice"), ("21000", "Dijon"),
    ("13100", "Aix-en-Provence"), ("92100", "Boulogne-Billancourt"), ("38000", "Grenoble"),
]
MONTHS = ["janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août",
          "septembre", "octobre", "novembre", "décembre"]
DOMAINS = ["orange.fr", "free.fr", "gmail.com", "laposte.net", "wanadoo.fr", "sfr.fr",
           "outlook.fr", "assurances-exemple.fr", "mutuelle-sante.fr"]
COMPANIES = ["Boulangerie Martin SARL", "Transports Dubois SAS", "Atelier Leroy",
             "Garage du Centre SARL", "Menuiserie Girard", "Cabinet Moreau & Associés",
             "Plomberie Fournier EURL", "Société Nouvelle Roux"]


class Doc:
    """Text built piece by piece, recording the gold span of each PII value."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.length = 0
        self.spans: list[dict] = []

    def add(self, text: str, label: str | None = None) -> "Doc":
        if label:
            self.spans.append({"start": self.length, "end": self.length + len(text), "label": label, "text": text})
        self.parts.append(text)
        self.length += len(text)
        return self

    @property
    def text(self) -> str:
        return "".join(self.parts)


def strip_accents(text: str) -> str:
    import unicodedata

    return "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))


# Values -------------------------------------------------------------------------


def person(rng: random.Random, civility: bool | None = None) -> tuple[str, str, str]:
    first, last = rng.choice(FIRST), rng.choice(LAST)
    if civility is None:
        civility = rng.random() < 0.5
    style = rng.random()
    name = f"{first} {last.upper()}" if style < 0.2 else (f"{last.upper()} {first}" if style < 0.3 else f"{first} {last}")
    if civility:
        name = f"{rng.choice(CIVILITIES)} {name}"
    return name, first, last


def phone(rng: random.Random) -> str:
    while True:
        prefix = rng.choice(["1", "2", "3", "4", "5", "6", "6", "7", "9"])
        digits = prefix + "".join(rng.choice(string.digits) for _ in range(8))
        if phonenumbers.is_valid_number(phonenumbers.parse("0" + digits, "FR")):
            break
    pairs = [digits[1:3], digits[3:5], digits[5:7], digits[7:9]]
    style = rng.randrange(8)
    if style == 0:
        return "0" + digits[0] + " " + " ".join(pairs)
    if style == 1:
        return "0" + digits[0] + "." + ".".join(pairs)
    if style == 2:
        return "0" + digits
    if style == 3:
        return "+33 " + digits[0] + " " + " ".join(pairs)
    if style == 4:
        return "+33" + digits
    if style == 5:
        return "+33 (0)" + digits[0] + " " + " ".join(pairs)
    if style == 6:
        return "0033 " + digits[0] + " " + " ".join(pairs)
    return "0" + digits[0] + "-" + "-".join(pairs)


def nir(rng: random.Random) -> str:
    sex = rng.choice("12")
    year = f"{rng.randrange(40, 100):02d}"
    month = f"{rng.randrange(1, 13):02d}"
    dept = rng.choice(["75", "69", "13", "2A", "2B", "59", "33", "44", "99", "01", "38"])
    commune = f"{rng.randrange(1, 990):03d}"
    order = f"{rng.randrange(1, 999):03d}"
    body = sex + year + month + dept + commune + order
    key = stdnum_nir.calc_check_digits(body + "00")
    if rng.random() < 0.6:
        return f"{sex} {year} {month} {dept} {commune} {order} {key}"
    return body + key


def siren(rng: random.Random) -> str:
    body = str(rng.randrange(1, 10)) + "".join(rng.choice(string.digits) for _ in range(7))
    return body + luhn.calc_check_digit(body)


def siret(rng: random.Random, base: str | None = None) -> str:
    body = (base or siren(rng)) + f"{rng.randrange(1, 999):04d}"
    return body + luhn.calc_check_digit(body)


def group(number: str, sizes: list[int], sep: str = " ") -> str:
    out, i = [], 0
    for size in sizes:
        if i < len(number):
            out.append(number[i : i + size])
        i += size
    if i < len(number):
        out.append(number[i:])
    return sep.join(out)


IBAN_BBAN = {
    # country: BBAN generator (digits 'd', upper letters 'A', alphanumerics 'x')
    "FR": "ddddddddddddddddddddddd",
    "DE": "dddddddddddddddddd",
    "ES": "dddddddddddddddddddd",
    "IT": "Addddddddddxxxxxxxxxxxx",
    "BE": "dddddddddddd",
    "NL": "AAAAdddddddddd",
    "GB": "AAAAdddddddddddddd",
    "CH": "ddddddddddddddddd",
    "LU": "dddxxxxxxxxxxxxx",
    "PT": "ddddddddddddddddddddd",
}


def iban(rng: random.Random) -> str:
    country = "FR" if rng.random() < 0.6 else rng.choice(sorted(IBAN_BBAN))
    for _ in range(100_000):
        bban = "".join(
            rng.choice(string.digits) if c == "d" else rng.choice(string.ascii_uppercase) if c == "A"
            else rng.choice(string.digits + string.ascii_uppercase)
            for c in IBAN_BBAN[country]
        )
        check = stdnum_iban.calc_check_digits(country + "00" + bban)
        number = country + check + bban
        if stdnum_iban.is_valid(number):
            break
    else:  # pragma: no cover - the loop always finds one
        raise RuntimeError(country)
    return group(number, [4] * 9) if rng.random() < 0.7 else number


def card(rng: random.Random) -> str:
    kind = rng.choice(["visa", "visa", "mc", "amex"])
    if kind == "amex":
        body = rng.choice(["34", "37"]) + "".join(rng.choice(string.digits) for _ in range(12))
        number = body + luhn.calc_check_digit(body)
        return group(number, [4, 6, 5]) if rng.random() < 0.7 else number
    prefix = "4" if kind == "visa" else rng.choice(["51", "53", "55", "22"])
    body = prefix + "".join(rng.choice(string.digits) for _ in range(15 - len(prefix)))
    number = body + luhn.calc_check_digit(body)
    style = rng.random()
    return group(number, [4] * 4) if style < 0.5 else group(number, [4] * 4, "-") if style < 0.7 else number


def email(rng: random.Random, first: str, last: str) -> str:
    first_, last_ = (strip_accents(x).lower().replace(" ", "").replace("'", "") for x in (first, last))
    local = rng.choice([f"{first_}.{last_}", f"{first_[0]}{last_}", f"{first_}_{last_}{rng.randrange(10, 99)}"])
    return f"{local}@{rng.choice(DOMAINS)}"


def address(rng: random.Random) -> str:
    kind, name = rng.choice(STREETS)
    number = str(rng.randrange(1, 200)) + (rng.choice([" bis", " ter"]) if rng.random() < 0.15 else "")
    postcode, city = rng.choice(CITIES)
    sep = rng.choice([", ", "\n", " "])
    return f"{number} {kind} {name}{sep}{postcode} {city.upper() if rng.random() < 0.2 else city}"


def birth_date(rng: random.Random) -> str:
    day, month, year = rng.randrange(1, 29), rng.randrange(1, 13), rng.randrange(1940, 2004)
    if rng.random() < 0.5:
        return f"{day:02d}/{month:02d}/{year}"
    return f"{'1er' if day == 1 else day} {MONTHS[month - 1]} {year}"


def plate(rng: random.Random) -> str:
    letters = "ABCDEFGHJKLMNPQRSTVWXYZ"
    a = rng.choice(letters[:-3]) + rng.choice(letters)
    b = rng.choice(letters) + rng.choice(letters)
    return f"{a}-{rng.randrange(1, 1000):03d}-{b}"


def amount(rng: random.Random) -> str:
    return f"{rng.randrange(50, 20000):,}".replace(",", " ") + f",{rng.randrange(100):02d} €"


def plain_date(rng: random.Random) -> str:
    return f"{rng.randrange(1, 29):02d}/{rng.randrange(1, 13):02d}/{rng.randrange(2019, 2026)}"


def reference(rng: random.Random) -> str:
    return rng.choice(["SIN", "POL", "DOS", "FAC", "CMD"]) + f"-{rng.randrange(2019, 2026)}-{rng.randrange(1, 99999):05d}"


# Templates -------------------------------------------------------------------------


def claim(rng: random.Random) -> Doc:
    name, first, last = person(rng, civility=True)
    d = Doc()
    d.add("DÉCLARATION DE SINISTRE AUTOMOBILE\nRéférence dossier : ").add(reference(rng))
    d.add(f"\nContrat n° {rng.randrange(10**7, 10**8)}\nAssuré : ").add(name, "PERSON")
    d.add("\nAdresse : ").add(address(rng), "ADDRESS")
    d.add(rng.choice(["\nTél. : ", "\nTéléphone portable : ", "\nJoignable au "])).add(phone(rng), "PHONE_NUMBER")
    d.add("\nCourriel : ").add(email(rng, first, last), "EMAIL_ADDRESS")
    d.add(f"\nDate du sinistre : {plain_date(rng)} à {rng.randrange(7, 20)}h{rng.randrange(0, 60):02d}.")
    d.add("\nVéhicule immatriculé ").add(plate(rng), "FR_LICENSE_PLATE")
    d.add(f", kilométrage {rng.randrange(5000, 200000)} km. Montant estimé des réparations : {amount(rng)}.")
    other, _, _ = person(rng, civility=False)
    d.add("\nTiers impliqué : ").add(other, "PERSON")
    d.add(", joignable au ").add(phone(rng), "PHONE_NUMBER").add(".")
    d.add("\nIndemnisation par virement sur le compte IBAN ").add(iban(rng), "IBAN_CODE").add(".\n")
    return d


def bank_letter(rng: random.Random) -> Doc:
    name, first, last = person(rng, civility=True)
    d = Doc()
    d.add("Banque Exemple - Agence Centre\n").add(name, "PERSON").add("\n").add(address(rng), "ADDRESS")
    d.add(f"\n\nObjet : opposition sur votre carte bancaire\n\n{rng.choice(['Madame, Monsieur', 'Cher client'])},\n")
    d.add(f"Nous avons bien enregistré le {plain_date(rng)} votre demande d'opposition sur la carte ")
    d.add(card(rng), "CREDIT_CARD")
    d.add(f". Les {rng.randrange(2, 9)} opérations contestées, d'un montant total de {amount(rng)}, seront ")
    d.add("remboursées sur votre compte ").add(iban(rng), "IBAN_CODE")
    d.add(". Votre nouvelle carte vous sera adressée sous 7 jours ouvrés.\n")
    d.add("Pour toute question, votre conseiller reste joignable au ").add(phone(rng), "PHONE_NUMBER")
    d.add(" ou par courriel : ").add(email(rng, rng.choice(FIRST), rng.choice(LAST)), "EMAIL_ADDRESS")
    d.add(f".\nRéférence : {reference(rng)}\nVeuillez agréer nos salutations distinguées.\n")
    return d


def hr_form(rng: random.Random) -> Doc:
    name, first, last = person(rng, civility=False)
    d = Doc()
    d.add("FICHE DE RENSEIGNEMENTS SALARIÉ\nNom et prénom : ").add(name, "PERSON")
    d.add(rng.choice(["\nNé(e) le ", "\nDate de naissance : "])).add(birth_date(rng), "DATE_OF_BIRTH")
    d.add(f" à {rng.choice(CITIES)[1]}\nN° de sécurité sociale : ").add(nir(rng), "FR_NIR")
    d.add("\nAdresse personnelle : ").add(address(rng), "ADDRESS")
    d.add(rng.choice(["\nPortable : ", "\nTél : ", "\nTéléphone : "])).add(phone(rng), "PHONE_NUMBER")
    d.add("\nE-mail : ").add(email(rng, first, last), "EMAIL_ADDRESS")
    d.add(f"\nPoste : {rng.choice(['comptable', 'technicien', 'chargée de clientèle', 'développeur'])}")
    d.add(f", coefficient {rng.randrange(150, 400)}, entrée le {plain_date(rng)}")
    d.add(f", salaire brut mensuel {amount(rng)}.\nRIB pour le versement du salaire : ").add(iban(rng), "IBAN_CODE")
    d.add("\nPersonne à prévenir en cas d'urgence : ")
    contact, _, _ = person(rng, civility=True)
    d.add(contact, "PERSON").add(", ").add(phone(rng), "PHONE_NUMBER").add("\n")
    return d


def health_form(rng: random.Random) -> Doc:
    name, first, last = person(rng, civility=False)
    d = Doc()
    d.add("FEUILLE DE SOINS\nPatient : ").add(name, "PERSON")
    d.add(", né" + rng.choice(["", "e", "(e)"]) + " le ").add(birth_date(rng), "DATE_OF_BIRTH")
    d.add(rng.choice(["\nNuméro d'immatriculation : ", "\nN° de sécurité sociale : ", "\nNIR : "])).add(nir(rng), "FR_NIR")
    doctor = f"Dr {rng.choice(FIRST)} {rng.choice(LAST)}"
    d.add("\nMédecin traitant : ").add(doctor, "PERSON")
    d.add(", cabinet au ").add(address(rng), "ADDRESS")
    d.add(", tél. ").add(phone(rng), "PHONE_NUMBER")
    d.add(f"\nActe : consultation du {plain_date(rng)}, code CCAM YYYY{rng.randrange(100, 999)}, honoraires {amount(rng)}.")
    d.add(f"\nTaux de remboursement : {rng.choice([60, 70, 100])} %. Mutuelle : contrat {reference(rng)}.")
    d.add("\nContact patient : ").add(email(rng, first, last), "EMAIL_ADDRESS").add("\n")
    return d


def supplier_record(rng: random.Random) -> Doc:
    company = rng.choice(COMPANIES)
    base = siren(rng)
    d = Doc()
    d.add(f"FICHE FOURNISSEUR\nRaison sociale : {company}\n")
    style = rng.randrange(3)
    if style == 0:
        d.add("SIREN : ").add(group(base, [3, 3, 3]), "FR_SIREN")
    elif style == 1:
        d.add(f"Immatriculée au RCS de {rng.choice(CITIES)[1]} sous le numéro ").add(group(base, [3, 3, 3]), "FR_SIREN")
    else:
        d.add("N° SIREN ").add(base, "FR_SIREN")
    number = siret(rng, base)
    d.add("\nSIRET du siège : ").add(group(number, [3, 3, 3, 5]) if rng.random() < 0.6 else number, "FR_SIRET")
    d.add(f"\nCode APE {rng.randrange(1000, 9999)}{rng.choice('ABCZ')} - TVA intracommunautaire FR{rng.randrange(10, 99)}{base}")
    d.add("\nSiège : ").add(address(rng), "ADDRESS")
    contact, first, last = person(rng, civility=True)
    d.add("\nInterlocuteur : ").add(contact, "PERSON")
    d.add(", ").add(phone(rng), "PHONE_NUMBER").add(", ").add(email(rng, first, last), "EMAIL_ADDRESS")
    d.add("\nCoordonnées bancaires : IBAN ").add(iban(rng), "IBAN_CODE")
    d.add(f"\nConditions : paiement à {rng.choice([30, 45, 60])} jours, facture {reference(rng)} du {plain_date(rng)}")
    d.add(f" d'un montant de {amount(rng)}, commande n° {rng.randrange(10**5, 10**6)}.\n")
    return d


TEMPLATES = [claim, bank_letter, hr_form, health_form, supplier_record]


def generate() -> list[dict]:
    rng = random.Random(SEED)
    items = []
    for template in TEMPLATES:
        for i in range(DOCUMENTS_PER_TEMPLATE):
            doc = template(rng)
            text = doc.text
            for span in doc.spans:
                assert text[span["start"] : span["end"]] == span["text"]
            items.append(
                {"id": f"fr-structured-{template.__name__}-{i:03d}", "lang": "fr", "source": SOURCE,
                 "text": text, "spans": doc.spans}
            )
    return items


def main() -> None:
    items = generate()
    with OUT.open("w", encoding="utf-8") as handle:
        for item in items:
            handle.write(json.dumps(item, ensure_ascii=False) + "\n")
    print(f"wrote {len(items)} documents to {OUT}")


if __name__ == "__main__":
    main()
