"""One router per resource."""

from services.api.schemas import Problem

_PROBLEM = {"model": Problem, "content": {"application/problem+json": {}}}

PROBLEM_RESPONSES = {
    401: {**_PROBLEM, "description": "missing or unknown API key"},
    403: {**_PROBLEM, "description": "role too low"},
    404: {**_PROBLEM, "description": "not found (or not visible to this key)"},
    422: {**_PROBLEM, "description": "invalid request"},
    429: {**_PROBLEM, "description": "request rate or job limit reached (see Retry-After)"},
}
