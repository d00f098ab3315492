"""One router per resource."""

from services.api.schemas import Problem

_PROBLEM = {"model": Problem, "content": {"application/problem+json": {}}}

# Declared by every router (``responses=``); a route adds the statuses only it answers.
PROBLEM_RESPONSES = {
    401: {**_PROBLEM, "description": "missing or unknown API key"},
    403: {**_PROBLEM, "description": "role too low"},
    404: {**_PROBLEM, "description": "not found (or not visible to this key)"},
    422: {**_PROBLEM, "description": "invalid request"},
    429: {**_PROBLEM, "description": "request rate or job limit reached (see Retry-After)"},
}

# Routes that take multipart/form-data add this: Starlette answers a broken envelope (no
# boundary, unparsable parts) with a 400. JSON that cannot be decoded is a 422 on every
# route, like a JSON syntax error (services/api/problems.py).
MULTIPART_PROBLEM_RESPONSES = {400: {**_PROBLEM, "description": "malformed multipart body"}}
