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
from pipelines.anonymising.fr_pack import (
    CIVILITIES,
    LIST_ITEM,
    LOG_LEVELS,
    NAME_DENY,
    NAME_PARTICLES,
)
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
_CODE_IDENTIFIER = re.compile(r"_|[a-z][A-Z][a-z]*[A-Z]|^[a-z]+[A-Z]")
"""snake_case, camelCase with two humps or a lower-case head; one hump is a name
(McDowell, LeBron, DiCaprio)."""
_LOWER_NAME_WORDS = frozenset(NAME_PARTICLES) | {"d'", "l'"}
_CIVILITY_BEFORE = re.compile(
    r"(?:^|(?<=[\s(\[\"«]))(?:"
    + "|".join(re.escape(c) for c in sorted(CIVILITIES, key=len, reverse=True))
    + r")[ \t]+$"
)
_NER_PERSON_RECOGNISER = "SpacyRecognizer"
_SECOND_OPINION = "second opinion"
_SECOND_OPINION_SCORE = 0.6
_NER_NON_PERSON = frozenset({E.LOCATION})
_PROPAGATED_SCORE = 0.55


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
        cross_language_names: bool | Iterable[str] = ("en",),
        first_name_lexicon: bool = True,
    ):
        # Presidio's stock e-mail recogniser reads this when tldextract is imported.
        os.environ.setdefault("TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS", "")
        from presidio_analyzer import AnalyzerEngine, RecognizerRegistry
        from presidio_analyzer.predefined_recognizers import (
            IpRecognizer,
            SpacyRecognizer,
            UsSsnRecognizer,
        )

        from pipelines.anonymising.recognisers import OfflineEmailRecognizer, pack_recognisers

        self.languages = tuple(languages)
        self.entities = frozenset(entities) if entities is not None else E.DEFAULT_ENTITIES
        self.score_threshold = score_threshold
        self.default_language = default_language or self.languages[0]
        # Page languages for which the other languages' NER is asked for person names.
        # English pages by default: the small English model misses many names the
        # French one knows; on French pages the English model added nothing on the dev
        # set, and the second pass halves the throughput.
        if cross_language_names is True:
            self.cross_language_names = frozenset(self.languages)
        elif cross_language_names is False:
            self.cross_language_names = frozenset()
        else:
            self.cross_language_names = frozenset(cross_language_names)
        if first_name_lexicon:
            from pipelines.anonymising.first_names import first_names

            self.first_names = first_names()
        else:
            self.first_names = frozenset()
        self._nlp_engine = nlp_engine

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
            registry.add_recognizer(UsSsnRecognizer(supported_language=language))
        self._analyzer = AnalyzerEngine(
            registry=registry,
            nlp_engine=nlp_engine,
            supported_languages=list(self.languages),
            default_score_threshold=score_threshold,
        )
        self._lock = threading.Lock()
        self._langid = None
        from pipelines.anonymising import versioning

        self.version = versioning.fingerprint("pii", {
            "code": versioning.source_fingerprint(versioning.DETECTION_MODULES),
            "presidio": versioning.package_version("presidio-analyzer"),
            "models": versioning.nlp_models(nlp_engine),
            "languages": self.languages, "entities": self.entities, "threshold": score_threshold,
            "cross_language_names": self.cross_language_names,
            "first_names": [versioning.package_version("gender-guesser"), len(self.first_names)],
        })
        """Fingerprint of what decides detections (``versioning``): a re-index pseudonymises
        a document again when the version it was pseudonymised with differs."""


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
            artifacts = _with_folded_lemmas(self._nlp_engine.process_text(text, language), language)
            results = self._analyzer.analyze(
                text=text,
                language=language,
                entities=sorted(E.ALL_ENTITIES),
                score_threshold=self.score_threshold,
                nlp_artifacts=artifacts,
            )
            found = [
                (r.entity_type, r.start, r.end, float(r.score),
                 (r.recognition_metadata or {}).get("recognizer_name", ""))
                for r in results
            ]
            if language in self.cross_language_names and E.PERSON in wanted:
                main_ner = [(f[1], f[2]) for f in found if f[0] in _NER_NON_PERSON]
                found.extend(
                    f for f in self._other_language_names(text, language)
                    # the page's own model knows its language better: it wins on
                    # spans it calls a place or an organisation
                    if not any(s < f[2] and f[1] < e for s, e in main_ner)
                )
        candidates: list[PiiEntity] = []
        log_lines: frozenset[int] | None = None
        other_labels = _ner_label_votes(text, found)
        for entity_type, start, end, score, recogniser in found:
            start, end = _trim(text, start, end)
            if start >= end:
                continue
            if entity_type == E.PERSON:
                if recogniser in (_NER_PERSON_RECOGNISER, _SECOND_OPINION):
                    # informal text writes names in lower case ("amy schumer"): kept
                    # only when the page's own tagger also calls every word a proper noun
                    informal = (
                        recogniser == _NER_PERSON_RECOGNISER
                        and not text[start].isupper()
                        and _all_proper_nouns(artifacts.tokens, start, end)
                    )
                    if not informal:
                        end = _name_prefix_end(text, start, end)
                        start = self._skip_leading_adverbs(artifacts.tokens, text, start, end)
                    if log_lines is None:
                        log_lines = _log_line_starts(text)
                    if not _plausible_ner_name(text, start, end, allow_lower=informal, log_lines=log_lines):
                        continue
                    words = _name_words(text[start:end])
                    if recogniser == _SECOND_OPINION and len(words) < 2:
                        continue  # a lone capitalised word from a foreign model: too weak
                    if len(words) == 1 and _not_a_proper_noun(artifacts.tokens, start, end):
                        continue  # "Veuillez", "Montant": NER and the tagger disagree
                    if len(words) == 1 and text[start:end] == words[0] and not self._surely_a_name(text, start):
                        word = words[0]
                        # the frequency lookup first: the lower-case search scans the text
                        if _rare_word(word) and _lower_case_elsewhere(text, word):
                            continue  # "Adenovirus vectors are ..." and "adenovirus-based"
                        if _voted_not_a_person(other_labels, word):
                            continue  # "Zanamivir": a place 46 times, a person 13
                    if _is_heading(text, start, end):
                        continue
                if not _name_words(text[start:end]):
                    continue  # only stop words, initials or civilities ("A. La", "Il")
                start = _widen_to_civility(text, start)
            candidates.append(PiiEntity(entity_type, start, end, score))
        merged = _merge_overlaps(candidates, text)
        if E.PERSON in wanted:
            if self.first_names:
                merged = _merge_overlaps(merged + _first_name_pairs(text, merged, self.first_names), text)
            merged = _merge_overlaps(
                merged + _names_in_lists(text, merged, other_labels) + _repeated_names(text, merged, other_labels),
                text,
            )
        return [e for e in merged if e.type in wanted]

    def _skip_leading_adverbs(self, doc, text: str, start: int, end: int) -> int:
        """Start of a NER person span without the sentence opener it swallowed
        ("Despite HRV"): leading words the tagger does not call proper nouns, that are
        everyday words, no first name and no particle. Left as is when nothing would
        remain. Otherwise the opener (and an acronym the guards reject on its own) was
        propagated to every other occurrence as a name."""
        span = doc.char_span(start, end, alignment_mode="expand")
        if span is None:
            return start
        for token in span:
            if token.is_punct:
                continue
            word = token.text
            if (token.pos_ in ("PROPN", "X") or not token.is_alpha or fold(word) in self.first_names
                    or fold(word) in _LOWER_NAME_WORDS or _rare_word(word)):  # "De Mons", "Le Pen"
                return max(start, token.idx)  # the first word that may be a name
        return start

    def _surely_a_name(self, text: str, start: int) -> bool:
        """A lone word after a civility ("M. Petit") or that is a known first name: the
        consistency checks of single words (``_lower_case_elsewhere``, the label vote)
        do not apply to it."""
        word = re.match(r"[\w'’\-]+", text[start:])
        if word is not None and fold(word.group(0)) in self.first_names:
            return True
        return _CIVILITY_BEFORE.search(text[max(0, start - 20) : start]) is not None

    def _other_language_names(self, text: str, language: str) -> list[tuple]:
        """Person names found by the other languages' NER (a second opinion: the
        French model knows many foreign names the small English one misses, and
        documents mix languages). Scored under the main model's, guarded the same."""
        out = []
        pipelines = getattr(self._nlp_engine, "nlp", None) or {}
        for other in self.languages:
            if other == language or other not in pipelines:
                continue
            nlp = pipelines[other]
            # only NER is needed: skip the taggers and the lemmatizer (same entities)
            skip = [p for p in ("morphologizer", "tagger", "attribute_ruler", "lemmatizer") if p in nlp.pipe_names]
            doc = nlp(text, disable=skip)
            out.extend(
                (E.PERSON, ent.start_char, ent.end_char, _SECOND_OPINION_SCORE, _SECOND_OPINION)
                for ent in doc.ents
                if ent.label_ in ("PER", "PERSON")
            )
        return out


