"""PII detection: Presidio's analyzer with spaCy NER, the French pack and name guards.

Pipeline for one text: pick the language (given, or detected on the text), run the
analyzer (spaCy NER + French pack + Presidio's e-mail, IP, phone and SSN
recognisers), drop the known false positives of statistical NER, widen person
names to the civility before them, then merge overlapping detections.

Invariants of ``PiiDetector.detect``: entities are sorted, non-overlapping, each
``text[e.start:e.end]`` is non-empty and has no surrounding whitespace, and every
type is in the requested entity set.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Iterable, Sequence

from pipelines.anonymising import entities as E
from pipelines.anonymising.fr_pack import CIVILITIES, LOG_LEVELS, NAME_DENY
from pipelines.anonymising.normalise import fold, normalise_person
from pipelines.types import PiiEntity

_MAX_SEGMENT = 50_000
"""Texts are analysed in segments of at most this many characters, cut at line
breaks: spaCy's memory grows with the text, and a page is far shorter."""

_LOG_LINE = re.compile(
    r"^\s*(?:\[?\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}|\[?\d{2}:\d{2}:\d{2}|"
    r"\[?(?:" + "|".join(LOG_LEVELS) + r")\]?[\s:])"
    r"|\b(?:" + "|".join(LOG_LEVELS) + r")\b[\s:\]]"
)
_CODE_CHARS = re.compile(r"[0-9@/\\_=<>{}\[\]|#$%^*+~`]")
_CAMEL_OR_SNAKE = re.compile(r"[a-z][A-Z]|_")
_CIVILITY_BEFORE = re.compile(
    r"(?:^|(?<=[\s(\[\"«]))(?:"
    + "|".join(re.escape(c) for c in sorted(CIVILITIES, key=len, reverse=True))
    + r")[ \t]+$"
)
_NER_PERSON_RECOGNISER = "SpacyRecognizer"


class PiiDetector:
    """Finds PII spans in French and English text.

    ``nlp_engine`` is a loaded Presidio NLP engine with one spaCy pipeline per
    language (``models.pii.build_nlp_engine``). ``entities`` is the default set to
    report (``DEFAULT_ENTITIES`` when None); ``detect`` may ask for another set.
    Thread-safe: the analyzer runs under a lock (spaCy pipelines are not shared
    safely between threads).
    """

    def __init__(
        self,
        nlp_engine,
        *,
        languages: Sequence[str] = ("fr", "en"),
        entities: Iterable[str] | None = None,
        score_threshold: float = 0.5,
        default_language: str | None = None,
    ):
        # Presidio's stock e-mail recogniser reads this when tldextract is imported.
        os.environ.setdefault("TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS", "")
        from presidio_analyzer import AnalyzerEngine, RecognizerRegistry
        from presidio_analyzer.predefined_recognizers import (
            IpRecognizer,
            PhoneRecognizer,
            SpacyRecognizer,
            UsSsnRecognizer,
        )

        from pipelines.anonymising.recognisers import OfflineEmailRecognizer, pack_recognisers

        self.languages = tuple(languages)
        self.entities = frozenset(entities) if entities is not None else E.DEFAULT_ENTITIES
        self.score_threshold = score_threshold
        self.default_language = default_language or self.languages[0]

        registry = RecognizerRegistry(supported_languages=list(self.languages))
        for language in self.languages:
            registry.add_recognizer(
                SpacyRecognizer(
                    supported_language=language,
                    supported_entities=[E.PERSON, E.LOCATION, E.ORGANIZATION, E.DATE_TIME, E.NRP],
                )
            )
            for recogniser in pack_recognisers(language):
                registry.add_recognizer(recogniser)
            registry.add_recognizer(OfflineEmailRecognizer(supported_language=language))
            registry.add_recognizer(IpRecognizer(supported_language=language))
            # International numbers; French ones come from the pack with their own scores.
            registry.add_recognizer(
                PhoneRecognizer(
                    supported_language=language,
                    supported_regions=("FR", "BE", "CH", "LU", "DE", "ES", "IT", "GB", "US", "CA"),
                    context=["phone", "tel", "telephone", "mobile", "portable", "fax", "numero"],
                )
            )
            registry.add_recognizer(UsSsnRecognizer(supported_language=language))
        self._analyzer = AnalyzerEngine(
            registry=registry,
            nlp_engine=nlp_engine,
            supported_languages=list(self.languages),
            default_score_threshold=score_threshold,
        )
        self._lock = threading.Lock()
        self._langid = None

    # Language -------------------------------------------------------------------

    def detect_language(self, text: str) -> str:
        """The most likely of ``languages`` for ``text``; ``default_language`` when the
        text is too short or too ambiguous to tell (names, numbers)."""
        if len(self.languages) == 1:
            return self.languages[0]
        sample = text[:5000]
        if sum(c.isalpha() for c in sample) < 20:
            return self.default_language
        with self._lock:
            if self._langid is None:
                import py3langid.langid as langid

                identifier = langid.LanguageIdentifier.from_modelpath(
                    langid.MODEL_DIR / langid.MODEL_FILE, norm_probs=True
                )
                identifier.set_languages(list(self.languages))
                self._langid = identifier
            language, probability = self._langid.classify(sample)
        return language if probability >= 0.8 else self.default_language

    # Detection ------------------------------------------------------------------

    def detect(
        self,
        text: str,
        language: str | None = None,
        *,
        entities: Iterable[str] | None = None,
    ) -> list[PiiEntity]:
        """PII spans of ``text`` (``replacement`` left empty)."""
        wanted = frozenset(entities) if entities is not None else self.entities
        if not text.strip() or not wanted:
            return []
        language = language or self.detect_language(text)
        if language not in self.languages:
            language = self.default_language
        found: list[PiiEntity] = []
        for offset, segment in _segments(text):
            found.extend(
                PiiEntity(e.type, e.start + offset, e.end + offset, e.score)
                for e in self._detect_segment(segment, language, wanted)
            )
        return found

    def _detect_segment(self, text: str, language: str, wanted: frozenset[str]) -> list[PiiEntity]:
        # Ask for every type we know, then filter: an overlapping identifier must be
        # able to win over (and absorb) a NER span even when only PERSON is wanted.
        with self._lock:
            results = self._analyzer.analyze(
                text=text,
                language=language,
                entities=sorted(E.ALL_ENTITIES),
                score_threshold=self.score_threshold,
            )
        candidates: list[PiiEntity] = []
        for r in results:
            recogniser = (r.recognition_metadata or {}).get("recognizer_name", "")
            start, end = _trim(text, r.start, r.end)
            if start >= end:
                continue
            if r.entity_type == E.PERSON:
                if recogniser == _NER_PERSON_RECOGNISER and not _plausible_ner_name(text, start, end):
                    continue
                start = _widen_to_civility(text, start)
            candidates.append(PiiEntity(r.entity_type, start, end, float(r.score)))
        merged = _merge_overlaps(candidates)
        return [e for e in merged if e.type in wanted]


