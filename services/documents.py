"""Collections and documents as the API sees them: registry rows, index points, jobs.

This is wiring, not domain logic: it decides *when* the ingestion pipeline runs and keeps
the registry, the index and the spool in agreement (see ``reconcile``).
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from pipelines.chunking import chunker_for
from pipelines.errors import (
    Conflict,
    DocintelError,
    EmptyDocument,
    LimitExceeded,
    NotFound,
    NotImplementedYet,
)
from pipelines.indexing.qdrant_index import alias_name, physical_collection_name
from pipelines.ingest import (
    IngestPipeline,
    IngestTarget,
    PagePreparer,
    PreparedPage,
    identity_preparer,
)
from pipelines.registry import CollectionRow, DocumentRow, StoredPages, document_id_for
from pipelines.types import Block, Page, ParsedDocument
from services.api.problems import domain_problem, problem_dict
from services.jobs import JobContext, JobRunner, Reservation

log = logging.getLogger("docintel.documents")


@dataclass(frozen=True)
class UploadOutcome:
    document: DocumentRow
    duplicate: bool
    job_id: str | None
    error: dict | None = None


class Spool:
    """Uploaded bytes waiting for their job, encrypted at rest (AES-GCM, vault key):
    they may hold PII and must survive a restart so the job can resume."""

    def __init__(self, folder: Path, key: bytes):
        self.folder = folder
        self.folder.mkdir(parents=True, exist_ok=True)
        self._aead = AESGCM(hashlib.sha256(b"docintel-spool" + key).digest())

    def _path(self, document_id: str) -> Path:
        return self.folder / f"{document_id}.bin"

    def put(self, document_id: str, data: bytes) -> None:
        nonce = os.urandom(12)
        tmp = self._path(document_id).with_suffix(".tmp")
        tmp.write_bytes(nonce + self._aead.encrypt(nonce, data, document_id.encode()))
        os.replace(tmp, self._path(document_id))

    def get(self, document_id: str) -> bytes | None:
        path = self._path(document_id)
        if not path.exists():
            return None
        blob = path.read_bytes()
        return self._aead.decrypt(blob[:12], blob[12:], document_id.encode())

    def remove(self, document_id: str) -> None:
        self._path(document_id).unlink(missing_ok=True)


class DocumentService:
    def __init__(self, container, runner: JobRunner, *,
                 preparer_for: Callable[[CollectionRow], PagePreparer] | None = None,
                 on_document_deleted: Callable[[CollectionRow, str], None] | None = None,
                 on_collection_deleted: Callable[[CollectionRow], None] | None = None):
        self.c = container
        self.runner = runner
        self.spool = Spool(container.data_dir / "spool", container.vault_key)
        self.pipeline = IngestPipeline(
            parser=container.parser, index=container.index, sparse=container.sparse,
        )
        self._passwords: dict[str, str] = {}  # job id -> password, memory only (never stored)
        self._preparer_for = preparer_for or (lambda _c: identity_preparer)
        self._on_document_deleted = on_document_deleted or (lambda _c, _d: None)
        self._on_collection_deleted = on_collection_deleted or (lambda _c: None)
        self._collection_locks: dict[tuple[str, str], threading.RLock] = {}
        self._locks_guard = threading.Lock()

    def collection_lock(self, collection: CollectionRow) -> threading.RLock:
        """Serialises what must not interleave with a re-index's final swap: publishing a
        document, deleting one, and the swap itself."""
        with self._locks_guard:
            return self._collection_locks.setdefault((collection.tenant, collection.name), threading.RLock())

    # ---- collections -------------------------------------------------------------

    def index_alias(self, collection: CollectionRow) -> str:
        return alias_name(collection.tenant, collection.name)

    @staticmethod
    def search_target(collection: CollectionRow) -> str:
        """The physical index collection built with ``collection``'s embedder (its row's
        embedder, version and generation name it).

        Queries search it rather than the alias so that the vector and the index always
        come from the same model, even when a re-index into another embedder swaps the
        alias between reading the row and searching. If that swap then drops it, the
        search raises ``NotFound`` and the caller re-reads the row and retries.
        """
        return physical_collection_name(collection.tenant, collection.name, collection.embedder,
                                        collection.embedder_version, collection.generation)

    def create_collection(self, tenant: str, name: str, *, anonymise: bool, embedder_name: str | None,
                          pii_entities: list[str] | None = None, anonymiser_available: bool = False) -> CollectionRow:
        if anonymise and not anonymiser_available:
            raise NotImplementedYet(
                "pseudonymisation is not available yet: create the collection with "
                "\"anonymise\": false (nothing with raw PII is indexed by accident)"
            )
        embedder = self.c.embedder(embedder_name)
        row = self.c.registry.create_collection(
            tenant, name, anonymise=anonymise, embedder=embedder.name, embedder_version=embedder.version,
            pii_entities=pii_entities,
        )
        physical = physical_collection_name(tenant, name, embedder.name, embedder.version, row.generation)
        try:
            self.c.index.create_physical(physical, embedder.dimension)
            self.c.index.point_alias(self.index_alias(row), physical)
        except Exception:
            self.c.registry.delete_collection(tenant, name)
            raise
        return row

    def delete_collection(self, collection: CollectionRow) -> list[str]:
        for job in self.c.registry.jobs_with_status(["queued", "running"]):
            if job.tenant == collection.tenant and job.collection == collection.name:
                self.c.registry.request_cancel(job.id)
        for job in self.c.registry.jobs_with_status(["running"]):
            if job.tenant == collection.tenant and job.collection == collection.name:
                self.runner.wait(job.id, timeout=30)
        alias = self.index_alias(collection)
        with self.collection_lock(collection):
            # Registry first: from here the API answers 404, so no request sees a
            # collection whose index is being dropped.
            ids = self.c.registry.delete_collection(collection.tenant, collection.name)
            physical = self.c.index.resolve_alias(alias)
            self.c.index.drop_alias(alias)
            if physical:
                self.c.index.drop_physical(physical)
        for document_id in ids:
            self.spool.remove(document_id)
        self._on_collection_deleted(collection)
        return ids

    def index_points(self, collection: CollectionRow) -> int:
        alias = self.index_alias(collection)
        if self.c.index.resolve_alias(alias) is None:  # being created or deleted right now
            return 0
        return self.c.index.count(alias)

    # ---- documents ---------------------------------------------------------------

    def upload(self, collection: CollectionRow, *, filename: str, data: bytes, acl_groups: list[str],
               tags: dict[str, str], password: str | None, key_id: str | None,
               reservation: Reservation | None = None) -> UploadOutcome:
        """``reservation``: job slots the caller was admitted with (``JobRunner.reserve``)."""
        sha = hashlib.sha256(data).hexdigest()
        document_id = document_id_for(collection.tenant, collection.name, sha)
        registry = self.c.registry
        error: DocintelError | None = None
        if not data.strip():
            error = EmptyDocument("the file is empty")
        elif len(data) > self.c.settings.max_upload_mb * 1024 * 1024:
            error = LimitExceeded(f"the file is larger than {self.c.settings.max_upload_mb} MB")
        if error is not None:
            problem = domain_problem(error)
            row, created = registry.insert_document(
                document_id=document_id, tenant=collection.tenant, collection=collection.name,
                filename=filename, sha256=sha, size=len(data), acl_groups=acl_groups, tags=tags,
                job_id=None, status="failed", error=problem,
            )
            return UploadOutcome(row, not created, None, problem)

        existing = registry.document_by_id(document_id)
        if existing is not None and existing.status != "failed":
            return UploadOutcome(existing, True, existing.job_id)
        job = registry.create_job(tenant=collection.tenant, kind="ingest", collection=collection.name,
                                  document_id=document_id, key_id=key_id, total=1)
        row, created = registry.insert_document(
            document_id=document_id, tenant=collection.tenant, collection=collection.name, filename=filename,
            sha256=sha, size=len(data), acl_groups=acl_groups, tags=tags, job_id=job.id,
        )
        if not created and row.status != "failed":  # lost a race with the same upload
            registry.update_job(job.id, status="cancelled", stage="duplicate")
            return UploadOutcome(row, True, row.job_id)
        if not created:
            # A failed document may be retried with the same bytes (e.g. now with its password).
            registry.update_document(document_id, status="queued", error=None, job_id=job.id)
            row = registry.get_document(collection.tenant, collection.name, document_id)
        self.spool.put(document_id, data)
        if password:
            self._passwords[job.id] = password
        self.runner.submit(job.id, self._ingest_job(collection, document_id), reservation=reservation)
        return UploadOutcome(row, False, job.id)

    def _ingest_job(self, collection: CollectionRow, document_id: str):
        def run(ctx: JobContext) -> dict:
            registry = self.c.registry
            password = self._passwords.pop(ctx.job_id, None)
            doc = registry.document_by_id(document_id)
            if doc is None:
                raise NotFound("the document was deleted before it was indexed")
            data = self.spool.get(document_id)
            if data is None:
                raise NotFound("the uploaded bytes are gone (interrupted upload); upload again")
            registry.update_document(document_id, status="running")
            alias = self.index_alias(collection)
            target = IngestTarget(
                tenant=collection.tenant, collection=collection.name,
                index_name=self.c.index.resolve_alias(alias) or alias,
                document_id=document_id, filename=doc.filename, acl_groups=tuple(doc.acl_groups), tags=doc.tags,
            )
            try:
                started = time.perf_counter()
                parsed = self.pipeline.parse(data, filename=doc.filename, password=password)
                parse_ms = (time.perf_counter() - started) * 1000
                current = collection
                while True:
                    embedder = self.c.embedder(current.embedder)
                    result = self.pipeline.index_pages(
                        parsed, target, embedder=embedder, chunker=chunker_for(embedder),
                        prepare=self._preparer_for(current), progress=ctx.progress, cancelled=ctx.cancelled,
                        timings={"parse": parse_ms},
                    )
                    with self.collection_lock(collection):
                        # A re-index may have swapped the physical collection meanwhile:
                        # then index again into the new one before publishing.
                        physical = self.c.index.resolve_alias(alias) or alias
                        if physical != target.index_name:
                            self.pipeline.remove_points(target)
                            target = replace(target, index_name=physical)
                            current = self.c.registry.get_collection(collection.tenant, collection.name)
                            continue
                        # The points carry the ACL read when the job started; a PATCH since
                        # then changed only the registry (update_acl holds this lock).
                        self._sync_access(target.index_name, document_id, target.acl_groups, target.tags)
                        self.pipeline.publish(target)
                        registry.save_pages_and_mark_indexed(
                            document_id, result.pages, offsets=result.offsets, chunks=result.chunks,
                            media_type=result.media_type, pii=result.pii, ocr_pages=result.ocr_pages,
                            anonymiser_version=self.c.anonymiser.version if current.anonymise else None,
                        )
                        break
            except DocintelError as exc:
                self._fail(document_id, domain_problem(exc))
                raise
            except BaseException:
                self._fail(document_id, problem_dict(500, "internal-error", "Internal error",
                                                     "indexing failed unexpectedly; it has been logged"))
                raise
            finally:
                self.spool.remove(document_id)
            self.c.metrics.pages_ingested.inc(len(result.pages))
            self.c.metrics.chunks_ingested.inc(result.chunks)
            self.c.metrics.documents.labels("indexed").inc()
            self.c.metrics.observe_stages("ingest", result.timings_ms)
            ctx.progress("done", 1, 1)
            return {"document_id": document_id, "pages": len(result.pages), "chunks": result.chunks,
                    "timings_ms": {k: round(v, 1) for k, v in result.timings_ms.items()}}

        return run

    def _fail(self, document_id: str, problem: dict) -> None:
        self.c.metrics.documents.labels("failed").inc()
        if self.c.registry.document_by_id(document_id) is not None:
            self.c.registry.update_document(document_id, status="failed", error=problem)

    def delete_document(self, collection: CollectionRow, doc: DocumentRow) -> None:
        if doc.status in ("queued", "running") and doc.job_id:
            self.c.registry.request_cancel(doc.job_id)
            self.runner.wait(doc.job_id, timeout=60)
        with self.collection_lock(collection):
            self.c.index.delete_document(self.index_alias(collection), doc.id)
            self.c.registry.delete_document(doc.id)
        self.spool.remove(doc.id)
        self._on_document_deleted(collection, doc.id)

    def update_acl(self, collection: CollectionRow, doc: DocumentRow, *, acl_groups: list[str] | None,
                   tags: dict[str, str] | None) -> None:
        """Registry and index payloads change together; the index first, so that a failure
        leaves the registry (what the API reports) consistent with what can be retrieved."""
        payload = {}
        if acl_groups is not None:
            payload["acl_groups"] = acl_groups
        if tags is not None:
            payload["tags"] = tags
        if not payload:
            return
        with self.collection_lock(collection):
            # Under the lock an ingestion cannot publish, nor a re-index swap, in between:
            # either the document is indexed now (its points change here) or its job will
            # copy the registry's ACL when it publishes (``_sync_access``).
            current = self.c.registry.document_by_id(doc.id)
            if current is not None and current.status == "indexed":
                self.c.index.set_payload(self.index_alias(collection), doc.id, payload)
            self.c.registry.update_document(doc.id, **payload)

    def _sync_access(self, index_name: str, document_id: str, acl_groups, tags) -> None:
        """Give the document's points the registry's current ACL and tags when they differ
        from ``acl_groups``/``tags`` (what the points were written with). Call it under the
        collection lock, before the points become visible."""
        row = self.c.registry.document_by_id(document_id)
        if row is not None and (tuple(row.acl_groups), dict(row.tags)) != (tuple(acl_groups), dict(tags)):
            self.c.index.set_payload(index_name, document_id, {"acl_groups": list(row.acl_groups), "tags": row.tags})

    # ---- re-indexing -------------------------------------------------------------

    def start_reindex(self, collection: CollectionRow, *, embedder_name: str | None, key_id: str | None):
        embedder = self.c.embedder(embedder_name or collection.embedder)  # 422 now for an unknown name
        for job in self.c.registry.jobs_with_status(["queued", "running"]):
            if job.kind == "reindex" and job.tenant == collection.tenant and job.collection == collection.name:
                raise Conflict(f"a re-index of '{collection.name}' is already {job.status} ({job.id})")
        total = len(self.c.registry.document_ids_in(collection.tenant, collection.name, status="indexed"))
        job = self.c.registry.create_job(tenant=collection.tenant, kind="reindex", collection=collection.name,
                                         key_id=key_id, total=total, params={"embedder": embedder.name})
        self.runner.submit(job.id, self._reindex_job(collection, embedder.name))
        return job

    def _reindex_job(self, collection: CollectionRow, embedder_name: str):
        """Build a new physical collection from the stored pages, then swap the alias in one
        call: queries keep using the old one until the swap and the new one after it.
        Documents published or deleted meanwhile are caught up under the collection lock.

        In a pseudonymised collection, a document whose recorded anonymiser version differs
        from the running anonymiser's (the recognisers changed) is pseudonymised again from
        its encrypted original pages, in the same vault scope (known values keep their
        tokens, new detections get new ones). Its new pages, offset maps and version reach
        the registry only in the swap's transaction: until then queries, served by the old
        index, cite the old stored pages. Without kept originals the stored pages are
        reused (counted as ``repseudonymise_skipped``)."""

        def run(ctx: JobContext) -> dict:
            registry, index = self.c.registry, self.c.index
            current = registry.get_collection(collection.tenant, collection.name)
            alias = self.index_alias(current)
            old_physical = index.resolve_alias(alias)
            embedder = self.c.embedder(embedder_name)
            generation = current.generation + 1
            new_physical = physical_collection_name(current.tenant, current.name, embedder.name, embedder.version,
                                                    generation)
            # Written before anything is built: after a crash, ``recover`` knows exactly which
            # index collections this job made and whether its swap happened.
            registry.update_job(ctx.job_id, params={
                "embedder": embedder.name, "embedder_version": embedder.version, "generation": generation,
                "old_physical": old_physical, "new_physical": new_physical})
            index.drop_physical(new_physical)  # leftovers of an interrupted attempt, if any
            index.create_physical(new_physical, embedder.dimension)
            chunker = chunker_for(embedder)
            done: dict[str, tuple] = {}  # document id -> (acl_groups, tags) its points were built with
            chunks = 0
            version = self.c.anonymiser.version if current.anonymise else None
            repseudonymised: dict[str, StoredPages] = {}  # written to the registry at the swap
            skipped: list[str] = []  # outdated, but no original pages to pseudonymise again

            def originals_of(doc: DocumentRow, pages: list[Page], offsets: dict) -> tuple[Page, ...] | None:
                """The decrypted original pages when ``doc`` must be pseudonymised again."""
                if version is None or doc.anonymiser_version == version:
                    return None
                texts = self.c.vault_scope(current).load_original_pages(doc.id)
                if set(texts) != {p.number for p in pages}:
                    skipped.append(doc.id)
                    return None
                # Blocks are stored in pseudonymised offsets: their map takes them back to
                # the original text, where the preparer's remap_blocks expects them.
                return tuple(
                    Page(p.number, texts[p.number], tuple(
                        Block(offsets[p.number].to_original(b.start),
                              offsets[p.number].to_original(b.end, is_end=True), b.bbox) for b in p.blocks))
                    for p in pages)

            def build(document_id: str) -> int:
                doc = registry.document_by_id(document_id)
                pages = registry.get_pages(document_id)
                if doc is None or not pages:
                    return 0
                offsets = {p.number: registry.get_page_offsets(document_id, p.number) for p in pages}
                target = IngestTarget(tenant=doc.tenant, collection=doc.collection, index_name=new_physical,
                                      document_id=doc.id, filename=doc.filename, acl_groups=tuple(doc.acl_groups),
                                      tags=doc.tags)
                originals = originals_of(doc, pages, offsets)
                if originals is not None:
                    result = self.pipeline.index_pages(
                        ParsedDocument(doc.media_type or "", originals), target, embedder=embedder,
                        chunker=chunker, prepare=self._preparer_for(current), cancelled=ctx.cancelled,
                    )
                    repseudonymised[document_id] = StoredPages(document_id, result.pages, result.offsets,
                                                               result.pii, result.chunks, version)
                else:
                    # Stored pages are already pseudonymised: keep them and their offset maps.
                    result = self.pipeline.index_pages(
                        ParsedDocument(doc.media_type or "", tuple(pages)), target, embedder=embedder,
                        chunker=chunker, prepare=lambda page, _id: PreparedPage(page, offsets[page.number]),
                        cancelled=ctx.cancelled,
                    )
                self.pipeline.publish(target)
                done[document_id] = (target.acl_groups, target.tags)
                return result.chunks

            try:
                todo = registry.document_ids_in(current.tenant, current.name, status="indexed")
                for i, document_id in enumerate(todo):
                    chunks += build(document_id)
                    ctx.progress("reindex", i + 1, len(todo))
                with self.collection_lock(current):
                    registry.get_collection(current.tenant, current.name)  # deleted meanwhile -> NotFound
                    indexed = set(registry.document_ids_in(current.tenant, current.name, status="indexed"))
                    for document_id in sorted(indexed - done.keys()):
                        chunks += build(document_id)
                    for document_id in done.keys() - indexed:
                        index.delete_document(new_physical, document_id)
                    for document_id in sorted(indexed & done.keys()):  # PATCHed since it was rebuilt
                        self._sync_access(new_physical, document_id, *done[document_id])
                    new_pages = [repseudonymised[d] for d in sorted(indexed & repseudonymised.keys())]
                    if new_pages:
                        # Registry first, in one transaction with the new generation: a crash
                        # before the alias moves is then rolled forward by ``recover`` (the
                        # generation says the swap happened) with the new pages in place.
                        # Alias first would let recovery finish the swap with the old pages.
                        previous = [self._stored_pages(d.document_id) for d in new_pages]
                        registry.replace_pages_and_model(
                            current.tenant, current.name, new_pages, embedder=embedder.name,
                            embedder_version=embedder.version, generation=generation)
                        try:
                            index.point_alias(alias, new_physical)
                        except BaseException:  # the old index serves on: so must the old pages
                            registry.replace_pages_and_model(
                                current.tenant, current.name, previous, embedder=current.embedder,
                                embedder_version=current.embedder_version, generation=current.generation)
                            raise
                    else:
                        index.point_alias(alias, new_physical)
                        try:
                            registry.update_collection_model(current.tenant, current.name, embedder=embedder.name,
                                                             embedder_version=embedder.version,
                                                             generation=generation)
                        except BaseException:
                            if old_physical:  # the registry still names the old model: so must the alias
                                index.point_alias(alias, old_physical)
                            raise
            except BaseException:
                index.drop_physical(new_physical)
                raise
            if old_physical and old_physical != new_physical:
                index.drop_physical(old_physical)
            ctx.progress("done", len(indexed), len(indexed))
            result = {"embedder": {"name": embedder.name, "version": embedder.version}, "documents": len(indexed),
                      "chunks": chunks, "generation": generation}
            if version is not None:
                result.update(anonymiser_version=version, repseudonymised=len(new_pages),
                              repseudonymise_skipped=len(set(skipped) & indexed))
                if skipped:
                    log.warning("re-index kept outdated pseudonymised pages: no original pages were kept",
                                extra={"documents": len(set(skipped) & indexed)})
            return result

        return run

    def _stored_pages(self, document_id: str) -> StoredPages:
        """A document's stored pages as they are now (to restore them if a swap fails)."""
        registry = self.c.registry
        doc = registry.document_by_id(document_id)
        pages = registry.get_pages(document_id)
        return StoredPages(document_id, pages, [registry.get_page_offsets(document_id, p.number) for p in pages],
                           doc.pii, doc.chunks, doc.anonymiser_version)

    # ---- crash recovery ----------------------------------------------------------

    def recover(self) -> dict[str, int]:
        """After a restart: resume interrupted ingestion jobs from the spool (deterministic
        point ids make re-running safe), fail the ones that cannot resume, settle interrupted
        re-indexes (``_settle_interrupted_reindex``: no half-built index collection is left),
        and delete index points of documents the registry does not list as indexed (orphans)."""
        registry = self.c.registry
        stats = {"resumed": 0, "failed": 0, "orphans_removed": 0, "reindex_rolled_back": 0,
                 "reindex_rolled_forward": 0}
        unfinished = registry.jobs_with_status(["queued", "running"])
        resumable: list[tuple[CollectionRow, str, str]] = []
        for job in unfinished:
            if job.kind == "reindex":
                stats[self._settle_interrupted_reindex(job)] += 1
                continue
            if job.kind != "ingest" or not job.document_id or not job.collection:
                registry.update_job(job.id, status="failed", stage="failed", error=problem_dict(
                    409, "interrupted", "Interrupted", "the server restarted while this job ran; start it again"))
                stats["failed"] += 1
                continue
            try:
                collection = registry.get_collection(job.tenant, job.collection)
            except NotFound:
                registry.update_job(job.id, status="failed", stage="failed")
                continue
            doc = registry.document_by_id(job.document_id)
            if doc is None or self.spool.get(job.document_id) is None:
                problem = problem_dict(409, "interrupted", "Interrupted",
                                       "the server restarted before the upload was stored; upload again")
                registry.update_job(job.id, status="failed", stage="failed", error=problem)
                if doc is not None:
                    registry.update_document(doc.id, status="failed", error=problem)
                stats["failed"] += 1
                continue
            registry.update_job(job.id, status="queued", stage="queued")
            registry.update_document(doc.id, status="queued")
            resumable.append((collection, doc.id, job.id))
        in_flight = {doc_id for _, doc_id, _ in resumable}
        for doc in registry.documents_with_status(["queued", "running"]):
            if doc.id not in in_flight:
                registry.update_document(doc.id, status="failed", error=problem_dict(
                    409, "interrupted", "Interrupted", "the server restarted while indexing; upload again"))
                stats["failed"] += 1
        for collection in registry.all_collections():
            alias = self.index_alias(collection)
            try:
                present = self.c.index.document_ids(alias)
            except Exception:  # noqa: BLE001 - one unreadable collection must not stop the others' recovery
                log.warning("could not list documents of an index collection during recovery")
                continue
            indexed = set(registry.document_ids_in(collection.tenant, collection.name, status="indexed"))
            for orphan in present - indexed:
                self.c.index.delete_document(alias, orphan)
                stats["orphans_removed"] += 1
        for collection, doc_id, job_id in resumable:
            self.runner.submit(job_id, self._ingest_job(collection, doc_id))
            stats["resumed"] += 1
        return stats

    def _settle_interrupted_reindex(self, job) -> str:
        """Finish what a re-index interrupted by a crash left: afterwards the registry and
        the alias name the same index collection and no half-built one is left.

        The swap is two writes (alias, then registry), both made only once every document
        is built. If either happened, the new collection is complete: roll forward (finish
        the other write, drop the old collection, the job succeeded). Otherwise roll back:
        drop the new collection, the old one stays in use, the job failed ("interrupted")."""
        registry, index = self.c.registry, self.c.index
        params = job.params or {}
        new, old = params.get("new_physical"), params.get("old_physical")
        interrupted = problem_dict(409, "interrupted", "Interrupted",
                                   "the server restarted during the re-index; the previous index is still in "
                                   "use: start the re-index again")
        try:
            collection = registry.get_collection(job.tenant, job.collection) if job.collection else None
        except NotFound:
            collection = None
        if collection is None or not new:  # collection deleted, or the job never started building
            if new:
                index.drop_physical(new)
            registry.update_job(job.id, status="failed", stage="failed", error=interrupted)
            return "reindex_rolled_back"
        alias = self.index_alias(collection)
        target = index.resolve_alias(alias)
        if collection.generation == params.get("generation") or target == new:
            if collection.generation != params.get("generation"):
                registry.update_collection_model(job.tenant, collection.name, embedder=params["embedder"],
                                                 embedder_version=params["embedder_version"],
                                                 generation=params["generation"])
            if target != new:
                index.point_alias(alias, new)
            if old and old != new:
                index.drop_physical(old)
            registry.update_job(job.id, status="succeeded", stage="done", result={
                "embedder": {"name": params["embedder"], "version": params["embedder_version"]},
                "generation": params["generation"], "completed_at_restart": True})
            return "reindex_rolled_forward"
        index.drop_physical(new)
        registry.update_job(job.id, status="failed", stage="failed", error=interrupted)
        return "reindex_rolled_back"
