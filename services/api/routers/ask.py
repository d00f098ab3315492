from __future__ import annotations

import itertools
import json

from fastapi import APIRouter
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from pipelines.audit import text_hash
from pipelines.errors import NotFound
from pipelines.replay import chunk_provenance
from pipelines.types import IndexFilter
from services.api.access import collection_for
from services.api.deps import ContainerDep, Reader
from services.api.problems import ProblemException
from services.api.routers import PROBLEM_RESPONSES
from services.api.schemas import Tags

router = APIRouter(tags=["ask"], responses=PROBLEM_RESPONSES)


class AskFilters(BaseModel):
    model_config = ConfigDict(extra="forbid")
    document_ids: list[str] = Field(default_factory=list, max_length=1000)
    tags: Tags = Field(default_factory=dict)


class AskRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    question: str = Field(min_length=1, max_length=4000)
    top_k: int = Field(8, ge=1, le=50)
    filters: AskFilters = Field(default_factory=AskFilters)
    generator: str = "extractive"
    reveal_pii: bool = False
    stream: bool = False


class CitationOut(BaseModel):
    id: int
    document_id: str
    filename: str
    page: int
    start: int
    end: int
    quote: str
    bbox: list[float] | None = None
    orig_start: int | None = None
    orig_end: int | None = None
    score: float


class SentenceOut(BaseModel):
    text: str
    citation_ids: list[int]
    support: float


class AskResponse(BaseModel):
    answer: str
    abstained: bool
    citations: list[CitationOut]
    sentences: list[SentenceOut]
    generator: dict[str, str]
    embedder: dict[str, str]
    audit_id: str


@router.post(
    "/v1/collections/{name}/ask",
    response_model=AskResponse,
    operation_id="ask",
    responses={200: {"content": {"text/event-stream": {}},
                     "description": "JSON, or server-sent events with stream=true (`sentence` events, then `done`)"},
               504: PROBLEM_RESPONSES[422] | {"description": "no answer within DOCINTEL_ASK_TIMEOUT_S"}},
)
def ask(name: str, body: AskRequest, principal: Reader, container: ContainerDep):
    """Answer from the collection's documents: every sentence cites exact spans; an honest
    abstention when nothing supports an answer. Only chunks the caller may read are
    retrieved (the ACL filter is inside the vector query)."""
    collection = collection_for(container, principal, name)
    if body.reveal_pii and not principal.has_role("admin"):
        raise ProblemException(403, "reveal_pii needs the 'admin' role")
    generator = container.generator(body.generator)
    question = search_question = body.question
    aliases: dict[str, str] = {}
    scope = container.vault_scope(collection) if collection.anonymise else None
    if scope is not None:
        # The index holds pseudonyms: a name in the question must become its token.
        # Values the vault does not know are redacted for the generator, and kept for
        # the (local, unrecorded) search, where only a clear occurrence can match them.
        question, search_question, aliases = container.anonymiser.question_forms(
            body.question, store=scope, entities=collection.pii_entities)
    flt = IndexFilter(
        acl_groups=None if principal.sees_everything else tuple(principal.groups),
        document_ids=tuple(body.filters.document_ids),
        tags=dict(body.filters.tags),
    )

    def searching(run):
        """``run(answerer, index_name)`` on the physical collection of the row's embedder;
        once more with the row re-read if a re-index dropped it meanwhile."""
        current = collection
        for attempt in (1, 2):
            try:
                return run(container.answerer(current.embedder), container.documents.search_target(current))
            except NotFound:
                if attempt == 2:
                    raise
                current = collection_for(container, principal, name)  # NotFound if deleted
        raise AssertionError("unreachable")

    def finish(answer) -> dict:
        container.metrics.asks.labels(answer.generator_info.get("name", "?")).inc()
        container.metrics.observe_stages("ask", answer.timings_ms)
        if answer.abstained:
            container.metrics.abstentions.inc()
        container.metrics.sentences_dropped.inc(len(answer.dropped))
        audit_id = container.audit.record(
            "ask", tenant=principal.tenant, key_id=principal.key_id, collection=name,
            outcome="abstained" if answer.abstained else "answered",
            question_hash=text_hash(body.question), answer_hash=text_hash(answer.answer),
            document_ids=sorted({c.document_id for c in answer.citations}),
            chunk_ids=list(answer.retrieved_chunk_ids), **chunk_provenance(answer.retrieved),
            cited_chunk_ids=[c.chunk_id for c in answer.citations],
            citation_ids=[c.id for c in answer.citations],
            support=[round(s.support, 4) for s in answer.sentences],
            dropped=len(answer.dropped), generator=answer.generator_info, embedder=answer.embedder_info,
            answerer=answer.answerer_version,
            top_k=body.top_k, filters=body.filters.model_dump(), revealed=body.reveal_pii,
        )
        out = answer.to_dict(audit_id=audit_id)
        if body.reveal_pii and scope is not None:
            out["answer"] = scope.reveal(out["answer"])
            for sentence in out["sentences"]:
                sentence["text"] = scope.reveal(sentence["text"])
        return out

    if not body.stream:
        answer = searching(lambda answerer, target: answerer.answer(
            question, index_name=target, flt=flt, top_k=body.top_k, generator=generator,
            search_question=search_question, search_aliases=aliases))
        return JSONResponse(finish(answer))

    from pipelines.answer import DoneEvent

    def first_event(answerer, target):
        # Retrieval happens before the first event: a retry never repeats a sent event.
        stream = answerer.iter_answer(question, index_name=target, flt=flt, top_k=body.top_k, generator=generator,
                                      search_question=search_question, search_aliases=aliases)
        return next(stream), stream

    def events():
        first, rest = searching(first_event)
        for event in itertools.chain([first], rest):
            if isinstance(event, DoneEvent):
                yield _sse("done", finish(event.answer))
            else:
                sentence = event.sentence.to_dict()
                if body.reveal_pii and scope is not None:
                    sentence["text"] = scope.reveal(sentence["text"])
                yield _sse("sentence", {"sentence": sentence, "citations": [c.to_dict() for c in event.citations]})

    return StreamingResponse(events(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


def _sse(event: str, data: dict) -> str:
    return f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"
