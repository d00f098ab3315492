"""Presidio recognisers built from the data in ``fr_pack``.

``PackRecognizer`` runs an entry's regular expressions, keeps a match only when its
checksum passes (shortening greedy matches when asked), reports the ``value`` group
when there is one, and applies the pack's context rule itself: French context words
are compared on accent-free lower-case text, which Presidio's lemma-based enhancer
would miss ("téléphone" vs "telephone").
"""

from __future__ import annotations

import re
from functools import lru_cache

from presidio_analyzer import EntityRecognizer, Pattern, RecognizerResult
from presidio_analyzer.predefined_recognizers import EmailRecognizer, PhoneRecognizer

from pipelines.anonymising.fr_pack import (
    CONTEXT_BOOST,
    CONTEXT_WINDOW,
    NAME_CUE_PATTERNS,
    PACK,
    PatternSpec,
    RecogniserSpec,
)
from pipelines.anonymising.normalise import fold
from pipelines.anonymising.validators import VALIDATORS

_SEPARATOR_CHARS = " .-/\t"


class PackRecognizer(EntityRecognizer):
    """One pack entry as a Presidio recogniser (one instance per language)."""

    def __init__(self, spec: RecogniserSpec, supported_language: str):
        self.spec = spec
        self._compiled = [(p, re.compile(p.regex)) for p in spec.patterns]
        self._validate = VALIDATORS[spec.validator] if spec.validator else None
        self._context = tuple(fold(w) for w in spec.context)
        super().__init__(
            supported_entities=[spec.entity],
            supported_language=supported_language,
            name=f"{spec.name}_{supported_language}",
            context=list(spec.context),
        )

    def load(self) -> None:  # compiled in the constructor
        pass

    def analyze(self, text, entities, nlp_artifacts=None):
        if self.spec.entity not in entities:
            return []
        results: list[RecognizerResult] = []
        seen: list[tuple[int, int]] = []
        for pattern, regex in self._compiled:
            for match in regex.finditer(text):
                span = self._accepted_span(text, match)
                # Patterns go from the most to the least specific: a later pattern
                # never re-reports part of an earlier one's match.
                if span is None or any(s < span[1] and span[0] < e for s, e in seen):
                    continue
                seen.append(span)
                start, end = span
                score = pattern.score
                if self._context and self._has_context(text, start, end):
                    score = min(1.0, score + CONTEXT_BOOST)
                results.append(self._result(start, end, score, pattern))
        return results

    def _accepted_span(self, text: str, match: re.Match) -> tuple[int, int] | None:
        group = "value" if "value" in match.re.groupindex else 0
        start, end = match.span(group)
        if self._validate is None:
            return (start, end)
        if self._validate(text[start:end]):
            return (start, end)
        if not self.spec.trim:
            return None
        # Retry with shorter candidates ending just before each separator.
        for cut in range(end - 1, start, -1):
            if text[cut] in _SEPARATOR_CHARS and text[cut - 1] not in _SEPARATOR_CHARS:
                if self._validate(text[start:cut]):
                    return (start, cut)
        return None

    def _has_context(self, text: str, start: int, end: int) -> bool:
        before = fold(text[max(0, start - CONTEXT_WINDOW) : start])
        after = fold(text[end : end + 15])
        window = f" {before} | {after} "
        return any(_contains_word(window, word) for word in self._context)

    def _result(self, start: int, end: int, score: float, pattern: PatternSpec) -> RecognizerResult:
        return RecognizerResult(
            entity_type=self.spec.entity,
            start=start,
            end=end,
            score=score,
            recognition_metadata={
                RecognizerResult.RECOGNIZER_NAME_KEY: self.name,
                RecognizerResult.RECOGNIZER_IDENTIFIER_KEY: self.id,
                # our own context rule already ran; Presidio's must not add to it
                RecognizerResult.IS_SCORE_ENHANCED_BY_CONTEXT_KEY: True,
                "pattern": pattern.name,
            },
        )


@lru_cache(maxsize=4096)
def _word_regex(word: str) -> re.Pattern:
    return re.compile(r"(?<![\w])" + re.escape(word) + r"(?![\w])")


def _contains_word(window: str, word: str) -> bool:
    return bool(_word_regex(word).search(window))


class NameCueRecognizer(PackRecognizer):
    """Person names announced by a civility, initials or a form label (M. Dupont,
    J.-P. Costa, « Nom : DUPONT »); complements statistical NER."""

    def __init__(self, supported_language: str):
        spec = RecogniserSpec(entity="PERSON", name="NameCueRecognizer", patterns=NAME_CUE_PATTERNS)
        super().__init__(spec, supported_language)


class OfflineEmailRecognizer(EmailRecognizer):
    """Presidio's e-mail recogniser, with its domain check on the public suffix list
    bundled in tldextract (the stock one may try to download the list)."""

    def validate_result(self, pattern_text: str):
        return _tld_extractor()(pattern_text).suffix != ""


class BoundedPhoneRecognizer(PhoneRecognizer):
    """Presidio's phone recogniser (libphonenumber's matcher) without the matches
    glued to letters, hyphens or slashes: "SIN-2021-09668" is a file reference."""

    def analyze(self, text, entities, nlp_artifacts=None):
        results = super().analyze(text, entities, nlp_artifacts)
        return [
            r
            for r in results
            if not (r.start > 0 and (text[r.start - 1].isalnum() or text[r.start - 1] in "-/_"))
            and not (r.end < len(text) and (text[r.end].isalnum() or text[r.end] in "-/_"))
        ]


@lru_cache(maxsize=1)
def _tld_extractor():
    import tldextract

    # Empty URL list: use the snapshot shipped in the package; never fetch.
    return tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None)


def pack_recognisers(language: str) -> list[EntityRecognizer]:
    """Every recogniser of the French pack, plus the name cues, for one language."""
    return [PackRecognizer(spec, language) for spec in PACK] + [NameCueRecognizer(language)]


__all__ = [
    "BoundedPhoneRecognizer",
    "NameCueRecognizer",
    "OfflineEmailRecognizer",
    "PackRecognizer",
    "Pattern",
    "pack_recognisers",
]
