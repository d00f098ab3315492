"""Extractive extraction on small documents written for the test (no models)."""

import pytest

from pipelines.extract import ExtractiveExtractor, build_extractor, check_citations
from pipelines.extraction.extractive import role_of
from pipelines.extraction.schema import read_fields
from pipelines.types import Block, Page

CLAIM_FR = """ASSURANCES DU LAC SA
Déclaration de sinistre
Numéro de police : AB-123
Date du sinistre : 14 mars 2025
Assuré : Jean Dupont
Montant réclamé : 1 250,00 €
Le dégât des eaux a été constaté par un expert.
Franchise : 150,00 €
"""

INVOICE_EN = """ACME Widgets Ltd.
1 Market Street, Springfield
Invoice Number: INV-2024-0042
Invoice Date: March 14, 2025
Bill To: Globex Corporation
Description Qty Unit price Amount
Blue widget 2 $10.00 $20.00
Red widget 3 $5.00 $15.00
Subtotal $35.00
VAT 20% $7.00
Total due $42.00
All amounts in USD. Payment by bank transfer.
"""

NDA_EN = """MUTUAL NON-DISCLOSURE AGREEMENT
This Mutual Non-Disclosure Agreement (the "Agreement") is entered into as of June 1, 2021 (the "Effective Date")
by and between Northwind Traders, Inc., a Delaware corporation ("Northwind"), and Contoso Labs LLC, a New York
limited liability company ("Contoso").
1. Purpose. The parties wish to explore a business relationship.
2. Term. This Agreement shall remain in full force and effect for two (2) years from the Effective Date.
3. Governing Law. This Agreement shall be governed by the laws of the State of New York.
"""


def _page(text: str, number: int = 1, boxes: bool = False) -> Page:
    blocks = ()
    if boxes:
        blocks, offset = [], 0
        for i, line in enumerate(text.split("\n")):
            blocks.append(Block(offset, offset + len(line), (10.0, 10.0 + 12 * i, 300.0, 20.0 + 12 * i)))
            offset += len(line) + 1
        blocks = tuple(blocks)
    return Page(number=number, text=text, blocks=blocks)


CLAIM_SCHEMA = {
    "type": "object",
    "properties": {
        "policy_number": {"type": "string", "description": "Numéro de police", "examples": ["XY-999"]},
        "claim_date": {"type": "string", "format": "date", "description": "Date du sinistre"},
        "amount": {"type": "number", "description": "Montant réclamé"},
        "deductible": {"type": "number"},
        "water_damage": {"type": "boolean", "description": "dégât des eaux"},
        "cause": {"enum": ["incendie", "vol", "dégât des eaux"]},
        "insured": {"type": "object", "properties": {"name": {"type": "string"}}},
        "vehicle_plate": {"type": ["string", "null"]},
    },
    "required": ["policy_number", "claim_date", "amount"],
}


@pytest.fixture(scope="module")
def extractor():
    return ExtractiveExtractor()


def test_french_claim(extractor):
    result = extractor.extract([_page(CLAIM_FR, boxes=True)], CLAIM_SCHEMA)
    assert result.data["policy_number"] == "AB-123"
    assert result.data["claim_date"] == "2025-03-14"
    assert result.data["amount"] == 1250.0
    assert result.data["deductible"] == 150.0
    assert result.data["water_damage"] is True
    assert result.data["cause"] == "dégât des eaux"
    assert result.data["insured"] == {"name": "Jean Dupont"}
    assert result.data["vehicle_plate"] is None
    assert result.valid, result.errors
    date = result.fields["/claim_date"]
    assert date.citations[0].quote == "14 mars 2025"
    assert date.citations[0].bbox is not None


def test_invoice_with_line_items(extractor):
    schema = {
        "type": "object",
        "properties": {
            "invoice_number": {"type": "string"},
            "date": {"type": "string", "format": "date"},
            "total": {"type": "number", "description": "Total amount due"},
            "currency": {"type": "string"},
            "issuer": {"type": "string"},
            "lines": {"type": "array", "items": {"type": "object", "properties": {
                "description": {"type": "string"}, "qty": {"type": "integer"},
                "unit_price": {"type": "number"}, "amount": {"type": "number"}}}},
        },
    }
    result = extractor.extract([_page(INVOICE_EN)], schema)
    assert result.data["invoice_number"] == "INV-2024-0042"
    assert result.data["date"] == "2025-03-14"
    assert result.data["total"] == 42.0
    assert result.data["currency"] == "USD"
    assert result.data["lines"] == [
        {"description": "Blue widget", "qty": 2, "unit_price": 10.0, "amount": 20.0},
        {"description": "Red widget", "qty": 3, "unit_price": 5.0, "amount": 15.0},
    ]
    assert result.fields["/lines/1/amount"].citations[0].quote == "$15.00"


