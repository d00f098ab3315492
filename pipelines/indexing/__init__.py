"""Vector index backends (see ``qdrant_index`` for the payload and naming scheme).

``QdrantIndex``: qdrant-client (embedded local mode, or a server/cluster).
``QdrantEdgeIndex``: Qdrant Edge, the engine in-process (HNSW, payload indexes).
"""

from pipelines.indexing.edge_index import QdrantEdgeIndex, edge_filter
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
    "QdrantEdgeIndex",
    "QdrantIndex",
    "alias_name",
    "build_filter",
    "chunk_payload",
    "edge_filter",
    "physical_collection_name",
    "point_id",
]
