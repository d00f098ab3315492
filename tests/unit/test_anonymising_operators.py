"""Operators, offset maps and page remapping, with a fake detector (no model).

The fake detector reports every occurrence of a fixed table of values; what is under
test is what happens after detection.
"""

from __future__ import annotations

import hashlib
import hmac
import re

import pytest

from pipelines.anonymising import (
    Anonymiser,
    InMemoryTokenStore,
    anonymise_page,
    apply_replacements,
    hash_token,
)
from pipelines.anonymising.normalise import normalise_value
from pipelines.ports import Anonymiser as AnonymiserPort
from pipelines.types import Block, OffsetMap, Page, PiiEntity


class TableDetector:
    """Reports each occurrence of the table's values (longest first, no overlaps)."""

    def __init__(self, table: dict[str, str]):
        self.table = table

    def detect_language(self, text: str) -> str:
        return "fr"

    def detect(self, text, language=None, *, entities=None):
        found: list[PiiEntity] = []
        for value in sorted(self.table, key=len, reverse=True):
            for m in re.finditer(re.escape(value), text):
                if all(m.end() <= e.start or m.start() >= e.end for e in found):
                    found.append(PiiEntity(self.table[value], m.start(), m.end(), 0.9))
        if entities is not None:
            found = [e for e in found if e.type in set(entities)]
        return sorted(found, key=lambda e: e.start)


TABLE = {
    "Jean Dupont": "PERSON",
    "M. Dupont": "PERSON",
    "jean.dupont@exemple.fr": "EMAIL_ADDRESS",
    "06 12 34 56 78": "PHONE_NUMBER",
    "Marie Curie": "PERSON",
}
TEXT = "Jean Dupont (jean.dupont@exemple.fr, 06 12 34 56 78) a écrit. M. Dupont signe."


@pytest.fixture()
def anonymiser() -> Anonymiser:
    return Anonymiser(TableDetector(TABLE), hash_key=b"k" * 32)


def test_anonymiser_implements_the_port(anonymiser):
    assert isinstance(anonymiser, AnonymiserPort)


@pytest.mark.parametrize(
    "operator, expected",
    [
        ("pseudonymise", "<PERSON_1> (<EMAIL_ADDRESS_1>, <PHONE_NUMBER_1>) a écrit. <PERSON_1> signe."),
        ("redact", "<PERSON> (<EMAIL_ADDRESS>, <PHONE_NUMBER>) a écrit. <PERSON> signe."),
        (
            "mask",
            "*********** (**********************, **************) a écrit. ********* signe.",
        ),
    ],
)
def test_operators(anonymiser, operator, expected):
    assert anonymiser.anonymise(TEXT, operator=operator).text == expected


def test_hash_operator_is_a_keyed_hmac_of_the_normalised_value(anonymiser):
    result = anonymiser.anonymise(TEXT, operator="hash")
    digest = hmac.new(b"k" * 32, b"PERSON\x1fjean dupont", hashlib.sha256).hexdigest()[:12]
    assert result.entities[0].replacement == f"<PERSON:{digest}>"
    # same person, same hash; another key, another hash; never the plain SHA-256
    assert hash_token("PERSON", "JEAN  DUPONT", b"k" * 32) == f"<PERSON:{digest}>"
    assert hash_token("PERSON", "Jean Dupont", b"x" * 32) != f"<PERSON:{digest}>"
    assert hashlib.sha256(b"jean dupont").hexdigest()[:12] != digest


def test_unknown_operator_is_refused(anonymiser):
    with pytest.raises(ValueError):
        anonymiser.anonymise(TEXT, operator="shuffle")


def test_entities_restrict_what_is_replaced(anonymiser):
    result = anonymiser.anonymise(TEXT, operator="redact", entities={"PHONE_NUMBER"})
    assert result.text == "Jean Dupont (jean.dupont@exemple.fr, <PHONE_NUMBER>) a écrit. M. Dupont signe."


def test_result_entities_carry_original_offsets_and_replacements(anonymiser):
    result = anonymiser.anonymise(TEXT)
    assert [(TEXT[e.start : e.end], e.replacement) for e in result.entities] == [
        ("Jean Dupont", "<PERSON_1>"),
        ("jean.dupont@exemple.fr", "<EMAIL_ADDRESS_1>"),
        ("06 12 34 56 78", "<PHONE_NUMBER_1>"),
        ("M. Dupont", "<PERSON_1>"),
    ]


# Offset maps ---------------------------------------------------------------------------

ORIGINAL = "Hi Jean Dupont, call 06 12 34 56 78 now."
#           0123456789012345678901234567890123456789
ENTITIES = [
    PiiEntity("PERSON", 3, 14, 1.0, "<P_1>"),
    PiiEntity("PHONE_NUMBER", 21, 35, 1.0, "<PH_1>"),
]
NEW = "Hi <P_1>, call <PH_1> now."
#      0123456789012345678901234


