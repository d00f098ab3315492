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

(1)-(3) are hard rules: breaking one caps the support at ``HARD_FAIL_CAP``. The
support is a number in [0, 1]; ``verify`` keeps sentences whose support reaches the
threshold. A sentence that is a verbatim substring of a quote has support 1.

Links and markdown images whose target is not in the cited text are removed from a
sentence before it is scored (a link's anchor text is kept, an image disappears).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from pipelines import lexical
from pipelines.ports import Embedder

HARD_FAIL_CAP = 0.2
DEFAULT_SUPPORT_THRESHOLD = 0.6
"""Checked on the perturbed verifier set built from the dev corpus
(``python -m pipelines.eval.verifier_set``, 560 cases): precision 0.98 / recall 0.92
at detecting unsupported sentences, flat between 0.4 and 0.75 because the hard rules
(numbers, names, negation) decide most cases."""

_MD_IMAGE_RE = re.compile(r"!\[([^\]]*)\]\(\s*<?([^)\s>]*)>?(?:\s+\"[^\"]*\")?\s*\)")
_MD_LINK_RE = re.compile(r"\[([^\]]*)\]\(\s*<?([^)\s>]*)>?(?:\s+\"[^\"]*\")?\s*\)")
_HTML_IMG_RE = re.compile(r"<img\b[^>]*>", re.IGNORECASE)
_HTML_LINK_RE = re.compile(r"<a\b[^>]*\bhref\s*=\s*[\"']?([^\"' >]+)[^>]*>(.*?)</a>", re.IGNORECASE | re.DOTALL)
_URL_RE = re.compile(r"(?:https?://|ftp://|www\.)[^\s<>()\[\]\"']+", re.IGNORECASE)
_SPACES_RE = re.compile(r"[ \t]{2,}")


def strip_foreign_links(sentence: str, quotes: Sequence[str]) -> str:
    """``sentence`` without links or images whose target is absent from ``quotes``.

    Markdown images ``![alt](url)`` and HTML ``<img>`` are removed entirely unless the
    very same markup is in the quotes; markdown/HTML links keep their anchor text and
    lose the target; bare URLs not in the quotes are removed.
    """
    cited = "\n".join(quotes)

    def in_cited(fragment: str) -> bool:
        return bool(fragment) and fragment in cited

    out = _MD_IMAGE_RE.sub(lambda m: m.group(0) if in_cited(m.group(0)) else "", sentence)
    out = _HTML_IMG_RE.sub(lambda m: m.group(0) if in_cited(m.group(0)) else "", out)
    out = _MD_LINK_RE.sub(lambda m: m.group(0) if in_cited(m.group(2)) else m.group(1), out)
    out = _HTML_LINK_RE.sub(lambda m: m.group(0) if in_cited(m.group(1)) else m.group(2), out)
    out = _URL_RE.sub(lambda m: m.group(0) if in_cited(m.group(0).rstrip(".,;:")) else "", out)
    out = _SPACES_RE.sub(" ", out)
    return re.sub(r"\s+([.,;:!?])", r"\1", out).strip()


_INSTRUCTION_RES = [
    re.compile(p, re.IGNORECASE)
    for p in (
        r"\b(ignore|disregard|forget|override)\b.{0,40}\b(instructions?|prompts?|rules|guidelines|above|previous|prior)\b",
        r"\b(new|updated|system|hidden)\s+(instructions?|prompt)\b",
        r"\byou\s+(are|will)\s+now\b|\bact\s+as\b|\bpretend\s+to\s+be\b",
        r"\b(assistant|AI|model|chatbot|LLM)\b.{0,30}\b(must|should|shall)\s+(now\s+)?(say|answer|reply|respond|write|output|include)\b",
        r"\b(ignore[zr]?|oublie[zr]?|ne\s+tiens\s+pas\s+compte)\b.{0,40}\b(instructions?|consignes?|règles|précédent(e|es|s)?|ci-dessus)\b",
        r"\b(tu\s+es|vous\s+êtes)\s+maintenant\b|\bnouvelles?\s+(instructions?|consignes?)\b",
    )
]


def looks_like_instruction(text: str) -> bool:
    """True for text addressed to a model ("ignore previous instructions...").

    Such a sentence inside a document is data, never evidence: the extractive
    generator does not pick it and an answer sentence cannot be supported by it, so a
    prompt injection planted in a document cannot make its way into an answer by
    being quoted. A heuristic (English and French phrasings), not a guarantee.
    """
    return any(r.search(text) for r in _INSTRUCTION_RES)


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

    @property
    def hard_failure(self) -> bool:
        return bool(self.missing_numbers or self.missing_names or self.negation_mismatch)


@dataclass(frozen=True)
class VerifiedSentence:
    text: str
    """The sentence after link stripping (what may reach the answer)."""
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
        quotes = [q for q in quotes if q and q.strip()]
        if not sentence.strip():
            return SupportReport(0.0, 0.0, None)
        if not quotes:
            return SupportReport(0.0, 0.0, None)
        if any(_squash(sentence) in _squash(q) for q in quotes):
            return SupportReport(1.0, 1.0, 1.0, verbatim=True)
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

        sentence_neg = lexical.negations(sentence, lang)
        closest_neg = lexical.negations(closest, lang)
        negation_mismatch = bool(sentence_neg) != bool(closest_neg)

        similarity = None
        support = coverage
        if self.embedder is not None and self.similarity_weight > 0:
            vectors = self.embedder.embed_documents([sentence, closest])
            similarity = max(0.0, lexical.cosine(vectors[0], vectors[1]))
            support = (1 - self.similarity_weight) * coverage + self.similarity_weight * similarity
        report = SupportReport(
            support=support,
            coverage=coverage,
            similarity=similarity,
            missing_numbers=missing_numbers,
            missing_names=missing_names,
            negation_mismatch=negation_mismatch,
        )
        if report.hard_failure:
            report = SupportReport(
                support=min(support, HARD_FAIL_CAP),
                coverage=coverage,
                similarity=similarity,
                missing_numbers=missing_numbers,
                missing_names=missing_names,
                negation_mismatch=negation_mismatch,
            )
        return report

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

        A sentence without any quote (it cites nothing) is dropped; links and images
        not in its quotes are stripped first, and a sentence left empty is dropped.
        """
        result = Verification()
        for index, (sentence, quotes) in enumerate(sentences_with_quotes):
            quotes = tuple(quotes)
            cleaned = strip_foreign_links(sentence, quotes)
            quotes = tuple(q for q in quotes if not looks_like_instruction(q))
            report = self.assess(cleaned, quotes, lang=lang)
            if looks_like_instruction(cleaned):
                report = SupportReport(0.0, report.coverage, report.similarity)
            kept = bool(quotes) and bool(cleaned) and report.support >= self.threshold
            item = VerifiedSentence(cleaned, sentence, quotes, report, kept, index)
            (result.kept if kept else result.dropped).append(item)
        return result

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
