from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from pipelines.audit import text_hash
from pipelines.errors import InvalidRequest, LimitExceeded
from services.api.access import collection_for, document_for
from services.api.deps import ContainerDep, Principal, get_principal
from services.api.problems import ProblemException, loads_request_json, undecodable_json_reason
from services.api.ratelimit import admit_jobs
from services.api.routers import MULTIPART_PROBLEM_RESPONSES, PROBLEM_RESPONSES
from services.api.routers.documents import safe_filename

router = APIRouter(tags=["extract"], responses=PROBLEM_RESPONSES)

MAX_SCHEMA_BYTES = 256 * 1024


class ExtractByDocument(BaseModel):
    model_config = ConfigDict(extra="forbid")
    collection: str
    document_id: str
    schema_: dict[str, Any] = Field(alias="schema")
    generator: str | None = None
    reveal_pii: bool = False


class ExtractCitation(BaseModel):
    page: int
    start: int
    end: int
    quote: str
    bbox: list[float] | None = None


class ExtractField(BaseModel):
    value: Any
    confidence: float
    citations: list[ExtractCitation]


class ExtractResponse(BaseModel):
    data: dict[str, Any]
    fields: dict[str, ExtractField]
    valid: bool
    errors: list[dict[str, Any]]
    generator: dict[str, str]
    audit_id: str | None = None
    document_id: str | None = None


_REQUEST_BODY = {
    "required": True,
    "content": {
        "application/json": {"schema": {
            "type": "object", "required": ["collection", "document_id", "schema"],
            "properties": {"collection": {"type": "string"}, "document_id": {"type": "string"},
                           "schema": {"type": "object", "description": "JSON Schema, draft 2020-12"},
                           "generator": {"type": "string"}, "reveal_pii": {"type": "boolean"}}}},
        "multipart/form-data": {"schema": {
            "type": "object", "required": ["file", "schema"],
            "properties": {"file": {"type": "string", "format": "binary"},
                           "schema": {"type": "string", "description": "JSON Schema (draft 2020-12) as JSON text"},
                           "password": {"type": "string"}, "generator": {"type": "string"}}}},
    },
}


def _parse_schema_text(raw: Any) -> dict:
    if not isinstance(raw, str) or len(raw.encode()) > MAX_SCHEMA_BYTES:
        raise InvalidRequest("schema must be a JSON Schema object (at most 256 KB)",
                             errors=[{"loc": ["body", "schema"], "msg": "missing, too large or not text"}])
    schema = loads_request_json(raw, loc=["body", "schema"], message="schema is not valid JSON")
    if not isinstance(schema, dict):
        raise InvalidRequest("schema must be a JSON object", errors=[{"loc": ["body", "schema"], "msg": "not an object"}])
    return schema


