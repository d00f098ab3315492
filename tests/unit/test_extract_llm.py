"""LLM extractor with a scripted generator: every value must be found in the text."""

import pytest

from pipelines.extract import LLMExtractor, build_extractor, check_citations
from pipelines.types import Page

TEXT = """Déclaration de sinistre
Numéro de police : AB-123
Date du sinistre : 14 mars 2025
Assuré : Jean Dupont
Montant réclamé : 1 250,00 €
Articles : Téléviseur 800,00 € ; Canapé 450,00 €
"""
PAGES = [Page(number=1, text=TEXT)]
SCHEMA = {
    "type": "object",
    "required": ["policy_number"],
    "properties": {
        "policy_number": {"type": "string"},
        "claim_date": {"type": "string", "format": "date"},
        "amount": {"type": "number"},
        "insured": {"type": "string"},
        "items": {"type": "array", "items": {"type": "object", "properties": {
            "name": {"type": "string"}, "price": {"type": "number"}}}},
    },
}


class ScriptedGenerator:
    name = "scripted"
    version = "0"

    def __init__(self, output):
        self.output = output
        self.prompts: list[tuple[str, dict]] = []

    def complete_json(self, prompt, schema):
        self.prompts.append((prompt, schema))
        if isinstance(self.output, Exception):
            raise self.output
        return self.output


def test_located_values_are_cited_and_normalised_forms_found():
    gen = ScriptedGenerator({
        "policy_number": "AB-123", "claim_date": "2025-03-14", "amount": 1250,
        "insured": "jean  dupont", "items": [{"name": "Canapé", "price": 450}]})
    result = LLMExtractor(gen).extract(PAGES, SCHEMA)
    assert result.data == {"policy_number": "AB-123", "claim_date": "2025-03-14", "amount": 1250.0,
                           "insured": "Jean Dupont", "items": [{"name": "Canapé", "price": 450.0}]}
    assert result.fields["/claim_date"].citations[0].quote == "14 mars 2025"
    assert result.fields["/amount"].citations[0].quote == "1 250,00 €"
    assert result.fields["/items/0/price"].citations[0].quote == "450,00 €"
    assert result.valid and result.errors == []
    assert result.generator_info == {"name": "scripted", "version": "0"}
    assert check_citations(result.to_dict(), PAGES) == []


@pytest.mark.parametrize(
    ("output", "pointer"),
    [
        ({"policy_number": "ZZ-999"}, "/policy_number"),  # invented identifier
        ({"policy_number": "AB-123", "claim_date": "2024-01-01"}, "/claim_date"),  # a date not in the text
        ({"policy_number": "AB-123", "amount": 99.5}, "/amount"),  # an amount not in the text
        ({"policy_number": "AB-123", "items": [{"name": "Réfrigérateur", "price": 800}]}, "/items/0/name"),
    ],
)
def test_unlocated_values_are_nulled_and_reported(output, pointer):
    result = LLMExtractor(ScriptedGenerator(output)).extract(PAGES, SCHEMA)
    assert result.fields[pointer].value is None
    assert result.fields[pointer].confidence == 0
    assert any(e["loc"] == pointer for e in result.errors)
    assert not result.valid


@pytest.mark.parametrize("output", ["not json at all", ["a", "list"], ValueError("the model did not return JSON")])
def test_unusable_output_gives_nulls_and_an_error(output):
    result = LLMExtractor(ScriptedGenerator(output)).extract(PAGES, SCHEMA)
    assert all(f.value is None for f in result.fields.values())
    assert result.errors and result.errors[0]["loc"] == "/"


def test_the_generator_sees_a_nullable_schema_and_the_document():
    gen = ScriptedGenerator({})
    LLMExtractor(gen).extract(PAGES, SCHEMA)
    prompt, schema = gen.prompts[0]
    assert "AB-123" in prompt
    assert schema["properties"]["claim_date"]["type"] == ["string", "null"]
    assert "format" not in schema["properties"]["claim_date"]


def test_long_documents_are_cut_to_the_budget():
    pages = [Page(number=n, text=("filler text " * 400) + ("\nNuméro de police : AB-123\n" if n == 9 else ""))
             for n in range(1, 11)]
    gen = ScriptedGenerator({"policy_number": "AB-123"})
    result = LLMExtractor(gen, max_document_chars=6000).extract(pages, SCHEMA)
    assert len(gen.prompts[0][0]) < 6000 + 3000  # the schema and instructions come on top
    assert "AB-123" in gen.prompts[0][0]  # the passage that names the field is kept
    assert result.fields["/policy_number"].citations[0].page == 9


def test_build_extractor_with_a_generator():
    assert isinstance(build_extractor(generator=ScriptedGenerator({})), LLMExtractor)


@pytest.mark.parametrize(
    "output",
    [
        {"amount": "douze"},
        {"amount": True},
        {"amount": [1250]},
        {"items": "Canapé"},
        {"items": [1, None, "x", {"name": {"nested": 1}}]},
        {"policy_number": {"value": "AB-123"}},
        {"claim_date": "14 mars 2025"},  # a date as the document writes it is located too
        {"insured": ""},
        {"unknown_key": "AB-123"},
    ],
)
def test_malformed_values_never_crash_and_never_go_uncited(output):
    result = LLMExtractor(ScriptedGenerator(output)).extract(PAGES, SCHEMA)
    answer = result.to_dict()
    assert check_citations(answer, PAGES) == []
    assert set(answer["data"]) == set(SCHEMA["properties"])
    if "claim_date" in output:
        assert answer["data"]["claim_date"] == "2025-03-14"


@pytest.mark.parametrize(
    ("window", "max_tokens", "expected"),
    [(None, None, 12000), (4096, 256, 7920), (2048, 512, 2000), (128000, 1024, 24000)],
)
def test_prompt_budget_follows_the_generator_context(window, max_tokens, expected):
    gen = ScriptedGenerator({})
    if window is not None:
        gen.context_window, gen.max_tokens = window, max_tokens
    assert LLMExtractor(gen).max_document_chars == expected


@pytest.mark.parametrize(
    ("output", "pointer"),
    [
        ({"claim_date": ","}, "/claim_date"),  # punctuation occurs in the text but is no date
        ({"claim_date": "Assuré"}, "/claim_date"),  # a word of the text is no date either
        ({"insured": " - "}, "/insured"),
    ],
)
def test_typed_fields_are_located_only_as_their_type(output, pointer):
    result = LLMExtractor(ScriptedGenerator(output)).extract(PAGES, SCHEMA)
    assert result.fields[pointer].value is None


def test_repeated_list_values_are_kept_once():
    schema = {"type": "object", "properties": {"people": {"type": "array", "items": {"type": "string"}}}}
    result = LLMExtractor(ScriptedGenerator({"people": ["Jean Dupont", "JEAN DUPONT", "Nobody"]})).extract(PAGES, schema)
    assert result.data["people"] == ["Jean Dupont"]
    assert set(result.fields) == {"/people/0"}
