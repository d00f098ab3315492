from __future__ import annotations

from fastapi import APIRouter

from services.api.deps import ContainerDep, Reader
from services.api.routers import PROBLEM_RESPONSES
from services.api.schemas import ModelsOut

router = APIRouter(prefix="/v1/models", tags=["models"], responses=PROBLEM_RESPONSES)


@router.get("", response_model=ModelsOut, operation_id="list_models")
def list_models(principal: Reader, container: ContainerDep):
    """Live backends with name and version; a collection is pinned to its embedder version."""
    embedders = []
    for name in container.available_embedders():
        embedder = container.embedder(name)
        embedders.append({
            "name": embedder.name, "version": embedder.version, "dimension": embedder.dimension,
            "default": name == container.default_embedder_name,
            "loaded": bool(getattr(embedder, "is_loaded", True)),
        })
    return {
        "embedders": embedders,
        "generators": container.generator_infos(),
        "rerankers": [],
        "pii": container.pii_info(),
    }