def test_contract_parties_term_and_law(extractor):
    schema = {"type": "object", "properties": {
        "effective_date": {"type": "string", "format": "date"},
        "parties": {"type": "array", "items": {"type": "string"}},
        "term": {"type": "string"},
        "governing_law": {"type": "string"},
    }}
    result = extractor.extract([_page(NDA_EN)], schema)
    assert result.data["effective_date"] == "2021-06-01"
    assert result.data["parties"] == ["Northwind Traders, Inc.", "Contoso Labs LLC"]
    assert result.data["term"] == "2 years"
    assert result.data["governing_law"] == "New York"
    assert result.fields["/term"].citations[0].quote == "two (2) years"


def test_pseudonymised_text_gives_tokens():
    text = "This agreement is made between <ORGANIZATION_1>, a French company (\"Seller\"), and <PERSON_3> (\"Buyer\")."
    schema = {"type": "object", "properties": {"parties": {"type": "array", "items": {"type": "string"}}}}
    result = ExtractiveExtractor().extract([_page(text)], schema)
    assert result.data["parties"] == ["<ORGANIZATION_1>", "<PERSON_3>"]


def test_not_found_is_null_with_zero_confidence_and_reported_when_required(extractor):
    schema = {"type": "object", "required": ["iban"], "properties": {
        "iban": {"type": "string"}, "email": {"type": "string", "format": "email"}}}
    result = extractor.extract([_page("Nothing relevant in this text.")], schema)
    assert result.data == {"iban": None, "email": None}
    for ptr in ("/iban", "/email"):
        assert result.fields[ptr].value is None
        assert result.fields[ptr].confidence == 0
        assert result.fields[ptr].citations == ()
    assert not result.valid
    assert any("iban" in e["msg"] for e in result.errors)


def test_empty_document(extractor):
    result = extractor.extract([], CLAIM_SCHEMA)
    assert all(v.value is None for v in result.fields.values())


DOCS = [
    [_page(CLAIM_FR, boxes=True)],
    [_page(INVOICE_EN)],
    [_page(NDA_EN), _page(CLAIM_FR, number=2)],
]


@pytest.mark.parametrize("pages", DOCS)
def test_pointer_and_citation_invariants(extractor, pages):
    """Every leaf has a pointer into data; every non-null leaf is cited verbatim."""
    schema = {**CLAIM_SCHEMA, "properties": {**CLAIM_SCHEMA["properties"],
                                             "parties": {"type": "array", "items": {"type": "string"}}}}
    answer = extractor.extract(pages, schema).to_dict()
    assert check_citations(answer, pages) == []
    by_number = {p.number: p for p in pages}
    for ptr, entry in answer["fields"].items():
        node = answer["data"]
        for token in ptr.split("/")[1:]:
            node = node[int(token)] if isinstance(node, list) else node[token.replace("~1", "/").replace("~0", "~")]
        assert node == entry["value"]
        if entry["value"] is None:
            assert entry["confidence"] == 0 and entry["citations"] == []
        else:
            assert 0 < entry["confidence"] <= 1 and entry["citations"]
            for c in entry["citations"]:
                assert by_number[c["page"]].text[c["start"]:c["end"]] == c["quote"]


@pytest.mark.parametrize(
    ("name", "spec", "role"),
    [
        ("claim_date", {"type": "string"}, "date"),
        ("x", {"type": "string", "format": "date"}, "date"),
        ("amount_untaxed", {"type": "number"}, "money"),
        ("qty", {"type": "number"}, "quantity"),
        ("line_tax_percent", {"type": "number"}, "percent"),
        ("invoice_number", {"type": "string"}, "code"),
        ("jurisdiction", {"type": "string"}, "location"),
        ("party", {"type": "array", "items": {"type": "string"}}, "entity"),
        ("term", {"type": "string"}, "duration"),
        ("currency", {"type": "string"}, "currency"),
        ("iban", {"type": "string"}, "iban"),
        ("contact", {"type": "string", "format": "email"}, "email"),
        ("is_signed", {"type": "boolean"}, "boolean"),
        ("status", {"enum": ["a", "b"]}, "enum"),
        ("note", {"type": "string"}, "text"),
    ],
)
def test_role_of_a_field(name, spec, role):
    field = read_fields({"type": "object", "properties": {name: spec}}).properties[0]
    if field.type == "array":
        field = field.items.__class__(**{**field.items.__dict__, "name": name})
    assert role_of(field) == role


