"""Tenant and ACL checks shared by routers. Anything a key may not see answers 404,
exactly as if it did not exist (API.md)."""

from __future__ import annotations

from pipelines.errors import NotFound
from pipelines.registry import CollectionRow, DocumentRow
from services.api.deps import Principal


def collection_for(container, principal: Principal, name: str) -> CollectionRow:
    return container.registry.get_collection(principal.tenant, name)


def document_for(container, principal: Principal, collection: CollectionRow, document_id: str) -> DocumentRow:
    doc = container.registry.get_document(principal.tenant, collection.name, document_id)
    if not doc.readable_by(principal.groups):
        raise NotFound("document not found")
    return doc