def _with_folded_lemmas(artifacts, language: str):
    """Presidio's context words are matched on lemmas; ours are accent-free lower-case
    words ("telephone" matches "Téléphone"), and the French lemmatizer is off."""
    from presidio_analyzer.nlp_engine import NlpArtifacts

    return NlpArtifacts(
        entities=artifacts.entities,
        tokens=artifacts.tokens,
        tokens_indices=artifacts.tokens_indices,
        lemmas=[fold(t.lemma_ or t.text) for t in artifacts.tokens],
        nlp_engine=artifacts.nlp_engine,
        language=language,
        scores=artifacts.scores,
    )


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


def _tags(doc, start: int, end: int) -> list[str]:
    """Part-of-speech tags of the alphabetic tokens in ``[start, end)`` (O(span))."""
    span = doc.char_span(start, end, alignment_mode="expand")
    return [t.pos_ for t in span if t.is_alpha] if span is not None else []


def _all_proper_nouns(doc, start: int, end: int) -> bool:
    tags = _tags(doc, start, end)
    return bool(tags) and all(tag == "PROPN" for tag in tags)


def _plausible_ner_name(
    text: str, start: int, end: int, *, allow_lower: bool = False, log_lines: frozenset[int] | None = None
) -> bool:
    """Guards against statistical NER's known false positives for persons."""
    value = text[start:end]
    if _CODE_CHARS.search(value) or _CODE_IDENTIFIER.search(value):
        return False  # numbers, codes, identifiers
    if not value or not (value[0].isupper() or allow_lower):
        return False  # a lower-case word is not a name in edited text
    if " " not in value.strip() and text[end : end + 3].lstrip(" \t").startswith(":"):
        return False  # a form label: "Name:", "Phone:"
    folded = fold(value)
    if folded in NAME_DENY or normalise_person(value) in NAME_DENY:
        return False
    letters = [c for c in value if c.isalpha()]
    if len(letters) < 2:
        return False
    if value.isupper() and len(value) <= 3:
        return False  # acronyms: CEO, RIB, TVA
    if log_lines is None:
        log_lines = _log_line_starts(text)
    if text.rfind("\n", 0, start) + 1 in log_lines:
        return False  # log lines: logger names, levels and hosts look like names
    return True


