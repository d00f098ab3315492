"""What a field's name means: the words to look for near its value, and its value type.

These tables are generic vocabulary (English, French, and the commonest invoice words of
neighbouring languages), keyed by words that occur in field names and descriptions.
They are not tuned to any document: a field named ``invoice_number`` looks for
"invoice number", "facture n°", "factuurnummer", ... wherever it is asked.
"""

from __future__ import annotations

import re

STOPWORDS = frozenset(
    ["a", "an", "the", "of", "to", "in", "on", "at", "by", "for", "from", "with", "and", "or", "as", "is", "are", "be", "been", "was", "were", "this", "that", "these", "those", "it", "its", "which", "who", "whom", "whose", "what", "when", "where", "how", "than", "then", "there", "here", "such", "any", "all", "each", "every", "some", "no", "not", "other", "into", "onto", "per", "via", "e.g", "eg", "i.e", "ie", "etc", "whether", "if", "le", "la", "les", "un", "une", "des", "du", "de", "d", "l", "à", "au", "aux", "en", "et", "ou", "par", "pour", "sur", "dans", "avec", "sans", "est", "sont", "ce", "cette", "ces", "qui", "que", "dont", "où", "son", "sa", "ses", "leur", "leurs"]
)

SYNONYMS: dict[str, tuple[str, ...]] = {
    "invoice": ("invoice", "facture", "factuur", "faktura", "rechnung", "bill", "receipt"),
    "number": ("number", "no", "no.", "n°", "nº", "nr", "nr.", "num", "numéro", "numero", "nummer", "#", "id"),
    "id": ("id", "identifier", "number", "no", "n°", "ref", "reference"),
    "date": ("date", "dated", "datum", "data", "le"),
    "effective": ("effective", "effective date", "as of", "entered into", "made", "dated", "commencing", "date hereof"),
    "amount": ("amount", "total", "montant", "totaal", "bedrag", "sum", "due", "ttc", "grand total", "balance due", "total due", "betrag", "amount due", "à payer"),
    "total": ("total", "totaal", "grand total", "ttc", "amount due", "gesamt", "summe"),
    "untaxed": ("untaxed", "ht", "hors taxe", "hors taxes", "subtotal", "sub-total", "sub total", "net", "netto", "exclusief btw", "excl", "excluding tax", "before tax", "subtotaal"),
    "tax": ("tax", "vat", "tva", "btw", "gst", "mwst", "iva", "taxes"),
    "vat": ("vat", "tva", "btw", "vat number", "vat no", "n° tva", "tva intracommunautaire", "ust-idnr"),
    "jurisdiction": ("governed by", "laws of", "law of", "jurisdiction", "courts of", "construed", "governing law", "state of", "commonwealth of", "droit", "tribunaux"),
    "governing": ("governed by", "laws of", "governing law", "construed"),
    "law": ("laws of", "law of", "governed by", "governing law"),
    "term": ("term", "term of this agreement", "this agreement shall terminate", "agreement shall expire",
             "shall terminate", "will terminate", "shall expire", "will expire", "remain in full force and effect", "remain in effect", "continue in effect",
             "remain in force", "continue in force", "continue in full force", "expire", "durée", "pour une durée de"),
    "duration": ("duration", "term", "durée", "pour une durée de"),
    "length": ("length", "term", "duration", "durée"),
    "contract": ("contract", "agreement", "contrat"),
    "party": ("between", "by and between", "party", "parties", "among"),
    "parties": ("between", "by and between", "party", "parties", "among"),
    "issuer": ("issuer", "seller", "vendor", "supplier", "sold by", "émetteur", "fournisseur", "verkoper", "payable to"),
    "seller": ("seller", "vendor", "supplier", "sold by", "vendeur"),
    "buyer": ("buyer", "customer", "client", "bill to", "acheteur", "klant", "kunde"),
    "customer": ("customer", "client", "bill to", "klant", "kunden", "kunde"),
    "currency": ("currency", "devise", "in"),
    "policy": ("policy", "police", "contrat", "contract", "policy number", "n° de police", "numéro de contrat"),
    "claim": ("claim", "sinistre", "dossier"),
    "insurer": ("insurer", "assureur", "compagnie"),
    "insured": ("insured", "assuré", "policyholder", "souscripteur"),
    "payment": ("payment", "paid", "paiement", "règlement", "betaling", "payment mode", "mode de paiement", "payment method"),
    "method": ("method", "mode", "means", "via", "by"),
    "check": ("check", "arrival", "departure"),
    "in": ("in", "arrival"),
    "out": ("out", "departure"),
    "booking": ("booking", "reservation", "réservation"),
    "iban": ("iban",),
    "bic": ("bic", "swift"),
    "siren": ("siren", "rcs", "siret"),
    "siret": ("siret",),
    "email": ("email", "e-mail", "mail", "courriel"),
    "phone": ("phone", "tel", "tél", "téléphone", "telephone", "mobile"),
    "website": ("website", "web", "site", "www", "url"),
    "zip": ("zip", "postal code", "postcode", "code postal", "cp"),
    "city": ("city", "ville", "town"),
    "street": ("street", "address", "adresse", "rue"),
    "address": ("address", "adresse", "adres"),
    "country": ("country", "pays"),
    "name": ("name", "nom"),
    "partner": ("partner", "customer", "supplier"),
    "loss": ("loss", "damage", "sinistre", "dommage", "incident"),
    "incident": ("incident", "accident", "sinistre", "survenu"),
    "deductible": ("deductible", "franchise", "excess"),
    "premium": ("premium", "prime", "cotisation"),
    "start": ("start", "commencement", "from", "début", "prise d'effet", "effet"),
    "end": ("end", "expiry", "expiration", "until", "fin", "échéance"),
    "due": ("due", "échéance", "payable", "vervaldatum"),
    "quantity": ("quantity", "qty", "quantité", "nombre", "aantal", "qté"),
    "qty": ("qty", "quantity", "quantité", "nombre", "aantal", "qté"),
    "price": ("price", "prix", "prijs", "cena", "rate", "p.u.", "unit price"),
    "unit": ("unit", "unitaire", "per stuk", "p.u."),
    "confidential": ("confidential", "confidentiality", "non-disclosure", "nondisclosure"),
    "signed": ("signed", "signature", "signé", "executed"),
}

