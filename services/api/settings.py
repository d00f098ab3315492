"""Service settings: the only place that reads the environment.

Every variable is ``DOCINTEL_<FIELD>`` (case-insensitive); ``QDRANT_URL`` and
``QDRANT_API_KEY`` are accepted too, as Qdrant's own tools use them. Everything below
``services/`` receives plain constructor arguments built from these fields.
"""

from __future__ import annotations

import json
import os
from functools import cached_property
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, BaseModel, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

Role = Literal["reader", "writer", "admin"]


class ConfiguredKey(BaseModel):
    """One entry of ``DOCINTEL_API_KEYS`` (see API.md)."""

    key: SecretStr
    tenant: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")
    role: Role
    groups: list[str] = Field(default_factory=list)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="DOCINTEL_", extra="ignore", case_sensitive=False)

    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)
    data_dir: Path = Path("./data")

    api_keys: str | None = Field(default=None, repr=False)
    """JSON list of keys (API.md). Hashed once loaded; never logged."""
    keys_file: Path | None = None
    """A JSON file with the same list as ``api_keys`` (for secrets mounted as files)."""

    qdrant_url: str | None = Field(
        default=None, validation_alias=AliasChoices("DOCINTEL_QDRANT_URL", "QDRANT_URL")
    )
    qdrant_api_key: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("DOCINTEL_QDRANT_API_KEY", "QDRANT_API_KEY")
    )
    qdrant_path: str | None = None
    """Embedded index location; default ``<data_dir>/qdrant`` (``<data_dir>/qdrant-edge``
    for the edge backend); ``:memory:`` for tests (edge: a temporary folder)."""
    index_backend: Literal["qdrant-local", "qdrant-edge"] = "qdrant-edge"
    """Embedded index engine: Qdrant Edge (in-process engine with HNSW; the default,
    chosen by measurement: bench/BENCHMARKS.md "Ask latency by stage" and "Embedded
    index at scale") or qdrant-client local mode (brute force; seconds per filtered
    query beyond ~10k chunks). Ignored when ``qdrant_url`` is set: a server is always
    reached through qdrant-client."""
    edge_hnsw_threshold_kb: int | None = Field(None, ge=1)
    """Qdrant Edge: a segment holding more vectors than this (KB; 512-d chunks take 2 KB)
    gets an HNSW graph. Unset (default): never; every query scans the filtered points
    exactly, which measured faster with an ACL filter up to 1M chunks (bench/BENCHMARKS.md,
    "Embedded index at scale"). Applies to collections created after it is set."""
    edge_hnsw_ef: int = Field(1024, ge=16, le=65536)
    """Qdrant Edge: candidates a graph search keeps (with ``edge_hnsw_threshold_kb``).
    Higher = better recall, slower queries (bench/BENCHMARKS.md, "HNSW tuning")."""
    qdrant_shards: int = Field(1, ge=1)
    qdrant_replication_factor: int = Field(1, ge=1)
    qdrant_write_consistency: int = Field(1, ge=1)

    database_url: str | None = None
    """SQLAlchemy URL of the registry; default SQLite in the data dir."""

    vault_key: SecretStr | None = Field(default=None, repr=False)
    """Base64 32-byte key of the PII vault; generated into the data dir when unset."""
    audit_key: SecretStr | None = Field(default=None, repr=False)
    """Base64 key of the audit HMAC chain; generated into the data dir when unset."""
    vault_database_url: str | None = None
    """SQLAlchemy URL of the PII vault; default its own SQLite file in the data dir."""
    store_originals: bool = True
    """Keep original page text (encrypted) so re-indexing can pseudonymise again."""
    audit_retention_days: int = Field(183, ge=1)
    """Audit records older than this are purged (AI Act Art. 12: at least six months)."""
    audit_purge_interval_s: float = Field(86400.0, ge=0)
    """How often the API process runs the retention purge (first run at start-up); 0: never."""

    default_embedder: str = "use-multilingual-v3"
    embedders: list[str] = Field(default_factory=lambda: ["use-multilingual-v3", "minilm-l6-v2"])
    preload_models: bool = True
    """Load the default embedder at start-up (``/readyz`` waits for it)."""
    preload_pii: bool = True
    """Load the PII detector (spaCy FR/EN) at start-up too."""

    llm_base_url: str | None = None
    """OpenAI-compatible endpoint; enables the ``openai-compatible`` generator."""
    llm_model: str = "default"
    llm_api_key: SecretStr | None = Field(default=None, repr=False)
    llm_timeout_s: float = 60.0

    qa_sentence_similarity: bool = Field(False, description="add question-sentence embedding "
                                         "similarity to the second-stage scoring of asks")
    max_upload_mb: int = Field(100, ge=1)
    max_files_per_request: int = Field(50, ge=1)
    max_pages: int = Field(5000, ge=1)
    parse_timeout_s: float = Field(300.0, gt=0)
    # Measured (small DOCX/XLSX through SandboxedParser): 768/1024 MB -> "needed more memory",
    # 1280/1536 -> spurious "corrupt" or a timeout while importing the Office libraries,
    # 2048 -> parsed. Below 2048 every Office upload would fail, so it is refused at start.
    parse_memory_mb: int = Field(3072, ge=2048, description="address-space limit (RLIMIT_AS) of each parser "
                                 "worker, MB; at least 2048: the Office libraries do not import in less")
    parse_workers: int = Field(1, ge=1)
    ocr_max_pages: int = Field(200, ge=0)
    ocr_workers: int = Field(default_factory=lambda: min(2, os.cpu_count() or 1), ge=1)
    """Pages of one PDF OCR'd at once, each in a helper process of the parser worker (same
    memory cap each, ~250 MB resident); 1 OCRs in the worker itself."""
    ingest_workers: int = Field(1, ge=1)
    """Documents ingested at once (job threads; parsing runs in the parser's processes)."""
    pii_workers: int = Field(1, ge=0)
    """Processes detecting PII for pseudonymised ingestion, ahead of embedding (each loads
    its own spaCy pipelines, ~0.5 GB); 0 detects in the ingesting thread."""
    max_queued_jobs: int = Field(1000, ge=1)
    """Jobs queued or running in this process, all tenants together; beyond: 503."""
    max_jobs_per_tenant: int = Field(100, ge=1)
    """Jobs (ingestion, extraction) one tenant may have queued or running; beyond: 429."""
    rate_limit_per_minute: int = Field(600, ge=0)
    """Requests per API key per minute on /v1 (token bucket, per process; 0 disables)."""
    rate_limit_burst: int = Field(100, ge=1)
    """Requests a key may make at once before the per-minute rate applies."""
    ask_timeout_s: float = Field(120.0, gt=0)
    """Time to the first byte of an answer; beyond: a 504 problem (the work is abandoned)."""
    extract_timeout_s: float = Field(300.0, gt=0)
    """The same for a synchronous extraction (``?async=true`` has no such limit)."""

    metrics_require_key: bool = False
    log_level: str = "INFO"
    log_json: bool = True

    @field_validator("api_keys")
    @classmethod
    def _api_keys_are_json(cls, value: str | None) -> str | None:
        if value is not None and value.strip():
            _parse_keys(value)
        return value

    @model_validator(mode="after")
    def _refuse_insecure(self) -> "Settings":
        if self.qdrant_url and self.qdrant_url.startswith("http://") and self.qdrant_api_key:
            host = self.qdrant_url.split("//", 1)[1].split(":", 1)[0].split("/", 1)[0]
            if host not in {"localhost", "127.0.0.1", "qdrant"}:
                raise ValueError("refusing to send the Qdrant API key over plain http to a remote host")
        return self

    def configured_keys(self) -> list[ConfiguredKey]:
        keys: list[ConfiguredKey] = []
        if self.api_keys and self.api_keys.strip():
            keys.extend(_parse_keys(self.api_keys))
        if self.keys_file:
            keys.extend(_parse_keys(self.keys_file.read_text(encoding="utf-8")))
        return keys

    @cached_property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'registry.db'}"

    @cached_property
    def resolved_qdrant_path(self) -> str:
        # Each backend has its own folder: their on-disk formats differ.
        folder = "qdrant-edge" if self.index_backend == "qdrant-edge" else "qdrant"
        return self.qdrant_path or str(self.data_dir / folder)


def _parse_keys(raw: str) -> list[ConfiguredKey]:
    try:
        items = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ValueError(f"API keys are not valid JSON: {exc.msg}") from None
    if not isinstance(items, list):
        raise ValueError("API keys must be a JSON list of {key, tenant, role, groups}")
    return [ConfiguredKey.model_validate(item) for item in items]