def test_apply_replacements_builds_the_segments():
    text, offsets = apply_replacements(ORIGINAL, ENTITIES)
    assert text == NEW
    assert offsets.segments == ((3, 8, 3, 14), (15, 21, 21, 35))


@pytest.mark.parametrize(
    "new_offset, is_end, expected_original",
    [
        (0, False, 0),  # before any replacement
        (3, False, 3),  # at a token start
        (5, False, 3),  # inside a token -> original value start
        (5, True, 14),  # inside a token, as an end -> original value end
        (8, False, 14),  # right after a token -> shifted by the length change
        (8, True, 14),
        (10, False, 16),  # between tokens
        (15, False, 21),
        (18, True, 35),
        (21, False, 35),
        (len(NEW), False, len(ORIGINAL)),  # end of text
    ],
)
def test_to_original(new_offset, is_end, expected_original):
    _, offsets = apply_replacements(ORIGINAL, ENTITIES)
    assert offsets.to_original(new_offset, is_end=is_end) == expected_original


@pytest.mark.parametrize(
    "orig_offset, is_end, expected_new",
    [(0, False, 0), (3, False, 3), (6, False, 3), (6, True, 8), (14, False, 8), (16, False, 10), (35, False, 21), (len(ORIGINAL), False, len(NEW))],
)
def test_to_new_offset_is_the_inverse(orig_offset, is_end, expected_new):
    _, offsets = apply_replacements(ORIGINAL, ENTITIES)
    assert offsets.to_new(orig_offset, is_end=is_end) == expected_new


def test_every_span_of_the_new_text_maps_to_a_span_covering_the_same_content():
    text, offsets = apply_replacements(ORIGINAL, ENTITIES)
    for start in range(len(text) + 1):
        for end in range(start, len(text) + 1):
            o_start = offsets.to_original(start)
            o_end = offsets.to_original(end, is_end=True)
            assert 0 <= o_start <= o_end <= len(ORIGINAL)
            # Outside tokens the texts agree character for character.
            if not any(ns < end and start < ne for ns, ne, _, _ in offsets.segments):
                assert ORIGINAL[o_start:o_end] == text[start:end]


def test_identity_map():
    assert OffsetMap.identity().to_original(7) == 7


def test_overlapping_entities_are_refused():
    with pytest.raises(ValueError):
        apply_replacements("abcdef", [PiiEntity("X", 0, 3, 1, "x"), PiiEntity("X", 2, 4, 1, "y")])


# Pages ------------------------------------------------------------------------------------


def test_anonymise_page_remaps_blocks_and_keeps_chunk_invariant(anonymiser):
    text = "Jean Dupont\nécrit à Marie Curie.\nFin."
    page = Page(2, text, (Block(0, 11, (0, 0, 10, 1)), Block(12, 32, (0, 1, 10, 2)), Block(33, 37, (0, 2, 10, 3))))
    new_page, result = anonymise_page(page, anonymiser, document_id="doc-1")
    assert new_page.number == 2
    assert new_page.text == result.text == "<PERSON_1>\nécrit à <PERSON_2>.\nFin."
    assert [(b.start, b.end) for b in new_page.blocks] == [(0, 10), (11, 30), (31, 35)]
    assert [new_page.text[b.start : b.end] for b in new_page.blocks] == ["<PERSON_1>", "écrit à <PERSON_2>.", "Fin."]
    assert [b.bbox for b in new_page.blocks] == [b.bbox for b in page.blocks]
    # a chunk cut from the new page maps back onto the original passage
    start, end = new_page.text.index("écrit"), len(new_page.text)
    o_start, o_end = result.offsets.to_original(start), result.offsets.to_original(end, is_end=True)
    assert text[o_start:o_end] == "écrit à Marie Curie.\nFin."


def test_block_boundary_inside_a_value_keeps_the_whole_token_in_the_block(anonymiser):
    text = "Jean Dupont"
    page = Page(1, text, (Block(0, 4, (0, 0, 1, 1)), Block(5, 11, (1, 0, 2, 1))))
    new_page, _ = anonymise_page(page, anonymiser)
    assert [(b.start, b.end) for b in new_page.blocks] == [(0, 10), (0, 10)]


def test_request_local_pseudonyms_are_consistent_within_a_call_only(anonymiser):
    first = anonymiser.anonymise("Marie Curie puis Jean Dupont").text
    second = anonymiser.anonymise("Jean Dupont").text
    assert first == "<PERSON_1> puis <PERSON_2>"
    assert second == "<PERSON_1>"


def test_a_store_makes_pseudonyms_consistent_across_calls():
    store = InMemoryTokenStore()
    anonymiser = Anonymiser(TableDetector(TABLE), store)
    assert anonymiser.anonymise("Marie Curie").text == "<PERSON_1>"
    assert anonymiser.anonymise("Jean Dupont et Marie Curie").text == "<PERSON_2> et <PERSON_1>"
    assert store.reveal("<PERSON_2> et <PERSON_1>, <PERSON_9>") == "Jean Dupont et Marie Curie, <PERSON_9>"