def _log_line_starts(text: str) -> frozenset[int]:
    """Offsets of the lines of ``text`` that look like log lines (computed once per text)."""
    starts, offset = [], 0
    for line in text.split("\n"):
        if _LOG_LINE.search(line):
            starts.append(offset)
        offset += len(line) + 1
    return frozenset(starts)


def _name_prefix_end(text: str, start: int, end: int) -> int:
    """End of the longest run of name-like words at the start of a NER span: NER
    spans sometimes run on ("Boner c. Royaume-Uni", a name then a stray symbol).
    The run ends on a capitalised word, never on a particle: "Pierre Dupont de" is
    not a name, and its last word would pass for a surname ("De quel ... ?")."""
    cut = last = start
    for m in re.finditer(r"\S+", text[start:end]):
        word = m.group(0)
        particle = fold(word) in _LOWER_NAME_WORDS
        if not (word[0].isupper() or particle or _ELIDED_NAME.match(word)):
            break
        if "\n" in text[last : start + m.start()]:
            break  # a name does not run over a line break (form fields, headings)
        last = start + m.end()
        if not particle:
            cut = last
    return cut if cut > start else last


_ELIDED_NAME = re.compile(r"[dl]['’][A-ZÀ-ÖØ-Þ]")
"""An elided particle glued to a capitalised name: "de l'Étang", "d'Artagnan"."""


