"""Sentence spans of French and English text, as offsets into the text.

A rule-based splitter (no model): a sentence ends at ``.``, ``!``, ``?`` or ``…``
(plus closing quotes/brackets) followed by whitespace, or at a blank line. So does a line break
before a line starting with a capital, a digit or a bullet (headings, list items,
table rows carry no full stop), unless the line before ends with ``,;:(-`` . A period
does *not* end a sentence after a known abbreviation (``M.``, ``Mme.``, ``art.``,
``e.g.``, ``Dr.``...), after a single-letter initial (``J. Dupont``), inside dotted
acronyms (``U.S.``), or when the next word starts in lower case. Decimal numbers
(``3.5``, ``1.250,00``) never split because a boundary needs whitespace after it.

Invariant: every span ``(start, end)`` satisfies ``text[start:end] == text[start:end].strip()``,
is non-empty, spans are sorted and disjoint, and only whitespace lies between them.
"""

from __future__ import annotations

import re

ABBREVIATIONS: frozenset[str] = frozenset(
    # Lower-cased, without the final period. French first, then English.
    """
    m mme mmes mlle mlles dr drs pr prof st ste sts mgr
    art arts al cf pp vol chap éd env av bd boul fig ex réf tél
    janv févr avr juil déc
    mr mrs ms messrs jr sr gen col lt sgt capt rev hon vs
    inc ltd corp bros dept univ approx ed ref tel
    jan feb mar apr jun jul aug sep sept oct nov dec
    e.g i.e a.m p.m c.-à-d
    """.split()
)
CASED_ABBREVIATIONS: frozenset[str] = frozenset({"MM", "Me", "Mes", "No", "Nos", "Co", "Cie"})
"""Abbreviations only in this exact case ("Me" is Maître; "me." ends English sentences)."""

# A candidate end: terminal punctuation, optional closers, then whitespace.
_END = re.compile(r"[.!?…]+[\"'»”’)\]]*(?=\s)")
_PARAGRAPH = re.compile(r"\n[ \t\r\f\v]*\n")
# A line break before a line that starts like a new unit (capital, digit, bullet),
# unless the previous line ends with a character that announces a continuation.
_NEW_LINE_UNIT = re.compile(r"(?<=[^\s,;:(\-–—/&+])[ \t]*\r?\n(?=[ \t]*(?:[^\W\d_]|[\d•▪◦·*\-–—]))")
_DOTTED_ACRONYM = re.compile(r"^(?:[^\W\d_]\.)+[^\W\d_]$")
_WORD_BEFORE = re.compile(r"(\S+)$")


def _is_abbreviation_period(text: str, dot: int) -> bool:
    """True when the period at ``text[dot]`` belongs to a word, not to the sentence."""
    match = _WORD_BEFORE.search(text, 0, dot)
    if match is None:
        return False
    word = match.group(1).lstrip("(\"'«“‘[")
    cased = word.rstrip(".")
    bare = cased.lower()
    if not bare:
        return False
    if bare in ABBREVIATIONS or cased in CASED_ABBREVIATIONS:
        return True
    if len(bare) == 1 and bare.isalpha():  # initial: "J. Dupont", "p. 3"
        return True
    return bool(_DOTTED_ACRONYM.match(bare))  # "U.S", "e.g", "S.A"


def _next_word_is_lowercase(text: str, pos: int) -> bool:
    n = len(text)
    while pos < n and text[pos].isspace():
        pos += 1
    return pos < n and text[pos].islower()


def _boundaries(text: str) -> list[int]:
    """Sorted offsets where a new sentence may start (after the terminator)."""
    cuts: set[int] = set()
    for match in _END.finditer(text):
        punct = match.group(0)
        if punct.rstrip("\"'»”’)]") == ".":
            dot = match.start()
            if _is_abbreviation_period(text, dot) or _next_word_is_lowercase(text, match.end()):
                continue
        cuts.add(match.end())
    for match in _PARAGRAPH.finditer(text):
        cuts.add(match.start())
    for match in _NEW_LINE_UNIT.finditer(text):
        following = text[match.end() :].lstrip(" \t")[:1]
        if not following.islower():  # a lower-case line continues the sentence
            cuts.add(match.start())
    return sorted(cuts)


def _trimmed(text: str, start: int, end: int) -> tuple[int, int] | None:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return (start, end) if start < end else None


def split_sentences(text: str) -> list[tuple[int, int]]:
    """Sentence spans of ``text`` (see the module docstring for the invariant)."""
    spans: list[tuple[int, int]] = []
    previous = 0
    for cut in [*_boundaries(text), len(text)]:
        span = _trimmed(text, previous, cut)
        if span is not None:
            spans.append(span)
        previous = cut
    return spans


def split_long_span(text: str, start: int, end: int, max_chars: int) -> list[tuple[int, int]]:
    """Cut ``text[start:end]`` into trimmed pieces of at most ``max_chars``.

    Prefers a line break, then any whitespace, in the second half of the window; a
    single word longer than ``max_chars`` is cut hard. Same invariant as sentences.
    """
    if max_chars < 1:
        raise ValueError("max_chars must be >= 1")
    pieces: list[tuple[int, int]] = []
    position = start
    while True:
        span = _trimmed(text, position, end)
        if span is None:
            return pieces
        position = span[0]
        if span[1] - position <= max_chars:
            pieces.append(span)
            return pieces
        window_end = position + max_chars
        floor = position + max_chars // 2
        cut = text.rfind("\n", floor, window_end + 1)
        if cut <= position:
            cut = max(
                (i for i in range(window_end, floor, -1) if text[i].isspace()),
                default=-1,
            )
        if cut <= position:
            cut = window_end
        piece = _trimmed(text, position, cut)
        if piece is not None:
            pieces.append(piece)
        position = cut
