"""What ``QdrantEdgeIndex`` adds to the ``VectorIndex`` contract (which it passes in
``test_vector_index.py``): its folder lock, crash-safe aliases and shard deletion, HNSW
search that stays exact enough under an ACL filter, and concurrent use from threads.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path

import numpy as np
import pytest

from models.sparse import LexicalSparseEncoder
from pipelines.indexing import (
    QdrantEdgeIndex,
    alias_name,
    chunk_payload,
    physical_collection_name,
    point_id,
)
from pipelines.types import Chunk, IndexFilter, IndexPoint

ALIAS = alias_name("acme", "claims")
PHYSICAL = physical_collection_name("acme", "claims", "e", "1", generation=1)
PHYSICAL_2 = physical_collection_name("acme", "claims", "e", "1", generation=2)
SPARSE = LexicalSparseEncoder()


def points(vectors: np.ndarray, *, groups: int = 1, ready: bool = True, prefix: str = "doc") -> list[IndexPoint]:
    """One point per row; point ``i`` belongs to document ``{prefix}{i}`` and group ``g{i % groups}``."""
    out = []
    for i, vector in enumerate(vectors):
        text = f"passage {prefix} {i}"
        chunk = Chunk(page=1, start=0, end=len(text), text=text, index=0)
        out.append(IndexPoint(
            id=point_id(f"{prefix}{i}", 0), dense=vector, sparse=SPARSE.encode_documents([text])[0],
            payload=chunk_payload(chunk, document_id=f"{prefix}{i}", filename="f.pdf",
                                  acl_groups=(f"g{i % groups}",), ready=ready),
        ))
    return out


def unit_rows(n: int, dim: int, seed: int) -> np.ndarray:
    x = np.random.default_rng(seed).standard_normal((n, dim)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def test_folder_is_locked_while_open_and_free_after_close(tmp_path: Path) -> None:
    from services.api.settings import Settings
    from services.maintenance import ServiceRunning, service_stopped

    settings = Settings(data_dir=tmp_path, index_backend="qdrant-edge")
    first = QdrantEdgeIndex(settings.resolved_qdrant_path)
    with pytest.raises(RuntimeError, match="already open"):
        QdrantEdgeIndex(settings.resolved_qdrant_path)
    with pytest.raises(ServiceRunning), service_stopped(settings):  # as with local mode
        pass
    first.close()
    with service_stopped(settings):
        pass
    QdrantEdgeIndex(settings.resolved_qdrant_path).close()


def test_temporary_index_removes_its_folder(tmp_path: Path) -> None:
    index = QdrantEdgeIndex.temporary()
    folder = index.root
    index.create_physical(PHYSICAL, 4)
    assert folder.is_dir()
    index.close()
    assert not folder.exists()


def test_aliases_are_one_atomic_file_and_survive_interrupted_writes(tmp_path: Path) -> None:
    index = QdrantEdgeIndex(tmp_path)
    index.create_physical(PHYSICAL, 4)
    index.create_physical(PHYSICAL_2, 4)
    index.point_alias(ALIAS, PHYSICAL)
    index.point_alias(ALIAS, PHYSICAL_2)
    index.close()
    assert json.loads((tmp_path / "aliases.json").read_text()) == {ALIAS: PHYSICAL_2}
    # A crash mid-write leaves a temporary file and a shard half moved to trash.
    (tmp_path / ".aliases.json.deadbeef").write_text('{"torn": ')
    (tmp_path / "shards" / PHYSICAL_2).rename(tmp_path / "trash" / "old-x")
    reopened = QdrantEdgeIndex(tmp_path)
    try:
        assert reopened.resolve_alias(ALIAS) is None  # its shard is gone: no dangling alias
        assert reopened.physical_collections() == [PHYSICAL]
        assert list((tmp_path / "trash").iterdir()) == []
        assert not (tmp_path / ".aliases.json.deadbeef").exists()
    finally:
        reopened.close()


def test_dropping_a_collection_drops_its_aliases(tmp_path: Path) -> None:
    index = QdrantEdgeIndex(tmp_path)
    try:
        index.create_physical(PHYSICAL, 4)
        index.point_alias(ALIAS, PHYSICAL)
        index.drop_physical(PHYSICAL)
        assert index.resolve_alias(ALIAS) is None
        assert index.physical_collections() == []
        index.drop_physical(PHYSICAL)  # idempotent
    finally:
        index.close()


HNSW_N, HNSW_DIM, HNSW_GROUPS = 4000, 32, 40


@pytest.fixture(scope="module")
def hnsw_index(tmp_path_factory):
    """4 000 points with small thresholds, so that they live in HNSW-indexed segments."""
    vectors = unit_rows(HNSW_N, HNSW_DIM, seed=1)
    index = QdrantEdgeIndex(tmp_path_factory.mktemp("hnsw"), indexing_threshold_kb=100, full_scan_threshold_kb=50)
    index.create_physical(PHYSICAL, HNSW_DIM)
    index.point_alias(ALIAS, PHYSICAL)
    index.upsert(PHYSICAL, points(vectors, groups=HNSW_GROUPS))
    yield index, vectors
    index.close()


@pytest.mark.parametrize(
    ("caller_groups", "visible_share"),
    [
        (None, 1.0),  # no ACL: the HNSW graph
        (("g1", "g2", "g3"), 3 / 40),  # a few groups of many: payload index, exact scan
        (tuple(f"g{i}" for i in range(20)), 0.5),  # half the points: filtered HNSW
    ],
)
def test_hnsw_search_matches_exact_search_under_acl_filters(hnsw_index, caller_groups, visible_share) -> None:
    index, vectors = hnsw_index
    assert index._shard(PHYSICAL).info().indexed_vectors_count >= HNSW_N // 2
    groups = np.array([f"g{i % HNSW_GROUPS}" for i in range(HNSW_N)])
    visible = np.ones(HNSW_N, bool) if caller_groups is None else np.isin(groups, caller_groups)
    assert visible.mean() == pytest.approx(visible_share)
    found = 0
    queries = unit_rows(50, HNSW_DIM, seed=2)
    for query in queries:
        hits = index.search(ALIAS, dense=query, sparse=None, flt=IndexFilter(acl_groups=caller_groups), limit=10)
        got = {int(h.payload["document_id"][3:]) for h in hits}
        assert len(got) == 10 and all(visible[i] for i in got)
        exact = np.argsort(-np.where(visible, vectors @ query, -np.inf))[:10]
        found += len(got & set(exact.tolist()))
    assert found / (10 * len(queries)) >= 0.95


def test_threads_can_write_search_and_swap_aliases_at_once(tmp_path: Path) -> None:
    dim = 16
    index = QdrantEdgeIndex(tmp_path)
    index.create_physical(PHYSICAL, dim)
    index.create_physical(PHYSICAL_2, dim)
    index.point_alias(ALIAS, PHYSICAL)
    errors: list[BaseException] = []

    def guarded(fn):
        def run():
            try:
                fn()
            except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
                errors.append(exc)
        return run

    def writer(target: str, seed: int):
        def write():
            for batch in range(10):
                index.upsert(target, points(unit_rows(20, dim, seed * 100 + batch), prefix=f"w{seed}b{batch}-"))
        return write

    def reader():
        for _ in range(60):
            index.search(ALIAS, dense=unit_rows(1, dim, 9)[0], sparse=SPARSE.encode_query("passage"),
                         flt=IndexFilter(acl_groups=("g0",)), limit=5)
            index.count(ALIAS, only_ready=True)

    def swapper():
        for i in range(30):
            index.point_alias(ALIAS, PHYSICAL_2 if i % 2 == 0 else PHYSICAL)

    threads = [threading.Thread(target=guarded(f)) for f in
               (writer(PHYSICAL, 1), writer(PHYSICAL_2, 2), reader, reader, swapper)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == []
        assert index.count(PHYSICAL) == index.count(PHYSICAL_2) == 200
    finally:
        index.close()
