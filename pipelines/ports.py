"""Interfaces between pipeline stages.

A Protocol exists here only where there are two real implementations (a test fake
counts). Implementations live in ``pipelines/<stage>/`` and ``models/``; the only place
that chooses one is ``services/api/container.py``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Protocol, runtime_checkable

import numpy as np

from pipelines.types import (
    AnonymisedText,
    GeneratedSentence,
    IndexFilter,
    IndexPoint,
    ParsedDocument,
    ScoredChunk,
    SparseVector,
)


@runtime_checkable
class Parser(Protocol):
    """Turns file bytes into pages. Raises ``pipelines.errors.ParseError`` subclasses."""

    def parse(self, data: bytes, *, filename: str = "", password: str | None = None) -> ParsedDocument: ...


@runtime_checkable
class Embedder(Protocol):
    """Dense text embedder. Vectors are L2-normalised float32 rows."""

    name: str
    version: str
    dimension: int
    max_tokens: int
    """Window of the underlying model; chunkers size passages for it."""

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray: ...

    def embed_query(self, text: str) -> np.ndarray: ...


@runtime_checkable
class SparseEncoder(Protocol):
    """Lexical sparse vectors (term weights); IDF is applied by the index."""

    name: str
    version: str

    def encode_documents(self, texts: Sequence[str]) -> list[SparseVector]: ...

    def encode_query(self, text: str) -> SparseVector: ...


@runtime_checkable
class Anonymiser(Protocol):
    """Detects PII and replaces it; offsets of the result map back to the input."""

    def anonymise(self, text: str, *, language: str | None = None) -> AnonymisedText: ...


@runtime_checkable
class VectorIndex(Protocol):
    """Dense + sparse vector store with payload filters and aliases.

    ``name`` arguments are *logical* names (an alias); ``physical`` names are concrete
    collections. Searches always run against the alias so that a re-index can swap
    the physical collection under running queries.
    """

    def create_physical(self, physical: str, dimension: int) -> None: ...

    def drop_physical(self, physical: str) -> None: ...

    def point_alias(self, alias: str, physical: str) -> None:
        """Atomically make ``alias`` resolve to ``physical``."""
        ...

    def resolve_alias(self, alias: str) -> str | None: ...

    def drop_alias(self, alias: str) -> None: ...

    def upsert(self, physical: str, points: Sequence[IndexPoint]) -> None: ...

    def set_payload(self, name: str, document_id: str, payload: dict) -> None:
        """Set payload keys on every point of one document."""
        ...

    def delete_document(self, name: str, document_id: str) -> None: ...

    def count(self, name: str, *, document_id: str | None = None, only_ready: bool = False) -> int: ...

    def document_ids(self, name: str) -> set[str]:
        """Every document id present in the index (for reconciliation after a crash)."""
        ...

    def search(
        self,
        name: str,
        *,
        dense: np.ndarray,
        sparse: SparseVector | None,
        flt: IndexFilter,
        limit: int,
    ) -> list[ScoredChunk]:
        """Hybrid search (fused when ``sparse`` is given); only ready points match."""
        ...

    def scroll(self, name: str, *, document_id: str | None = None) -> Iterable[IndexPoint]: ...


@runtime_checkable
class Generator(Protocol):
    """Writes answer sentences from numbered passages; every sentence cites some.

    ``passages[i]`` is cited as ``i + 1``. A generator may return sentences without
    citations or with unsupported claims: the verifier downstream drops them.
    """

    name: str
    version: str

    def generate(self, question: str, passages: Sequence[ScoredChunk]) -> list[GeneratedSentence]: ...
