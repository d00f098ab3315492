"""Specification of sentence splitting and chunking (offsets are exact, pages never crossed)."""

from __future__ import annotations

import re
from types import SimpleNamespace

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipelines.chunking import SentenceChunker, chunker_for, split_long_span, split_sentences
from pipelines.types import Block, OffsetMap, Page


def sentences(text: str) -> list[str]:
    return [text[s:e] for s, e in split_sentences(text)]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("One. Two.", ["One.", "Two."]),
        ("Quoi ? Non ! Bon.", ["Quoi ?", "Non !", "Bon."]),
        ("M. Dupont est venu. Il a signé.", ["M. Dupont est venu.", "Il a signé."]),
        ("Mme Martin et Dr. Roux sont là. Fin.", ["Mme Martin et Dr. Roux sont là.", "Fin."]),
        ("Voir art. 5 du contrat. Fin.", ["Voir art. 5 du contrat.", "Fin."]),
        ("Me Durand plaide. Fin.", ["Me Durand plaide.", "Fin."]),
        ("Call me. Then go.", ["Call me.", "Then go."]),
        ("Fruit, e.g. apples, is good. Yes.", ["Fruit, e.g. apples, is good.", "Yes."]),
        ("The U.S. market grew. It did.", ["The U.S. market grew.", "It did."]),
        ("J. Doe agreed. Fine.", ["J. Doe agreed.", "Fine."]),
        ("Total 3.5 million. Paid 1.250,00 EUR. Done.", ["Total 3.5 million.", "Paid 1.250,00 EUR.", "Done."]),
        ("He said \"stop.\" She left.", ["He said \"stop.\"", "She left."]),
        ("Titre sans point\n\nParagraphe.", ["Titre sans point", "Paragraphe."]),
        ("ligne une\nligne deux.", ["ligne une\nligne deux."]),  # wrapped line continues
        ("Titre de section\nLe texte suit.", ["Titre de section", "Le texte suit."]),
        ("- premier point\n- second point", ["- premier point", "- second point"]),
        ("Total\n1 250 EUR", ["Total", "1 250 EUR"]),
        ("Montant dû :\n1 250 EUR", ["Montant dû :\n1 250 EUR"]),  # colon announces more
        ("Paid to,\nJohn Smith.", ["Paid to,\nJohn Smith."]),
        ("Windows line\r\nNext line", ["Windows line", "Next line"]),
        ("abbr. followed by lowercase continues. Next.", ["abbr. followed by lowercase continues.", "Next."]),
        ("   \n\t  ", []),
        ("", []),
        ("  Padded sentence.  ", ["Padded sentence."]),
    ],
)
def test_split_sentences(text: str, expected: list[str]) -> None:
    assert sentences(text) == expected


@pytest.mark.parametrize(
    ("text", "max_chars", "expected"),
    [
        ("aaaa bbbb cccc", 9, ["aaaa bbbb", "cccc"]),
        ("aaaa bbbb\ncccc dddd", 15, ["aaaa bbbb", "cccc dddd"]),  # line break preferred
        ("aaaa\nbbbb cccc dddd", 14, ["aaaa\nbbbb cccc", "dddd"]),  # ...in the window's 2nd half
        ("abcdefghij", 4, ["abcd", "efgh", "ij"]),
        ("short", 10, ["short"]),
    ],
)
def test_split_long_span(text: str, max_chars: int, expected: list[str]) -> None:
    pieces = split_long_span(text, 0, len(text), max_chars)
    assert [text[s:e] for s, e in pieces] == expected
    assert all(e - s <= max_chars for s, e in pieces)


def page(text: str, number: int = 1, blocks: tuple[Block, ...] = ()) -> Page:
    return Page(number=number, text=text, blocks=blocks)


