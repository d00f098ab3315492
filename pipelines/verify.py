"""Sentence-level verification of an answer against the spans it cites.

A sentence is *supported* when what it asserts can be found in its cited quotes:

1. every number of the sentence appears among the quotes' numbers (normalised, so
   "16,684,172" matches "16 684 172");
2. every named token (capitalised word inside a sentence, acronym, code, pseudonym)
   appears in the quotes;
3. the polarity agrees: a negation in the sentence must exist in the quote sentence
   it is closest to, and a negated quote sentence cannot be restated without one;
4. its content words (stemmed, weighted by rarity) are covered by the quotes;
5. when an embedder is given, its cosine similarity to the closest quote sentence is
   blended in as a second signal.

(1)-(3) are hard rules, and so is (4) when the content words the quotes lack weigh
``MAX_UNFOUND_WEIGHT`` or more together (one rare paraphrased word passes; "adoptée par
un vote des actionnaires", words the quote never says, does not): breaking one caps
the support at ``HARD_FAIL_CAP``. The support is a number in [0, 1]; ``verify`` keeps
sentences whose support reaches the threshold. A sentence that is a verbatim substring
of a quote has support 1.

Before it is scored, a sentence is reduced to plain text (``pipelines.output_safety``):
images disappear, links keep their text, HTML tags go, a URL stays only when the cited
text holds it. So whichever generator wrote it, what reaches the answer is plain text.

A sentence that cites nothing (an LLM that wrote no ``[n]`` marker) can be attributed
post hoc (``SentenceVerifier.attribute``): the source window with the best support,
cited only when that support reaches the threshold, so it is held to the same rules.

Text addressed to a model ("ignore previous instructions", fake ``System:`` or
``Assistant:`` turns, chat-template tokens) is never evidence, and neither is the rest
of its paragraph (``instruction_spans``): the sentences around a planted instruction are
its payload ("... The deductible is PWNED.").
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import regex

from pipelines import lexical
from pipelines.output_safety import to_plain_text
from pipelines.ports import Embedder

HARD_FAIL_CAP = 0.2
MAX_UNFOUND_WEIGHT = 3.5
"""Total ``lexical.term_weight`` of a sentence's content words absent from its quotes
at which the sentence counts as asserting what they do not say: about one rare word
("équipage" 2.7) plus one common one ("pays" 1.2), or two uncommon ones."""
DEFAULT_SUPPORT_THRESHOLD = 0.6
"""Checked on the perturbed verifier set built from the dev corpus
(``python -m pipelines.eval.verifier_set``, 560 cases): precision 0.98 / recall 0.92
at detecting unsupported sentences, flat between 0.4 and 0.75 because the hard rules
(numbers, names, negation) decide most cases."""

_INSTRUCTION_RES = [
    re.compile(p, re.IGNORECASE)
    for p in (
        r"\b(ignore|disregard|forget|override)\b.{0,40}\b(instructions?|prompts?|rules|guidelines|above|previous|prior)\b",
        r"\b(new|updated|system|hidden)\s+(instructions?|prompt)\b",
        # "act as" only as an order ("Act as DebugBot", "you must act as"): as prose it
        # is common ("to act as an authorised spokesperson").
        (r"\byou\s+(are|will)\s+now\b|(?:^|[.!?:]\s+|\byou\s+(?:must|should|will|shall|now)\s+)act\s+as\b"
         r"|\bpretend\s+to\s+be\b"),
        r"\b(assistant|AI|model|chatbot|LLM)\b.{0,30}\b(must|should|shall)\s+(now\s+)?(say|answer|reply|respond|write|output|include)\b",
        r"\b(ignore[zr]?|oublie[zr]?|ne\s+tiens\s+pas\s+compte)\b.{0,40}\b(instructions?|consignes?|règles|précédent(e|es|s)?|ci-dessus)\b",
        r"\b(tu\s+es|vous\s+êtes)\s+maintenant\b|\bnouvelles?\s+(instructions?|consignes?)\b",
        # Chat-template tokens (ChatML, Llama 2/3, Gemma) and Alpaca-style headers.
        (r"<\|[a-z_]{2,32}\|>|\[/?INST\]|<</?SYS>>|<(start|end)_of_turn>"
         r"|(?:^|\n)[ \t]*###[ \t]*(instruction|response|system|input)[ \t]*:?[ \t]*(?:\n|$)"),
        # Requests for the hidden prompt, and orders about what to reply.
        r"\b(reveal|print|repeat|show|output|disclose)\b.{0,30}\byour\s+(system\s+)?(prompt|instructions)\b",
        r"\b(reply|respond|answer)\s+(only\s+)?with\s+(the\s+)?(single\s+)?(word|text|string)\b",
        r"\b(r[ée]v[èe]le|affiche|r[ée]p[èe]te)[sz]?\b.{0,30}\b(ton|votre)\s+(prompt|instructions?|consignes?)\b",
    )
]

# Zero-width and other format characters split words ("Ig\u200bnore") and fullwidth
# letters disguise them: both are undone before matching.
_FORMAT_CHARS_RE = regex.compile(r"\p{Cf}+")


def _normalised(text: str) -> str:
    return unicodedata.normalize("NFKC", _FORMAT_CHARS_RE.sub("", text))


def looks_like_instruction(text: str) -> bool:
    """True for text addressed to a model ("ignore previous instructions...", a fake
    ``System:``/``Assistant:`` turn, a chat-template token, "print your system prompt").

    Such a sentence inside a document is data, never evidence: the extractive
    generator does not pick it and an answer sentence cannot be supported by it, so a
    prompt injection planted in a document cannot make its way into an answer by
    being quoted. Matched after removing zero-width/format characters and NFKC
    folding. A heuristic (English and French phrasings), not a guarantee.
    """
    normalised = _normalised(text)
    return any(r.search(normalised) for r in _INSTRUCTION_RES)


# What instruction_spans can only find with a sentence that starts a match (an order
# "Act as ...", a "### Instruction" header) or a conversation (role labels).
_ANCHORED_OR_ROLE_RE = regex.compile(
    r"act\s+as|###|(?:system|assistant|user|human|developer|ai|bot|syst[eè]me|utilisateur)[ \t*]*:",
    regex.IGNORECASE)


def may_hold_instructions(text: str) -> bool:
    """False only when ``instruction_spans(text)`` is surely empty.

    Whole-text tests (the text, each line, the anchored phrases and role labels) cover
    every way a paragraph or one of its sentences can match; they cost a few regex scans,
    where sentence splitting a whole page can take seconds on pathological text
    ("A. B. C. " x 4000: 17 s)."""
    return bool(
        _ANCHORED_OR_ROLE_RE.search(_normalised(text))
        or looks_like_instruction(text)
        or any(looks_like_instruction(line) for line in text.split("\n") if line.strip())
    )


_PARAGRAPH_BREAK_RE = re.compile(r"\n[ \t]*\n")
_ROLE_LINE_RE = regex.compile(
    r"^[ \t>*#-]*(system|assistant|user|human|developer|AI|bot|syst[eè]me|utilisateur)[ \t]*(?:\*\*)?[ \t]*:",
    regex.IGNORECASE | regex.MULTILINE,
)
_MODEL_ROLES = {"system", "assistant", "ai", "bot", "developer", "système", "systeme"}


def instruction_spans(text: str) -> list[tuple[int, int]]:
    """``(start, end)`` of the paragraphs of ``text`` (split on blank lines) that are
    addressed to a model: one holds a sentence or line that ``looks_like_instruction``,
    or it is a turn of a conversation written into the text (lines labelled with at
    least two different roles, one of them the model's: ``User:`` + ``Assistant:``).

    No sentence inside these spans may be an answer or evidence: the sentences around
    an injected instruction are its payload (the false claim it wants repeated), and a
    fake ``Assistant:`` turn is the answer the attacker wrote. A single ``User: ...``
    line (a form field) is not a conversation.

    Text without any sign of an instruction (``may_hold_instructions``) returns ``[]``
    before the sentence split, which is what costs on long pages.
    """
    if not may_hold_instructions(text):
        return []
    paragraphs, start = [], 0
    for m in [*_PARAGRAPH_BREAK_RE.finditer(text), None]:
        end = m.start() if m is not None else len(text)
        paragraphs.append((start, end))
        if m is not None:
            start = m.end()
    roles = {r.casefold() for r in _ROLE_LINE_RE.findall(_normalised(text))}
    conversation = len(roles) >= 2 and bool(roles & _MODEL_ROLES)
    spans = []
    for start, end in paragraphs:
        paragraph = text[start:end]
        if not paragraph.strip():
            continue
        if (
            (conversation and _ROLE_LINE_RE.search(_normalised(paragraph)))
            or looks_like_instruction(paragraph)
            or any(looks_like_instruction(paragraph[s:e]) for s, e in lexical.sentence_spans(paragraph))
        ):
            spans.append((start, end))
    return spans


def in_spans(start: int, end: int, spans: Sequence[tuple[int, int]]) -> bool:
    """True when ``[start, end)`` overlaps one of ``spans``."""
    return any(s < end and start < e for s, e in spans)


def align_sentence(
    sentence: str,
    passage: str,
    lang: str,
    *,
    max_window: int = 3,
    tainted: Sequence[tuple[int, int]] | None = None,
) -> tuple[int, int]:
    """The window of 1..``max_window`` consecutive passage sentences that best covers
    ``sentence`` (weighted content words and numbers); shorter windows win ties.
    Sentences addressed to a model, and the rest of their paragraph
    (``instruction_spans``), are never part of a window.

    ``tainted`` is ``instruction_spans(passage)`` when the caller already has it (one
    passage is aligned with several sentences). Returns offsets into ``passage``;
    ``(0, 0)`` when no sentence can be cited.
    """
    spans = lexical.sentence_spans(passage)
    tainted = instruction_spans(passage) if tainted is None else tainted
    citable = [not looks_like_instruction(passage[s:e]) and not in_spans(s, e, tainted) for s, e in spans]
    if not any(citable):
        return 0, 0
    terms = lexical.Terms.of(sentence, lang)
    stems = [lexical.all_stems(passage[s:e], lang) for s, e in spans]
    best, best_score = (0, 0), -1.0
    for width in range(1, max_window + 1):
        for i in range(len(spans) - width + 1):
            if not all(citable[i : i + width]):
                continue
            covered = set().union(*stems[i : i + width])
            score = terms.coverage_in(covered) - 0.01 * (width - 1)
            if score > best_score + 1e-9:
                best, best_score = (spans[i][0], spans[i + width - 1][1]), score
    return best


@dataclass(frozen=True)
class SupportReport:
    """Why a sentence got its support score (kept for audit and error analysis)."""

    support: float
    coverage: float
    similarity: float | None
    missing_numbers: tuple[str, ...] = ()
    missing_names: tuple[str, ...] = ()
    negation_mismatch: bool = False
    verbatim: bool = False
    unfound_terms: tuple[str, ...] = ()
    """Stems of the sentence's content words absent from the quotes, when together they
    weigh ``MAX_UNFOUND_WEIGHT`` or more (empty otherwise)."""

    @property
    def hard_failure(self) -> bool:
        return bool(self.missing_numbers or self.missing_names or self.negation_mismatch
                    or self.unfound_terms)


@dataclass(frozen=True)
class VerifiedSentence:
    text: str
    """The sentence as plain text (``output_safety.to_plain_text``): what may reach the answer."""
    original: str
    quotes: tuple[str, ...]
    report: SupportReport
    kept: bool
    index: int
    """Position in the input, so callers can map back to citations."""

    @property
    def support(self) -> float:
        return self.report.support


@dataclass(frozen=True)
class Verification:
    kept: list[VerifiedSentence] = field(default_factory=list)
    dropped: list[VerifiedSentence] = field(default_factory=list)


class SentenceVerifier:
    """Scores how well cited quotes support each answer sentence.

    ``embedder`` (optional) adds semantic similarity with weight ``similarity_weight``;
    without it the support is lexical only. ``threshold`` is the support a sentence
    needs to be kept.
    """

    def __init__(
        self,
        embedder: Embedder | None = None,
        *,
        threshold: float = DEFAULT_SUPPORT_THRESHOLD,
        similarity_weight: float = 0.3,
    ) -> None:
        if not 0 <= similarity_weight <= 1:
            raise ValueError("similarity_weight must be in [0, 1]")
        self.embedder = embedder
        self.threshold = threshold
        self.similarity_weight = similarity_weight

    # -- scoring --------------------------------------------------------------------------

    def assess(self, sentence: str, quotes: Sequence[str], *, lang: str | None = None) -> SupportReport:
        """Full support report of ``sentence`` against ``quotes``."""
        return self.assess_many(sentence, [quotes], lang=lang)[0]

    def assess_many(
        self, sentence: str, candidates: Sequence[Sequence[str]], *, lang: str | None = None
    ) -> list[SupportReport]:
        """``assess(sentence, quotes)`` for each quote list of ``candidates``, in order,
        with a single embedding call for all of them (post-hoc attribution weighs one
        sentence against every source)."""
        reports: list[SupportReport] = []
        closest: list[tuple[int, str]] = []
        for i, quotes in enumerate(candidates):
            report, window = self._lexical_report(sentence, quotes, lang)
            reports.append(report)
            if window is not None:
                closest.append((i, window))
        if closest and self.embedder is not None and self.similarity_weight > 0:
            vectors = self.embedder.embed_documents([sentence, *(w for _, w in closest)])
            for (i, _), vector in zip(closest, vectors[1:]):
                similarity = max(0.0, lexical.cosine(vectors[0], vector))
                r = reports[i]
                support = (1 - self.similarity_weight) * r.coverage + self.similarity_weight * similarity
                reports[i] = replace(r, support=support, similarity=similarity)
        return [replace(r, support=min(r.support, HARD_FAIL_CAP)) if r.hard_failure else r for r in reports]

    def _lexical_report(
        self, sentence: str, quotes: Sequence[str], lang: str | None
    ) -> tuple[SupportReport, str | None]:
        """The support report without similarity, and the quote window the similarity
        is to be measured against (None when the report is final: nothing to compare,
        or a verbatim quote)."""
        # A word the page breaks across lines ("algo-\nrithme") is one word in an answer.
        quotes = [lexical.dehyphenated(q) for q in quotes if q and q.strip()]
        if not sentence.strip() or not quotes:
            return SupportReport(0.0, 0.0, None), None
        if any(_squash(sentence) in _squash(q) for q in quotes):
            return SupportReport(1.0, 1.0, 1.0, verbatim=True), None
        lang = lang or lexical.detect_language(sentence + " " + quotes[0])
        cited = "\n".join(quotes)

        terms = lexical.Terms.of(sentence, lang)
        closest = self._closest_quote_window(terms, quotes, lang)
        # A number must stand where the sentence's words are (the closest one or two
        # quote sentences), not anywhere in the quotes: "Table 6" cannot vouch for
        # "6 patients".
        quote_numbers = set(lexical.numbers(closest))
        missing_numbers = tuple(n for n in dict.fromkeys(lexical.numbers(sentence)) if n not in quote_numbers)

        cited_folded = {lexical.fold(t) for t, _, _ in lexical.words(cited)}
        cited_stems = lexical.all_stems(cited, lang)
        missing_names = tuple(
            sorted(
                n for n in lexical.named_tokens(sentence)
                if n not in cited_folded and lexical.stem(n, lang) not in cited_stems
            )
        )

        coverage = terms.coverage_in(cited_stems)
        unfound = {t: w for t, w in terms.weights.items() if t not in cited_stems}
        unfound_terms = tuple(sorted(unfound)) if sum(unfound.values()) >= MAX_UNFOUND_WEIGHT else ()

        sentence_neg = lexical.negations(sentence, lang)
        closest_neg = lexical.negations(closest, lang)
        negation_mismatch = bool(sentence_neg) != bool(closest_neg)
        report = SupportReport(
            support=coverage,
            coverage=coverage,
            similarity=None,
            missing_numbers=missing_numbers,
            missing_names=missing_names,
            negation_mismatch=negation_mismatch,
            unfound_terms=unfound_terms,
        )
        return report, closest

    def support(self, sentence: str, quotes: Sequence[str], *, lang: str | None = None) -> float:
        """Support of ``sentence`` by ``quotes``, in [0, 1]."""
        return self.assess(sentence, quotes, lang=lang).support

    def verify(
        self,
        sentences_with_quotes: Sequence[tuple[str, Sequence[str]]],
        *,
        lang: str | None = None,
    ) -> Verification:
        """Split sentences into kept and dropped.

        A sentence without any quote (it cites nothing) is dropped; it is reduced to
        plain text first (``output_safety.to_plain_text``: no image, no link syntax, no
        HTML, no URL its quotes lack), and a sentence left without a word is dropped.
        A quote addressed to a model is no evidence.
        """
        result = Verification()
        for index, (sentence, quotes) in enumerate(sentences_with_quotes):
            quotes = tuple(quotes)
            cleaned = to_plain_text(sentence, quotes)
            if not any(ch.isalnum() for ch in cleaned):
                cleaned = ""
            quotes = tuple(q for q in quotes if not looks_like_instruction(q))
            report = self.assess(cleaned, quotes, lang=lang)
            if looks_like_instruction(sentence) or looks_like_instruction(cleaned):
                report = SupportReport(0.0, report.coverage, report.similarity)
            kept = bool(quotes) and bool(cleaned) and report.support >= self.threshold
            item = VerifiedSentence(cleaned, sentence, quotes, report, kept, index)
            (result.kept if kept else result.dropped).append(item)
        return result

    # -- post-hoc attribution ---------------------------------------------------------------

    def attribute(
        self,
        sentence: str,
        sources: Sequence[str],
        *,
        lang: str,
        tainted: Sequence[Sequence[tuple[int, int]]] | None = None,
        max_sources: int = 2,
    ) -> list[tuple[int, int, int]]:
        """Where a sentence that cites nothing is supported: ``(source index, start,
        end)`` spans into ``sources`` (0-based index), or ``[]``.

        For each source, the window of its sentences that best covers the sentence
        (``align_sentence``; never inside ``instruction_spans``) is weighed with the
        support ``verify`` computes (numbers, named tokens, negation, content words,
        similarity). The best source is returned when it reaches the threshold alone;
        otherwise it is completed, one source at a time up to ``max_sources``, by the
        source that best covers what it lacks, and they are returned together once
        they reach it (a sentence joining two facts); otherwise nothing. The sentence
        is judged as plain text without URLs (``to_plain_text(sentence, ())``); a
        sentence addressed to a model, or a question (it asserts nothing: a small model
        echoes the user's question or one written in a source), is never attributed.

        Invariant: a returned set of spans, as quotes, gives the sentence a support of
        at least ``threshold`` under ``assess``. ``verify`` still has the last word.
        ``tainted[i]`` is ``instruction_spans(sources[i])`` when the caller has it.
        """
        text = to_plain_text(sentence, ())
        if (
            not any(ch.isalnum() for ch in text)
            or text.rstrip().endswith(("?", "？"))
            or looks_like_instruction(sentence)
            or looks_like_instruction(text)
        ):
            return []
        candidates: list[tuple[int, int, int]] = []
        for i, source in enumerate(sources):
            if not source.strip():
                continue
            start, end = align_sentence(text, source, lang, tainted=None if tainted is None else tainted[i])
            if end > start:
                candidates.append((i, start, end))
        if not candidates:
            return []
        quotes = [sources[i][s:e] for i, s, e in candidates]
        reports = self.assess_many(text, [[q] for q in quotes], lang=lang)
        # Best support first; equal supports keep the sources' order (their rank).
        order = sorted(range(len(candidates)), key=lambda k: -reports[k].support)
        if reports[order[0]].support >= self.threshold:
            return [candidates[order[0]]]
        chosen = [order[0]]
        while len(chosen) < max_sources:
            rest = [k for k in order if k not in chosen]
            if not rest:
                break

            def with_it(k: int) -> tuple[bool, float]:
                # Lexical only (no embedding per candidate): the source that best
                # completes the chosen ones (a missing name or number, uncovered words).
                report, _ = self._lexical_report(text, [quotes[j] for j in (*chosen, k)], lang)
                return not report.hard_failure, report.coverage

            chosen.append(max(rest, key=with_it))
            if self.assess(text, [quotes[j] for j in chosen], lang=lang).support >= self.threshold:
                return sorted(candidates[j] for j in chosen)
        return []

    # -- helpers --------------------------------------------------------------------------

    @staticmethod
    def _closest_quote_window(terms: lexical.Terms, quotes: Sequence[str], lang: str) -> str:
        """The one or two consecutive quote sentences that best cover the sentence's
        terms; ties go to the window with fewer words the sentence does not use."""
        best, best_score = quotes[0], -1.0
        for quote in quotes:
            spans = lexical.sentence_spans(quote)
            stems = [lexical.all_stems(quote[s:e], lang) for s, e in spans]
            for width in (1, 2):
                for i in range(len(spans) - width + 1):
                    window = set().union(*stems[i : i + width])
                    precision = len(window & set(terms.weights)) / max(1, len(window))
                    score = terms.coverage_in(window) + 0.1 * precision - 0.02 * (width - 1)
                    if score > best_score:
                        best, best_score = quote[spans[i][0] : spans[i + width - 1][1]], score
        return best


def _squash(text: str) -> str:
    """Whitespace-insensitive, case-insensitive form for the verbatim test."""
    return " ".join(text.split()).lower()
