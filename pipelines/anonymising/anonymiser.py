"""Operators and the anonymiser that applies them to detected spans.

Operators (what replaces a detected value of type T):

- ``pseudonymise``: ``<T_n>``, a consistent token from a ``TokenStore`` (a
  collection's vault, or a request-local table); reversible only through the vault.
- ``redact``: ``<T>``.
- ``mask``: ``*`` repeated to the value's length (offsets do not move).
- ``hash``: ``<T:hhhhhhhhhhhh>``, the first 12 hex digits of HMAC-SHA256 of the
  normalised value under a secret key: consistent for equal values, not reversible,
  and not guessable by hashing candidate values without the key.

Invariant of ``Anonymiser.anonymise``: for the result ``r`` of text ``t``, with
segments ``(ns, ne, os, oe)`` in ``r.offsets``: ``r.text[ns:ne]`` is the replacement of
``t[os:oe]``, and the text between segments is unchanged.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import replace
from typing import Literal

from pipelines.anonymising import entities as E
from pipelines.anonymising.normalise import normalise_value
from pipelines.anonymising.vault import InMemoryTokenStore, TokenStore
from pipelines.types import AnonymisedText, OffsetMap, PiiEntity

Operator = Literal["pseudonymise", "redact", "mask", "hash"]
OPERATORS: tuple[str, ...] = ("pseudonymise", "redact", "mask", "hash")
HASH_HEX_DIGITS = 12


def redact_token(entity_type: str) -> str:
    return f"<{entity_type}>"


def mask_value(value: str) -> str:
    return "*" * len(value)


def hash_token(entity_type: str, value: str, key: bytes) -> str:
    normal = normalise_value(entity_type, value)
    digest = hmac.new(key, f"{entity_type}\x1f{normal}".encode("utf-8"), hashlib.sha256).hexdigest()
    return f"<{entity_type}:{digest[:HASH_HEX_DIGITS]}>"


def apply_replacements(text: str, entities: Sequence[PiiEntity]) -> tuple[str, OffsetMap]:
    """Replace each entity span of ``text`` by its ``replacement``.

    ``entities`` must be sorted and non-overlapping. Returns the new text and the map
    from its offsets back to ``text``.
    """
    parts: list[str] = []
    segments: list[tuple[int, int, int, int]] = []
    cursor = 0
    new_length = 0
    for e in entities:
        if e.start < cursor:
            raise ValueError("entities overlap or are not sorted")
        parts.append(text[cursor : e.start])
        new_length += e.start - cursor
        parts.append(e.replacement)
        segments.append((new_length, new_length + len(e.replacement), e.start, e.end))
        new_length += len(e.replacement)
        cursor = e.end
    parts.append(text[cursor:])
    return "".join(parts), OffsetMap(tuple(segments))


class Anonymiser:
    """Detects PII with a ``PiiDetector`` and replaces it (``pipelines.ports.Anonymiser``).

    ``store`` gives pseudonyms (a ``VaultScope`` for a collection); without one, each
    ``anonymise`` call uses a fresh request-local table, so pseudonyms are consistent
    within the call only. ``hash_key`` keys the ``hash`` operator (pass
    ``vault.derive_key("hash operator")`` to keep hashes stable across restarts; the
    default is a random per-instance key).
    """

    def __init__(
        self,
        detector,
        store: TokenStore | None = None,
        *,
        hash_key: bytes | None = None,
        entities: Iterable[str] | None = None,
    ):
        self.detector = detector
        self.store = store
        self.hash_key = hash_key or secrets.token_bytes(32)
        self.entities = frozenset(entities) if entities is not None else None

    @property
    def version(self) -> str:
        """Version of the pseudonymisation this anonymiser performs: the detector's
        ``version`` (its class name for a detector without one) and the operator code.
        Read on each access: a detector may change its recognisers while loaded."""
        from pipelines.anonymising import versioning

        detector = getattr(self.detector, "version", None) or type(self.detector).__qualname__
        return versioning.fingerprint("anon", {
            "detector": str(detector), "entities": self.entities,
            "operators": versioning.source_fingerprint(versioning.OPERATOR_MODULES),
        })

    def anonymise(
        self,
        text: str,
        *,
        language: str | None = None,
        operator: Operator = "pseudonymise",
        document_id: str | None = None,
        entities: Iterable[str] | None = None,
        store: TokenStore | None = None,
        found: Sequence[PiiEntity] | None = None,
    ) -> AnonymisedText:
        """Detect and replace. ``entities`` overrides the detector's set (a collection's
        own set); ``store`` overrides the anonymiser's store for this call.

        ``found``: spans already detected in ``text`` (with ``language``), e.g. by a
        ``DetectorPool`` in another process; only the replacement runs here then."""
        if operator not in OPERATORS:
            raise ValueError(f"unknown operator {operator!r}; expected one of {OPERATORS}")
        language = language or self.detector.detect_language(text)
        if found is None:
            wanted = entities if entities is not None else self.entities
            found = self.detector.detect(text, language, entities=wanted)
        store = store or self.store or InMemoryTokenStore()
        replaced = self._replacements(text, found, operator, store, document_id)
        new_text, offsets = apply_replacements(text, replaced)
        return AnonymisedText(text=new_text, entities=tuple(replaced), offsets=offsets, language=language)

    def anonymise_query(
        self,
        text: str,
        *,
        language: str | None = None,
        entities: Iterable[str] | None = None,
        store: TokenStore | None = None,
    ) -> AnonymisedText:
        """Ask-time pseudonymisation: values the vault knows get their token (so a name
        in a question matches the index); unknown values are redacted (``<T>``) and
        never create vault entries."""
        return self.question_texts(text, language=language, entities=entities, store=store)[0]

    def question_texts(
        self,
        text: str,
        *,
        language: str | None = None,
        entities: Iterable[str] | None = None,
        store: TokenStore | None = None,
    ) -> tuple[AnonymisedText, AnonymisedText]:
        """(asked, searched) from one detection. ``asked`` is ``anonymise_query``'s text:
        what is recorded or sent to a generator. ``searched`` differs only by leaving
        the values the vault does not know as written: no stored page holds a token
        for them, so only a clear occurrence (the detector tagged the question, not
        the page: "Qui a réalisé les Harmonies Werckmeister ?") can match, and
        redacting them loses the words the question is about. It is for local
        retrieval and scoring only; it is never stored. Neither creates vault entries."""
        language = language or self.detector.detect_language(text)
        wanted = entities if entities is not None else self.entities
        found = self.detector.detect(text, language, entities=wanted)
        store = store or self.store
        known, unknown = [], []
        for e in found:
            token = store.lookup(e.type, text[e.start : e.end]) if store is not None else None
            if token:
                known.append(replace(e, replacement=token))
            else:
                unknown.append(replace(e, replacement=redact_token(e.type)))
        out = []
        for replaced in (known + unknown, known):
            if store is not None:
                replaced = replaced + _known_names(text, replaced, store)
            replaced = sorted(replaced, key=lambda e: e.start)
            new_text, offsets = apply_replacements(text, replaced)
            out.append(AnonymisedText(text=new_text, entities=tuple(replaced), offsets=offsets, language=language))
        return out[0], out[1]

    def question_forms(
        self,
        text: str,
        *,
        language: str | None = None,
        entities: Iterable[str] | None = None,
        store: TokenStore | None = None,
    ) -> tuple[str, str, dict[str, str]]:
        """(asked, searched, aliases): ``question_texts``'s two texts and the ``aliases``
        of the searched one, as an ask passes them to ``Answerer.answer`` (``question``,
        ``search_question``, ``search_aliases``)."""
        asked, searched = self.question_texts(text, language=language, entities=entities, store=store)
        return asked.text, searched.text, self.aliases(text, searched)

    @staticmethod
    def aliases(question: str, searched: AnonymisedText) -> dict[str, str]:
        """Token -> the value as ``question`` writes it, for every value of
        ``searched`` (``question_texts``) the vault knows. Search reads a passage that
        holds the value in clear as holding its token: detection is not consistent
        across a collection (a drug the NER calls a person in one document stays in
        clear in the others), and "France" tokenised by one document must still find
        every other document about France. Local to an ask, never stored."""
        return {e.replacement: question[e.start : e.end] for e in searched.entities}

    def _replacements(
        self,
        text: str,
        found: Sequence[PiiEntity],
        operator: str,
        store: TokenStore,
        document_id: str | None,
    ) -> list[PiiEntity]:
        if operator == "pseudonymise":
            tokens = store.tokens_for([(e.type, text[e.start : e.end]) for e in found], document_id)
            return [replace(e, replacement=t) for e, t in zip(found, tokens)]
        if operator == "redact":
            return [replace(e, replacement=redact_token(e.type)) for e in found]
        if operator == "mask":
            return [replace(e, replacement=mask_value(text[e.start : e.end])) for e in found]
        return [replace(e, replacement=hash_token(e.type, text[e.start : e.end], self.hash_key)) for e in found]


_CAPITALISED_RUN = re.compile(r"[A-ZÀ-ÖØ-Þ][\w'’\-]+(?:[ \t]+[A-ZÀ-ÖØ-Þ][\w'’\-]+){0,3}")


def _known_names(text: str, found: Sequence[PiiEntity], store: TokenStore) -> list[PiiEntity]:
    """Capitalised words of a question that the vault knows as a person, though NER
    missed them (questions are short and often lower-cased around names). Longest
    known run first; never creates entries."""
    extra: list[PiiEntity] = []
    taken = [(e.start, e.end) for e in found]
    for run in _CAPITALISED_RUN.finditer(text):
        words = [(m.start() + run.start(), m.end() + run.start()) for m in re.finditer(r"\S+", run.group(0))]
        i = 0
        while i < len(words):
            for j in range(len(words), i, -1):
                start, end = words[i][0], words[j - 1][1]
                if any(s < end and start < e for s, e in taken):
                    continue
                token = store.lookup(E.PERSON, text[start:end])
                if token:
                    extra.append(PiiEntity(E.PERSON, start, end, 0.5, token))
                    taken.append((start, end))
                    i = j - 1
                    break
            i += 1
    return extra