def test_chunks_pack_whole_sentences_with_overlap() -> None:
    text = "Aaaa aaaa. Bbbb bbbb. Cccc cccc. Dddd dddd. Eeee eeee."
    chunker = SentenceChunker(max_chars=32, overlap_chars=10, min_chars=0)
    assert [c.text for c in chunker.chunk_page(page(text))] == [
        "Aaaa aaaa. Bbbb bbbb. Cccc cccc.",
        "Cccc cccc. Dddd dddd. Eeee eeee.",
    ]


def test_chunks_of_hard_wrapped_text_start_with_sentences() -> None:
    # PDF text wrapped at ~80 characters: "E8400" goes on the sentence of the line
    # before it, so the second chunk starts with that sentence, not inside it.
    text = (
        "Le cadre expérimental de ces travaux est décrit en détail dans cette section.\n"
        "Les tests ont été réalisés sur un poste de travail de bureau de la gamme Core 2 Duo\n"
        "E8400 à 3 GHz, avec trois gigaoctets de mémoire vive exploitables pour les\n"
        "calculs et les journaux de requêtes du moteur OLAP de référence, sans autre\n"
        "réglage particulier."
    )
    chunker = SentenceChunker(max_chars=260, overlap_chars=0, min_chars=0)
    assert [c.text.split("\n")[0] for c in chunker.chunk_page(page(text))] == [
        "Le cadre expérimental de ces travaux est décrit en détail dans cette section.",
        "Les tests ont été réalisés sur un poste de travail de bureau de la gamme Core 2 Duo",
    ]


def test_chunks_carry_their_page_wrap_width() -> None:
    wrapped = page(
        "Le cadre expérimental de ces travaux est décrit en détail dans cette section.\n"
        "Les tests ont été réalisés sur un poste de travail de bureau de la gamme Core 2 Duo\n"
        "E8400 à 3 GHz, avec trois gigaoctets de mémoire vive exploitables pour les\n"
        "calculs et les journaux de requêtes du moteur OLAP de référence, sans autre\n"
        "réglage particulier."
    )
    chunker = SentenceChunker(max_chars=260, overlap_chars=0, min_chars=0)
    assert {c.wrap_width for c in chunker.chunk_page(wrapped)} == {83}
    assert {c.wrap_width for c in chunker.chunk_page(page("Titre\nUn paragraphe. Un autre."))} == {0}


def test_short_tail_joins_previous_chunk() -> None:
    text = "Aaaa aaaa. Bbbb bbbb. Ok."
    chunker = SentenceChunker(max_chars=21, overlap_chars=0, min_chars=5)
    assert [c.text for c in chunker.chunk_page(page(text))] == [text]
    chunker = SentenceChunker(max_chars=21, overlap_chars=0, min_chars=0)
    assert [c.text for c in chunker.chunk_page(page(text))] == ["Aaaa aaaa. Bbbb bbbb.", "Ok."]


def test_bbox_is_union_of_overlapping_blocks() -> None:
    text = "First block text. Second block text. Third block."
    blocks = (
        Block(0, 17, (10, 10, 100, 20)),
        Block(18, 36, (10, 30, 120, 40)),
        Block(37, 49, (10, 50, 90, 60)),
    )
    chunker = SentenceChunker(max_chars=36, overlap_chars=0, min_chars=0)
    chunks = chunker.chunk_page(page(text, blocks=blocks))
    assert [(c.text, c.bbox) for c in chunks] == [
        ("First block text. Second block text.", (10, 10, 120, 40)),
        ("Third block.", (10, 50, 90, 60)),
    ]


def test_document_indexes_run_across_pages_and_never_cross_them() -> None:
    pages = [page("Page one. Still one.", 1), page("   ", 2), page("Page three.", 3)]
    chunks = SentenceChunker(max_chars=100, overlap_chars=0, min_chars=0).chunk_document(pages)
    assert [(c.page, c.index, c.text) for c in chunks] == [
        (1, 0, "Page one. Still one."),
        (3, 1, "Page three."),
    ]


