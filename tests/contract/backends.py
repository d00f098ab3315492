"""The ``VectorIndex`` backends the contract suite runs against.

To add a backend (e.g. qdrant-edge), register an ``IndexBackend`` in ``BACKENDS``: the
whole suite in ``test_vector_index.py`` then runs on it unchanged.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from pipelines.ports import VectorIndex


@dataclass(frozen=True)
class IndexBackend:
    name: str
    open: Callable[[Path], VectorIndex]
    """Open (or reopen) the index stored under a folder (ignored by in-memory backends)."""
    persistent: bool
    """Whether data survives ``close`` + ``open`` on the same folder."""

    @staticmethod
    def close(index: VectorIndex) -> None:
        close = getattr(index, "close", None)
        if close is not None:
            close()


def _qdrant_memory(_folder: Path) -> VectorIndex:
    from pipelines.indexing import QdrantIndex

    return QdrantIndex.from_location(":memory:")


def _qdrant_disk(folder: Path) -> VectorIndex:
    from pipelines.indexing import QdrantIndex

    return QdrantIndex.from_location(str(folder / "qdrant"))


def _qdrant_edge(folder: Path) -> VectorIndex:
    from pipelines.indexing import QdrantEdgeIndex

    return QdrantEdgeIndex(folder / "qdrant-edge")


BACKENDS: dict[str, IndexBackend] = {
    "qdrant-local-memory": IndexBackend("qdrant-local-memory", _qdrant_memory, persistent=False),
    "qdrant-local-disk": IndexBackend("qdrant-local-disk", _qdrant_disk, persistent=True),
    "qdrant-edge": IndexBackend("qdrant-edge", _qdrant_edge, persistent=True),
}
