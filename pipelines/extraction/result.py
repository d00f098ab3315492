"""What an extraction returns: values, where each came from, and whether it all holds.

Invariants (checked by :func:`check_citations` and the tests):
- every ``FieldCitation`` satisfies ``quote == page.text[start:end]`` for its page;
- every non-null leaf in ``fields`` has at least one citation;
- a leaf that was not found is ``None`` with confidence 0 and no citation.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from pipelines.types import BBox, Page


@dataclass(frozen=True)
class FieldCitation:
    """``page`` is 1-based; ``quote == page.text[start:end]``; ``bbox`` when the page has boxes."""

    page: int
    start: int
    end: int
    quote: str
    bbox: BBox | None = None

    @staticmethod
    def of(page: Page, start: int, end: int) -> FieldCitation:
        """The citation of ``page.text[start:end]``: the quote is cut, never typed in."""
        return FieldCitation(page.number, start, end, page.text[start:end], page.bbox_for(start, end))

    def to_dict(self) -> dict:
        out = {"page": self.page, "start": self.start, "end": self.end, "quote": self.quote}
        if self.bbox is not None:
            out["bbox"] = [round(float(x), 2) for x in self.bbox]
        return out


@dataclass(frozen=True)
class FieldResult:
    value: Any
    confidence: float
    citations: tuple[FieldCitation, ...] = ()

    @staticmethod
    def missing() -> FieldResult:
        return FieldResult(None, 0.0, ())

    def to_dict(self) -> dict:
        return {
            "value": self.value,
            "confidence": round(float(self.confidence), 4),
            "citations": [c.to_dict() for c in self.citations],
        }


@dataclass(frozen=True)
class ExtractionResult:
    """``data`` follows the schema; ``fields`` is keyed by JSON Pointer into ``data``."""

    data: dict[str, Any]
    fields: dict[str, FieldResult]
    valid: bool
    errors: list[dict] = field(default_factory=list)
    generator_info: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict:
        """The API answer (without ``audit_id``, which the service adds)."""
        return {
            "data": self.data,
            "fields": {k: v.to_dict() for k, v in self.fields.items()},
            "valid": self.valid,
            "errors": list(self.errors),
            "generator": dict(self.generator_info),
        }


def escape_pointer_token(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")


def pointer(parts: Sequence[str | int]) -> str:
    """RFC 6901 JSON Pointer for a path of keys and indices."""
    return "".join("/" + escape_pointer_token(str(p)) for p in parts)


def check_citations(answer: dict, pages: Sequence[Page] | dict[int, str]) -> list[str]:
    """Problems with an answer's citations: empty when every non-null leaf is cited by
    at least one quote equal to the stored text at its span."""
    texts = pages if isinstance(pages, dict) else {p.number: p.text for p in pages}
    problems = []
    for ptr, entry in (answer.get("fields") or {}).items():
        if entry.get("value") is None:
            continue
        cites = entry.get("citations") or []
        if not cites:
            problems.append(f"{ptr}: non-null value without citation")
        for c in cites:
            text = texts.get(c.get("page"))
            if text is None:
                problems.append(f"{ptr}: citation on unknown page {c.get('page')}")
            elif text[c["start"]:c["end"]] != c.get("quote"):
                problems.append(f"{ptr}: quote differs from the stored text at {c['start']}:{c['end']}")
    return problems
