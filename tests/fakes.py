"""Fakes for fast tests of the logic *around* models (never to test model behaviour)."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence

import numpy as np

from pipelines.types import Page, ParsedDocument


class HashingEmbedder:
    """Deterministic bag-of-words embedder: texts sharing words get similar vectors."""

    name = "test-hashing"
    version = "1"
    max_tokens = 256

    def __init__(self, dimension: int = 64):
        self.dimension = dimension
        self.is_loaded = True

    def _vector(self, text: str) -> np.ndarray:
        vec = np.zeros(self.dimension, dtype=np.float32)
        for word in re.findall(r"\w+", text.lower()):
            digest = hashlib.blake2b(word.encode(), digest_size=8).digest()
            vec[int.from_bytes(digest[:4], "little") % self.dimension] += 1.0
        norm = np.linalg.norm(vec)
        return vec / norm if norm else vec + (1.0 / np.sqrt(self.dimension))

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        return np.stack([self._vector(t) for t in texts]) if texts else np.zeros((0, self.dimension), np.float32)

    def embed_query(self, text: str) -> np.ndarray:
        return self._vector(text)

    def load(self) -> None:
        pass


class TextParser:
    """Treats every upload as UTF-8 text split into pages on form feeds."""

    def parse(self, data: bytes, *, filename: str = "", password: str | None = None) -> ParsedDocument:
        text = data.decode("utf-8", errors="replace")
        pages = tuple(Page(number=i + 1, text=t) for i, t in enumerate(text.split("\f")))
        return ParsedDocument(media_type="text/plain", pages=pages)


class PatternDetector:
    """A PII detector with the real detector's interface, finding e-mails and a fixed
    list of names: for API tests of the wiring around pseudonymisation."""

    def __init__(self, names: Sequence[str] = ("Jean Dupont", "Marie Curie", "Dupont")):
        self.names = tuple(sorted(names, key=len, reverse=True))
        self.languages = ("fr", "en")

    def detect_language(self, text: str) -> str:
        return "fr" if re.search(r"\b(le|la|les|est|une)\b", text) else "en"

    def detect(self, text: str, language: str | None = None, *, entities=None):
        from pipelines.types import PiiEntity

        found: list[PiiEntity] = []
        taken: list[tuple[int, int]] = []
        wanted = set(entities) if entities is not None else {"PERSON", "EMAIL_ADDRESS"}
        if "EMAIL_ADDRESS" in wanted:
            for m in re.finditer(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+", text):
                found.append(PiiEntity("EMAIL_ADDRESS", m.start(), m.end(), 1.0))
                taken.append(m.span())
        if "PERSON" in wanted:
            for name in self.names:
                for m in re.finditer(re.escape(name), text):
                    if not any(s < m.end() and m.start() < e for s, e in taken):
                        found.append(PiiEntity("PERSON", m.start(), m.end(), 0.9))
                        taken.append(m.span())
        return sorted(found, key=lambda e: e.start)