def _not_a_proper_noun(doc, start: int, end: int) -> bool:
    """Whether the page's own tagger calls the span's words anything but proper nouns."""
    tags = _tags(doc, start, end)
    return bool(tags) and not any(tag in ("PROPN", "X") for tag in tags)


def _is_heading(text: str, start: int, end: int) -> bool:
    """An all-capitals line of several words ("FICHE FOURNISSEUR") is a title."""
    line_start = text.rfind("\n", 0, start) + 1
    line_end = text.find("\n", end)
    line = text[line_start : line_end if line_end != -1 else len(text)].strip()
    return line == text[start:end].strip() and line.isupper() and len(line.split()) >= 2


def _name_words(value: str) -> list[str]:
    """Words of a person span that can carry a name: not initials, civilities,
    particles or stop words of either language."""
    words = []
    for raw in re.findall(r"[\w'’\-]+", value):
        word = raw.strip("'’-")
        if len(word) < 2 or _is_civility(word):
            continue
        folded = fold(word)
        if folded in _STOP_WORDS or folded in _LOWER_NAME_WORDS:
            continue
        words.append(word)
    return words


def _widen_to_civility(text: str, start: int) -> int:
    """Include a civility written just before a name ("M. Dupont", "Maître Durand")."""
    match = _CIVILITY_BEFORE.search(text, max(0, start - 16), start)
    return match.start() if match else start


_STRUCTURED_RANK = E.priority(E.ADDRESS)


def _merge_overlaps(found: list[PiiEntity], text: str) -> list[PiiEntity]:
    """Resolve overlaps. Structured detections (patterns with checksums, addresses)
    keep their exact span: a statistical span running over one is cut around it
    ("IBAN FR76 ..." tagged as a place leaves the identifier alone, and the word
    "IBAN" in clear). Among the rest, overlapping spans become their union, typed by
    the most specific detection (``entities.TYPE_PRIORITY``): dropping one of two
    overlapping spans would leave part of a value in clear."""
    strong = _union([e for e in found if E.priority(e.type) >= _STRUCTURED_RANK])
    pieces: list[PiiEntity] = []
    for weak in (e for e in found if E.priority(e.type) < _STRUCTURED_RANK):
        if any(c.start < weak.end and weak.start < c.end for c in strong) and weak.type != E.PERSON:
            continue  # a place or organisation overlapping an identifier is the NER misreading it
        start = weak.start
        for cut in sorted(strong, key=lambda e: e.start):
            if cut.end <= start or cut.start >= weak.end:
                continue
            if cut.start > start:
                pieces.append(PiiEntity(weak.type, start, cut.start, weak.score))
            start = max(start, cut.end)
        if start < weak.end:
            pieces.append(PiiEntity(weak.type, start, weak.end, weak.score))
    kept = []
    for piece in pieces:
        start, end = _trim(text, piece.start, piece.end)
        if _name_words(text[start:end]):
            kept.append(PiiEntity(piece.type, start, end, piece.score))
    return _union(strong + kept)


def _union(found: list[PiiEntity]) -> list[PiiEntity]:
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


_LIST = re.compile(
    rf"{LIST_ITEM}(?:[ \t]*,[ \t]*{LIST_ITEM})*(?:[ \t]*,?[ \t]+(?:et|and|&|ou|or)[ \t]+{LIST_ITEM})"
    rf"|{LIST_ITEM}(?:[ \t]*,[ \t]*{LIST_ITEM})+"
)
_LIST_ITEM = re.compile(LIST_ITEM)