def test_build_extractor_defaults_to_extractive():
    assert isinstance(build_extractor(), ExtractiveExtractor)


def test_date_time_field_takes_the_time_written_beside_the_date(extractor):
    text = "Déclaration reçue le 17/03/2025.\nSinistre survenu le 14 mars 2025 à 14h30 au domicile."
    schema = {"type": "object", "properties": {
        "incident_time": {"type": "string", "format": "date-time", "description": "Date et heure du sinistre"}}}
    result = extractor.extract([_page(text)], schema)
    assert result.data["incident_time"] == "2025-03-14T14:30:00"
    assert result.fields["/incident_time"].citations[0].quote == "14 mars 2025 à 14h30"


INVOICE_FR = """SARL Papeterie Dumas
12 rue des Lilas, 69003 Lyon
SIREN 512 345 678 - SIRET 51234567800021 - TVA FR40512345678
Facture n° F-2025-0311
Date : 14/03/2025
Échéance : 13/04/2025
Désignation            Qté    P.U. HT     Montant HT
Ramette papier A4      10     4,50 €      45,00 €
Stylos bille (boîte)   2      6,25 €      12,50 €
Total HT : 57,50 €
TVA 20 % : 11,50 €
Total TTC : 69,00 €
IBAN : FR76 3000 6000 0112 3456 7890 189
"""


@pytest.mark.parametrize(
    ("name", "spec", "expected"),
    [
        ("invoice_number", {"type": "string"}, "F-2025-0311"),
        ("date", {"type": "string", "format": "date"}, "2025-03-14"),
        ("due_date", {"type": "string", "format": "date", "description": "Échéance"}, "2025-04-13"),
        ("total", {"type": "number"}, 69.0),
        ("total_untaxed", {"type": "number", "description": "Total HT"}, 57.5),
        ("vat_rate", {"type": "number", "description": "TVA %"}, 20.0),
        ("siren", {"type": "integer"}, 512345678),
        ("siret", {"type": "string"}, "51234567800021"),
        ("vat_number", {"type": "string"}, "FR40512345678"),
        ("iban", {"type": "string"}, "FR76 3000 6000 0112 3456 7890 189"),
        ("currency", {"type": "string"}, "EUR"),
        ("po_number", {"type": ["string", "null"]}, None),
    ],
)
def test_french_invoice_fields(extractor, name, spec, expected):
    result = extractor.extract([_page(INVOICE_FR)], {"type": "object", "properties": {name: spec}})
    assert result.data[name] == expected


def test_french_invoice_line_items(extractor):
    schema = {"type": "object", "properties": {"lines": {"type": "array", "items": {"type": "object", "properties": {
        "designation": {"type": "string"}, "qty": {"type": "integer"},
        "unit_price": {"type": "number"}, "amount": {"type": "number"}}}}}}
    result = extractor.extract([_page(INVOICE_FR)], schema)
    assert result.data["lines"] == [
        {"designation": "Ramette papier A4", "qty": 10, "unit_price": 4.5, "amount": 45.0},
        {"designation": "Stylos bille (boîte)", "qty": 2, "unit_price": 6.25, "amount": 12.5},
    ]


PSEUDONYMISED = """Déclaration de sinistre
Assuré : <PERSON_3>
Courriel : <EMAIL_ADDRESS_1>
Téléphone : <PHONE_NUMBER_2>
Adresse : <ADDRESS_4>
SIREN de l'employeur : <FR_SIREN_1>
Date de naissance : <DATE_OF_BIRTH_1>
IBAN : <IBAN_CODE_1>
Date du sinistre : 14 mars 2025
"""


