"""The one factory that picks implementations from settings.

Everything heavy (models, index client, parser workers) is built here, once, when the
app starts (``Container.build``), never at import time. Tests pass ``overrides`` to swap
a component for a fake.
"""

from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from models.registry import DEFAULT_EMBEDDER, EMBEDDERS, build_embedder
from pipelines.audit import AuditLog
from pipelines.errors import InvalidRequest
from pipelines.ports import Embedder, Parser, SparseEncoder, VectorIndex
from pipelines.registry import Registry
from services.api.settings import Settings
from services.metrics import Metrics
from services.secrets import KeyStore, load_or_create_secret

log = logging.getLogger("docintel.container")
_UNSET = object()


def _offline_environment() -> None:
    """Libraries that would reach the network are told not to (models ship in packages)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS", "")
    os.environ.setdefault("UNSTRUCTURED_DISABLE_NOTICE", "1")
    os.environ.setdefault("DO_NOT_TRACK", "1")
    os.environ.setdefault("SCARF_NO_ANALYTICS", "true")


@dataclass
class Container:
    settings: Settings
    registry: Registry
    audit: AuditLog
    keys: KeyStore
    index: VectorIndex
    sparse: SparseEncoder
    parser: Parser
    metrics: Metrics
    vault_key: bytes
    data_dir: Path
    embedders: dict[str, Embedder] = field(default_factory=dict)
    extras: dict[str, Any] = field(default_factory=dict)
    _embedder_lock: threading.RLock = field(default_factory=threading.RLock)
    _pii_lock: threading.Lock = field(default_factory=threading.Lock)
    generated_admin_key: str | None = None
    runner: Any = None
    documents: Any = None

    @classmethod
    def build(cls, settings: Settings, overrides: dict[str, Any] | None = None) -> "Container":
        overrides = dict(overrides or {})
        _offline_environment()
        data_dir = settings.data_dir
        data_dir.mkdir(parents=True, exist_ok=True)
        (data_dir / "spool").mkdir(exist_ok=True)

        registry = overrides.pop("registry", None) or Registry.from_url(settings.resolved_database_url)
        audit, vault_key = _audit_and_vault_key(settings, registry)
        keys = KeyStore(registry)
        generated = keys.bootstrap(settings)

        index = overrides.pop("index", None) or build_index(settings)
        sparse = overrides.pop("sparse", None) or _build_sparse()
        parser = overrides.pop("parser", None) or _build_parser(settings)
        metrics = overrides.pop("metrics", None) or Metrics()
        embedders = overrides.pop("embedders", None) or {}
        container = cls(
            settings=settings, registry=registry, audit=audit, keys=keys, index=index, sparse=sparse,
            parser=parser, metrics=metrics, vault_key=vault_key, data_dir=data_dir, embedders=dict(embedders),
            generated_admin_key=generated,
        )
        container.extras.update(overrides)
        return container

    @classmethod
    def offline(cls, settings: Settings) -> "Container":
        """The parts an operator command needs (registry, audit, index, models, vault):
        no API key bootstrap (it would revoke keys this shell does not configure) and no
        parser workers. Raises ``RuntimeError`` when the embedded index is locked by a
        running server."""
        _offline_environment()
        registry = Registry.from_url(settings.resolved_database_url)
        audit, vault_key = _audit_and_vault_key(settings, registry)
        return cls(
            settings=settings, registry=registry, audit=audit,
            keys=KeyStore(registry), index=build_index(settings), sparse=_build_sparse(), parser=None,  # type: ignore[arg-type]
            metrics=Metrics(), vault_key=vault_key, data_dir=settings.data_dir,
        )

    # ---- models ------------------------------------------------------------------

    def available_embedders(self) -> list[str]:
        names = [n for n in self.settings.embedders if n in EMBEDDERS or n in self.embedders]
        names.extend(n for n in self.embedders if n not in names)
        return names

    @property
    def default_embedder_name(self) -> str:
        name = self.settings.default_embedder or DEFAULT_EMBEDDER
        return name

    def embedder(self, name: str | None = None) -> Embedder:
        name = name or self.default_embedder_name
        with self._embedder_lock:
            if name not in self.embedders:
                if name not in self.available_embedders():
                    known = ", ".join(self.available_embedders())
                    raise InvalidRequest(
                        f"unknown embedder {name!r}; available: {known}",
                        errors=[{"loc": ["body", "embedder"], "msg": f"must be one of: {known}"}],
                    )
                self.embedders[name] = build_embedder(name)
            return self.embedders[name]

    def preload(self) -> None:
        """Load the default embedder's weights (``/readyz`` reports when done)."""
        embedder = self.embedder()
        load = getattr(embedder, "load", None)
        if callable(load):
            load()
        if self.settings.preload_pii:
            self.anonymiser  # noqa: B018 (loads spaCy pipelines and Presidio)
        self.extras["models_ready"] = True

    @property
    def models_ready(self) -> bool:
        return bool(self.extras.get("models_ready")) or not self.settings.preload_models

    def start(self) -> dict[str, int]:
        """Start job workers and recover what a previous process left unfinished."""
        self.vault  # noqa: B018 (a key that does not open the vault, e.g. the one before a rotation, stops the start-up)
        from pipelines.errors import DocintelError
        from services.api.problems import domain_problem, problem_dict
        from services.documents import DocumentService
        from services.jobs import JobRunner

        def problem_for(exc: Exception) -> dict:
            if isinstance(exc, DocintelError):
                return domain_problem(exc)
            return problem_dict(500, "internal-error", "Internal error", "the job failed unexpectedly; it has been logged")

        self.runner = JobRunner(
            self.registry, workers=self.settings.ingest_workers, problem_for=problem_for,
            on_state=lambda kind, state: self.metrics.job_transitions.labels(kind, state).inc(),
        )
        self.documents = DocumentService(
            self, self.runner, preparer_for=self.page_preparer,
            on_document_deleted=self.forget_document, on_collection_deleted=self.forget_collection,
        )
        stats = self.documents.recover()
        self.runner.start()
        return stats

    # ---- pseudonymisation ----------------------------------------------------------

    @property
    def anonymiser_available(self) -> bool:
        return True

    @property
    def vault(self):
        """Token <-> original, encrypted; a SQLite file of its own, apart from the index
        and the registry (DOCINTEL_VAULT_DATABASE_URL may point elsewhere)."""
        with self._embedder_lock:
            if "vault" not in self.extras:
                import sqlalchemy as sa

                from pipelines.anonymising import Vault

                url = self.settings.vault_database_url or f"sqlite:///{self.data_dir / 'vault.db'}"
                connect_args = {"check_same_thread": False, "timeout": 30} if url.startswith("sqlite") else {}
                engine = sa.create_engine(url, connect_args=connect_args)
                self.extras["vault"] = Vault(engine, self.vault_key, keep_original_pages=self.settings.store_originals)
            return self.extras["vault"]

    @property
    def anonymiser(self):
        """The PII detector (Presidio + spaCy FR/EN) behind the operators; loaded once."""
        with self._pii_lock:
            if "anonymiser" not in self.extras:
                from pipelines.anonymising import Anonymiser

                detector = self.extras.get("pii_detector")
                if detector is None:
                    from models.pii import build_nlp_engine
                    from pipelines.anonymising import PiiDetector

                    detector = PiiDetector(build_nlp_engine())
                self.extras["anonymiser"] = Anonymiser(detector, hash_key=self.vault.derive_key("hash operator"))
            return self.extras["anonymiser"]

    def vault_scope(self, collection):
        return self.vault.scope(collection.tenant, collection.name)

    def page_preparer(self, collection):
        """Pseudonymises each page before chunking (identity for plain collections); keeps
        the original page encrypted for re-pseudonymisation unless disabled."""
        from pipelines.anonymising.pool import PseudonymisingPreparer
        from pipelines.ingest import identity_preparer

        if not collection.anonymise:
            return identity_preparer
        return PseudonymisingPreparer(self.anonymiser, self.vault_scope(collection),
                                      entities=collection.pii_entities,
                                      keep_originals=self.settings.store_originals,
                                      pool=self.detector_pool)

    @property
    def detector_pool(self):
        """PII detection processes for ingestion (``pii_workers``), started on first use.
        None when disabled, or when a detector was injected (tests, tools): the workers
        build the default detector, and pooled pages must match in-process ones."""
        if self.settings.pii_workers < 1 or "pii_detector" in self.extras:
            return None
        with self._pii_lock:
            if "detector_pool" not in self.extras:
                from pipelines.anonymising.pool import DetectorPool

                self.extras["detector_pool"] = DetectorPool(self.settings.pii_workers)
            return self.extras["detector_pool"]

    def forget_document(self, collection, document_id: str) -> None:
        if collection.anonymise:
            self.vault_scope(collection).forget_document(document_id)

    def forget_collection(self, collection) -> None:
        self.vault_scope(collection).drop()

    # ---- answering and extraction -----------------------------------------------

    def generators(self) -> dict:
        """Generators by name: ``extractive`` always; ``openai-compatible`` when an
        endpoint is configured (DOCINTEL_LLM_BASE_URL)."""
        with self._embedder_lock:
            if "generators" not in self.extras:
                from models.generators import ExtractiveGenerator, OpenAICompatibleGenerator

                generators = {"extractive": ExtractiveGenerator()}
                if self.settings.llm_base_url:
                    generators["openai-compatible"] = OpenAICompatibleGenerator(
                        self.settings.llm_base_url, self.settings.llm_model,
                        self.settings.llm_api_key.get_secret_value() if self.settings.llm_api_key else None,
                        timeout=self.settings.llm_timeout_s,
                    )
                self.extras["generators"] = generators
            return self.extras["generators"]

    def generator_infos(self) -> list[dict]:
        return [{"name": g.name, "version": g.version, "default": name == "extractive"}
                for name, g in self.generators().items()]

    def generator(self, name: str | None):
        generators = self.generators()
        name = name or "extractive"
        if name not in generators:
            known = ", ".join(generators)
            raise InvalidRequest(f"unknown or unconfigured generator {name!r}; available: {known}",
                                 errors=[{"loc": ["body", "generator"], "msg": f"must be one of: {known}"}])
        return generators[name]

    def answerer(self, embedder_name: str):
        """One answerer per embedder (collections are pinned to theirs)."""
        key = f"answerer:{embedder_name}"
        with self._embedder_lock:
            if key not in self.extras:
                from pipelines.answer import Answerer

                registry = self.registry

                def page_provider(document_id: str, number: int):
                    try:
                        return registry.get_page(document_id, number), registry.get_page_offsets(document_id, number)
                    except Exception:
                        return None

                self.extras[key] = Answerer(
                    self.embedder(embedder_name), self.sparse, self.index, self.generator("extractive"),
                    generators=self.generators(), page_provider=page_provider,
                    sentence_similarity=self.settings.qa_sentence_similarity,
                )
            return self.extras[key]

    def extractor(self, generator_name: str | None):
        from pipelines.extract import build_extractor

        if generator_name not in (None, "extractive"):
            return build_extractor(generator=self.generator(generator_name))
        with self._embedder_lock:
            if "extractor" not in self.extras:
                ner = self.extras.get("extraction_ner", _UNSET)
                if ner is _UNSET:
                    from pipelines.extraction.ner import SpacyEntityRecognizer

                    ner = SpacyEntityRecognizer()
                self.extras["extractor"] = build_extractor(embedder=self.embedder(), ner=ner)
            return self.extras["extractor"]

    def pii_info(self) -> dict:
        from pipelines.anonymising import DEFAULT_ENTITIES

        return {"languages": ["fr", "en"], "entities": sorted(DEFAULT_ENTITIES)}

    def close(self) -> None:
        if self.runner is not None:
            self.runner.stop()
        pool = self.extras.get("detector_pool")
        if pool is not None:
            pool.close()
        close = getattr(self.parser, "close", None)
        if callable(close):
            close()
        close = getattr(self.index, "close", None)
        if callable(close):
            close()
        self.registry.engine.dispose()