@router.post(
    "/v1/extract",
    response_model=ExtractResponse,
    response_model_exclude_none=True,
    operation_id="extract",
    openapi_extra={"requestBody": _REQUEST_BODY},
    responses={202: {"description": "accepted as a job (?async=true)"},
               **MULTIPART_PROBLEM_RESPONSES,
               409: PROBLEM_RESPONSES[422] | {"description": "the document is not indexed (yet)"},
               413: PROBLEM_RESPONSES[422] | {"description": "too large"},
               415: PROBLEM_RESPONSES[422] | {"description": "unsupported media type"},
               503: PROBLEM_RESPONSES[422] | {"description": "job queue full (?async=true; see Retry-After)"},
               504: PROBLEM_RESPONSES[422] | {"description": "no answer within DOCINTEL_EXTRACT_TIMEOUT_S"}},
)
async def extract(
    request: Request,
    principal: Annotated[Principal, Depends(get_principal)],
    container: ContainerDep,
    async_: Annotated[bool, Query(alias="async", description="run as a job (large or scanned uploads)")] = False,
):
    """Fill a JSON Schema from a document: an upload (multipart ``file`` + ``schema``,
    writer) or an indexed document (JSON ``{collection, document_id, schema}``, reader).
    Every non-null value cites the stored text it came from; nothing is invented."""
    from starlette.concurrency import run_in_threadpool

    content_type = request.headers.get("content-type", "")
    if content_type.startswith("multipart/form-data"):
        if not principal.has_role("writer"):
            raise ProblemException(403, "extracting from an upload needs the 'writer' role")
        form = await request.form(max_files=2, max_fields=10)
        upload = form.get("file")
        if upload is None or isinstance(upload, str):
            raise InvalidRequest("a file is required", errors=[{"loc": ["body", "file"], "msg": "missing"}])
        raw_schema = form.get("schema")
        if raw_schema is not None and not isinstance(raw_schema, str):  # sent as a file part (-F schema=@x.json)
            raw_schema = (await raw_schema.read(MAX_SCHEMA_BYTES + 1)).decode("utf-8", errors="replace")
        schema = _parse_schema_text(raw_schema)
        limit = container.settings.max_upload_mb * 1024 * 1024
        data = await upload.read(limit + 1)
        if len(data) > limit:
            raise LimitExceeded(f"the file is larger than {container.settings.max_upload_mb} MB")
        job = dict(kind="upload", data=data, filename=safe_filename(upload.filename),
                   password=form.get("password") if isinstance(form.get("password"), str) else None,
                   schema=schema, generator=form.get("generator") if isinstance(form.get("generator"), str) else None)
    elif content_type.startswith("application/json"):
        try:
            body = ExtractByDocument.model_validate(json.loads(await request.body()))
        except (ValueError, RecursionError) as exc:
            # ValidationError and JSONDecodeError are ValueErrors; the others (invalid UTF-8,
            # integers over 4300 digits, RecursionError past the nesting limit) are JSON
            # that cannot be decoded: all a 422 like the syntax error, never a 500.
            if isinstance(exc, ValidationError):
                errors = exc.errors()
            else:
                errors = [{"loc": (), "msg": exc.msg if isinstance(exc, json.JSONDecodeError)
                           else undecodable_json_reason(exc)}]
            raise InvalidRequest("the body must be {collection, document_id, schema}",
                                 errors=[{"loc": ["body", *map(str, e.get("loc", ()))], "msg": e.get("msg", "")}
                                         for e in errors]) from None
        if body.reveal_pii and not principal.has_role("admin"):
            raise ProblemException(403, "reveal_pii needs the 'admin' role")
        collection = collection_for(container, principal, body.collection)
        doc = document_for(container, principal, collection, body.document_id)
        if doc.status != "indexed":
            raise ProblemException(409, f"the document is {doc.status}, not indexed")
        job = dict(kind="document", collection=collection, document=doc, schema=body.schema_,
                   generator=body.generator, reveal=body.reveal_pii)
    else:
        raise ProblemException(415, "send multipart/form-data (file + schema) or application/json")

    from pipelines.extract import validate_schema

    validate_schema(job["schema"])  # a bad schema is a 422 now, not a failed job later
    extractor = container.extractor(job["generator"])
    if async_:
        with admit_jobs(container, principal.tenant, 1, route="/v1/extract") as reservation:
            record = container.registry.create_job(
                tenant=principal.tenant, kind="extract", key_id=principal.key_id,
                collection=job["collection"].name if job["kind"] == "document" else None,
                document_id=job["document"].id if job["kind"] == "document" else None, total=1,
            )
            container.runner.submit(record.id, lambda ctx: _run(container, principal, job, extractor, ctx.progress),
                                    reservation=reservation)
        from services.api.routers.jobs import job_out

        return JSONResponse(job_out(container.registry.get_job(record.id)), status_code=202)
    answer = await run_in_threadpool(_run, container, principal, job, extractor, lambda *a: None)
    return JSONResponse(answer)


def _run(container, principal: Principal, job: dict, extractor, progress) -> dict:
    if job["kind"] == "upload":
        progress("parse", 0, 1)
        parsed = container.parser.parse(job["data"], filename=job["filename"], password=job["password"])
        pages, collection_name, document_ids = list(parsed.pages), None, []
    else:
        pages = container.registry.get_pages(job["document"].id)
        collection_name, document_ids = job["collection"].name, [job["document"].id]
    progress("extract", 0, 1)
    result = extractor.extract(pages, job["schema"])
    answer = result.to_dict()
    if job["kind"] == "document" and job["reveal"] and job["collection"].anonymise:
        scope = container.vault_scope(job["collection"])
        answer["data"] = _reveal(answer["data"], scope)
        for item in answer["fields"].values():
            item["value"] = _reveal(item["value"], scope)
    container.metrics.extractions.labels(answer["generator"].get("name", "?")).inc()
    answer["audit_id"] = container.audit.record(
        "extract", tenant=principal.tenant, key_id=principal.key_id, collection=collection_name,
        document_ids=document_ids, generator=answer["generator"], schema_hash=text_hash(json.dumps(job["schema"], sort_keys=True)),
        fields=len(answer["fields"]), found=sum(1 for f in answer["fields"].values() if f["value"] is not None),
        valid=answer["valid"], revealed=bool(job.get("reveal")),
        answer_hash=text_hash(json.dumps(answer["data"], sort_keys=True, default=str)),
    )
    if document_ids:
        answer["document_id"] = document_ids[0]
    progress("done", 1, 1)
    return answer


def _reveal(value: Any, scope) -> Any:
    if isinstance(value, str):
        return scope.reveal(value)
    if isinstance(value, list):
        return [_reveal(v, scope) for v in value]
    if isinstance(value, dict):
        return {k: _reveal(v, scope) for k, v in value.items()}
    return value
