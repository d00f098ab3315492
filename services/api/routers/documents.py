from __future__ import annotations

import re
import unicodedata
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Query, Response, UploadFile
from fastapi.responses import JSONResponse
from pydantic import ValidationError

from pipelines.errors import Conflict, InvalidRequest, LimitExceeded
from pipelines.registry import DocumentRow
from services.api.access import collection_for, document_for
from services.api.deps import ContainerDep, Reader, Writer
from services.api.problems import (
    PROBLEM_MEDIA_TYPE,
    domain_problem,
    loads_request_json,
    problem_dict,
)
from services.api.ratelimit import admit_jobs
from services.api.routers import MULTIPART_PROBLEM_RESPONSES, PROBLEM_RESPONSES
from services.api.schemas import (
    DocumentList,
    DocumentOut,
    DocumentPatch,
    PageOut,
    UploadMetadata,
    UploadResult,
)

router = APIRouter(prefix="/v1/collections/{name}/documents", tags=["documents"], responses=PROBLEM_RESPONSES)
UPLOAD_ROUTE = "/v1/collections/{name}/documents"


def document_out(row: DocumentRow, *, duplicate: bool | None = None) -> dict[str, Any]:
    """API.md document object; ``error`` and ``duplicate`` appear only when they apply."""
    out = DocumentOut(
        document_id=row.id, filename=row.filename, media_type=row.media_type, sha256=row.sha256,
        status=row.status, pages=row.pages, chunks=row.chunks, pii=row.pii, acl_groups=row.acl_groups,
        tags=row.tags, created_at=row.created_at, error=row.error, job_id=row.job_id,
        ocr_pages=row.ocr_pages, duplicate=duplicate,
    ).model_dump(mode="json")
    for optional in ("error", "duplicate"):
        if out[optional] is None:
            del out[optional]
    return out


def safe_filename(raw: str | None) -> str:
    """Keep only the last path component, printable, at most 255 characters: a filename is
    a label, never a path (uploads are stored by document id)."""
    name = (raw or "").replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in unicodedata.normalize("NFC", name) if ch.isprintable())
    name = re.sub(r"^\.+", "", name).strip()
    return (name or "upload")[:255]


def _read_limited(upload: UploadFile, limit: int) -> bytes:
    chunks, size = [], 0
    while True:
        block = upload.file.read(1024 * 1024)
        if not block:
            break
        size += len(block)
        if size > limit:
            raise LimitExceeded(f"'{safe_filename(upload.filename)}' is larger than {limit // (1024 * 1024)} MB")
        chunks.append(block)
    return b"".join(chunks)


@router.post(
    "",
    status_code=202,
    response_model=UploadResult,
    operation_id="upload_documents",
    responses={201: {"model": UploadResult, "description": "indexed (wait=true)"},
               **MULTIPART_PROBLEM_RESPONSES,
               # every file failed: the first file's problem, e.g. a 409 for content already
               # stored as a document this key may not read
               409: PROBLEM_RESPONSES[422] | {"description": "conflict (every file refused)"},
               413: PROBLEM_RESPONSES[422] | {"description": "too large"},
               415: PROBLEM_RESPONSES[422] | {"description": "unsupported media type"},
               503: PROBLEM_RESPONSES[422] | {"description": "job queue full (see Retry-After)"}},
)
def upload_documents(
    name: str,
    principal: Writer,
    container: ContainerDep,
    file: Annotated[list[UploadFile], File(description="one or more files")],
    metadata: Annotated[str | None, Form(description='JSON: {"acl_groups": [], "tags": {}, "password": "..."}')] = None,
    wait: Annotated[bool, Query(description="block until indexed")] = False,
):
    """Upload files; each becomes a document indexed by a background job."""
    collection = collection_for(container, principal, name)
    expected = "metadata must be a JSON object {acl_groups?, tags?, password?}"
    try:
        meta = UploadMetadata.model_validate(
            loads_request_json(metadata, loc=["body", "metadata"], message=expected)) if metadata else UploadMetadata()
    except ValidationError as exc:
        raise InvalidRequest(expected, errors=[{"loc": ["body", "metadata", *map(str, e.get("loc", ()))],
                                                "msg": e.get("msg", "")} for e in exc.errors()]) from None
    if len(file) > container.settings.max_files_per_request:
        raise LimitExceeded(f"at most {container.settings.max_files_per_request} files per request")
    limit = container.settings.max_upload_mb * 1024 * 1024
    outcomes = []
    # One slot per file, all or none: a refused request queues nothing.
    with admit_jobs(container, principal.tenant, len(file), route=UPLOAD_ROUTE) as reservation:
        for upload in file:
            filename = safe_filename(upload.filename)
            try:
                data = _read_limited(upload, limit)
            except LimitExceeded as exc:
                outcomes.append(("failed", {"document_id": None, "filename": filename, "status": "failed",
                                            "error": domain_problem(exc)}))
                continue
            outcome = container.documents.upload(
                collection, filename=filename, data=data, acl_groups=meta.acl_groups, tags=meta.tags,
                password=meta.password, key_id=principal.key_id, reservation=reservation,
            )
            outcomes.append(("ok", outcome))

    items: list[dict[str, Any]] = []
    for upload, (kind, outcome) in zip(file, outcomes, strict=True):
        if kind == "failed":
            items.append(outcome)
            continue
        if outcome.duplicate and not outcome.document.readable_by(principal.groups):
            # The same bytes are already a document this key may not read: nothing of it
            # (id, filename, tags, job) is shown, only that the upload was not taken.
            items.append({"document_id": None, "filename": safe_filename(upload.filename), "status": "failed",
                          "error": domain_problem(Conflict(
                              "a document with the same content already exists in this collection"))})
            container.audit.record("upload", tenant=principal.tenant, key_id=principal.key_id, collection=name,
                                   outcome="duplicate-unreadable", document_ids=[outcome.document.id])
            continue
        if wait and outcome.job_id and not outcome.duplicate:
            container.runner.wait(outcome.job_id, timeout=container.settings.parse_timeout_s * 4 + 600)
        # Without wait, an accepted file is reported as accepted ("queued"), even if its job
        # has already started; the job and the document resource report progress.
        row = (container.registry.document_by_id(outcome.document.id) or outcome.document) if wait \
            else outcome.document
        if wait or outcome.duplicate or row.status == "failed":
            item = document_out(row, duplicate=True if outcome.duplicate else None)
        else:
            item = {"document_id": row.id, "filename": row.filename, "status": row.status, "job_id": outcome.job_id}
        items.append(item)
        container.audit.record(
            "upload", tenant=principal.tenant, key_id=principal.key_id, collection=name,
            outcome=row.status if not outcome.duplicate else "duplicate",
            document_ids=[row.id], job_id=outcome.job_id, sha256=row.sha256,
        )

    if items and all(item.get("status") == "failed" for item in items):
        first = items[0]["error"] or problem_dict(422, "parse-error", "Document could not be parsed", "failed")
        body = dict(first)
        body["instance"] = f"/v1/collections/{name}/documents"
        body["documents"] = items
        return JSONResponse(body, status_code=body["status"], media_type=PROBLEM_MEDIA_TYPE)
    return JSONResponse({"documents": items}, status_code=201 if wait else 202)


