from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse

from pipelines.errors import NotFound
from services.api.deps import ContainerDep, Principal, Reader
from services.api.problems import ProblemException
from services.api.routers import PROBLEM_RESPONSES
from services.api.schemas import JobList, JobOut

router = APIRouter(prefix="/v1/jobs", tags=["jobs"], responses=PROBLEM_RESPONSES)

CANCEL_ROLE = {"reindex": "admin"}  # ingestion and extraction jobs: writer


def job_out(row) -> dict:
    return JobOut(
        job_id=row.id, kind=row.kind, status=row.status,
        progress={"done": row.progress_done, "total": row.progress_total, "stage": row.stage},
        collection=row.collection, document_id=row.document_id, created_at=row.created_at,
        updated_at=row.updated_at, error=row.error, result=row.result,
    ).model_dump(mode="json", exclude_none=True)


def job_visible(container, principal: Principal, job) -> bool:
    """A job of the caller's tenant is visible as its document is (API.md: a document a key
    may not read does not exist for it). A job without a readable document to judge by (an
    extraction from an upload, or a job whose document is gone) holds content nobody else
    was given: only the key that started it and keys holding '*' see it. Collection-wide
    jobs (re-index) carry counts only and are visible to the whole tenant."""
    if job.document_id:
        doc = container.registry.document_by_id(job.document_id)
        if doc is not None:
            return doc.readable_by(principal.groups)
        return principal.sees_everything or job.key_id == principal.key_id
    if job.kind == "extract":
        return principal.sees_everything or job.key_id == principal.key_id
    return True


def _visible_job(container, principal: Principal, job_id: str):
    job = container.registry.get_job(job_id, tenant=principal.tenant)
    if not job_visible(container, principal, job):
        raise NotFound("job not found")
    return job


@router.get("/{job_id}", response_model=JobOut, response_model_exclude_none=True, operation_id="get_job")
def get_job(job_id: str, principal: Reader, container: ContainerDep):
    return job_out(_visible_job(container, principal, job_id))


@router.get("", response_model=JobList, operation_id="list_jobs")
def list_jobs(
    principal: Reader,
    container: ContainerDep,
    status: Annotated[str | None, Query(pattern="^(queued|running|succeeded|failed|cancelled)$")] = None,
    kind: str | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    cursor: str | None = None,
):
    """Newest first. Jobs the caller may not see are skipped before the page is cut, so a
    page is short only at the end of the listing or after 10 x ``limit`` hidden jobs in a
    row (``next_cursor`` continues from there)."""
    page = container.registry.list_jobs(principal.tenant, status=status, kind=kind, limit=limit, cursor=cursor,
                                        visible=lambda job: job_visible(container, principal, job))
    return {"jobs": [job_out(job) for job in page.items], "next_cursor": page.next_cursor}


@router.delete("/{job_id}", status_code=202, response_model=JobOut, response_model_exclude_none=True,
               operation_id="cancel_job", responses={409: PROBLEM_RESPONSES[422] | {"description": "already finished"}})
def cancel_job(job_id: str, principal: Reader, container: ContainerDep):
    """Cancel a queued or running job (writer for ingestion, admin for re-index)."""
    job = _visible_job(container, principal, job_id)
    needed = CANCEL_ROLE.get(job.kind, "writer")
    if not principal.has_role(needed):
        raise ProblemException(403, f"cancelling a {job.kind} job needs the '{needed}' role")
    if not container.registry.request_cancel(job.id):
        raise ProblemException(409, f"the job is already {job.status}")
    return JSONResponse(job_out(container.registry.get_job(job.id)), status_code=202)