_CAPITALISED_PAIR = re.compile(
    r"(?<![\w\-'’])([A-ZÀ-ÖØ-Þ\u0100-\u017f][a-zß-öø-ÿ\u0100-\u017f]+(?:-[A-ZÀ-ÖØ-Þ][a-zß-öø-ÿ]+)?)"
    # the surname is looked ahead, not consumed: "Mme Ingrid Vasquez" tries "Mme Ingrid"
    # then "Ingrid Vasquez"
    r"(?=[ \t]+((?:[A-Z]\.[ \t]*)?(?:Mc|Mac|O['’])?[A-ZÀ-ÖØ-Þ\u0100-\u017f][\w'’\-]*[a-zß-öø-ÿ\u0100-\u017f][\w'’\-]*))"
)


_STREET_WORDS = frozenset(
    "street st avenue ave road rd boulevard blvd lane ln drive dr court ct way place pl square "
    "terrace parkway highway rue allee chemin impasse quai cours route place station church "
    "school college university hospital hotel park bridge".split()
)


def _first_name_pairs(text: str, found: list[PiiEntity], lexicon: frozenset[str]) -> list[PiiEntity]:
    """A known first name followed by a capitalised word ("Jouni Hahli", "Louis
    T. Tanguay") is a person, unless either word is a stop word or the pair sits
    inside a more specific detection (an address's "avenue Jean Jaurès")."""
    out = []
    is_taken = _coverage(len(text), [f for f in found if E.priority(f.type) >= _PERSON_RANK])
    for m in _CAPITALISED_PAIR.finditer(text):
        first, last = m.group(1), m.group(2)
        if fold(first) not in lexicon or fold(first) in _STOP_WORDS or fold(last) in _STOP_WORDS:
            continue
        if fold(last) in NAME_DENY or fold(last) in _STREET_WORDS or _is_civility(first):
            continue
        start, end = m.start(), m.end(2)
        if any(is_taken[start:end]):
            continue
        out.append(PiiEntity(E.PERSON, _widen_to_civility(text, start), end, _PROPAGATED_SCORE))
    return out


def _names_in_lists(
    text: str, found: list[PiiEntity], votes: dict[str, tuple[int, int]] | None = None
) -> list[PiiEntity]:
    """In an enumeration of capitalised names ("les juges Raimondi, Nicolaou et
    Bianku") where one item is a detected person, the other items are persons too,
    unless the NER labels that item something else in most of the text
    (``_voted_not_a_person``: "Oseltamivir and Zanamivir", two drugs)."""
    persons = [e for e in found if e.type == E.PERSON]
    if not persons:
        return []
    is_person = _coverage(len(text), persons)
    is_taken = _coverage(len(text), [f for f in found if E.priority(f.type) >= _PERSON_RANK])
    out = []
    for listing in _LIST.finditer(text):
        items = [(listing.start() + m.start(), listing.start() + m.end()) for m in _LIST_ITEM.finditer(listing.group(0))]
        if len(items) < 2 or not any(any(is_person[s:e]) for s, e in items):
            continue
        for s, e in items:
            if fold(text[s:e]) in NAME_DENY or not _name_words(text[s:e]) or _voted_not_a_person(votes, text[s:e]):
                continue
            if not any(is_taken[s:e]):
                out.append(PiiEntity(E.PERSON, s, e, _PROPAGATED_SCORE))
    return out


def _coverage(length: int, spans) -> bytearray:
    """One byte per character: 1 where some span covers it (overlap tests in O(span))."""
    mask = bytearray(length)
    for span in spans:
        mask[span.start : span.end] = b"\x01" * (span.end - span.start)
    return mask


_MIN_VOTES = 3
"""Occurrences of a word the NER must have labelled before its majority label can
overrule a PERSON label on one of them."""


def _ner_label_votes(text: str, found: Sequence[tuple]) -> dict[str, tuple[int, int]]:
    """Single word -> (times the NER labelled it a person, times it labelled it
    anything else) in this text. The small English model calls a drug a person in one
    sentence and a place in the next; a name is a name throughout."""
    votes: dict[str, list[int]] = {}
    for entity_type, start, end, _score, recogniser in found:
        if recogniser != _NER_PERSON_RECOGNISER:
            continue
        value = text[start:end].strip()
        if not value or not re.fullmatch(r"[\w'’\-]+", value):
            continue
        counts = votes.setdefault(value, [0, 0])
        counts[0 if entity_type == E.PERSON else 1] += 1
    return {word: (p, o) for word, (p, o) in votes.items()}