@pytest.mark.parametrize(
    ("name", "spec", "expected"),
    [
        ("insured", {"type": "string", "description": "Assuré"}, "<PERSON_3>"),
        ("email", {"type": "string", "format": "email"}, "<EMAIL_ADDRESS_1>"),
        ("phone", {"type": "string"}, "<PHONE_NUMBER_2>"),
        ("address", {"type": "string"}, "<ADDRESS_4>"),
        ("employer_siren", {"type": "string"}, "<FR_SIREN_1>"),
        ("birth_date", {"type": "string", "description": "Date de naissance"}, "<DATE_OF_BIRTH_1>"),
        ("iban", {"type": "string"}, "<IBAN_CODE_1>"),
        ("claim_date", {"type": "string", "format": "date", "description": "Date du sinistre"}, "2025-03-14"),
        ("policy_number", {"type": ["string", "null"]}, None),  # a token of another kind is not a policy number
    ],
)
def test_pseudonymised_text_gives_tokens_of_the_right_kind(extractor, name, spec, expected):
    result = extractor.extract([_page(PSEUDONYMISED)], {"type": "object", "properties": {name: spec}})
    assert result.data[name] == expected


def _blocks_page(cells: list[str]) -> Page:
    """A page whose blocks are the given cells (as PDF text blocks come out)."""
    text, blocks, offset = "", [], 0
    for n, cell in enumerate(cells):
        blocks.append(Block(offset, offset + len(cell), (40.0, 40.0 + 15 * n, 200.0, 52.0 + 15 * n)))
        text += cell + "\n\n"
        offset = len(text)
    return Page(number=1, text=text, blocks=tuple(blocks))


def test_values_printed_above_their_labels(extractor):
    page = _blocks_page([
        "Muster GmbH\nHauptstraße 5",
        "4711-2025\nRechnungsnummer:",
        "880123\nKundennummer:",
        "3. März 2025\nRechnungsdatum:",
        "28. Februar 2025\nLieferdatum:",
    ])
    schema = {"type": "object", "properties": {
        "invoice_number": {"type": "string"}, "customer_number": {"type": "string"},
        "invoice_date": {"type": "string", "format": "date"}}}
    result = extractor.extract([page], schema)
    assert result.data == {"invoice_number": "4711-2025", "customer_number": "880123", "invoice_date": "2025-03-03"}


def test_a_column_of_labels_beside_a_column_of_values(extractor):
    text = "Booking ID\nGuest\nCheck In\n\nXK-55120\nA. Martin\n02/05/2024\n"
    schema = {"type": "object", "properties": {
        "booking_id": {"type": "string"}, "check_in": {"type": "string", "format": "date"}}}
    result = extractor.extract([_page(text)], schema)
    assert result.data == {"booking_id": "XK-55120", "check_in": "2024-05-02"}


def test_contract_written_the_english_way(extractor):
    text = (
        "CONFIDENTIALITY AGREEMENT\n"
        "THIS AGREEMENT is dated the 5th day of June, 2019 and is made between:\n"
        "(1) GLOBEX HOLDINGS LIMITED, a company incorporated in England (the \"Discloser\"); and\n"
        "(2) Initech Partners, L.L.C., a Texas limited liability company (the \"Recipient\").\n"
        "1. The Recipient shall keep the Information confidential for a period of ten (10) years.\n"
        "7. This Agreement shall continue in force for a period of three (3) years from the date hereof.\n"
        "8. This Agreement shall be governed by and construed in accordance with the laws of the State of Texas.\n"
    )
    schema = {"type": "object", "properties": {
        "effective_date": {"type": "string", "format": "date"},
        "party": {"type": "array", "items": {"type": "string"}, "description": "Parties of the contract"},
        "term": {"type": ["string", "null"], "description": "Length of the contract"},
        "jurisdiction": {"type": ["string", "null"]}}}
    assert extractor.extract([_page(text)], schema).data == {
        "effective_date": "2019-06-05",
        "party": ["GLOBEX HOLDINGS LIMITED", "Initech Partners, L.L.C."],
        "term": "3 years",
        "jurisdiction": "Texas",
    }


def test_dates_in_recitals_are_background(extractor):
    text = (
        "AMENDMENT AGREEMENT\n"
        "WHEREAS, Northwind Traders, Inc. and Contoso Labs LLC entered into a supply agreement dated as of "
        "March 1, 2010; and\n"
        "WHEREAS, the parties wish to amend it.\n"
        "NOW, THEREFORE, this Amendment (the \"Agreement\") is made and entered into as of June 5, 2012.\n"
    )
    schema = {"type": "object", "properties": {"effective_date": {"type": "string", "format": "date"}}}
    assert extractor.extract([_page(text)], schema).data == {"effective_date": "2012-06-05"}
