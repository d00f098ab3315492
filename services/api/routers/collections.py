from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Response

from services.api.access import collection_for
from services.api.deps import Admin, Reader, Writer, get_container
from services.api.routers import PROBLEM_RESPONSES
from services.api.schemas import CollectionCreate, CollectionDetail, CollectionList, CollectionOut, CollectionSummary

router = APIRouter(prefix="/v1/collections", tags=["collections"], responses=PROBLEM_RESPONSES)
ContainerDep = Annotated[object, Depends(get_container)]


def _out(row) -> dict:
    return {
        "name": row.name,
        "anonymise": row.anonymise,
        "embedder": row.embedder,
        "embedder_version": row.embedder_version,
        "created_at": row.created_at,
    }


@router.post("", status_code=201, response_model=CollectionOut, operation_id="create_collection")
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


@router.delete("/{name}", status_code=204, operation_id="delete_collection")
def delete_collection(name: str, principal: Admin, container: ContainerDep):
    """Removes every chunk, vector, vault entry and registry row of the collection."""
    row = collection_for(container, principal, name)
    ids = container.documents.delete_collection(row)
    container.audit.record("delete_collection", tenant=principal.tenant, key_id=principal.key_id,
                           collection=name, document_ids=ids)
    return Response(status_code=204)