def _segments(text: str) -> Iterable[tuple[int, str]]:
    start = 0
    while len(text) - start > _MAX_SEGMENT:
        cut = text.rfind("\n", start, start + _MAX_SEGMENT)
        if cut <= start:
            cut = text.rfind(" ", start, start + _MAX_SEGMENT)
        if cut <= start:
            cut = start + _MAX_SEGMENT
        yield start, text[start:cut]
        start = cut
    yield start, text[start:]


def _trim(text: str, start: int, end: int) -> tuple[int, int]:
    while start < end and (text[start].isspace() or text[start] in ",;:"):
        start += 1
    while end > start and (text[end - 1].isspace() or text[end - 1] in ",;:"):
        end -= 1
    return start, end


def _plausible_ner_name(text: str, start: int, end: int) -> bool:
    """Guards against statistical NER's known false positives for persons."""
    value = text[start:end]
    if _CODE_CHARS.search(value) or _CAMEL_OR_SNAKE.search(value):
        return False  # numbers, codes, identifiers
    if not any(c.isupper() for c in value):
        return False  # a lower-case word is not a name in edited text
    folded = fold(value)
    if folded in NAME_DENY or normalise_person(value) in NAME_DENY:
        return False
    letters = [c for c in value if c.isalpha()]
    if len(letters) < 2:
        return False
    if value.isupper() and len(value) <= 3:
        return False  # acronyms: CEO, RIB, TVA
    line_start = text.rfind("\n", 0, start) + 1
    line_end = text.find("\n", end)
    line = text[line_start : line_end if line_end != -1 else len(text)]
    if _LOG_LINE.search(line):
        return False  # log lines: logger names, levels and hosts look like names
    return True


def _widen_to_civility(text: str, start: int) -> int:
    """Include a civility written just before a name ("M. Dupont", "Maître Durand")."""
    match = _CIVILITY_BEFORE.search(text, max(0, start - 16), start)
    return match.start() if match else start


def _merge_overlaps(found: list[PiiEntity]) -> list[PiiEntity]:
    """Overlapping spans become one span covering their union, typed by the most
    specific detection (see ``entities.TYPE_PRIORITY``), scored by the best score.
    A union, not a choice: dropping one of two overlapping spans would leave part of
    a value in clear."""
    merged: list[PiiEntity] = []
    for entity in sorted(found, key=lambda e: (e.start, -e.end)):
        if merged and entity.start < merged[-1].end:
            last = merged[-1]
            winner = max((last, entity), key=lambda e: (E.priority(e.type), e.score, e.end - e.start))
            merged[-1] = PiiEntity(
                winner.type, last.start, max(last.end, entity.end), max(last.score, entity.score)
            )
        else:
            merged.append(entity)
    return merged
