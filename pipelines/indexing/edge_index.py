"""``VectorIndex`` on Qdrant Edge (``qdrant-edge-py``): Qdrant's engine inside the process.

Same data model as ``qdrant_index`` (names, point ids, payload, ``ready`` flag, dense
cosine vector ``"dense"`` + sparse vector ``"sparse"`` with IDF, RRF fusion), but the
engine builds HNSW and payload indexes, so a filtered query at 100k points costs a few
milliseconds instead of a brute-force scan in Python.

Layout of the folder::

    <root>/.lock                 exclusive lock while a process has the index open
    <root>/aliases.json          alias -> physical map (see below)
    <root>/shards/<physical>/    one Edge shard per physical collection
    <root>/trash/                shards being deleted (removed at open)

Why an alias file: an Edge shard is one collection and Edge has no aliases. The map is
small and rewritten whole on every change (temporary file, fsync, ``os.replace``, fsync
of the folder), so a crash leaves either the old or the new mapping, never a torn one:
that is what makes a re-index swap atomic, as an alias update is on a Qdrant server.
A shard is created under ``trash/`` and renamed into ``shards/`` once its payload
indexes exist, and renamed out before it is deleted, for the same reason.

Engine facts this class is built around (qdrant-edge-py 0.9.0, measured here):

* Every engine call holds the GIL for its whole duration (queries, updates and
  ``optimize``), so Python threads never run engine code in parallel. One re-entrant
  lock serialises every operation: it costs no parallelism and makes the compound
  steps (resolve an alias then query; drop a shard while a query holds it) safe.
* There is no background optimizer: HNSW graphs are built only when ``optimize()`` is
  called. ``upsert`` calls it after each write (a no-op in ~50 µs unless a segment
  has outgrown ``indexing_threshold_kb``), so the build happens in the writing thread,
  segment by segment; ``max_segment_size_kb`` bounds how long one build (and so one
  GIL pause of the whole process: tens of seconds for 50k points here) can take.
  Points are searchable as soon as the upsert returns (unindexed segments are scanned
  exactly).
* ``MatchValue(True)`` reaches the engine as the integer 1 (the binding tries ``int``
  before ``bool``), which matches no boolean payload; ``numpy.bool_`` is converted as a
  boolean, hence ``_bool``.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import qdrant_edge as qe

from pipelines.errors import Conflict, InvalidRequest, NotFound
from pipelines.indexing.qdrant_index import ALL_GROUPS, DENSE, SPARSE, _checked_tags
from pipelines.types import IndexFilter, IndexPoint, ScoredChunk, SparseVector

log = logging.getLogger(__name__)

_NAME = re.compile(r"[A-Za-z0-9_-]{1,200}")
_ALIASES = "aliases.json"
_RRF_K = 2
"""qdrant-client's default RRF constant (local mode and server), so fused rankings match."""


def _bool(value: bool) -> Any:
    """A boolean the binding passes on as a boolean (see the module docstring)."""
    return np.bool_(value)


def _match(key: str, value: Any) -> qe.FieldCondition:
    if isinstance(value, bool):
        value = _bool(value)
    return qe.FieldCondition(key=key, match=qe.MatchValue(value))


def _document_filter(document_id: str) -> qe.Filter:
    return qe.Filter(must=[_match("document_id", document_id)])


def edge_filter(flt: IndexFilter, *, only_ready: bool = True) -> qe.Filter:
    """``IndexFilter`` -> Edge ``Filter``, the same rules as ``qdrant_index.build_filter``:
    ready points only; ``acl_groups=None`` no ACL; otherwise visible when the point has no
    group, shares one with the caller, or the caller holds ``*``."""
    must: list[Any] = []
    if only_ready:
        must.append(_match("ready", True))
    if flt.document_ids:
        must.append(qe.FieldCondition(key="document_id", match=qe.MatchAny(list(flt.document_ids))))
    for key, value in sorted(_checked_tags(flt.tags).items()):
        must.append(_match(f"tags.{key}", value))
    if flt.acl_groups is not None and ALL_GROUPS not in flt.acl_groups:
        visible: list[Any] = [qe.IsEmptyCondition("acl_groups")]
        if flt.acl_groups:
            visible.append(qe.FieldCondition(key="acl_groups", match=qe.MatchAny(list(flt.acl_groups))))
        must.append(qe.Filter(should=visible))
    return qe.Filter(must=must)


