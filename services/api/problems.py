"""RFC 9457 ``application/problem+json`` for every error the API returns.

One table maps domain exceptions to problem types and statuses; a catch-all answers a
generic 500 without internals and logs the traceback (the log formatter never prints
request bodies, so no PII reaches it).
"""

from __future__ import annotations

import json
import logging
import traceback
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from pipelines import errors

log = logging.getLogger("docintel.api")

PROBLEM_MEDIA_TYPE = "application/problem+json"
PROBLEM_BASE = "https://docintel.dev/problems/"

# domain exception -> (HTTP status, problem slug, title)
DOMAIN_PROBLEMS: dict[type[errors.DocintelError], tuple[int, str, str]] = {
    errors.UnsupportedMediaType: (415, "unsupported-media-type", "Unsupported media type"),
    errors.EncryptedDocument: (422, "encrypted-document", "Encrypted document"),
    errors.CorruptDocument: (422, "corrupt-document", "Corrupt document"),
    errors.EmptyDocument: (422, "empty-document", "Document has no text"),
    errors.LimitExceeded: (413, "limit-exceeded", "Limit exceeded"),
    errors.ParseError: (422, "parse-error", "Document could not be parsed"),
    errors.NotFound: (404, "not-found", "Not found"),
    errors.Conflict: (409, "conflict", "Conflict"),
    errors.InvalidRequest: (422, "invalid-request", "Invalid request"),
    errors.NotImplementedYet: (501, "not-implemented", "Not implemented"),
    errors.JobCancelled: (409, "job-cancelled", "Job cancelled"),
}

HTTP_TITLES = {
    400: ("bad-request", "Bad request"),
    401: ("unauthorized", "Unauthorized"),
    403: ("forbidden", "Forbidden"),
    404: ("not-found", "Not found"),
    405: ("method-not-allowed", "Method not allowed"),
    406: ("not-acceptable", "Not acceptable"),
    409: ("conflict", "Conflict"),
    413: ("payload-too-large", "Payload too large"),
    415: ("unsupported-media-type", "Unsupported media type"),
    422: ("validation-error", "Validation error"),
    429: ("too-many-requests", "Too many requests"),
    500: ("internal-error", "Internal server error"),
    503: ("unavailable", "Service unavailable"),
}


class ProblemException(Exception):
    """Raised by routes for HTTP-level failures (auth, limits) that are not domain errors."""

    def __init__(self, status: int, detail: str, *, slug: str | None = None, title: str | None = None,
                 headers: dict[str, str] | None = None, **extensions: Any):
        super().__init__(detail)
        default_slug, default_title = HTTP_TITLES.get(status, ("error", "Error"))
        self.status = status
        self.detail = detail
        self.slug = slug or default_slug
        self.title = title or default_title
        self.headers = headers
        self.extensions = extensions


def problem_dict(status: int, slug: str, title: str, detail: str, instance: str | None = None,
                 **extensions: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": PROBLEM_BASE + slug,
        "title": title,
        "status": status,
        "detail": detail,
        "instance": instance,
    }
    body.update(extensions)
    return body


def domain_problem(exc: errors.DocintelError, instance: str | None = None) -> dict[str, Any]:
    """The problem object for a domain error (also embedded in per-file upload results)."""
    for cls in type(exc).__mro__:
        if cls in DOMAIN_PROBLEMS:
            status, slug, title = DOMAIN_PROBLEMS[cls]  # type: ignore[index]
            break
    else:
        status, slug, title = 400, "bad-request", "Bad request"
    extensions: dict[str, Any] = {}
    if isinstance(exc, errors.InvalidRequest) and exc.errors:
        extensions["errors"] = exc.errors
    return problem_dict(status, slug, title, str(exc) or title, instance, **extensions)


def problem_response(body: dict[str, Any], headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(
        jsonable_encoder(body), status_code=body["status"], media_type=PROBLEM_MEDIA_TYPE, headers=headers
    )


def install_problem_handlers(app: FastAPI) -> None:
    @app.exception_handler(ProblemException)
    async def _problem(request: Request, exc: ProblemException):
        return problem_response(
            problem_dict(exc.status, exc.slug, exc.title, exc.detail, request.url.path, **exc.extensions),
            exc.headers,
        )

    @app.exception_handler(errors.DocintelError)
    async def _domain(request: Request, exc: errors.DocintelError):
        return problem_response(domain_problem(exc, request.url.path))

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError):
        details = [
            {"loc": list(err.get("loc", ())), "msg": err.get("msg", ""), "type": err.get("type", "")}
            for err in exc.errors()
        ]
        return problem_response(
            problem_dict(422, "validation-error", "Validation error", "the request is not valid",
                         request.url.path, errors=details)
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException):
        if exc.status_code == 400 and isinstance(exc.__cause__, (ValueError, RecursionError)):
            # FastAPI answers a JSON syntax error with a 422 but JSON its parser gives up on
            # (nested deeper than the recursion limit, not UTF-8, integers over 4300 digits)
            # with a bare 400 "error parsing the body", chained to the parser's exception:
            # the same mistake by the client, so the same 422 as the syntax error.
            return problem_response(
                problem_dict(422, "validation-error", "Validation error", "the body is not valid JSON",
                             request.url.path, errors=[{"loc": ["body"], "type": "json_invalid",
                                                        "msg": undecodable_json_reason(exc.__cause__)}])
            )
        slug, title = HTTP_TITLES.get(exc.status_code, ("error", "Error"))
        detail = exc.detail if isinstance(exc.detail, str) else title
        if exc.status_code == 404 and detail == "Not Found":
            detail = f"no route for {request.url.path}"
        if exc.status_code == 405:
            detail = f"method {request.method} not allowed on {request.url.path}"
        return problem_response(
            problem_dict(exc.status_code, slug, title, detail, request.url.path), getattr(exc, "headers", None)
        )

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception):
        return unexpected_error_response(request, exc)


def loads_request_json(raw: str | bytes, *, loc: list[str], message: str) -> Any:
    """``json.loads`` for JSON carried inside a request field: whatever makes it
    undecodable (a syntax error, nesting past the recursion limit, invalid UTF-8, an
    integer over 4,300 digits) is an ``InvalidRequest`` (422), never a 500. The reason
    never quotes the input."""
    try:
        return json.loads(raw)
    except json.JSONDecodeError as exc:
        reason = f"{exc.msg} at {exc.pos}"
    except (ValueError, RecursionError) as exc:
        reason = undecodable_json_reason(exc)
    raise errors.InvalidRequest(f"{message}: {reason}", errors=[{"loc": loc, "msg": reason}])


def undecodable_json_reason(exc: BaseException) -> str:
    """Why JSON that is not a syntax error could not be decoded; never quotes the input."""
    if isinstance(exc, RecursionError):
        return "nested too deeply"
    if isinstance(exc, UnicodeDecodeError):
        return "not UTF-8"
    return "a value exceeds the decoder's limits"


def unexpected_error_response(request: Request, exc: Exception) -> JSONResponse:
    """Generic 500. Logs the exception type and stack frames only: the message of an
    unexpected error may quote document text, so it is never logged nor returned."""
    route = request.scope.get("route")
    log.error(
        "unhandled %s on %s %s\n%s", type(exc).__name__, request.method,
        route.path if route is not None else "?", "".join(traceback.format_tb(exc.__traceback__)),
    )
    return problem_response(
        problem_dict(500, "internal-error", "Internal server error",
                     "an unexpected error occurred; it has been logged", request.url.path)
    )
