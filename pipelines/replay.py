"""Replaying an answer from its audit record.

An ``ask`` audit record holds, for every chunk retrieval returned and in retrieval
order, its id, its *version* (a hash of its stored text) and its document id, plus the
generator and embedder (name and version), ``top_k`` and the hashes of the question and
the answer; never text. A replay answers the question again over exactly those chunks,
as they are *now* in the index, through the same answering code (scoring, generation,
verification: only the retrieval step is replaced by the recorded list), and compares
the answer's hash with the recorded one. ``compare_chunks`` says what changed, so a
mismatch comes with its likely cause.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from pipelines.audit import text_hash
from pipelines.types import IndexFilter, IndexPoint, ScoredChunk, SparseVector

REPLAY_FIELDS = ("chunk_ids", "chunk_versions", "chunk_document_ids", "generator", "embedder",
                 "question_hash", "answer_hash")


def chunk_version(text: str) -> str:
    """Version of a chunk as the answer saw it: a hash of its stored (pseudonymised) text."""
    return text_hash(text)[:16]


def chunk_provenance(retrieved: Sequence[Any]) -> dict[str, list[str]]:
    """Audit fields for the chunks retrieval returned (``RetrievedChunk``s, in order):
    their versions and documents, aligned with ``chunk_ids``."""
    return {
        "chunk_versions": [chunk_version(r.text) for r in retrieved],
        "chunk_document_ids": [r.document_id for r in retrieved],
    }


@dataclass(frozen=True)
class ChunkChange:
    chunk_id: str
    document_id: str
    change: str
    """``deleted`` (no longer in the index) or ``changed`` (its text is different)."""

    def describe(self) -> str:
        if self.change == "deleted":
            return f"chunk {self.chunk_id} of document {self.document_id} was deleted"
        return f"chunk {self.chunk_id} of document {self.document_id} changed (its text is not the recorded version)"


def compare_chunks(details: Mapping[str, Any], current: Mapping[str, Mapping[str, Any]]) -> list[ChunkChange]:
    """Recorded chunks vs ``current`` payloads by chunk id, in recorded order."""
    changes = []
    for chunk_id, version, document_id in zip(
        details["chunk_ids"], details["chunk_versions"], details["chunk_document_ids"], strict=True
    ):
        payload = current.get(chunk_id)
        if payload is None:
            changes.append(ChunkChange(chunk_id, document_id, "deleted"))
        elif chunk_version(str(payload.get("text", ""))) != version:
            changes.append(ChunkChange(chunk_id, document_id, "changed"))
    return changes


def answerer_difference(recorded: str | None, current: str) -> list[str]:
    """The answering code's version (``pipelines.answer.ANSWERER_VERSION``); records
    made before it was recorded count as version 1."""
    recorded = recorded or "1"
    return [] if recorded == current else [f"answerer version differs: recorded {recorded}, now {current}"]


def model_differences(kind: str, recorded: Mapping[str, str], current: Mapping[str, str]) -> list[str]:
    if recorded.get("name") != current.get("name"):
        return [f"{kind} differs: recorded {recorded.get('name')}, now {current.get('name')}"]
    if recorded.get("version") != current.get("version"):
        return [(f"{kind} version differs: recorded {recorded.get('name')} {recorded.get('version')}, "
                 f"now {current.get('version')}")]
    return []


class RecordedHitsIndex:
    """A read-only ``VectorIndex`` stand-in whose search returns the recorded chunks, in
    the recorded order, whatever the query: retrieval replaced by the audit record.

    ``documents`` (document id -> its points as they are now) serves ``scroll``: the
    answerer reads the rest of a retrieved document when its retrieved chunks do not
    name what the question names (``Answerer._naming``)."""

    def __init__(self, hits: Sequence[ScoredChunk], documents: Mapping[str, Sequence[IndexPoint]] | None = None):
        self.hits = list(hits)
        self.documents = dict(documents or {})

    def search(self, name: str, *, dense: np.ndarray, sparse: SparseVector | None, flt: IndexFilter,
               limit: int) -> list[ScoredChunk]:
        return self.hits[:limit]

    def scroll(self, name: str, *, document_id: str | None = None) -> Iterator[IndexPoint]:
        for doc, points in self.documents.items():
            if document_id is None or doc == document_id:
                yield from points


@dataclass(frozen=True)
class ReplayReport:
    audit_id: str
    match: bool
    recorded_answer_hash: str
    replayed_answer_hash: str | None
    reasons: tuple[str, ...]
    """What differs from the recorded ask (chunks, models); empty when nothing does."""

    @property
    def verdict(self) -> str:
        return "match" if self.match else "mismatch"