NEGATIVE_CUES: dict[str, tuple[str, ...]] = {
    # "an Ohio corporation" names where a party is incorporated, not the governing law.
    "location": ("corporation", "company", "limited liability", "partnership", "organized under", "incorporated in",
                 "district court", "bankruptcy court"),
    # Numbers of other things than the one asked for (unless the field names them).
    "code": ("account", "phone", "tel", "fax", "customer", "client", "order", "po", "purchase order", "ifsc", "klant", "kunden"),
    # Periods of other obligations (notice, non-solicitation, look-back) are not the term.
    "duration": ("termination of", "following the termination", "after termination", "preceding", "prior to", "within", "notice", "employment", "solicit", "standstill", "during the"),
}

ENTITY_WORDS = frozenset(
    ["party", "parties", "issuer", "seller", "vendor", "supplier", "buyer", "customer", "client", "company", "organisation", "organization", "employer", "employee", "person", "insurer", "insured", "policyholder", "beneficiary", "tenant", "landlord", "lessor", "lessee", "contractor", "signatory", "partner", "name", "holder", "owner", "assureur", "assuré", "souscripteur", "bénéficiaire", "vendeur", "acheteur", "fournisseur", "émetteur", "société", "entreprise"]
)
LOCATION_WORDS = frozenset(["jurisdiction", "governing", "law", "country", "state", "pays", "juridiction", "venue"])
DURATION_WORDS = frozenset(["term", "duration", "period", "length", "durée", "tenure"])
CURRENCY_WORDS = frozenset(["currency", "devise"])
PERCENT_WORDS = frozenset(["percent", "percentage", "pct", "rate", "tax_percent", "taux"])
CODE_WORDS = frozenset(["number", "no", "num", "nr", "id", "ref", "reference", "code", "numero", "numéro", "identifier", "siren", "siret", "gstin", "cin", "coc"])
DATE_WORDS = frozenset(["date", "datum", "dated", "day"])
MONEY_WORDS = frozenset(
    ["amount", "total", "price", "cost", "fee", "premium", "deductible", "sum", "subtotal", "untaxed", "tax", "vat", "balance", "montant", "prix", "franchise", "prime", "gross", "net", "charge", "charges", "paid", "due"]
)
ADDRESS_WORDS = frozenset(["address", "street", "city", "zip", "postcode", "postal", "town", "adresse", "rue", "ville"])
GRAND_TOTAL_WORDS = frozenset(["total", "amount", "gross", "ttc", "due", "balance", "montant"])
PART_TOTAL_WORDS = frozenset(["untaxed", "net", "subtotal", "tax", "vat", "tva", "btw", "ht", "deductible", "franchise", "unit", "price", "rooms", "fee", "discount"])
IDENTIFIER_DIGITS = {"siren": 9, "siret": 14}
"""Identifiers whose length is fixed by law (French company register)."""
GENERIC_NAME_WORDS = frozenset(
    ["number", "no", "num", "nr", "id", "identifier", "code", "ref", "reference", "value", "name", "date", "amount", "total", "type", "text", "info", "information", "field", "data", "numero", "numéro"]
)
"""Words of a field name that say what kind of value it is, not which one."""
QUANTITY_WORDS = frozenset(["qty", "quantity", "count", "nombre", "aantal"])