@router.get("", response_model=DocumentList, operation_id="list_documents")
def list_documents(
    name: str,
    principal: Reader,
    container: ContainerDep,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    cursor: str | None = None,
    status: Annotated[str | None, Query(pattern="^(queued|running|indexed|failed)$")] = None,
):
    collection = collection_for(container, principal, name)
    page = container.registry.list_documents(
        principal.tenant, collection.name, limit=limit, cursor=cursor, status=status, groups=principal.groups
    )
    return {"documents": [document_out(r) for r in page.items], "next_cursor": page.next_cursor}


@router.get("/{document_id}", response_model=DocumentOut, operation_id="get_document")
def get_document(name: str, document_id: str, principal: Reader, container: ContainerDep):
    collection = collection_for(container, principal, name)
    return document_out(document_for(container, principal, collection, document_id))


@router.patch("/{document_id}", response_model=DocumentOut, operation_id="patch_document")
def patch_document(name: str, document_id: str, body: DocumentPatch, principal: Writer, container: ContainerDep):
    """Change who may read a document (registry and index payloads together) or its tags."""
    collection = collection_for(container, principal, name)
    doc = document_for(container, principal, collection, document_id)
    container.documents.update_acl(collection, doc, acl_groups=body.acl_groups, tags=body.tags)
    container.audit.record("patch_document", tenant=principal.tenant, key_id=principal.key_id, collection=name,
                           document_ids=[doc.id], fields=sorted(body.model_dump(exclude_none=True)))
    return document_out(container.registry.get_document(principal.tenant, name, document_id))


@router.get("/{document_id}/pages/{n}", response_model=PageOut, operation_id="get_page")
def get_page(name: str, document_id: str, n: int, principal: Reader, container: ContainerDep):
    """The stored (pseudonymised when the collection is) page text citations point into."""
    collection = collection_for(container, principal, name)
    doc = document_for(container, principal, collection, document_id)
    page = container.registry.get_page(doc.id, n)
    return PageOut(page=page.number, text=page.text,
                   blocks=[{"start": b.start, "end": b.end, "bbox": list(b.bbox)} for b in page.blocks])


@router.delete("/{document_id}", status_code=204, operation_id="delete_document")
def delete_document(name: str, document_id: str, principal: Writer, container: ContainerDep):
    """Erasure: chunks, vectors, stored text and vault entries no other document uses."""
    collection = collection_for(container, principal, name)
    doc = document_for(container, principal, collection, document_id)
    container.documents.delete_document(collection, doc)
    container.audit.record("delete_document", tenant=principal.tenant, key_id=principal.key_id,
                           collection=name, document_ids=[doc.id])
    return Response(status_code=204)
