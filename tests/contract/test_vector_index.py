"""Contract of ``pipelines.ports.VectorIndex``: every backend in ``BACKENDS`` must pass.

Vectors are tiny (4-d, hand-made) so each case states exactly which point a query
should reach; the sparse side uses the real ``LexicalSparseEncoder``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from models.sparse import LexicalSparseEncoder
from pipelines.errors import Conflict, InvalidRequest, NotFound
from pipelines.indexing import alias_name, build_filter, chunk_payload, physical_collection_name, point_id
from pipelines.ports import VectorIndex
from pipelines.types import Chunk, IndexFilter, IndexPoint, SparseVector
from tests.contract.backends import BACKENDS, IndexBackend

DIM = 4
ALIAS = alias_name("acme", "claims")
PHYSICAL = physical_collection_name("acme", "claims", "test-embedder", "1", generation=1)
PHYSICAL_2 = physical_collection_name("acme", "claims", "test-embedder", "1", generation=2)
SPARSE = LexicalSparseEncoder()


@pytest.fixture(params=sorted(BACKENDS))
def backend(request) -> IndexBackend:
    return BACKENDS[request.param]


@pytest.fixture
def index(backend: IndexBackend, tmp_path: Path) -> Iterator[VectorIndex]:
    opened = backend.open(tmp_path)
    opened.create_physical(PHYSICAL, DIM)
    opened.point_alias(ALIAS, PHYSICAL)
    yield opened
    backend.close(opened)


def unit(*values: float) -> np.ndarray:
    vector = np.asarray(values, dtype=np.float32)
    return vector / np.linalg.norm(vector)


def make_point(
    document_id: str,
    chunk_index: int,
    *,
    dense: np.ndarray | None = None,
    text: str = "texte du passage",
    acl_groups: tuple[str, ...] = (),
    tags: dict[str, str] | None = None,
    ready: bool = True,
) -> IndexPoint:
    chunk = Chunk(page=1, start=0, end=len(text), text=text, index=chunk_index, bbox=(1.0, 2.0, 3.0, 4.0))
    return IndexPoint(
        id=point_id(document_id, chunk_index),
        dense=unit(1, 0, 0, 0) if dense is None else dense,
        sparse=SPARSE.encode_documents([text])[0],
        payload=chunk_payload(
            chunk,
            document_id=document_id,
            filename=f"{document_id}.pdf",
            acl_groups=acl_groups,
            tags=tags,
            ready=ready,
        ),
    )


def search_ids(index: VectorIndex, flt: IndexFilter = IndexFilter(), *, sparse=None, query=None) -> list[str]:
    hits = index.search(
        ALIAS, dense=unit(1, 0, 0, 0) if query is None else query, sparse=sparse, flt=flt, limit=50
    )
    return [h.payload["document_id"] for h in hits]


# -- naming -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("a", "b"),
    [
        (("acme", "claims"), ("acme", "claims2")),
        (("a.b", "c"), ("a_b", "c")),  # slug alike, still distinct
        (("acme", "x/y"), ("acme", "x y")),
    ],
)
def test_names_are_distinct_and_safe(a, b) -> None:
    assert alias_name(*a) != alias_name(*b)
    for name in (alias_name(*a), physical_collection_name(*a, "e", "1", 1)):
        assert name.replace("_", "").replace("-", "").isalnum() and name.islower()
    assert physical_collection_name(*a, "e", "1", 1) != physical_collection_name(*a, "e", "2", 1)
    assert physical_collection_name(*a, "e", "1", 1) != physical_collection_name(*a, "e", "1", 2)


@pytest.mark.parametrize(
    ("key", "accepted"),
    [("year", True), ("doc-type_2", True), ("a.b", False), ("with space", False), ("", False), ("x" * 65, False)],
)
def test_tag_keys_are_checked_where_they_enter_the_index(key: str, accepted: bool) -> None:
    chunk = Chunk(page=1, start=0, end=1, text="x", index=0)
    if accepted:
        assert chunk_payload(chunk, document_id="d", filename="f", tags={key: "v"})["tags"] == {key: "v"}
        build_filter(IndexFilter(tags={key: "v"}))
    else:
        with pytest.raises(InvalidRequest):
            chunk_payload(chunk, document_id="d", filename="f", tags={key: "v"})
        with pytest.raises(InvalidRequest):
            build_filter(IndexFilter(tags={key: "v"}))


def test_point_ids_are_deterministic_uuids() -> None:
    assert point_id("doc", 3) == point_id("doc", 3)
    assert len({point_id("doc", 3), point_id("doc", 4), point_id("doc2", 3)}) == 3


# -- collections and aliases ----------------------------------------------------------


def test_alias_swap_moves_queries_to_the_new_collection(index: VectorIndex) -> None:
    index.upsert(PHYSICAL, [make_point("old", 0)])
    index.create_physical(PHYSICAL_2, DIM)
    index.upsert(PHYSICAL_2, [make_point("new", 0), make_point("new", 1)])

    assert index.resolve_alias(ALIAS) == PHYSICAL
    assert search_ids(index) == ["old"]
    index.point_alias(ALIAS, PHYSICAL_2)
    assert index.resolve_alias(ALIAS) == PHYSICAL_2
    assert search_ids(index) == ["new", "new"]
    assert index.count(ALIAS) == 2

    index.drop_physical(PHYSICAL)
    assert index.count(ALIAS) == 2
    index.drop_alias(ALIAS)
    assert index.resolve_alias(ALIAS) is None
    index.drop_alias(ALIAS)  # idempotent


def test_create_physical_is_idempotent_but_refuses_another_dimension(index: VectorIndex) -> None:
    index.upsert(PHYSICAL, [make_point("d", 0)])
    index.create_physical(PHYSICAL, DIM)
    assert index.count(PHYSICAL) == 1
    with pytest.raises(Conflict):
        index.create_physical(PHYSICAL, DIM + 1)


# -- writes -------------------------------------------------------------------------


def test_upsert_is_idempotent(index: VectorIndex) -> None:
    points = [make_point("d", i) for i in range(5)]
    index.upsert(PHYSICAL, points)
    index.upsert(PHYSICAL, points)
    assert index.count(ALIAS) == 5


def test_count_is_exact_per_document_and_readiness(index: VectorIndex) -> None:
    points = [make_point(f"doc{i % 7}", i, ready=i % 3 != 0) for i in range(300)]
    index.upsert(PHYSICAL, points)
    assert index.count(ALIAS) == 300
    assert index.count(ALIAS, only_ready=True) == 200
    assert index.count(ALIAS, document_id="doc3") == sum(1 for i in range(300) if i % 7 == 3)
    assert index.count(ALIAS, document_id="doc3", only_ready=True) == sum(
        1 for i in range(300) if i % 7 == 3 and i % 3 != 0
    )
    assert index.document_ids(ALIAS) == {f"doc{i}" for i in range(7)}


def test_not_ready_points_are_invisible_until_flipped(index: VectorIndex) -> None:
    index.upsert(PHYSICAL, [make_point("half", i, ready=False) for i in range(3)])
    sparse = SPARSE.encode_query("texte")
    assert search_ids(index) == []
    assert search_ids(index, sparse=sparse) == []
    index.set_payload(ALIAS, "half", {"ready": True})
    assert search_ids(index) == ["half"] * 3
    assert index.count(ALIAS, only_ready=True) == 3


def test_delete_document_removes_every_point(index: VectorIndex) -> None:
    index.upsert(PHYSICAL, [make_point("gone", i) for i in range(4)] + [make_point("kept", 0)])
    index.delete_document(ALIAS, "gone")
    assert list(index.scroll(ALIAS, document_id="gone")) == []
    assert [p.payload["document_id"] for p in index.scroll(ALIAS)] == ["kept"]
    assert index.count(ALIAS) == 1


def test_searching_a_dropped_collection_is_not_found(index: VectorIndex) -> None:
    # A query racing a re-index may name a physical collection just dropped: callers
    # retry on NotFound, so every backend must raise exactly that (not a driver error).
    index.upsert(PHYSICAL, [make_point("d", 0)])
    index.drop_physical(PHYSICAL)
    with pytest.raises(NotFound):
        index.search(PHYSICAL, dense=unit(1, 0, 0, 0), sparse=None, flt=IndexFilter(), limit=3)


def test_scroll_returns_vectors_and_payload(index: VectorIndex) -> None:
    point = make_point("d", 0, dense=unit(1, 2, 3, 4), text="Police 778812 signée")
    index.upsert(PHYSICAL, [point])
    (stored,) = list(index.scroll(ALIAS, document_id="d"))
    assert stored.id == point.id
    np.testing.assert_allclose(np.asarray(stored.dense), point.dense, rtol=1e-5)
    assert set(stored.sparse.indices) == set(point.sparse.indices)
    assert stored.payload == point.payload


# -- search ---------------------------------------------------------------------------


def test_search_returns_citation_payload(index: VectorIndex) -> None:
    index.upsert(PHYSICAL, [make_point("d", 0, text="Le sinistre date du 14 mars.")])
    (hit,) = index.search(ALIAS, dense=unit(1, 0, 0, 0), sparse=None, flt=IndexFilter(), limit=5)
    assert hit.text == "Le sinistre date du 14 mars."
    assert {k: hit.payload[k] for k in ("document_id", "filename", "page", "start", "end", "bbox")} == {
        "document_id": "d", "filename": "d.pdf", "page": 1, "start": 0, "end": 28, "bbox": [1.0, 2.0, 3.0, 4.0],
    }


@pytest.mark.parametrize(
    ("caller_groups", "point_groups", "visible"),
    [
        (None, ("hr",), True),  # trusted internal call: no ACL
        (("*",), ("hr",), True),
        ((), (), True),
        ((), ("hr",), False),
        (("sales",), (), True),
        (("sales",), ("hr",), False),
        (("hr",), ("hr", "legal"), True),
        (("sales", "legal"), ("hr", "legal"), True),
    ],
)
def test_acl_matrix(index: VectorIndex, caller_groups, point_groups, visible: bool) -> None:
    index.upsert(PHYSICAL, [make_point("d", 0, acl_groups=point_groups)])
    flt = IndexFilter(acl_groups=caller_groups)
    expected = ["d"] if visible else []
    assert search_ids(index, flt) == expected
    assert search_ids(index, flt, sparse=SPARSE.encode_query("texte passage")) == expected


def test_filters_apply_inside_the_query_not_after_it(index: VectorIndex) -> None:
    """Many better-scoring hidden points must not crowd the visible one out of the top k."""
    hidden = [
        make_point(f"hidden{i}", 0, dense=unit(1, 0.001 * i, 0, 0), acl_groups=("hr",), text="texte passage")
        for i in range(120)
    ]
    visible = make_point("visible", 0, dense=unit(0, 1, 0, 0), text="autre chose")
    index.upsert(PHYSICAL, [*hidden, visible])
    flt = IndexFilter(acl_groups=("sales",))
    for sparse in (None, SPARSE.encode_query("texte passage")):
        hits = index.search(ALIAS, dense=unit(1, 0, 0, 0), sparse=sparse, flt=flt, limit=3)
        assert [h.payload["document_id"] for h in hits] == ["visible"]


@pytest.mark.parametrize(
    ("flt", "expected"),
    [
        (IndexFilter(document_ids=("a",)), ["a"]),
        (IndexFilter(document_ids=("a", "c")), ["a", "c"]),
        (IndexFilter(document_ids=("zzz",)), []),
        (IndexFilter(tags={"year": "2024"}), ["a", "b"]),
        (IndexFilter(tags={"year": "2024", "kind": "claim"}), ["b"]),
        (IndexFilter(tags={"kind": "invoice"}), []),
        (IndexFilter(document_ids=("a", "b"), tags={"kind": "claim"}), ["b"]),
    ],
)
def test_document_and_tag_filters(index: VectorIndex, flt: IndexFilter, expected: list[str]) -> None:
    index.upsert(
        PHYSICAL,
        [
            make_point("a", 0, tags={"year": "2024"}, dense=unit(1, 0.1, 0, 0)),
            make_point("b", 0, tags={"year": "2024", "kind": "claim"}, dense=unit(1, 0.2, 0, 0)),
            make_point("c", 0, tags={"year": "2023", "kind": "claim"}, dense=unit(1, 0.3, 0, 0)),
        ],
    )
    assert search_ids(index, flt) == expected


def _near_and_far(index: VectorIndex, document_id: str, text: str) -> None:
    """Five distractors near the query vector, and ``document_id`` far from it: only
    the sparse side can bring it first."""
    distractors = [
        make_point(f"near{i}", 0, dense=unit(1, 0.05 * i, 0, 0), text=f"Conditions générales, article {i}.")
        for i in range(5)
    ]
    index.upsert(PHYSICAL, [*distractors, make_point(document_id, 0, dense=unit(0, 0, 1, 0), text=text)])


def test_hybrid_fusion_finds_the_exact_term_dense_misses(index: VectorIndex) -> None:
    _near_and_far(index, "policy", "Numéro de police AB-778812 du contrat.")
    question = "Quel est le contrat AB-778812 ?"
    assert search_ids(index, query=unit(1, 0, 0, 0))[0] != "policy"
    fused = search_ids(index, query=unit(1, 0, 0, 0), sparse=SPARSE.encode_query(question))
    assert fused[0] == "policy"
    assert sorted(fused) == sorted(["policy"] + [f"near{i}" for i in range(5)])


def test_a_respelled_query_finds_the_word_a_typo_misses(index: VectorIndex) -> None:
    """``LexicalSparseEncoder.encode_respellings``: hundreds of terms in one sparse
    query, of which only the one some document holds matches."""
    _near_and_far(index, "gel", "The carrageenan spray was given twice a day.")
    typo = "What is carageenan?"
    assert search_ids(index, sparse=SPARSE.encode_query(typo))[0] != "gel"
    respelled = SPARSE.encode_respellings(["carageenan"])
    assert len(respelled.indices) > 500
    assert search_ids(index, sparse=respelled)[0] == "gel"


def test_empty_sparse_query_falls_back_to_dense(index: VectorIndex) -> None:
    index.upsert(PHYSICAL, [make_point("d", 0)])
    assert search_ids(index, sparse=SparseVector((), ())) == ["d"]


# -- persistence ----------------------------------------------------------------------


def test_on_disk_index_survives_reopening(backend: IndexBackend, tmp_path: Path) -> None:
    if not backend.persistent:
        pytest.skip(f"{backend.name} keeps nothing across reopening")
    first = backend.open(tmp_path)
    first.create_physical(PHYSICAL, DIM)
    first.point_alias(ALIAS, PHYSICAL)
    first.upsert(PHYSICAL, [make_point("d", i) for i in range(3)])
    first.set_payload(ALIAS, "d", {"ready": True})
    backend.close(first)

    second = backend.open(tmp_path)
    try:
        assert second.resolve_alias(ALIAS) == PHYSICAL
        assert second.count(ALIAS, only_ready=True) == 3
        assert search_ids(second) == ["d"] * 3
    finally:
        backend.close(second)


def test_qdrant_local_disk_commits_through_wal(tmp_path: Path) -> None:
    """Backend-specific: one fsync per point made on-disk ingestion ~15x slower."""
    from pipelines.indexing import QdrantIndex

    index = QdrantIndex.from_location(str(tmp_path / "qdrant"))
    try:
        index.create_physical(PHYSICAL, DIM)
        connection = index._local_collections()[PHYSICAL].storage.storage
        assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert connection.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL
    finally:
        index.close()