def _voted_not_a_person(votes: dict[str, tuple[int, int]] | None, word: str) -> bool:
    """Whether the NER labelled ``word`` something other than a person in most of its
    occurrences, with at least ``_MIN_VOTES`` of them (``_ner_label_votes``)."""
    person, other = (votes or {}).get(word, (0, 0))
    return other > person and person + other >= _MIN_VOTES


def _lower_case_elsewhere(text: str, word: str) -> bool:
    """Whether a capitalised ``word`` is also written in lower case in ``text`` (a
    drug or an organism opening a sentence: "Carrageenan" and "carrageenan"). A name
    is capitalised wherever it is written, but a surname can also be an everyday word
    ("Brown signed ... the brown car"): callers only trust this for rare words."""
    lower = word.lower()
    if lower == word or word.isupper():
        return False
    return re.search(r"(?<!\w)" + re.escape(lower) + r"(?!\w)", text) is not None


_RARE_ZIPF = 3.5
"""Below this Zipf frequency in both French and English, a word is technical
("carrageenan" 1.9, "adenovirus" 2.3, "placebo" 3.5) rather than a surname that is
also an everyday word ("Brown" 5.0, "Petit" 5.7, "Boulanger" 3.7), which stays a name."""


def _rare_word(word: str) -> bool:
    from wordfreq import zipf_frequency

    lower = word.lower()
    return max(zipf_frequency(lower, "fr"), zipf_frequency(lower, "en")) < _RARE_ZIPF


def _repeated_names(
    text: str, found: list[PiiEntity], votes: dict[str, tuple[int, int]] | None = None
) -> list[PiiEntity]:
    """Every other occurrence, in the same text, of a detected person's name or of one
    of its words (surname or first name of 3+ letters): NER often tags a name once
    and misses it in the next sentence. A word is propagated alone only if it could
    be a name alone: not an acronym of three letters or fewer ("RNA" of "RNA Kit"),
    and not an everyday word the NER labels something else in most of the text
    ("France" of "Centre Enic-Naric France"). A rare word is propagated whatever the
    votes: surnames are rare words, and the small models often call a lone surname a
    place ("Jean de Poutrincourt ... Poutrincourt obtient une concession")."""
    words: set[str] = set()
    for e in found:
        if e.type != E.PERSON:
            continue
        for word in re.findall(r"[\w'’\-]+", text[e.start : e.end]):
            if (len(word) >= 3 and word[0].isupper() and fold(word) not in NAME_DENY and _name_words(word)
                    and not (word.isupper() and len(word) <= 3)
                    and not (_voted_not_a_person(votes, word) and not _rare_word(word))):
                words.add(word)
    out = []
    is_taken = _coverage(len(text), [f for f in found if E.priority(f.type) >= _PERSON_RANK])
    for word in words:
        for m in re.finditer(r"(?<![\w\-])" + re.escape(word) + r"(?![\w\-])", text):
            if not all(is_taken[m.start() : m.end()]):
                out.append(PiiEntity(E.PERSON, _widen_to_civility(text, m.start()), m.end(), _PROPAGATED_SCORE))
    return out


_CIVILITY_WORDS = frozenset(fold(c.rstrip(".")) for c in CIVILITIES)
_PERSON_RANK = E.priority(E.PERSON)


class _StopWords:
    """French and English stop words (spaCy's lists), folded; loaded on first use."""

    _words: frozenset[str] | None = None

    def __contains__(self, word: str) -> bool:
        if self._words is None:
            from spacy.lang.en.stop_words import STOP_WORDS as EN
            from spacy.lang.fr.stop_words import STOP_WORDS as FR

            type(self)._words = frozenset(fold(w) for w in EN | FR)
        return word in self._words


_STOP_WORDS = _StopWords()



def _is_civility(word: str) -> bool:
    return fold(word.rstrip(".")) in _CIVILITY_WORDS