def test_query_pseudonymisation_uses_known_tokens_and_never_creates():
    store = InMemoryTokenStore()
    anonymiser = Anonymiser(TableDetector(TABLE), store)
    anonymiser.anonymise("Jean Dupont", document_id="d")
    result = anonymiser.anonymise_query("Que dit Jean Dupont à Marie Curie ?")
    assert result.text == "Que dit <PERSON_1> à <PERSON> ?"
    assert store.lookup("PERSON", "Marie Curie") is None


@pytest.mark.parametrize(
    "question, asked, searched",
    [
        # known: the token in both; unknown: redacted for the record, as written for search
        ("Que dit Jean Dupont à Marie Curie ?", "Que dit <PERSON_1> à <PERSON> ?", "Que dit <PERSON_1> à Marie Curie ?"),
        ("Le téléphone 06 12 34 56 78 ?", "Le téléphone <PHONE_NUMBER> ?", "Le téléphone 06 12 34 56 78 ?"),
        ("Rien à cacher ?", "Rien à cacher ?", "Rien à cacher ?"),
    ],
)
def test_question_texts_redact_unknown_values_only_for_the_record(question, asked, searched):
    store = InMemoryTokenStore()
    anonymiser = Anonymiser(TableDetector(TABLE), store)
    anonymiser.anonymise("Jean Dupont", document_id="d")
    got = anonymiser.question_texts(question)
    assert (got[0].text, got[1].text) == (asked, searched)
    assert got[0].text == anonymiser.anonymise_query(question).text
    assert store.lookup("PERSON", "Marie Curie") is None and store.lookup("PHONE_NUMBER", "06 12 34 56 78") is None


def test_aliases_map_each_known_token_to_the_value_as_the_question_writes_it():
    store = InMemoryTokenStore()
    anonymiser = Anonymiser(TableDetector(TABLE), store)
    anonymiser.anonymise("Jean Dupont", document_id="d")
    question = "Que dit Jean Dupont à Marie Curie ?"
    _, searched = anonymiser.question_texts(question)
    # Marie Curie is unknown: searched as written, no alias needed
    assert anonymiser.aliases(question, searched) == {"<PERSON_1>": "Jean Dupont"}
    # the three forms an ask passes to the answerer, from one detection
    assert anonymiser.question_forms(question) == (
        "Que dit <PERSON_1> à <PERSON> ?", "Que dit <PERSON_1> à Marie Curie ?", {"<PERSON_1>": "Jean Dupont"})


def test_query_finds_vault_names_the_detector_missed():
    store = InMemoryTokenStore()
    Anonymiser(TableDetector(TABLE), store).anonymise("Jean Dupont", document_id="d")
    blind = Anonymiser(TableDetector({}), store)
    assert blind.anonymise_query("Où habite Dupont ?").text == "Où habite <PERSON_1> ?"
    assert blind.anonymise_query("et JEAN DUPONT ?").text == "et <PERSON_1> ?"


def test_normalised_value_is_what_the_hash_covers():
    assert normalise_value("PERSON", "M. Jean-Pierre DUPONT") == "jean pierre dupont"


@pytest.mark.parametrize(
    "names, ok",
    [({"PERSON", "IBAN_CODE"}, True), ({"LOCATION"}, True), ({"PERSON", "SHOE_SIZE"}, False), (set(), True)],
)
def test_check_entities(names, ok):
    from pipelines.anonymising import check_entities
    from pipelines.errors import InvalidRequest

    if ok:
        assert check_entities(names) == frozenset(names)
    else:
        with pytest.raises(InvalidRequest) as error:
            check_entities(names)
        assert "SHOE_SIZE" in str(error.value)


@pytest.mark.parametrize(
    "text, expected",
    [
        ("a huge Ingrid Vasquez fan", ["Ingrid Vasquez"]),
        ("signé par Mme Ingrid Vasquez", ["Mme Ingrid Vasquez"]),
        ("written by Ingrid T. Vasquez", ["Ingrid T. Vasquez"]),
        ("meet at Ingrid Street", []),  # a street named after someone
        ("Ingrid The", []),  # stop word
        ("Mardi Gras", []),  # not in the lexicon
    ],
)
def test_first_name_pairs(text, expected):
    from pipelines.anonymising.detector import _first_name_pairs

    found = _first_name_pairs(text, [], frozenset({"ingrid"}))
    assert [text[e.start : e.end] for e in found] == expected


def test_first_name_lexicon_loads_when_installed():
    pytest.importorskip("gender_guesser")
    from pipelines.anonymising.first_names import first_names

    names = first_names()
    assert {"jean", "marie", "helene", "jouni", "mohamed"} <= names
    assert "dupont" not in names
