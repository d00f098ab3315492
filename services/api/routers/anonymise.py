from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, File, Request, UploadFile
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from pipelines.errors import InvalidRequest
from services.api.access import collection_for
from services.api.deps import ContainerDep, Principal, Reader, get_principal
from services.api.problems import ProblemException
from services.api.routers import MULTIPART_PROBLEM_RESPONSES, PROBLEM_RESPONSES
from services.api.routers.documents import _read_limited, safe_filename

router = APIRouter(tags=["anonymise"], responses=PROBLEM_RESPONSES)

MAX_TEXT_CHARS = 1_000_000


class AnonymiseRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: str = Field(max_length=MAX_TEXT_CHARS)
    language: Literal["fr", "en"] | None = None
    entities: list[str] | None = None
    operator: Literal["pseudonymise", "redact", "mask", "hash"] = "pseudonymise"
    collection: str | None = None


class EntityOut(BaseModel):
    type: str
    start: int
    end: int
    score: float
    replacement: str


class AnonymiseResponse(BaseModel):
    text: str
    entities: list[EntityOut]
    language: str | None = None


class DeanonymiseRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    collection: str
    text: str = Field(max_length=MAX_TEXT_CHARS)


class DeanonymiseResponse(BaseModel):
    text: str


def _check_entities(entities: list[str] | None) -> None:
    from pipelines.anonymising import ALL_ENTITIES

    unknown = sorted(set(entities or ()) - set(ALL_ENTITIES))
    if unknown:
        raise InvalidRequest(f"unknown entity types: {', '.join(unknown)}",
                             errors=[{"loc": ["body", "entities"], "msg": f"known: {', '.join(sorted(ALL_ENTITIES))}"}])


@router.post("/v1/anonymise", response_model=AnonymiseResponse, operation_id="anonymise_text")
def anonymise_text(body: AnonymiseRequest, principal: Reader, container: ContainerDep):
    """Detect PII and replace it. With ``collection`` the pseudonyms come from that
    collection's vault (reversible); without it they are consistent within the request only.
    Offsets are in the input text."""
    _check_entities(body.entities)
    store = None
    if body.collection is not None:
        if body.operator == "pseudonymise" and not principal.has_role("writer"):
            # Creating vault entries in a collection is a write.
            raise ProblemException(403, "pseudonymising into a collection's vault needs the 'writer' role")
        store = container.vault_scope(collection_for(container, principal, body.collection))
    result = container.anonymiser.anonymise(body.text, language=body.language, operator=body.operator,
                                            entities=body.entities, store=store)
    return AnonymiseResponse(
        text=result.text, language=result.language,
        entities=[EntityOut(type=e.type, start=e.start, end=e.end, score=round(e.score, 4),
                            replacement=e.replacement) for e in result.entities],
    )


@router.post(
    "/v1/anonymise/document",
    operation_id="anonymise_document",
    response_class=Response,
    responses={200: {"content": {"application/pdf": {}, "text/plain": {}},
                     "description": "a truly redacted PDF, or redacted plain text for other formats"},
               **MULTIPART_PROBLEM_RESPONSES,
               413: PROBLEM_RESPONSES[422] | {"description": "too large"},
               415: PROBLEM_RESPONSES[422] | {"description": "unsupported media type"}},
)
def anonymise_document(
    principal: Reader,
    container: ContainerDep,
    file: Annotated[UploadFile, File(description="the document to redact")],
):
    """A PDF comes back with the text under each PII box removed (PyMuPDF redactions, not
    an overlay); any other format comes back as redacted plain text."""
    from pipelines.parsing import sniff_media_type

    filename = safe_filename(file.filename)
    data = _read_limited(file, container.settings.max_upload_mb * 1024 * 1024)
    media_type = sniff_media_type(data, filename)
    stem = filename.rsplit(".", 1)[0] or "document"
    if media_type == "application/pdf":
        from pipelines.anonymising.redact_pdf import redact_pdf

        redacted = redact_pdf(data, container.anonymiser.detector)
        return Response(redacted, media_type="application/pdf",
                        headers={"Content-Disposition": f'attachment; filename="{stem}.redacted.pdf"'})
    parsed = container.parser.parse(data, filename=filename)
    pages = [container.anonymiser.anonymise(p.text, operator="redact").text for p in parsed.pages]
    return Response("\f".join(pages), media_type="text/plain; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{stem}.redacted.txt"'})


@router.post("/v1/deanonymise", response_model=DeanonymiseResponse, operation_id="deanonymise",
             responses={403: PROBLEM_RESPONSES[403]})
def deanonymise(body: DeanonymiseRequest, request: Request,
                principal: Annotated[Principal, Depends(get_principal)], container: ContainerDep):
    """Restore pseudonyms to the original values (admin); every call is audited, refusals too."""
    if not principal.has_role("admin"):
        container.audit.record("deanonymise", tenant=principal.tenant, key_id=principal.key_id,
                               collection=body.collection, outcome="forbidden")
        raise ProblemException(403, "de-anonymisation needs the 'admin' role")
    collection = collection_for(container, principal, body.collection)
    def caller_may_read(document_id: str) -> bool:
        doc = container.registry.document_by_id(document_id)
        return doc is not None and doc.readable_by(principal.groups)

    # Only names from documents this key may read (or from its own requests).
    text = container.vault_scope(collection).reveal(
        body.text, readable=None if "*" in principal.groups else caller_may_read)
    from pipelines.audit import text_hash

    container.audit.record("deanonymise", tenant=principal.tenant, key_id=principal.key_id,
                           collection=body.collection, outcome="ok", input_hash=text_hash(body.text))
    return JSONResponse({"text": text})
