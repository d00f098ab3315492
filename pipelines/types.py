"""Value types shared by every pipeline.

All are frozen dataclasses: a pipeline stage returns new values, it never mutates
the ones it was given. Offsets are Python string indices (code points), end exclusive.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

BBox = tuple[float, float, float, float]
"""(x0, y0, x1, y1) in PDF points, origin top-left (PyMuPDF convention)."""


@dataclass(frozen=True)
class Block:
    """A text block of a page: ``page.text[start:end]`` is the block's text."""

    start: int
    end: int
    bbox: BBox


@dataclass(frozen=True)
class Page:
    """One page of a parsed document.

    ``number`` is 1-based. For formats without pages there is a single page 1.
    Invariant: every block satisfies ``0 <= block.start <= block.end <= len(text)``.
    """

    number: int
    text: str
    blocks: tuple[Block, ...] = ()

    def bbox_for(self, start: int, end: int) -> BBox | None:
        """Union of the boxes of the blocks overlapping ``[start, end)``; None without boxes."""
        boxes = [b.bbox for b in self.blocks if b.start < end and b.end > start]
        if not boxes:
            return None
        return (
            min(b[0] for b in boxes),
            min(b[1] for b in boxes),
            max(b[2] for b in boxes),
            max(b[3] for b in boxes),
        )


@dataclass(frozen=True)
class ParsedDocument:
    """What a parser returns: pages in reading order, plus how they were obtained."""

    media_type: str
    pages: tuple[Page, ...]
    ocr_pages: tuple[int, ...] = ()
    """Page numbers whose text came from OCR."""
    warnings: tuple[str, ...] = ()
    """Non-fatal problems worth telling the uploader (e.g. 'attachment skipped')."""

    @property
    def is_empty(self) -> bool:
        return not any(p.text.strip() for p in self.pages)


@dataclass(frozen=True)
class OffsetMap:
    """Maps offsets in a transformed text (e.g. pseudonymised) back to the original.

    ``segments`` are ``(new_start, new_end, orig_start, orig_end)`` for each replaced
    region, sorted and non-overlapping. Outside them the two texts are equal up to a
    constant shift, so the map is exact everywhere.
    """

    segments: tuple[tuple[int, int, int, int], ...] = ()

    def to_original(self, offset: int, *, is_end: bool = False) -> int:
        """Original offset for ``offset`` in the new text.

        An offset strictly inside a replaced region maps to that region's original
        start (or end, when ``is_end``), so a span that covers a token covers its
        whole original value.
        """
        shift = 0
        for new_start, new_end, orig_start, orig_end in self.segments:
            if offset <= new_start:
                break
            if offset < new_end:
                return orig_end if is_end else orig_start
            shift = orig_end - new_end
        return offset + shift

    def to_new(self, offset: int, *, is_end: bool = False) -> int:
        """Offset in the new text for ``offset`` in the original (the inverse of
        ``to_original``). Inside a replaced value it maps to the replacement's start (or
        end, when ``is_end``)."""
        shift = 0
        for new_start, new_end, orig_start, orig_end in self.segments:
            if offset <= orig_start:
                break
            if offset < orig_end:
                return new_end if is_end else new_start
            shift = new_end - orig_end
        return offset + shift

    @staticmethod
    def identity() -> "OffsetMap":
        return OffsetMap(())


@dataclass(frozen=True)
class PiiEntity:
    """A detected PII span in a text, with what replaced it."""

    type: str
    start: int
    end: int
    score: float
    replacement: str = ""


@dataclass(frozen=True)
class AnonymisedText:
    """Result of anonymising one text.

    Invariant: for each entity ``e``, ``original[e.start:e.end]`` is the detected value,
    and ``offsets.to_original`` maps offsets of ``text`` to offsets of ``original``.
    """

    text: str
    entities: tuple[PiiEntity, ...]
    offsets: OffsetMap
    language: str | None = None


@dataclass(frozen=True)
class Chunk:
    """A retrievable passage of one page.

    Invariant: ``page.text[start:end] == text`` for the page it was cut from, and a
    chunk never crosses pages. ``orig_start``/``orig_end`` locate the same passage in
    the original (pre-pseudonymisation) page text; they equal ``start``/``end`` when
    the collection is not pseudonymised.
    """

    page: int
    start: int
    end: int
    text: str
    index: int
    bbox: BBox | None = None
    orig_start: int | None = None
    orig_end: int | None = None
    wrap_width: int = 0
    """The width the page's text is hard-wrapped at (``lexical.wrap_width``; 0: none),
    for splitting the chunk alone into the same sentences as the page."""


@dataclass(frozen=True)
class SparseVector:
    indices: tuple[int, ...]
    values: tuple[float, ...]


@dataclass(frozen=True)
class IndexPoint:
    """One chunk as stored in the vector index."""

    id: str
    dense: tuple[float, ...] | list[float] | Any
    sparse: SparseVector
    payload: dict[str, Any]


@dataclass(frozen=True)
class ScoredChunk:
    """A chunk returned by retrieval, with its payload (see ``pipelines.indexing``)."""

    id: str
    score: float
    payload: dict[str, Any]

    @property
    def text(self) -> str:
        return self.payload["text"]


@dataclass(frozen=True)
class IndexFilter:
    """Restrictions applied *inside* the vector query (never after it).

    ``acl_groups`` is the caller's groups: a point is visible when it has no groups,
    when it shares one with the caller, or when the caller holds ``*``.
    """

    acl_groups: tuple[str, ...] | None = None
    document_ids: tuple[str, ...] = ()
    tags: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class GeneratedSentence:
    """One sentence proposed by a generator, before verification.

    ``citations`` are 1-based numbers of the passages it was given (``[1]`` is the
    first passage). ``spans`` optionally pins the exact evidence: ``(passage number,
    start, end)`` offsets into that passage's text (an extractive generator knows
    them; an LLM does not, and the answerer aligns its sentence to the passage).
    """

    text: str
    citations: tuple[int, ...]
    spans: tuple[tuple[int, int, int], ...] = ()
