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
    """Audit records of the caller's tenant, newest first. No raw text or PII in them."""
    records = container.audit.list(tenant=principal.tenant, since=since, operation=operation, limit=limit)
    return {"records": [r.as_dict() for r in records]}
