"""Request and response models of the v1 API (field names fixed by API.md)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from pipelines.indexing.qdrant_index import TAG_KEY_PATTERN

# The index reads a dot or space in a key as a payload path: keys are refused at the door.
TagKey = Annotated[str, StringConstraints(pattern=f"^{TAG_KEY_PATTERN.pattern}$")]
Tags = dict[TagKey, Annotated[str, StringConstraints(max_length=256)]]

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$"


class Problem(BaseModel):
    """RFC 9457 problem details."""

    model_config = ConfigDict(extra="allow")
    type: str
    title: str
    status: int
    detail: str
    instance: str | None = None
    errors: list[dict[str, Any]] | None = None


class CollectionCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(pattern=NAME_PATTERN, description="letters, digits, '_', '-', '.'; up to 128")
    anonymise: bool = True
    embedder: str | None = None
    pii_entities: list[str] | None = Field(
        default=None, description="entity types to pseudonymise (default: what identifies a person)"
    )


class CollectionOut(BaseModel):
    name: str
    anonymise: bool
    embedder: str
    embedder_version: str | None = None
    created_at: datetime


class CollectionSummary(CollectionOut):
    documents: int
    chunks: int


class CollectionDetail(CollectionSummary):
    index_points: int


class CollectionList(BaseModel):
    collections: list[CollectionSummary]


class DocumentOut(BaseModel):
    document_id: str
    filename: str
    media_type: str | None = None
    sha256: str
    status: Literal["queued", "running", "indexed", "failed"]
    pages: int
    chunks: int
    pii: dict[str, int]
    acl_groups: list[str]
    tags: dict[str, str]
    created_at: datetime
    error: dict[str, Any] | None = None
    job_id: str | None = None
    ocr_pages: list[int] = Field(default_factory=list)
    duplicate: bool | None = None


class UploadResult(BaseModel):
    documents: list[dict[str, Any]]


class DocumentList(BaseModel):
    documents: list[DocumentOut]
    next_cursor: str | None


class DocumentPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    acl_groups: list[str] | None = None
    tags: Tags | None = None


class UploadMetadata(BaseModel):
    model_config = ConfigDict(extra="forbid")
    acl_groups: list[str] = Field(default_factory=list)
    tags: Tags = Field(default_factory=dict)
    password: str | None = None


class BlockOut(BaseModel):
    start: int
    end: int
    bbox: list[float]


class PageOut(BaseModel):
    page: int
    text: str
    blocks: list[BlockOut]


class JobProgress(BaseModel):
    done: int
    total: int
    stage: str | None


class JobOut(BaseModel):
    job_id: str
    kind: str
    status: Literal["queued", "running", "succeeded", "failed", "cancelled"]
    progress: JobProgress
    collection: str | None = None
    document_id: str | None = None
    created_at: datetime
    updated_at: datetime
    error: dict[str, Any] | None = None
    result: dict[str, Any] | None = None


class JobList(BaseModel):
    jobs: list[JobOut]
    next_cursor: str | None


class ModelInfo(BaseModel):
    name: str
    version: str
    dimension: int | None = None
    default: bool = False
    loaded: bool | None = None


class PiiInfo(BaseModel):
    languages: list[str]
    entities: list[str]


class ModelsOut(BaseModel):
    embedders: list[ModelInfo]
    generators: list[ModelInfo]
    rerankers: list[ModelInfo]
    pii: PiiInfo


class AuditOut(BaseModel):
    records: list[dict[str, Any]]


class Health(BaseModel):
    status: str
    checks: dict[str, str] = Field(default_factory=dict)
