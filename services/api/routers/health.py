from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from services.api.deps import get_principal
from services.api.schemas import Health

router = APIRouter(tags=["operations"])


@router.get("/healthz", response_model=Health, operation_id="health")
def healthz() -> Health:
    """The process is alive (no auth)."""
    return Health(status="ok")


@router.get("/readyz", response_model=Health, operation_id="ready",
            responses={503: {"model": Health, "description": "not ready yet"}})
def readyz(request: Request):
    """Models loaded, index and registry reachable (no auth)."""
    container = request.app.state.container
    checks: dict[str, str] = {}
    try:
        container.registry.ping()
        checks["registry"] = "ok"
    except Exception:
        checks["registry"] = "unreachable"
    try:
        container.index.resolve_alias("__readyz__")
        checks["index"] = "ok"
    except Exception:
        checks["index"] = "unreachable"
    checks["models"] = "ok" if container.models_ready else "loading"
    ok = all(v == "ok" for v in checks.values())
    body = Health(status="ok" if ok else "unavailable", checks=checks)
    return JSONResponse(body.model_dump(), status_code=200 if ok else 503)


@router.get("/metrics", operation_id="metrics", response_class=Response,
            responses={200: {"content": {"text/plain": {}}, "description": "Prometheus text format"}})
def metrics(request: Request) -> Response:
    """Prometheus text format (no auth unless ``DOCINTEL_METRICS_REQUIRE_KEY``)."""
    container = request.app.state.container
    if container.settings.metrics_require_key:
        from fastapi.security import HTTPAuthorizationCredentials

        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        get_principal(request, HTTPAuthorizationCredentials(scheme=scheme, credentials=token) if token else None)
    for state in ("queued", "running"):
        container.metrics.jobs_active.labels(state).set(container.registry.count_jobs([state]))
    return Response(container.metrics.render(), media_type="text/plain; version=0.0.4; charset=utf-8")
