"""Sentence-aware chunking that keeps exact offsets into the page text.

Invariants of every chunk ``c`` cut from page ``p`` (asserted by the tests):

* ``p.text[c.start:c.end] == c.text``, ``c.page == p.number`` (never crosses a page);
* ``c.text`` is non-blank and has no leading/trailing whitespace;
* chunks of a page are in reading order (``start`` strictly increasing) and together
  cover every non-whitespace character of the page;
* ``len(c.text) <= max_chars + min_chars`` (the ``+ min_chars`` only for a page's short
  tail merged into the previous chunk), and a chunk is made of whole sentences unless
  one sentence alone is longer than ``max_chars``, in which case it is cut at a line
  break or a space;
* consecutive chunks share whole sentences totalling at most ``overlap_chars``;
* ``c.bbox == p.bbox_for(c.start, c.end)``; ``c.index`` numbers chunks across the document.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from pipelines import lexical
from pipelines.chunking.sentences import split_long_span, split_sentences
from pipelines.ports import Embedder
from pipelines.types import Chunk, OffsetMap, Page

CHARS_PER_TOKEN = 3.0
"""Conservative characters per word-piece: French runs ~3, English ~4-4.5."""

MAX_CHUNK_CHARS = 1000
"""Upper bound even for models with a wide window: longer passages make vaguer
citations and dilute averaged embeddings (USE)."""


class SentenceChunker:
    """Packs whole sentences into chunks of at most ``max_chars`` characters.

    ``overlap_chars``: the next chunk starts with the previous chunk's trailing
    sentences whose total span is at most this (0 disables overlap).
    ``min_chars``: a page's last chunk whose new text is shorter than this is merged
    into the chunk before it rather than emitted alone.
    """

    def __init__(self, max_chars: int = 900, overlap_chars: int = 150, min_chars: int = 100) -> None:
        if max_chars < 1:
            raise ValueError("max_chars must be >= 1")
        if not 0 <= overlap_chars < max_chars:
            raise ValueError("overlap_chars must be in [0, max_chars)")
        if min_chars < 0:
            raise ValueError("min_chars must be >= 0")
        self.max_chars = max_chars
        self.overlap_chars = overlap_chars
        self.min_chars = min_chars

    def __repr__(self) -> str:
        return (
            f"SentenceChunker(max_chars={self.max_chars}, overlap_chars={self.overlap_chars}, "
            f"min_chars={self.min_chars})"
        )

    # -- public -------------------------------------------------------------------
    def chunk_document(
        self, pages: Iterable[Page], *, offsets: Sequence[OffsetMap | None] | None = None
    ) -> list[Chunk]:
        """Chunks of every page, indexed 0..n-1 across the document.

        ``offsets`` (one per page, optional) map pseudonymised page text back to the
        original, to fill ``orig_start``/``orig_end``.
        """
        chunks: list[Chunk] = []
        for i, page in enumerate(pages):
            page_offsets = offsets[i] if offsets is not None else None
            chunks.extend(self.chunk_page(page, start_index=len(chunks), offsets=page_offsets))
        return chunks

    def chunk_page(
        self, page: Page, *, start_index: int = 0, offsets: OffsetMap | None = None
    ) -> list[Chunk]:
        """Chunks of one page, numbered from ``start_index``."""
        chunks = []
        width = lexical.wrap_width(page.text)
        for i, (start, end) in enumerate(self.spans(page.text, wrap_width=width)):
            if offsets is None:
                orig_start, orig_end = start, end
            else:
                orig_start = offsets.to_original(start)
                orig_end = offsets.to_original(end, is_end=True)
            chunks.append(
                Chunk(
                    page=page.number,
                    start=start,
                    end=end,
                    text=page.text[start:end],
                    index=start_index + i,
                    bbox=page.bbox_for(start, end),
                    orig_start=orig_start,
                    orig_end=orig_end,
                    wrap_width=width,
                )
            )
        return chunks

    def spans(self, text: str, *, wrap_width: int | None = None) -> list[tuple[int, int]]:
        """``(start, end)`` of each chunk of ``text`` (the core, free of Page/Chunk).
        ``wrap_width``: ``lexical.wrap_width(text)`` when the caller has it already."""
        units = self._units(text, wrap_width)
        if not units:
            return []
        groups = self._pack(units)
        return [(units[first][0], units[last][1]) for first, last in groups]

    # -- internals ----------------------------------------------------------------
    def _units(self, text: str, wrap_width: int | None = None) -> list[tuple[int, int]]:
        """Sentences, with sentences longer than ``max_chars`` cut into pieces. A line
        break that wraps a sentence of PDF text (``lexical.unwrapped``) does not end it."""
        units: list[tuple[int, int]] = []
        for start, end in split_sentences(lexical.unwrapped(text, wrap_width=wrap_width)):
            if end - start <= self.max_chars:
                units.append((start, end))
            else:
                units.extend(split_long_span(text, start, end, self.max_chars))
        return units

    def _pack(self, units: list[tuple[int, int]]) -> list[tuple[int, int]]:
        """Greedy packing into inclusive unit ranges ``(first, last)``."""

        def width(first: int, last: int) -> int:
            return units[last][1] - units[first][0]

        groups: list[tuple[int, int]] = []
        first = 0
        n = len(units)
        while True:
            last = first
            while last + 1 < n and width(first, last + 1) <= self.max_chars:
                last += 1
            groups.append((first, last))
            if last + 1 >= n:
                break
            first = self._overlap_start(units, first, last, width)

        # A short tail (counting only text not already in the previous chunk) joins
        # the previous chunk instead of becoming a near-duplicate passage.
        if len(groups) > 1:
            prev_first, prev_last = groups[-2]
            tail_first, tail_last = groups[-1]
            new_text = units[tail_last][1] - units[prev_last][1]
            if new_text < self.min_chars:
                groups[-2:] = [(prev_first, tail_last)]
        return groups

    def _overlap_start(self, units, first: int, last: int, width) -> int:
        """First unit of the next chunk: trailing sentences of this one within the
        overlap budget, provided the next chunk can still take at least one new unit."""
        nxt = last + 1
        start = nxt
        while (
            start - 1 > first
            and width(start - 1, last) <= self.overlap_chars
            and width(start - 1, nxt) <= self.max_chars
        ):
            start -= 1
        return start


def chunker_for(embedder: Embedder, *, overlap_ratio: float = 0.15) -> SentenceChunker:
    """A chunker sized for the embedder's window.

    ``max_tokens * CHARS_PER_TOKEN`` characters (so French passages fit MiniLM's 256
    word-pieces: 768 chars), capped at ``MAX_CHUNK_CHARS``; overlap ~15%; tails
    shorter than an eighth of a chunk merge into the previous chunk.
    """
    max_chars = max(200, min(MAX_CHUNK_CHARS, int(embedder.max_tokens * CHARS_PER_TOKEN)))
    return SentenceChunker(
        max_chars=max_chars,
        overlap_chars=int(max_chars * overlap_ratio),
        min_chars=max_chars // 8,
    )
