"""Grounded question answering: retrieve, score, generate, verify, cite.

``Answerer.answer`` (or ``iter_answer`` for streaming) runs::

    question -> hybrid retrieval (filters inside the index query)
             -> second-stage scoring (pipelines.retrieval.PassageScorer)
             -> keep the passages whose document names what the question names
                (``lexical.Anchors``: "UCL", "H1N1", a pseudonym)
             -> abstain early when no passage covers the question well enough
             -> generator (extractive by default, or an LLM) proposes cited sentences
             -> a sentence that cites no passage (small LLMs seldom write ``[n]``) is
                attributed post hoc: the passage span that supports it best under the
                verifier's own support (``SentenceVerifier.attribute``), if one reaches
                the threshold; a sentence that cites a passage is judged against that
                passage only, never moved to another
             -> each sentence is reduced to plain text (pipelines.output_safety: no image,
                no link syntax, no HTML, no URL the cited text does not show) and checked
                against the spans it cites; unsupported ones are dropped
             -> citations with exact page offsets, or abstention when nothing is left

Invariants of every ``Answer`` (asserted by the tests):

* ``answer == " ".join(s.text for s in sentences)``; an abstention has no sentences,
  no citations and the fixed localised message as ``answer``;
* every sentence has at least one citation id, and every id names a citation;
* every citation's ``quote`` is the stored page text between ``start`` and ``end``:
  it is cut from the chunk payload ``text``, which is ``page.text[chunk.start:chunk.end]``,
  and ``start = chunk.start + offset in the chunk``;
* at most ``max_sentences`` sentences.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from pipelines import lexical
from pipelines.ports import Embedder, Generator, SparseEncoder, VectorIndex
from pipelines.retrieval import HybridRetriever, PassageScorer, ScoredPassage
from pipelines.types import BBox, GeneratedSentence, IndexFilter, OffsetMap, Page, ScoredChunk
from pipelines.verify import SentenceVerifier, align_sentence, instruction_spans

ABSTENTION_MESSAGES = {
    "fr": "Je n'ai pas trouvé de réponse à cette question dans les documents.",
    "en": "I could not find an answer to this question in the documents.",
}

DEFAULT_ABSTAIN_THRESHOLD = 0.50
"""Minimum ``evidence`` (share of the question's weighted content words found in one
sentence and its neighbours) needed to answer. One global value, calibrated on the dev
QA set (``python -m pipelines.eval.qa --abstain-threshold 0`` prints the sweep): the
most abstention on unanswerable questions at which answer accuracy stays >= 0.70 in
each language, the least false abstention among ties. There (head 75af81e, plain
collection): 0.50 gives 0.51 abstention for 0.07 false abstention; 0.55 the same
abstention for 0.08; 0.60 0.54 for 0.12, but French accuracy falls to 0.68."""

ANSWERER_VERSION = "8"
"""Version of the answering code around the models (second-stage scoring, the anchor
check, verification, citation): recorded with every ask so that an audit replay can say
when it changed. Bump it when a change can give another answer over the same chunks with
the same generator and embedder. 1: until 2026-11-22; 2: the anchor check
(``Answerer._naming``); 3: sentences of PDF text wrapped across lines are whole
(``lexical.sentence_spans``), a name of two words may be written as one
(``lexical.Anchors``), and quotes are read with their line-end hyphens rejoined; 4: a
table row is scored with the row naming its columns' years (``retrieval.table_headers``);
5: a decade is found in its years ("les années 30" in "en 1930", ``lexical.decades``);
6: "What was the prevalence ...", "Quel est le taux ..." ask for a quantity; 7: in
hard-wrapped text a sentence goes on across a blank line (a PDF block break) when a
filled line is followed by a lower-case one; 8: a typo's spellings one edit away are
searched too (``HybridRetriever``)."""

PageProvider = Callable[[str, int], "tuple[Page, OffsetMap] | None"]
"""(document_id, page number) -> the stored page and its offset map to the original,
when the caller can supply them (exact sentence bbox and orig offsets)."""


@dataclass(frozen=True)
class Citation:
    id: int
    document_id: str
    filename: str
    page: int
    start: int
    end: int
    quote: str
    bbox: BBox | None
    orig_start: int | None
    orig_end: int | None
    score: float
    chunk_id: str

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["bbox"] = list(self.bbox) if self.bbox is not None else None
        data["score"] = round(float(self.score), 4)
        return data


@dataclass(frozen=True)
class AnswerSentence:
    text: str
    citation_ids: tuple[int, ...]
    support: float
    post_hoc: bool = False
    """The generator cited nothing: the answerer found the supporting span itself
    (``SentenceVerifier.attribute``). Internal (evaluation); not in the API dict."""

    def to_dict(self) -> dict[str, Any]:
        return {"text": self.text, "citation_ids": list(self.citation_ids), "support": round(self.support, 4)}


@dataclass(frozen=True)
class RetrievedChunk:
    """What retrieval returned (for audit and recall@k), without its text."""

    chunk_id: str
    document_id: str
    page: int
    start: int
    end: int
    orig_start: int | None
    orig_end: int | None
    score: float
    text: str = field(default="", repr=False)
    """Chunk text, for evaluation only: never put it in logs or the audit trail."""


@dataclass(frozen=True)
class Answer:
    answer: str
    abstained: bool
    sentences: tuple[AnswerSentence, ...]
    citations: tuple[Citation, ...]
    generator_info: dict[str, str]
    embedder_info: dict[str, str]
    language: str
    evidence: float
    """The answerability signal compared to the abstention threshold."""
    retrieved: tuple[RetrievedChunk, ...] = ()
    generated_count: int = 0
    """Sentences the generator proposed, before verification."""
    dropped: tuple[tuple[str, float], ...] = ()
    """(sentence, support) of proposals the verifier dropped."""
    uncited_count: int = 0
    """Proposals examined (until ``max_sentences`` were kept) that cited no valid
    source: each was attributed post hoc (``AnswerSentence.post_hoc``) or dropped."""
    timings_ms: dict[str, float] = field(default_factory=dict)
    answerer_version: str = ANSWERER_VERSION
    """``Answerer.version`` of the answerer that gave it (audit only, not in the API)."""

    @property
    def retrieved_chunk_ids(self) -> tuple[str, ...]:
        return tuple(r.chunk_id for r in self.retrieved)

    def to_dict(self, *, audit_id: str | None = None) -> dict[str, Any]:
        """The API.md answer object."""
        return {
            "answer": self.answer,
            "abstained": self.abstained,
            "citations": [c.to_dict() for c in self.citations],
            "sentences": [s.to_dict() for s in self.sentences],
            "generator": dict(self.generator_info),
            "embedder": dict(self.embedder_info),
            "audit_id": audit_id,
        }


@dataclass(frozen=True)
class SentenceEvent:
    """Streaming: one verified sentence with the citations it introduces."""

    sentence: AnswerSentence
    citations: tuple[Citation, ...]


@dataclass(frozen=True)
class DoneEvent:
    answer: Answer


class Answerer:
    """Answers questions over one index with cited, verified sentences.

    ``generator`` is the default generator; ``generators`` maps names accepted by
    ``answer(generator="name")``. ``candidates`` first-stage hits are re-scored and the
    best ``top_k`` passed to the generator. ``page_provider`` (optional) gives exact
    sentence bboxes and original offsets; without it a citation carries its chunk's
    bbox, and its original offsets are exact when the chunk holds no pseudonym
    (otherwise the chunk's original bounds, which contain the passage).
    """

    def __init__(
        self,
        embedder: Embedder,
        sparse_encoder: SparseEncoder | None,
        index: VectorIndex,
        generator: Generator,
        *,
        generators: Mapping[str, Generator] | None = None,
        top_k: int = 8,
        candidates: int = 16,
        abstain_threshold: float = DEFAULT_ABSTAIN_THRESHOLD,
        max_sentences: int = 3,
        use_sparse: bool = True,
        verifier: SentenceVerifier | None = None,
        scorer: PassageScorer | None = None,
        page_provider: PageProvider | None = None,
        sentence_similarity: bool = False,
    ) -> None:
        self.embedder = embedder
        self.retriever = HybridRetriever(embedder, sparse_encoder, index, use_sparse=use_sparse)
        # Question-sentence similarity is off unless asked for: on the dev QA set it no
        # longer pays (answers 127 of 179 without, 126 with; abstention the same) and it
        # is most of the scoring time (embedding ~12 sentences per ask).
        self.scorer = scorer or PassageScorer(embedder if sentence_similarity else None)
        self.verifier = verifier or SentenceVerifier(embedder)
        self.generator = generator
        self.generators = dict(generators or {})
        self.generators.setdefault(generator.name, generator)
        self.top_k = top_k
        self.candidates = candidates
        self.abstain_threshold = abstain_threshold
        self.max_sentences = max_sentences
        self.page_provider = page_provider
        self.version = ANSWERER_VERSION

    # -- public -------------------------------------------------------------------------------

    def answer(
        self,
        question: str,
        *,
        index_name: str,
        flt: IndexFilter,
        top_k: int | None = None,
        generator: Generator | str | None = None,
        search_question: str | None = None,
        search_aliases: dict[str, str] | None = None,
    ) -> Answer:
        final: Answer | None = None
        for event in self.iter_answer(question, index_name=index_name, flt=flt, top_k=top_k, generator=generator,
                                      search_question=search_question, search_aliases=search_aliases):
            if isinstance(event, DoneEvent):
                final = event.answer
        assert final is not None
        return final

    def iter_answer(
        self,
        question: str,
        *,
        index_name: str,
        flt: IndexFilter,
        top_k: int | None = None,
        generator: Generator | str | None = None,
        search_question: str | None = None,
        search_aliases: dict[str, str] | None = None,
    ) -> Iterator[SentenceEvent | DoneEvent]:
        """``SentenceEvent`` per verified sentence as soon as it is known, then ``DoneEvent``.

        Sentences are streamed only once verified, so a streamed sentence is never
        retracted. Raises ``KeyError`` for an unknown generator name.

        ``search_question`` (default: ``question``) is what retrieval and scoring read;
        generators only ever see ``question``. In a pseudonymised collection the first
        keeps the values the vault does not know, the second has them redacted
        (``Anonymiser.question_texts``).

        ``search_aliases`` (pseudonym -> the value it stands for, ``Anonymiser.aliases``):
        retrieval searches both forms, and scoring counts a sentence holding the value
        in clear as holding the pseudonym. Local to the ask: neither is recorded.
        """
        gen = self._generator(generator)
        top_k = top_k or self.top_k
        searched = search_question if search_question is not None else question
        lang = lexical.detect_language(searched)
        timings: dict[str, float] = {}

        clock = time.perf_counter()
        retrieval_text = _with_aliases(searched, search_aliases)
        question_vector = self.embedder.embed_query(retrieval_text)
        hits = self.retriever.retrieve(
            retrieval_text, index_name=index_name, flt=flt, limit=max(self.candidates, top_k),
            question_vector=question_vector,
        )
        timings["retrieve"] = _ms(clock)

        clock = time.perf_counter()
        scored = self.scorer.score(searched, hits, lang=lang, question_vector=question_vector, keep=top_k,
                                   aliases=search_aliases)
        anchors = lexical.Anchors.of_question(searched)
        if anchors:
            scored = self._naming(anchors, scored, hits, index_name=index_name, lang=lang, aliases=search_aliases)
        evidence = max((p.evidence for p in scored), default=0.0)
        timings["score"] = _ms(clock)

        base = {
            "generator_info": {"name": gen.name, "version": gen.version},
            "embedder_info": {"name": self.embedder.name, "version": self.embedder.version},
            "answerer_version": self.version,
            "language": lang,
            "evidence": evidence,
            "retrieved": tuple(_retrieved(h) for h in hits),
        }
        if evidence < self.abstain_threshold:
            timings.update(answer=0.0, verify=0.0)
            yield DoneEvent(self._abstention(lang, timings_ms=timings, **base))
            return

        passages = [p.chunk for p in scored]
        clock = time.perf_counter()
        proposals = self._proposals(gen, question, passages, scored)

        sentences: list[AnswerSentence] = []
        citations: list[Citation] = []
        citation_ids: dict[tuple[str, int, int], int] = {}
        dropped: list[tuple[str, float]] = []
        generated = uncited = 0
        verify_ms = 0.0
        tainted = _TaintedSpans(passages)
        for proposal in proposals:
            generated += 1
            if len(sentences) >= self.max_sentences:
                continue
            v_clock = time.perf_counter()
            evidence_spans = self._evidence_spans(proposal, passages, lang, tainted)
            post_hoc = not evidence_spans and not _cites(proposal, len(passages))
            if post_hoc:
                # No valid marker (small models rarely write them): find the span that
                # supports the sentence. A sentence citing a wrong source is not moved
                # to another one: it is unsupported as written.
                uncited += 1
                evidence_spans = [
                    (i + 1, s, e)
                    for i, s, e in self.verifier.attribute(
                        proposal.text, [p.text for p in passages], lang=lang, tainted=tainted)
                ]
            quotes = [passages[n - 1].text[s:e] for n, s, e in evidence_spans]
            verification = self.verifier.verify([(proposal.text, quotes)], lang=lang)
            verify_ms += _ms(v_clock)
            if not verification.kept:
                item = verification.dropped[0]
                dropped.append((proposal.text, item.support))
                continue
            kept = verification.kept[0]
            new_citations = []
            ids = []
            for n, s, e in evidence_spans:
                chunk = passages[n - 1]
                key = (chunk.id, s, e)
                if key not in citation_ids:
                    citation = self._citation(len(citations) + 1, chunk, s, e, scored[n - 1].score)
                    citation_ids[key] = citation.id
                    citations.append(citation)
                    new_citations.append(citation)
                ids.append(citation_ids[key])
            sentence = AnswerSentence(kept.text, tuple(dict.fromkeys(ids)), kept.support, post_hoc=post_hoc)
            sentences.append(sentence)
            yield SentenceEvent(sentence, tuple(new_citations))
        timings["answer"] = max(0.0, _ms(clock) - verify_ms)
        timings["verify"] = verify_ms

        if not sentences:
            yield DoneEvent(self._abstention(lang, timings_ms=timings, generated_count=generated,
                                             dropped=tuple(dropped), uncited_count=uncited, **base))
            return
        yield DoneEvent(
            Answer(
                answer=" ".join(s.text for s in sentences),
                abstained=False,
                sentences=tuple(sentences),
                citations=tuple(citations),
                generated_count=generated,
                dropped=tuple(dropped),
                uncited_count=uncited,
                timings_ms=timings,
                **base,
            )
        )

    # -- steps --------------------------------------------------------------------------------

    def _naming(
        self,
        anchors: lexical.Anchors,
        scored: list[ScoredPassage],
        hits: Sequence[ScoredChunk],
        *,
        index_name: str,
        lang: str,
        aliases: dict[str, str] | None,
    ) -> list[ScoredPassage]:
        """The passages whose document mentions every anchor of the question (its
        names, acronyms, codes), in their order: the others neither count as evidence
        nor reach the generator, so a question about a subject no retrieved document
        names abstains.

        A document is read first through its retrieved chunks; only when they miss an
        anchor are its other chunks read from the index (one filtered scroll per such
        document, at most ``top_k`` of them). Only documents the filtered search
        returned are read, so no access rule is bypassed.
        """
        retrieved: dict[str, list[str]] = {}
        for hit in hits:
            retrieved.setdefault(str(hit.payload.get("document_id")), []).append(hit.text)
        names_all: dict[str, bool] = {}
        kept = []
        for passage in scored:
            document_id = str(passage.chunk.payload.get("document_id"))
            if document_id not in names_all:
                text = "\n".join(retrieved.get(document_id, [passage.chunk.text]))
                missing = anchors.missing_from(text, lang, aliases)
                if missing:
                    whole = "\n".join(str(point.payload.get("text", ""))
                                      for point in self.retriever.index.scroll(index_name, document_id=document_id))
                    missing = anchors.missing_from(whole, lang, aliases)
                names_all[document_id] = not missing
            if names_all[document_id]:
                kept.append(passage)
        return kept

    def _generator(self, generator: Generator | str | None) -> Generator:
        if generator is None:
            return self.generator
        if isinstance(generator, str):
            return self.generators[generator]
        return generator

    @staticmethod
    def _proposals(
        gen: Generator, question: str, passages: list[ScoredChunk], scored: list[ScoredPassage]
    ) -> Iterator[GeneratedSentence]:
        # The extractive generator reuses the sentence scores computed above instead
        # of embedding every sentence a second time; an LLM streams when it can.
        from_scored = getattr(gen, "generate_from_scored", None)
        if from_scored is not None:
            yield from from_scored(question, scored)
            return
        streaming = getattr(gen, "iter_generate", None)
        if streaming is not None:
            yield from streaming(question, passages)
            return
        yield from gen.generate(question, passages)

    @staticmethod
    def _evidence_spans(
        proposal: GeneratedSentence, passages: list[ScoredChunk], lang: str, tainted: _TaintedSpans
    ) -> list[tuple[int, int, int]]:
        """(passage number, start, end) spans a sentence cites, inside passage texts."""
        valid = [(n, s, e) for n, s, e in proposal.spans
                 if 1 <= n <= len(passages) and 0 <= s < e <= len(passages[n - 1].text)]
        if valid:
            return valid
        aligned = [
            (n, *align_sentence(proposal.text, passages[n - 1].text, lang, tainted=tainted[n - 1]))
            for n in dict.fromkeys(proposal.citations)
            if 1 <= n <= len(passages) and passages[n - 1].text.strip()
        ]
        return [(n, s, e) for n, s, e in aligned if e > s]

    def _citation(self, cid: int, chunk: ScoredChunk, s: int, e: int, score: float) -> Citation:
        payload = chunk.payload
        chunk_start, chunk_end = int(payload["start"]), int(payload["end"])
        page_no = int(payload.get("page", 1))
        start, end = chunk_start + s, chunk_start + e
        bbox = tuple(payload["bbox"]) if payload.get("bbox") else None
        orig_start, orig_end = payload.get("orig_start"), payload.get("orig_end")
        if orig_start is not None and orig_end is not None and orig_end - orig_start == chunk_end - chunk_start:
            # No replacement inside this chunk: original offsets are a plain shift.
            orig_start, orig_end = orig_start + s, orig_start + e
        provided = self.page_provider(str(payload["document_id"]), page_no) if self.page_provider else None
        if provided is not None:
            page, offsets = provided
            bbox = page.bbox_for(start, end) or bbox
            if offsets is not None:
                orig_start = offsets.to_original(start)
                orig_end = offsets.to_original(end, is_end=True)
        return Citation(
            id=cid,
            document_id=str(payload["document_id"]),
            filename=str(payload.get("filename", "")),
            page=page_no,
            start=start,
            end=end,
            quote=chunk.text[s:e],
            bbox=bbox,  # type: ignore[arg-type]
            orig_start=orig_start,
            orig_end=orig_end,
            score=float(min(1.0, max(0.0, score))),
            chunk_id=str(chunk.id),
        )

    @staticmethod
    def _abstention(lang: str, **fields: Any) -> Answer:
        return Answer(
            answer=ABSTENTION_MESSAGES.get(lang, ABSTENTION_MESSAGES["en"]),
            abstained=True,
            sentences=(),
            citations=(),
            **fields,
        )


class _TaintedSpans(Sequence[list[tuple[int, int]]]):
    """``instruction_spans`` of each passage of one request, computed once per passage
    on first use (every proposal is aligned against the same passages)."""

    def __init__(self, passages: Sequence[ScoredChunk]) -> None:
        self._passages = passages
        self._spans: dict[int, list[tuple[int, int]]] = {}

    def __len__(self) -> int:
        return len(self._passages)

    def __getitem__(self, i: int) -> list[tuple[int, int]]:  # type: ignore[override]
        if i not in self._spans:
            self._spans[i] = instruction_spans(self._passages[i].text)
        return self._spans[i]


def _cites(proposal: GeneratedSentence, n_passages: int) -> bool:
    """The generator named at least one of the passages (a marker or a span)."""
    return any(1 <= n <= n_passages for n in proposal.citations) or any(
        1 <= n <= n_passages for n, _, _ in proposal.spans)


def _retrieved(hit: ScoredChunk) -> RetrievedChunk:
    p = hit.payload
    return RetrievedChunk(
        chunk_id=str(hit.id),
        document_id=str(p.get("document_id", "")),
        page=int(p.get("page", 1)),
        start=int(p.get("start", 0)),
        end=int(p.get("end", 0)),
        orig_start=p.get("orig_start"),
        orig_end=p.get("orig_end"),
        score=float(hit.score),
        text=str(p.get("text", "")),
    )


def _ms(since: float) -> float:
    return round((time.perf_counter() - since) * 1000.0, 2)


def _with_aliases(text: str, aliases: dict[str, str] | None) -> str:
    """``text`` with each aliased pseudonym followed by its value: "effect of <PERSON_5>
    Zanamivir", so the first stage finds passages holding either form."""
    if not aliases:
        return text
    return lexical.PSEUDONYM_RE.sub(
        lambda m: f"{m.group(0)} {aliases[m.group(0)]}" if m.group(0) in aliases else m.group(0), text)