def _audit_and_vault_key(settings: Settings, registry: Registry) -> tuple[AuditLog, bytes]:
    """The audit log (its HMAC key from the settings or ``data/audit.key``) and the vault
    key (settings or ``data/vault.key``); missing key files are created once."""
    data_dir = settings.data_dir
    audit_key = load_or_create_secret(
        settings.audit_key.get_secret_value() if settings.audit_key else None, data_dir / "audit.key"
    )
    vault_key = load_or_create_secret(
        settings.vault_key.get_secret_value() if settings.vault_key else None, data_dir / "vault.key"
    )
    return AuditLog(registry.engine, audit_key, data_dir / "audit.head"), vault_key


def build_index(settings: Settings) -> VectorIndex:
    """The vector index the settings name: a Qdrant server when ``qdrant_url`` is set,
    else the embedded backend ``index_backend`` in its folder (tests and operator
    tools open a stopped server's index through this too)."""
    from pipelines.indexing.qdrant_index import QdrantIndex

    if settings.qdrant_url:
        return QdrantIndex.from_location(
            path=None,
            url=settings.qdrant_url,
            api_key=settings.qdrant_api_key.get_secret_value() if settings.qdrant_api_key else None,
            shard_number=settings.qdrant_shards,
            replication_factor=settings.qdrant_replication_factor,
            write_consistency_factor=settings.qdrant_write_consistency,
        )
    if settings.index_backend == "qdrant-edge":
        from pipelines.indexing.edge_index import QdrantEdgeIndex

        tuning = {"hnsw_ef": settings.edge_hnsw_ef, "indexing_threshold_kb": settings.edge_hnsw_threshold_kb}
        if settings.resolved_qdrant_path == ":memory:":
            return QdrantEdgeIndex.temporary(**tuning)
        return QdrantEdgeIndex(settings.resolved_qdrant_path, **tuning)
    return QdrantIndex.from_location(path=settings.resolved_qdrant_path, url=None)


def _build_sparse() -> SparseEncoder:
    from models.sparse import LexicalSparseEncoder

    return LexicalSparseEncoder()


def _build_parser(settings: Settings) -> Parser:
    from pipelines.parsing import SandboxedParser

    return SandboxedParser(
        timeout_s=settings.parse_timeout_s,
        memory_mb=settings.parse_memory_mb,
        max_pages=settings.max_pages,
        ocr_max_pages=settings.ocr_max_pages,
        ocr_workers=settings.ocr_workers,
        workers=settings.parse_workers,
        prestart=True,  # the first upload should not pay the workers' imports
    )
