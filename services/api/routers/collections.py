from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict

from services.api.access import collection_for
from services.api.deps import Admin, ContainerDep, Reader, Writer
from services.api.routers import PROBLEM_RESPONSES
from services.api.routers.jobs import job_out
from services.api.schemas import (
    CollectionCreate,
    CollectionDetail,
    CollectionList,
    CollectionOut,
    CollectionSummary,
    JobOut,
)

router = APIRouter(prefix="/v1/collections", tags=["collections"], responses=PROBLEM_RESPONSES)


def _out(row) -> dict:
    return {
        "name": row.name,
        "anonymise": row.anonymise,
        "embedder": row.embedder,
        "embedder_version": row.embedder_version,
        "created_at": row.created_at,
    }


@router.post("", status_code=201, response_model=CollectionOut, operation_id="create_collection",
             responses={409: PROBLEM_RESPONSES[422] | {"description": "the name is taken"},
                        501: PROBLEM_RESPONSES[422] | {"description": "anonymise=true on a server without PII detection"}})
def create_collection(body: CollectionCreate, principal: Writer, container: ContainerDep):
    """Create a collection (pseudonymised by default)."""
    if body.pii_entities is not None:
        from services.api.routers.anonymise import _check_entities

        _check_entities(body.pii_entities)
    row = container.documents.create_collection(
        principal.tenant, body.name, anonymise=body.anonymise, embedder_name=body.embedder,
        pii_entities=body.pii_entities, anonymiser_available=container.anonymiser_available,
    )
    return _out(row)


@router.get("", response_model=CollectionList, operation_id="list_collections")
def list_collections(principal: Reader, container: ContainerDep):
    out = []
    for row in container.registry.list_collections(principal.tenant):
        documents, chunks = container.registry.collection_counts(principal.tenant, row.name)
        out.append(CollectionSummary(**_out(row), documents=documents, chunks=chunks))
    return CollectionList(collections=out)


@router.get("/{name}", response_model=CollectionDetail, operation_id="get_collection")
def get_collection(name: str, principal: Reader, container: ContainerDep):
    """``index_points`` is counted in the index itself: ``chunks == index_points`` whenever
    no job is running."""
    row = collection_for(container, principal, name)
    documents, chunks = container.registry.collection_counts(principal.tenant, name)
    return CollectionDetail(**_out(row), documents=documents, chunks=chunks,
                            index_points=container.documents.index_points(row))


class ReindexRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    embedder: str | None = None


@router.post("/{name}/reindex", status_code=202, response_model=JobOut, response_model_exclude_none=True,
             operation_id="reindex_collection", responses={409: PROBLEM_RESPONSES[422] | {"description": "already running"}})
def reindex_collection(name: str, principal: Admin, container: ContainerDep,
                       body: Annotated[ReindexRequest | None, Body()] = None):
    """Build a new index (optionally with another embedder) and swap it in atomically;
    queries keep working meanwhile. Answers a job."""
    row = collection_for(container, principal, name)
    job = container.documents.start_reindex(row, embedder_name=body.embedder if body else None,
                                            key_id=principal.key_id)
    container.audit.record("reindex", tenant=principal.tenant, key_id=principal.key_id, collection=name,
                           outcome="queued", job_id=job.id, embedder=job.params.get("embedder"),
                           from_embedder=f"{row.embedder}@{row.embedder_version}")
    return JSONResponse(job_out(container.registry.get_job(job.id)), status_code=202)


@router.delete("/{name}", status_code=204, operation_id="delete_collection")
def delete_collection(name: str, principal: Admin, container: ContainerDep):
    """Removes every chunk, vector, vault entry and registry row of the collection."""
    row = collection_for(container, principal, name)
    ids = container.documents.delete_collection(row)
    container.audit.record("delete_collection", tenant=principal.tenant, key_id=principal.key_id,
                           collection=name, document_ids=ids)
    return Response(status_code=204)
