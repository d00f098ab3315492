"""Specification of the lexical sparse encoder (tokens, stable ids, BM25 weights)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from models.sparse import LexicalSparseEncoder, fold_accents, guess_language
from pipelines.ports import SparseEncoder

ENCODER = LexicalSparseEncoder()


def test_implements_the_port() -> None:
    assert isinstance(ENCODER, SparseEncoder)
    assert ENCODER.name == "bm25-lexical"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Le contrat d'assurance", ["contrat", "assur"]),
        ("Les contrats d’assurances", ["contrat", "assur"]),  # plural, curly apostrophe
        ("Le ÉCUYER et un écuyer", ["ecui", "ecui"]),  # case and accents folded
        ("The insurance policies", ["insur", "polici"]),
        ("Le montant est de 1.250,00 EUR", ["mont", "125000", "eur"]),
        ("Amount: 1,250.00 EUR", ["amount", "125000", "eur"]),
        ("Il a payé le 03/01/2024", ["pay", "3", "1", "2024"]),  # numbers kept, no leading zeros
        ("montant", ["mont", "montant"]),  # no stop word to tell the language: both stems
        ("<PERSON_3> a signé", ["<person_3>", "sign"]),  # pseudonyms stay whole
        ("de la et le les", []),  # only stop words
        ("", []),
    ],
)
def test_document_tokens(text: str, expected: list[str]) -> None:
    assert ENCODER.tokens(text) == expected


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("Le contrat est signé par les parties.", "fr"),
        ("The contract is signed by the parties.", "en"),
        ("12 345 678", None),
    ],
)
def test_guess_language(text: str, language: str | None) -> None:
    assert guess_language(fold_accents(text).split()) == language


def test_query_matches_document_whatever_the_stemming_language() -> None:
    document = ENCODER.encode_documents(["Les assurances couvrent les dommages."])[0]
    query = ENCODER.encode_query("dommages")  # too short to tell the language
    assert set(query.indices) & set(document.indices)


def test_vectors_are_sorted_unique_and_31_bit() -> None:
    (vector,) = ENCODER.encode_documents(["contrat contrat police 2024 assurance contrat"])
    assert list(vector.indices) == sorted(set(vector.indices))
    assert all(0 <= i < 2**31 for i in vector.indices)
    assert len(vector.indices) == len(vector.values) == 4


def test_bm25_weights_saturate_and_normalise_length() -> None:
    one, three, long = ENCODER.encode_documents(
        ["contrat", "contrat contrat contrat", "contrat " + "police " * 200]
    )
    term = ENCODER.term_id("contrat")
    weight = {
        name: dict(zip(v.indices, v.values))[term] for name, v in [("1", one), ("3", three), ("long", long)]
    }
    assert weight["1"] < weight["3"] < (ENCODER.k1 + 1)  # grows with tf, bounded
    assert weight["long"] < weight["1"]  # same tf in a longer passage weighs less


def test_query_weights_are_binary() -> None:
    query = ENCODER.encode_query("contrat contrat police")
    assert set(query.values) == {1.0}


def test_term_ids_are_stable_across_processes() -> None:
    # Python's hash() is salted per process; the index must not depend on it.
    code = "from models.sparse import LexicalSparseEncoder as E; print(E.term_id('contrat'))"
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert int(other.stdout) == LexicalSparseEncoder.term_id("contrat")


@pytest.mark.parametrize(("word", "other", "one_edit"), [
    ("carageenan", "carrageenan", True),   # insertion
    ("infleunza", "influenza", True),      # swap of neighbours
    ("concamitant", "concomitant", True),  # substitution
    ("recouvrement", "recouvremen", True),  # deletion
    ("carageenan", "carageenan", False),   # itself
    ("carageenan", "karagenan", False),    # two edits
])
def test_one_edit_variants(word: str, other: str, one_edit: bool) -> None:
    from models.sparse import one_edit_variants

    assert (other in one_edit_variants(word)) is one_edit


def test_respellings_query_the_long_stems_only() -> None:
    from models.sparse import LexicalSparseEncoder, one_edit_variants

    encoder = LexicalSparseEncoder()
    query = encoder.encode_respellings(["carageenan", "spray"])  # "spray": too short to respell
    ids = set(query.indices)
    assert encoder.term_id("carrageenan") in ids
    assert encoder.term_id("spra") not in ids and encoder.term_id("sprays") not in ids
    assert len(ids) == len({encoder.term_id(v) for v in one_edit_variants("carageenan")})
    assert set(query.values) == {1.0}