def test_orig_offsets_follow_the_offset_map() -> None:
    # "Jean Dupont" (11 chars, orig 0..11) was replaced by "<PERSON_1>" (10 chars).
    text = "<PERSON_1> signe. Fin du texte."
    offsets = OffsetMap(((0, 10, 0, 11),))
    chunker = SentenceChunker(max_chars=17, overlap_chars=0, min_chars=0)
    chunks = chunker.chunk_page(page(text), offsets=offsets)
    assert [(c.start, c.end, c.orig_start, c.orig_end) for c in chunks] == [
        (0, 17, 0, 18),
        (18, 31, 19, 32),
    ]
    plain = chunker.chunk_page(page(text))
    assert all((c.orig_start, c.orig_end) == (c.start, c.end) for c in plain)


@pytest.mark.parametrize(
    ("max_tokens", "expected_max_chars"),
    [(256, 768), (320, 960), (512, 1000), (10, 200)],
)
def test_chunker_for_sizes_to_the_window(max_tokens: int, expected_max_chars: int) -> None:
    embedder = SimpleNamespace(max_tokens=max_tokens)
    chunker = chunker_for(embedder)  # type: ignore[arg-type]
    assert chunker.max_chars == expected_max_chars
    assert 0 < chunker.overlap_chars < chunker.max_chars


@pytest.mark.parametrize(
    "kwargs",
    [{"max_chars": 0}, {"max_chars": 10, "overlap_chars": 10}, {"min_chars": -1}],
)
def test_rejects_inconsistent_sizes(kwargs: dict) -> None:
    with pytest.raises(ValueError):
        SentenceChunker(**kwargs)


# -- properties over random pages ------------------------------------------------

_WORDS = st.sampled_from(
    ["le", "contrat", "M.", "Mme", "art.", "e.g.", "3.5", "1.250,00", "U.S.", "Dupont",
     "assurance", "x" * 40, "policy", "Dr.", "éàü", "n°", "«", "»", "(voir", "p.)"]
)
_SEPARATORS = st.sampled_from([" ", " ", " ", "  ", "\n", "\n\n", "\t", ". ", "! ", " ? ", ".\n"])
_TEXTS = st.lists(st.tuples(_WORDS, _SEPARATORS), max_size=120).map(
    lambda pairs: "".join(w + s for w, s in pairs)
)
_CHUNKERS = st.builds(
    lambda m, o, n: SentenceChunker(max_chars=m, overlap_chars=min(o, m - 1), min_chars=n),
    st.integers(5, 300),
    st.integers(0, 120),
    st.integers(0, 60),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=st.one_of(_TEXTS, st.text(max_size=400)), chunker=_CHUNKERS)
def test_chunk_invariants_hold_for_random_pages(text: str, chunker: SentenceChunker) -> None:
    pg = page(text, number=7)
    chunks = chunker.chunk_page(pg, start_index=3)

    for i, c in enumerate(chunks):
        assert pg.text[c.start : c.end] == c.text
        assert c.page == 7 and c.index == 3 + i
        assert c.text.strip() == c.text != ""
        assert len(c.text) <= chunker.max_chars + chunker.min_chars
    starts = [c.start for c in chunks]
    assert starts == sorted(set(starts)), "chunks in reading order"
    assert [c.end for c in chunks] == sorted(c.end for c in chunks)

    covered = [False] * len(text)
    for c in chunks:
        covered[c.start : c.end] = [True] * (c.end - c.start)
    uncovered = "".join(ch for ch, hit in zip(text, covered) if not hit)
    assert uncovered.strip() == "", "every non-blank character lies in some chunk"


@settings(max_examples=100, deadline=None)
@given(text=_TEXTS)
def test_sentence_spans_are_trimmed_disjoint_and_separated_by_whitespace(text: str) -> None:
    spans = split_sentences(text)
    previous_end = 0
    for start, end in spans:
        assert start < end and text[start:end] == text[start:end].strip()
        assert re.fullmatch(r"\s*", text[previous_end:start])
        previous_end = end
    assert text[previous_end:].strip() == ""