# Jurisdictions: US states, Canadian provinces, common countries (English and French).
US_STATES = ["Alabama", "Alaska", "Arizona", "Arkansas", "California", "Colorado", "Connecticut", "Delaware", "Florida", "Georgia", "Hawaii", "Idaho", "Illinois", "Indiana", "Iowa", "Kansas", "Kentucky", "Louisiana", "Maine", "Maryland", "Massachusetts", "Michigan", "Minnesota", "Mississippi", "Missouri", "Montana", "Nebraska", "Nevada", "Ohio", "Oklahoma", "Oregon", "Pennsylvania", "Tennessee", "Texas", "Utah", "Vermont", "Virginia", "Washington", "Wisconsin", "Wyoming"] + [
    "New Hampshire", "New Jersey", "New Mexico", "New York", "North Carolina", "North Dakota",
    "Rhode Island", "South Carolina", "South Dakota", "West Virginia", "District of Columbia",
]
PROVINCES = ["Ontario", "Quebec", "Québec", "British Columbia", "Alberta", "Manitoba", "Nova Scotia"]
COUNTRIES = ["France", "Belgium", "Belgique", "Switzerland", "Suisse", "Luxembourg", "Germany", "Allemagne", "Italy", "Italie", "Spain", "Espagne", "Portugal", "Netherlands", "Pays-Bas", "Ireland", "Irlande", "England", "Scotland", "Wales", "Canada", "Mexico", "Brazil", "Japan", "China", "India", "Israel", "Singapore", "Australia", "Sweden", "Norway", "Denmark", "Finland", "Austria", "Poland", "Pologne", "Monaco", "Morocco", "Maroc", "Tunisia", "Tunisie", "Algeria", "Algérie", "Senegal", "Sénégal"] + [
    "United States", "United States of America", "United Kingdom", "Royaume-Uni", "Hong Kong",
    "England and Wales", "Cayman Islands", "British Virgin Islands", "Côte d'Ivoire", "États-Unis",
]
PLACES = tuple(US_STATES + PROVINCES + COUNTRIES)

# Legal-form suffixes that close an organisation name.
ORG_SUFFIXES = (
    r"Inc\.?|Incorporated|Corporation|Corp\.?|Company|Co\.|LLC|L\.L\.C\.|LLP|L\.L\.P\.|LP|L\.P\.|"
    r"Ltd\.?|Limited|PLC|plc|N\.A\.|S\.A\.S\.?|S\.A\.|SAS|SARL|SA|SE|GmbH|AG|B\.V\.|BV|N\.V\.|NV|"
    r"S\.p\.A\.|SpA|Holdings?|Group|Trust|Bank|Partners|Associates|Foundation|Pvt\.? Ltd\.?|"
    r"spółka akcyjna|sp\. z o\.o\.|Mutuelle|Assurances?"
)


def split_name(name: str) -> list[str]:
    """Words of a field name: ``invoiceNumber`` / ``invoice_number`` -> invoice, number."""
    name = re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", name)
    return [w for w in re.split(r"[^0-9A-Za-zÀ-ÿ]+", name.lower()) if w]


def content_words(text: str) -> list[str]:
    return [w for w in re.findall(r"[0-9A-Za-zÀ-ÿ'’\-]+", text.lower()) if w not in STOPWORDS and len(w) > 1]
