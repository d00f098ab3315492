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
