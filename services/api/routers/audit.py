from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query

from services.api.deps import Admin, ContainerDep
from services.api.routers import PROBLEM_RESPONSES
from services.api.schemas import AuditOut

router = APIRouter(prefix="/v1/audit", tags=["audit"], responses=PROBLEM_RESPONSES)


@router.get("", response_model=AuditOut, operation_id="list_audit")
def list_audit(
    principal: Admin,
    container: ContainerDep,
    since: datetime | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    operation: str | None = None,
):
    """Audit records of the caller's tenant, newest first. No raw text or PII in them.

    ACLs apply to admins too (API.md): a key without '*' sees only records whose documents
    it may read; records naming a document that no longer exists only keys holding '*' see."""
    if principal.sees_everything:
        records = container.audit.list(tenant=principal.tenant, since=since, operation=operation, limit=limit)
        return {"records": [r.as_dict() for r in records]}
    readable: dict[str, bool] = {}

    def visible(record) -> bool:
        for document_id in _document_ids(record.details):
            if document_id not in readable:
                doc = container.registry.document_by_id(document_id)
                readable[document_id] = doc is not None and doc.readable_by(principal.groups)
            if not readable[document_id]:
                return False
        return True

    # The store has no cursor: widen the window until the page is full or the log ends.
    fetch, out = limit, []
    while True:
        records = container.audit.list(tenant=principal.tenant, since=since, operation=operation, limit=fetch)
        out = [r for r in records if visible(r)][:limit]
        if len(out) == limit or len(records) < fetch or fetch >= _MAX_SCAN:
            return {"records": [r.as_dict() for r in out]}
        fetch = min(fetch * 4, _MAX_SCAN)


_MAX_SCAN = 100_000


def _document_ids(details: dict) -> set[str]:
    """Every document id a record names: its ``document_ids``, an ask's ``filters`` and
    the documents of the chunks it retrieved (``chunk_document_ids``: an ask cites fewer
    documents than it read, and the retrieved ones are named in the record too)."""
    ids = set(details.get("document_ids") or ())
    ids.update(details.get("chunk_document_ids") or ())
    filters = details.get("filters")
    if isinstance(filters, dict):
        ids.update(filters.get("document_ids") or ())
    return {i for i in ids if isinstance(i, str)}
