"""App factory. ``create_app()`` builds nothing heavy: the container is built in the
lifespan (or passed in by tests), so importing this module has no side effects."""

from __future__ import annotations

import logging
import threading
import time
import uuid
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request

from services.api.container import Container
from services.api.problems import install_problem_handlers, unexpected_error_response
from services.api.ratelimit import LimitsMiddleware
from services.api.routers import (
    anonymise,
    ask,
    audit,
    collections,
    documents,
    extract,
    health,
    jobs,
    models,
)
from services.api.settings import Settings
from services.logging import configure_logging, request_id_var
from services.retention import RetentionScheduler

log = logging.getLogger("docintel.api")

API_DESCRIPTION = """Self-hosted document intelligence: pseudonymised ingestion, grounded Q&A with
verifiable citations, schema-driven extraction. Errors are RFC 9457 `application/problem+json`.
Authenticate with `Authorization: Bearer <api key>`."""


def create_app(settings: Settings | None = None, *, container: Container | None = None,
               overrides: dict[str, Any] | None = None, announce_key: bool = True) -> FastAPI:
    settings = settings or (container.settings if container else Settings())

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        configure_logging(settings.log_level, json_output=settings.log_json)
        owned = container is None
        c = container or Container.build(settings, overrides)
        app.state.container = c
        if c.generated_admin_key and announce_key:
            # Printed once on the console, never logged (API.md).
            print(
                "\n  No API keys were configured: created an admin key for tenant 'default'.\n"
                f"  Store it now, it will not be shown again:\n\n      {c.generated_admin_key}\n",
                flush=True,
            )
            c.generated_admin_key = None
        if c.runner is None:
            stats = c.start()
            if any(stats.values()):
                log.info("recovered after restart", extra={"recovery": stats})
        if settings.preload_models and not c.models_ready:
            threading.Thread(target=_preload, args=(c,), name="docintel-preload", daemon=True).start()
        retention = RetentionScheduler(c.audit, retention_days=c.settings.audit_retention_days,
                                       interval_s=c.settings.audit_purge_interval_s)
        retention.start()
        app.state.retention = retention
        try:
            yield
        finally:
            retention.stop()
            if owned:
                c.close()

    app = FastAPI(
        title="docintel",
        version="1.0.0",
        description=API_DESCRIPTION,
        lifespan=lifespan,
    )
    if container is not None:
        app.state.container = container
    install_problem_handlers(app)
    # Added before request_context, so it runs inside it: refusals get a request id and metrics.
    app.add_middleware(LimitsMiddleware)

    @app.middleware("http")
    async def request_context(request: Request, call_next):
        request_id = request.headers.get("x-request-id") or uuid.uuid4().hex
        if len(request_id) > 64 or not request_id.isprintable():
            request_id = uuid.uuid4().hex
        token = request_id_var.set(request_id)
        started = time.perf_counter()
        status = 500
        try:
            try:
                response = await call_next(request)
            except Exception as exc:  # handled here so the server never logs its message
                response = unexpected_error_response(request, exc)
            status = response.status_code
            response.headers["X-Request-ID"] = request_id
            return response
        finally:
            elapsed = time.perf_counter() - started
            route = request.scope.get("route")
            template = route.path if route is not None else "unmatched"
            c = getattr(request.app.state, "container", None)
            if c is not None:
                c.metrics.requests.labels(request.method, template, str(status)).inc()
                c.metrics.latency.labels(request.method, template).observe(elapsed)
            log.info("request", extra={"method": request.method, "route": template, "status": status,
                                       "duration_ms": round(elapsed * 1000, 1)})
            request_id_var.reset(token)

    for module in (health, collections, documents, ask, extract, anonymise, jobs, models, audit):
        app.include_router(module.router)
    return app


def _preload(container: Container) -> None:
    try:
        container.preload()
    except Exception:
        log.exception("model preload failed")