def _by_score_then_id(hits: Sequence[Any]) -> list[Any]:
    return sorted(hits, key=lambda p: (-float(p.score), str(p.id)))


def _scored(p: Any) -> ScoredChunk:
    return ScoredChunk(id=str(p.id), score=float(p.score), payload=p.payload or {})


def _dense_list(vector: Any) -> list[float]:
    return np.asarray(vector, dtype=np.float32).ravel().tolist()


def _edge_sparse(vector: SparseVector) -> qe.SparseVector:
    return qe.SparseVector(list(vector.indices), [float(v) for v in vector.values])


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


_NEVER_KB = 10**9
"""An indexing threshold no segment reaches (1 TB of vectors): no HNSW graph is built."""


class QdrantEdgeIndex:
    """``pipelines.ports.VectorIndex`` over Qdrant Edge shards in one folder.

    Defaults, from ``bench/index_scale.py`` on real USE embeddings (question -> passage
    similarities are low and close together, which is hard for HNSW): by default no
    segment gets an HNSW graph (``indexing_threshold_kb=None``): every query is an exact
    scan of the (filtered) points. Measured at 1M chunks with an ACL filter, exact scan
    answered in p95 72 ms with recall 1, while graphs (m=32, ef_construct=200, ef=1024,
    ACORN) took p95 314 ms, recall ~0.97, 2x the memory and build pauses of up to 16 min
    holding the GIL. With a threshold set, segments past it get a graph (m=16/ef=128
    gave recall@10 0.73; ``m=32, ef_construct=200, hnsw_ef=1024`` 0.98 at 32k points,
    0.88 / 0.97 with an ACL filter at 100k), at most ``max_segment_size_kb`` each.
    ``acorn``: filtered HNSW search with ACORN (without it, recall under an ACL
    filter that lets ~11% through fell to 0.65-0.80); filters matching fewer than
    ``full_scan_threshold_kb`` of vectors are answered by an exact scan of those points.
    ``prefetch_factor`` / ``min_prefetch``: depth of each branch of a hybrid query, as
    in ``QdrantIndex``; ``tie_margin``: extra candidates per branch so ties at its cut
    are ordered by point id (see ``search``).

    Invariant: while an instance is open, no other process can open the folder (the
    ``.lock`` is held), and every alias in ``aliases.json`` names an existing shard.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        m: int = 32,
        ef_construct: int = 200,
        hnsw_ef: int = 1024,
        acorn: bool = True,
        prefetch_factor: int = 4,
        min_prefetch: int = 50,
        tie_margin: int = 50,
        upsert_batch: int = 512,
        full_scan_threshold_kb: int = 10_000,
        indexing_threshold_kb: int | None = None,
        max_segment_size_kb: int | None = 250_000,
        optimize_on_write: bool = True,
        _cleanup: tempfile.TemporaryDirectory | None = None,
    ) -> None:
        self.root = Path(path)
        self.m, self.ef_construct, self.hnsw_ef, self.acorn = m, ef_construct, hnsw_ef, acorn
        self.prefetch_factor, self.min_prefetch = prefetch_factor, min_prefetch
        self.tie_margin = tie_margin
        self.upsert_batch = upsert_batch
        self.full_scan_threshold_kb = full_scan_threshold_kb
        self.indexing_threshold_kb = indexing_threshold_kb
        self.max_segment_size_kb = max_segment_size_kb
        self.optimize_on_write = optimize_on_write
        self._cleanup = _cleanup
        self._lock = threading.RLock()
        self._shards: dict[str, qe.EdgeShard] = {}
        self._closed = False
        for folder in ("shards", "trash"):
            (self.root / folder).mkdir(parents=True, exist_ok=True)
        self._lock_file = self._take_folder_lock()
        # Leftovers of a crash: shards being created or deleted, alias files being written.
        shutil.rmtree(self.root / "trash", ignore_errors=True)
        (self.root / "trash").mkdir(exist_ok=True)
        for partial in self.root.glob(f".{_ALIASES}.*"):
            partial.unlink(missing_ok=True)
        self._aliases = self._read_aliases()

    @classmethod
    def temporary(cls, **kwargs: Any) -> QdrantEdgeIndex:
        """An index in a fresh temporary folder, deleted by ``close`` (Edge has no
        in-memory mode: this stands in for ``":memory:"``)."""
        folder = tempfile.TemporaryDirectory(prefix="docintel-edge-")
        return cls(folder.name, _cleanup=folder, **kwargs)

    def _take_folder_lock(self):
        # portalocker: the library (and lock file) qdrant-client local mode uses, so
        # services.maintenance.service_stopped detects a running server the same way.
        import portalocker

        handle = (self.root / ".lock").open("a+")
        try:
            portalocker.lock(handle, portalocker.LockFlags.EXCLUSIVE | portalocker.LockFlags.NON_BLOCKING)
        except portalocker.exceptions.LockException:
            handle.close()
            raise RuntimeError(f"the embedded index {self.root} is already open in another process") from None
        return handle

    def close(self) -> None:
        """Flush and close every shard, release the folder lock (idempotent)."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            for shard in self._shards.values():
                shard.close()
            self._shards.clear()
            import portalocker

            portalocker.unlock(self._lock_file)
            self._lock_file.close()
            if self._cleanup is not None:
                self._cleanup.cleanup()

    # -- aliases ------------------------------------------------------------------
    def _read_aliases(self) -> dict[str, str]:
        path = self.root / _ALIASES
        if not path.exists():
            return {}
        aliases = json.loads(path.read_text(encoding="utf-8"))
        # An alias left pointing at a shard whose deletion was interrupted is dropped.
        return {a: p for a, p in aliases.items() if self._shard_dir(p).is_dir()}

    def _write_aliases(self, aliases: dict[str, str]) -> None:
        path = self.root / _ALIASES
        tmp = self.root / f".{_ALIASES}.{uuid.uuid4().hex}"
        with tmp.open("w", encoding="utf-8") as handle:
            json.dump(aliases, handle, sort_keys=True)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
        _fsync_dir(self.root)
        self._aliases = aliases

    def point_alias(self, alias: str, physical: str) -> None:
        """Atomically make ``alias`` resolve to ``physical`` (one file rename)."""
        with self._lock:
            if not self._exists(physical):
                raise NotFound(f"index collection {physical!r} does not exist")
            self._write_aliases({**self._aliases, alias: physical})

    def resolve_alias(self, alias: str) -> str | None:
        with self._lock:
            return self._aliases.get(alias)

    def drop_alias(self, alias: str) -> None:
        with self._lock:
            if alias in self._aliases:
                self._write_aliases({a: p for a, p in self._aliases.items() if a != alias})

    # -- shards -------------------------------------------------------------------
    def _shard_dir(self, physical: str) -> Path:
        if not _NAME.fullmatch(physical):
            raise InvalidRequest(f"invalid index collection name {physical!r}")
        return self.root / "shards" / physical

    def _exists(self, physical: str) -> bool:
        return physical in self._shards or (self._shard_dir(physical) / "edge_config.json").exists()

    def _config(self, dimension: int) -> qe.EdgeConfig:
        return qe.EdgeConfig(
            vectors={DENSE: qe.EdgeVectorParams(size=dimension, distance=qe.Distance.Cosine)},
            sparse_vectors={SPARSE: qe.EdgeSparseVectorParams(modifier=qe.Modifier.Idf)},
            hnsw_config=qe.HnswIndexConfig(
                m=self.m, ef_construct=self.ef_construct, full_scan_threshold=self.full_scan_threshold_kb
            ),
            optimizers=qe.EdgeOptimizersConfig(
                indexing_threshold=_NEVER_KB if self.indexing_threshold_kb is None else self.indexing_threshold_kb,
                max_segment_size=self.max_segment_size_kb,
            ),
        )

    def _stored_dimension(self, physical: str) -> int | None:
        config = json.loads((self._shard_dir(physical) / "edge_config.json").read_text(encoding="utf-8"))
        return ((config.get("vectors") or {}).get(DENSE) or {}).get("size")

    def _shard(self, name: str) -> qe.EdgeShard:
        """The open shard for an alias or a physical name (``NotFound`` otherwise).
        Call with the lock held."""
        if self._closed:
            raise RuntimeError("the index is closed")
        physical = self._aliases.get(name, name)
        shard = self._shards.get(physical)
        if shard is None:
            if not self._exists(physical):
                raise NotFound(f"index collection {name!r} does not exist")
            # Loading with this instance's config applies changed tunables (HNSW, segment
            # sizes) to existing shards; the vectors part must match what is stored.
            config = self._config(self._stored_dimension(physical))
            shard = self._shards[physical] = qe.EdgeShard.load(str(self._shard_dir(physical)), config)
        return shard

    def create_physical(self, physical: str, dimension: int) -> None:
        """Create ``physical`` (idempotent when it exists with the same dimension)."""
        with self._lock:
            if self._exists(physical):
                size = self._stored_dimension(physical)
                if size != dimension:
                    raise Conflict(f"index collection exists with dimension {size}, not {dimension}")
                return
            staging = self.root / "trash" / f"new-{physical}-{uuid.uuid4().hex[:8]}"
            shard = qe.EdgeShard.create(str(staging), self._config(dimension))
            try:
                # Payload indexes: the filters of every query (ready, ACL) and of the
                # per-document operations. Tag keys are free-form and stay unindexed.
                shard.update(qe.UpdateOperation.create_field_index("document_id", qe.PayloadSchemaType.Keyword))
                shard.update(qe.UpdateOperation.create_field_index("acl_groups", qe.PayloadSchemaType.Keyword))
                shard.update(qe.UpdateOperation.create_field_index("ready", qe.PayloadSchemaType.Bool))
            finally:
                shard.close()
            os.replace(staging, self._shard_dir(physical))
            _fsync_dir(self.root / "shards")

    def drop_physical(self, physical: str) -> None:
        """Delete a physical collection and every alias pointing at it (idempotent)."""
        with self._lock:
            if not self._exists(physical):
                return
            shard = self._shards.pop(physical, None)
            if shard is not None:
                shard.close()
            stale = {a for a, p in self._aliases.items() if p == physical}
            if stale:
                self._write_aliases({a: p for a, p in self._aliases.items() if a not in stale})
            doomed = self.root / "trash" / f"old-{physical}-{uuid.uuid4().hex[:8]}"
            os.replace(self._shard_dir(physical), doomed)
            _fsync_dir(self.root / "shards")
            shutil.rmtree(doomed, ignore_errors=True)

    def physical_collections(self) -> list[str]:
        with self._lock:
            return sorted(p.name for p in (self.root / "shards").iterdir() if (p / "edge_config.json").exists())

    def optimize(self, name: str | None = None) -> float:
        """Build pending HNSW graphs now (one collection, or all); returns the seconds taken."""
        with self._lock:
            started = time.perf_counter()
            for physical in [name] if name else self.physical_collections():
                self._shard(physical).optimize()
            return time.perf_counter() - started

    # -- points -------------------------------------------------------------------
    def upsert(self, physical: str, points: Sequence[IndexPoint]) -> None:
        """Write points in batches (same ids twice = same points), searchable at once.
        On return the points are in the shard's write-ahead log: a process crash loses
        nothing; a power cut may lose the last writes, which the ingest recovery redoes
        (points stay ``ready: False`` until a document is complete)."""
        with self._lock:
            shard = self._shard(physical)
            for i in range(0, len(points), self.upsert_batch):
                batch = []
                for point in points[i : i + self.upsert_batch]:
                    vector: dict[str, Any] = {DENSE: _dense_list(point.dense)}
                    if point.sparse.indices:  # a chunk with no content token has no sparse part
                        vector[SPARSE] = _edge_sparse(point.sparse)
                    batch.append(qe.Point(point.id, vector, point.payload))
                shard.update(qe.UpdateOperation.upsert_points(batch))
            if self.optimize_on_write:
                started = time.perf_counter()
                if shard.optimize():
                    log.info("index segment optimised", extra={"seconds": round(time.perf_counter() - started, 3)})

    def set_payload(self, name: str, document_id: str, payload: dict) -> None:
        with self._lock:
            self._shard(name).update(qe.UpdateOperation.set_payload_by_filter(_document_filter(document_id), payload))

    def delete_document(self, name: str, document_id: str) -> None:
        with self._lock:
            self._shard(name).update(qe.UpdateOperation.delete_points_by_filter(_document_filter(document_id)))

    def count(self, name: str, *, document_id: str | None = None, only_ready: bool = False) -> int:
        must: list[Any] = []
        if document_id is not None:
            must.append(_match("document_id", document_id))
        if only_ready:
            must.append(_match("ready", True))
        request = qe.CountRequest(exact=True, filter=qe.Filter(must=must) if must else None)
        with self._lock:
            return self._shard(name).count(request)

    def document_ids(self, name: str) -> set[str]:
        ids: set[str] = set()
        for record in self._records(name, None, with_vector=False, payload=qe.PayloadSelector.Include(["document_id"])):
            ids.add((record.payload or {})["document_id"])
        return ids

    def scroll(self, name: str, *, document_id: str | None = None) -> Iterator[IndexPoint]:
        """Every point (of one document), vectors included, in id order."""
        flt = _document_filter(document_id) if document_id is not None else None
        for record in self._records(name, flt, with_vector=True, payload=True):
            vectors = record.vector if isinstance(record.vector, dict) else {}
            sparse = vectors.get(SPARSE)
            yield IndexPoint(
                id=str(record.id),
                dense=vectors.get(DENSE),
                sparse=SparseVector(tuple(sparse.indices), tuple(sparse.values)) if sparse is not None
                else SparseVector((), ()),
                payload=record.payload or {},
            )

    def _records(self, name: str, flt: qe.Filter | None, *, with_vector: bool, payload: Any) -> Iterator[Any]:
        # One page per lock hold: a long scroll does not block queries in between.
        offset = None
        while True:
            with self._lock:
                records, offset = self._shard(name).scroll(
                    qe.ScrollRequest(offset=offset, limit=512, filter=flt, with_payload=payload,
                                     with_vector=with_vector)
                )
            yield from records
            if offset is None:
                return

    # -- search -------------------------------------------------------------------
    def search(
        self,
        name: str,
        *,
        dense: np.ndarray,
        sparse: SparseVector | None,
        flt: IndexFilter,
        limit: int,
    ) -> list[ScoredChunk]:
        """RRF fusion (k=2) of a dense and a sparse branch when ``sparse`` has terms, else
        a plain dense query. The filter (ready, ACL, documents, tags) is part of each
        branch, so hidden points never take a place in a branch's candidates.

        Deterministic: equal scores are ordered by point id, in each branch and after
        fusion (the engine orders ties by its internal offsets, which a re-index
        changes), and each branch fetches ``tie_margin`` extra candidates so that ties at
        a branch's cut are settled by id too. So a rebuilt collection answers exactly as
        the one it replaces (re-index with an unchanged embedder)."""
        query_filter = edge_filter(flt)
        params = qe.SearchParams(
            hnsw_ef=self.hnsw_ef, acorn=qe.AcornSearchParams(enable=True) if self.acorn else None
        )
        dense_query = qe.Query.Nearest(_dense_list(dense), using=DENSE)
        with self._lock:
            shard = self._shard(name)
            if sparse is None or not sparse.indices:
                hits = shard.query(qe.QueryRequest(limit=limit + self.tie_margin, query=dense_query,
                                                   filter=query_filter, params=params, with_payload=True))
                return [_scored(p) for p in _by_score_then_id(hits)[:limit]]
            depth = max(limit * self.prefetch_factor, self.min_prefetch)
            # Branches without payloads (ids and scores only); payloads for the final few.
            branches = [
                shard.query(qe.QueryRequest(limit=depth + self.tie_margin, query=query, filter=query_filter,
                                            params=branch_params, with_payload=False))
                for query, branch_params in (
                    (dense_query, params),
                    (qe.Query.Nearest(_edge_sparse(sparse), using=SPARSE), None),
                )
            ]
            fused: dict[str, float] = {}
            ids: dict[str, Any] = {}
            for hits in branches:
                for rank, p in enumerate(_by_score_then_id(hits)[:depth]):
                    key = str(p.id)
                    fused[key] = fused.get(key, 0.0) + 1.0 / (rank + _RRF_K)  # Qdrant's RRF: 0-based rank
                    ids[key] = p.id
            order = sorted(fused, key=lambda key: (-fused[key], key))[:limit]
            records = {str(r.id): r for r in shard.retrieve([ids[key] for key in order], True, False)}
        return [ScoredChunk(id=key, score=fused[key], payload=records[key].payload or {})
                for key in order if key in records]


