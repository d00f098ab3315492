"""Pseudonymise a parsed page and keep its layout usable."""

from __future__ import annotations

from pipelines.anonymising.anonymiser import Anonymiser, Operator
from pipelines.anonymising.vault import TokenStore
from pipelines.types import AnonymisedText, Block, Page


def remap_blocks(page: Page, result: AnonymisedText) -> tuple[Block, ...]:
    """The page's blocks with offsets in ``result.text``.

    A block boundary inside a replaced value moves to the edge of its replacement that
    keeps the whole replacement inside the block (start -> replacement start, end ->
    replacement end), so a chunk's bbox still covers the value's box.
    """
    return tuple(
        Block(
            start=result.offsets.to_new(b.start),
            end=result.offsets.to_new(b.end, is_end=True),
            bbox=b.bbox,
        )
        for b in page.blocks
    )


def anonymise_page(
    page: Page,
    anonymiser: Anonymiser,
    *,
    document_id: str | None = None,
    language: str | None = None,
    operator: Operator = "pseudonymise",
    entities=None,
    store: TokenStore | None = None,
    found=None,
) -> tuple[Page, AnonymisedText]:
    """The page with pseudonymised text and remapped blocks, and the anonymisation
    result (entities, and the offset map back to ``page.text`` for ``orig_start`` /
    ``orig_end``). The language is detected on this page when not given.

    Invariants: ``new_page.text == result.text``; every block satisfies
    ``0 <= start <= end <= len(new_page.text)``; ``result.offsets.to_original`` maps
    any offset of ``new_page.text`` into ``page.text``.
    """
    result = anonymiser.anonymise(
        page.text,
        language=language,
        operator=operator,
        document_id=document_id,
        entities=entities,
        store=store,
        found=found,
    )
    return Page(number=page.number, text=result.text, blocks=remap_blocks(page, result)), result
