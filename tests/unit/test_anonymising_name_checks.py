"""Consistency checks on lone words the NER calls persons (no model needed)."""

from __future__ import annotations

import pytest

from pipelines.anonymising.detector import (
    _lower_case_elsewhere,
    _name_prefix_end,
    _names_in_lists,
    _ner_label_votes,
    _rare_word,
    _repeated_names,
)
from pipelines.types import PiiEntity

NER = "SpacyRecognizer"


@pytest.mark.parametrize(
    "text, word, expected",
    [
        ("Carrageenan is a polymer. The carrageenan dose was low.", "Carrageenan", True),
        ("Adenovirus vectors work. Most adenovirus-based vaccines fail.", "Adenovirus", True),
        ("Brown signed. Brown paid.", "Brown", False),
        ("Brownie signed. The brown car.", "Brownie", False),  # a whole word, not a prefix
        ("RNA was extracted. The rna pellet.", "RNA", False),  # acronyms are not judged this way
    ],
)
def test_lower_case_elsewhere(text, word, expected):
    assert _lower_case_elsewhere(text, word) is expected


@pytest.mark.parametrize(
    "word, expected",
    [("Carrageenan", True), ("Adenovirus", True), ("Brown", False), ("Petit", False), ("Boulanger", False)],
)
def test_rare_word(word, expected):
    assert _rare_word(word) is expected


def test_label_votes_count_single_words_from_the_ner_only():
    text = "Drugo cured. Drugo helped. Drugo failed. Anna Smith came. Drugo won."
    found = [
        ("PERSON", 0, 5, 0.85, NER),
        ("LOCATION", 13, 18, 0.85, NER),
        ("LOCATION", 27, 32, 0.85, NER),
        ("PERSON", 41, 51, 0.85, NER),  # two words: not voted on
        ("PERSON", 58, 63, 0.6, "second opinion"),  # another recogniser: not a vote
    ]
    assert [text[s:e] for _, s, e, _, _ in found] == ["Drugo", "Drugo", "Drugo", "Anna Smith", "Drugo"]
    assert _ner_label_votes(text, found) == {"Drugo": (1, 2)}


def test_a_civility_cue_outscores_the_ner_on_the_same_span():
    """Presidio keeps one of two results with the same span and score in hash order:
    "M. Petit" found by both the cue and the NER must come out as the cue's result
    (the NER's is then filtered by guards meant for statistical guesses)."""
    import inspect

    from presidio_analyzer.predefined_recognizers import SpacyRecognizer

    from pipelines.anonymising.fr_pack import NAME_CUE_PATTERNS

    ner_strength = inspect.signature(SpacyRecognizer.__init__).parameters["ner_strength"].default
    civility = next(p for p in NAME_CUE_PATTERNS if p.name == "civility then name")
    assert civility.score > ner_strength


@pytest.mark.parametrize(
    "span, name",
    [
        ("Pierre Dupont de l'Étang", "Pierre Dupont de l'Étang"),
        ("Charles d’Artagnan", "Charles d’Artagnan"),
        ("Jean de La Fontaine", "Jean de La Fontaine"),
        ("Boner c. Royaume-Uni", "Boner"),
        # a name never ends on a particle: its last word would pass for a surname
        ("Pierre Dupont de l'armée", "Pierre Dupont"),
        ("Marie Curie de", "Marie Curie"),
        ("Ruiz\nDate", "Ruiz"),
    ],
)
def test_a_ner_span_is_cut_after_its_last_name_word(span, name):
    text = f"Selon {span} et les autres."
    start = text.index(span)
    assert text[start : _name_prefix_end(text, start, start + len(span))] == name


def _person(text: str, value: str) -> PiiEntity:
    start = text.index(value)
    return PiiEntity("PERSON", start, start + len(value), 0.85)


@pytest.mark.parametrize(
    "text, detected, votes, expected",
    [
        ("Les juges Raimondi, Nicolaou et Bianku.", "Raimondi", {}, ["Nicolaou", "Bianku"]),
        # the NER calls the other item a place in most of the text: a drug, not a name
        ("The NI (Oseltamivir and Zanamivir worldwide).", "Oseltamivir", {"Zanamivir": (1, 4)}, []),
        # too few votes to overrule the list
        ("The NI (Oseltamivir and Zanamivir worldwide).", "Oseltamivir", {"Zanamivir": (0, 2)}, ["Zanamivir"]),
    ],
)
def test_names_in_lists(text, detected, votes, expected):
    found = _names_in_lists(text, [_person(text, detected)], votes)
    assert [text[e.start : e.end] for e in found] == expected


@pytest.mark.parametrize(
    "text, detected, votes, expected",
    [
        ("Jean DUPONT a signé. DUPONT a payé. Jean est venu.", "Jean DUPONT", {}, ["DUPONT", "Jean"]),
        # an acronym of three letters or fewer is not propagated as a name on its own
        ("Use the RNA Kit. RNA was extracted.", "RNA Kit", {}, []),
        # nor a word the NER labels something else in most of the text
        ("Green Mix was used. Mix well.", "Green Mix", {"Mix": (1, 3)}, []),
        # ... unless it is a rare word: a surname the NER calls a place on its own
        ("Jean de Poutrincourt part. Poutrincourt obtient.", "Jean de Poutrincourt", {"Poutrincourt": (0, 3)},
         ["Poutrincourt"]),
    ],
)
def test_repeated_names(text, detected, votes, expected):
    found = _repeated_names(text, [_person(text, detected)], votes)
    assert sorted(text[e.start : e.end] for e in found) == sorted(expected)
