"""The consistency rule (``pipelines.anonymising.normalise``), for both token stores.

1. Same type + same normal form -> same token (case, accents, spaces, punctuation,
   civilities for persons; separators for identifiers; E.164 for phones).
2. A lone surname after a full name in the same document -> the full name's token,
   unless several full names of the document end with it.
"""

from __future__ import annotations

import os

import pytest
import sqlalchemy as sa

from pipelines.anonymising import InMemoryTokenStore, Vault
from pipelines.anonymising.normalise import normalise_value


@pytest.mark.parametrize(
    "entity_type, a, b",
    [
        ("PERSON", "Jean Dupont", "jean dupont"),
        ("PERSON", "Jean Dupont", "JEAN  DUPONT"),
        ("PERSON", "Jean Dupont", "M. Jean Dupont"),
        ("PERSON", "Hélène Lefèvre", "Mme Helene LEFEVRE"),
        ("PERSON", "Jean-Pierre Dupont", "Jean Pierre Dupont"),
        ("PERSON", "Dr Lemarchand", "Lemarchand"),
        ("PERSON", "Maître Durand", "Durand"),
        ("PERSON", "Mr. John Smith", "john smith"),
        ("PHONE_NUMBER", "06 12 34 56 78", "+33 6 12 34 56 78"),
        ("PHONE_NUMBER", "06.12.34.56.78", "0612345678"),
        ("IBAN_CODE", "FR76 3000 6000 0112 3456 7890 189", "fr7630006000011234567890189"),
        ("FR_NIR", "1 85 05 78 006 084 91", "185057800608491"),
        ("EMAIL_ADDRESS", "Jean.Dupont@Exemple.fr", "jean.dupont@exemple.fr"),
        ("ADDRESS", "12 rue de la Paix, 75002 Paris", "12 Rue de la Paix 75002 PARIS"),
    ],
)
def test_same_normal_form(entity_type, a, b):
    assert normalise_value(entity_type, a) == normalise_value(entity_type, b)


@pytest.mark.parametrize(
    "entity_type, a, b",
    [
        ("PERSON", "Jean Dupont", "Marie Dupont"),
        ("PERSON", "Jean Dupont", "Jean Dupond"),
        ("PHONE_NUMBER", "06 12 34 56 78", "06 12 34 56 79"),
        ("FR_SIREN", "732 829 320", "552 100 554"),
    ],
)
def test_different_normal_form(entity_type, a, b):
    assert normalise_value(entity_type, a) != normalise_value(entity_type, b)


@pytest.fixture(params=["memory", "vault"])
def store(request):
    if request.param == "memory":
        return InMemoryTokenStore()
    return Vault(sa.create_engine("sqlite://"), os.urandom(32)).scope("acme", "claims")


def tokens(store, values, document_id="doc-1"):
    return store.tokens_for([("PERSON", v) for v in values], document_id)


@pytest.mark.parametrize(
    "mentions, expected",
    [
        # rule 1
        (["Jean Dupont", "M. Jean DUPONT", "jean dupont"], ["<PERSON_1>"] * 3),
        (["Hélène Lefèvre", "Mme Helene Lefevre"], ["<PERSON_1>"] * 2),
        # rule 2: surname alone after the full name, with or without civility
        (["Jean Dupont", "Dupont", "M. Dupont"], ["<PERSON_1>"] * 3),
        (["Jean Dupont", "Marie Curie", "Mme Curie", "DUPONT"], ["<PERSON_1>", "<PERSON_2>", "<PERSON_2>", "<PERSON_1>"]),
        # rule 2 needs the full name first: a surname before it is a mention of its own
        (["Dupont", "Jean Dupont"], ["<PERSON_1>", "<PERSON_2>"]),
        # ambiguous surname: two full names end with it
        (["Jean Dupont", "Marie Dupont", "Dupont"], ["<PERSON_1>", "<PERSON_2>", "<PERSON_3>"]),
        # a first name alone is not a surname
        (["Jean Dupont", "Jean"], ["<PERSON_1>", "<PERSON_2>"]),
    ],
)
def test_consistency_within_a_document(store, mentions, expected):
    assert tokens(store, mentions) == expected


def test_surname_rule_does_not_cross_documents(store):
    assert tokens(store, ["Jean Dupont"], "doc-1") == ["<PERSON_1>"]
    assert tokens(store, ["Dupont"], "doc-2") == ["<PERSON_2>"]
    # the full name itself is the same person in every document of the collection
    assert tokens(store, ["JEAN DUPONT", "Dupont"], "doc-3") == ["<PERSON_1>", "<PERSON_1>"]


def test_surname_rule_spans_calls_of_the_same_document(store):
    # pages are pseudonymised one call at a time
    assert tokens(store, ["Jean Dupont"], "doc-1") == ["<PERSON_1>"]
    assert tokens(store, ["Dupont"], "doc-1") == ["<PERSON_1>"]


def test_counters_are_per_type(store):
    got = store.tokens_for(
        [("PERSON", "Jean Dupont"), ("EMAIL_ADDRESS", "a@b.fr"), ("PERSON", "Marie Curie"), ("EMAIL_ADDRESS", "A@B.FR")],
        "doc-1",
    )
    assert got == ["<PERSON_1>", "<EMAIL_ADDRESS_1>", "<PERSON_2>", "<EMAIL_ADDRESS_1>"]


def test_lookup_never_creates(store):
    tokens(store, ["Jean Dupont"])
    assert store.lookup("PERSON", "jean  DUPONT") == "<PERSON_1>"
    assert store.lookup("PERSON", "Dupont") == "<PERSON_1>"  # unique surname in the scope
    assert store.lookup("PERSON", "Marie Curie") is None
    assert tokens(store, ["Marie Curie"]) == ["<PERSON_2>"]  # number 2: lookup took none


@pytest.mark.parametrize(
    "full_name, lone_word, expected",
    [
        ("Pierre Dupont de l'Étang", "Étang", "<PERSON_1>"),
        ("Jean de La Fontaine", "Fontaine", "<PERSON_1>"),
        # a particle is never a surname, even where a span ends with one
        ("Pierre Dupont de", "De", None),
        ("Pierre Dupont de", "Dupont", "<PERSON_1>"),
        ("Ludwig van", "Van", None),
    ],
)
def test_lookup_of_a_lone_word_takes_the_last_word_that_is_no_particle(store, full_name, lone_word, expected):
    tokens(store, [full_name])
    assert store.lookup("PERSON", lone_word) == expected


def test_reveal(store):
    tokens(store, ["Jean Dupont", "M. Dupont"])
    assert store.reveal("<PERSON_1> a signé ; <PERSON_7> non.") == "Jean Dupont a signé ; <PERSON_7> non."
