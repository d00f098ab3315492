"""Schema-driven extraction: the pipeline the service and the CLI call.

    validate_schema(schema)                      # InvalidRequest (-> 422) when refused
    extractor = build_extractor()                # extractive, offline (default)
    extractor = build_extractor(generator=gen)   # LLM, values located in the text
    result = extractor.extract(pages, schema)    # ExtractionResult
    answer = result.to_dict()                    # API.md shape, minus audit_id

``pages`` are the stored page texts (pseudonymised ones on pseudonymised collections:
person and organisation values then come back as tokens such as ``<PERSON_3>``, and the
service re-identifies them for callers allowed to see PII). Citations index those texts:
``quote == page.text[start:end]`` always.
"""

from __future__ import annotations

from typing import Protocol

from pipelines.extraction.extractive import EntityRecognizer, ExtractiveExtractor
from pipelines.extraction.llm import JsonGenerator, LLMExtractor
from pipelines.extraction.result import (
    ExtractionResult,
    FieldCitation,
    FieldResult,
    check_citations,
)
from pipelines.extraction.schema import FieldSpec, read_fields, validate_schema
from pipelines.ports import Embedder
from pipelines.types import Page

__all__ = [
    "ExtractionResult",
    "ExtractiveExtractor",
    "Extractor",
    "FieldCitation",
    "FieldResult",
    "FieldSpec",
    "LLMExtractor",
    "build_extractor",
    "check_citations",
    "read_fields",
    "validate_schema",
]


class Extractor(Protocol):
    """Anything that fills a schema from pages (``ExtractiveExtractor``, ``LLMExtractor``)."""

    name: str
    version: str

    def extract(self, pages: list[Page] | tuple[Page, ...], schema: dict) -> ExtractionResult: ...


def build_extractor(
    *,
    generator: JsonGenerator | None = None,
    embedder: Embedder | None = None,
    ner: EntityRecognizer | None = None,
) -> Extractor:
    """The LLM extractor when a generator is configured, else the extractive one."""
    if generator is not None:
        return LLMExtractor(generator)
    return ExtractiveExtractor(embedder=embedder, ner=ner)
