"""``docintel audit replay``: re-run a recorded ask and compare the answer hash (see
``pipelines.replay`` for what is recorded and how the replay is faithful).

The question itself is never stored, so the operator gives it again; its hash must
equal the recorded one before anything runs. The replay reads the index, so it runs
where the index is reachable: with the embedded index, while the API is stopped (the
API process owns the folder); with a Qdrant server, at any time.
"""

from __future__ import annotations

import copy

from pipelines.audit import AuditLog, text_hash
from pipelines.errors import InvalidRequest, NotFound
from pipelines.indexing.qdrant_index import alias_name
from pipelines.replay import (
    REPLAY_FIELDS,
    RecordedHitsIndex,
    ReplayReport,
    answerer_difference,
    compare_chunks,
    model_differences,
)
from pipelines.retrieval import HybridRetriever
from pipelines.types import IndexFilter, IndexPoint, ScoredChunk


class ReplayRefused(ValueError):
    """The record cannot be replayed as asked (message says why)."""


def replay_ask(container, audit: AuditLog, audit_id: str, question: str) -> ReplayReport:
    record = audit.get(audit_id)
    if record is None:
        raise ReplayRefused(f"no audit record {audit_id}")
    if record.operation != "ask":
        raise ReplayRefused(f"{audit_id} records a '{record.operation}', not an 'ask'")
    details = record.details
    missing = [f for f in REPLAY_FIELDS if f not in details]
    if missing:
        raise ReplayRefused(f"{audit_id} was recorded without {', '.join(missing)}: it cannot be replayed")
    if text_hash(question) != details["question_hash"]:
        raise ReplayRefused("the question given is not the recorded one (its hash differs)")

    try:
        collection = container.registry.get_collection(record.tenant, record.collection)
    except NotFound:
        return ReplayReport(audit_id, False, details["answer_hash"], None,
                            (f"collection '{record.collection}' was deleted",))

    alias = alias_name(collection.tenant, collection.name)
    wanted = set(details["chunk_ids"])
    current: dict[str, dict] = {}
    documents: dict[str, list[IndexPoint]] = {}
    for document_id in dict.fromkeys(details["chunk_document_ids"]):
        documents[document_id] = list(container.index.scroll(alias, document_id=document_id))
        for point in documents[document_id]:
            if point.id in wanted:
                current[point.id] = point.payload
    reasons = [change.describe() for change in compare_chunks(details, current)]

    recorded_generator, recorded_embedder = details["generator"], details["embedder"]
    try:
        generator = container.generator(recorded_generator["name"])
    except InvalidRequest:  # unknown or unconfigured now: nothing to replay with
        return ReplayReport(audit_id, False, details["answer_hash"], None, (
            *reasons, f"generator {recorded_generator['name']} is not configured any more"))
    reasons += model_differences("generator", recorded_generator,
                                 {"name": generator.name, "version": generator.version})
    embedder_name = recorded_embedder["name"]
    if embedder_name not in container.available_embedders():
        embedder_name = collection.embedder
    answerer = copy.copy(container.answerer(embedder_name))
    reasons += model_differences("embedder", recorded_embedder,
                                 {"name": answerer.embedder.name, "version": answerer.embedder.version})
    reasons += answerer_difference(details.get("answerer"), answerer.version)

    hits = [ScoredChunk(id=cid, score=0.0, payload=current[cid]) for cid in details["chunk_ids"] if cid in current]
    answerer.retriever = HybridRetriever(answerer.embedder, None, RecordedHitsIndex(hits, documents))
    asked = searched = question
    aliases: dict[str, str] = {}
    if collection.anonymise:  # as at ask time: names in the question become their tokens
        scope = container.vault_scope(collection)
        asked, searched, aliases = container.anonymiser.question_forms(
            question, store=scope, entities=collection.pii_entities)
    answer = answerer.answer(asked, index_name=alias, flt=IndexFilter(), top_k=int(details.get("top_k") or 8),
                             generator=generator, search_question=searched, search_aliases=aliases)
    replayed = text_hash(answer.answer)
    match = replayed == details["answer_hash"]
    if not match and not reasons:
        reasons.append("same chunks, versions and models, yet a different answer (a non-deterministic "
                       "generator, or the answering code changed)")
    return ReplayReport(audit_id, match, details["answer_hash"], replayed, tuple(reasons))
