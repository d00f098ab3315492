"""Vector index backends (see ``qdrant_index`` for the payload and naming scheme)."""

from pipelines.indexing.qdrant_index import (
    TAG_KEY_PATTERN,
    QdrantIndex,
    alias_name,
    build_filter,
    chunk_payload,
    physical_collection_name,
    point_id,
)

__all__ = [
    "TAG_KEY_PATTERN",
    "QdrantIndex",
    "alias_name",
    "build_filter",
    "chunk_payload",
    "physical_collection_name",
    "point_id",
]
