"""Request dependencies: the container, the caller (API key), role checks."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from pipelines.registry import hash_key
from services.api.problems import ProblemException

ROLE_RANK = {"reader": 1, "writer": 2, "admin": 3}

_bearer = HTTPBearer(auto_error=False, description="API key: `Authorization: Bearer <key>`")


@dataclass(frozen=True)
class Principal:
    """The caller: one API key. ``groups`` are its ACL groups ('*' holds them all)."""

    key_id: str
    tenant: str
    role: str
    groups: tuple[str, ...]

    def has_role(self, role: str) -> bool:
        return ROLE_RANK[self.role] >= ROLE_RANK[role]

    @property
    def sees_everything(self) -> bool:
        return "*" in self.groups


def get_container(request: Request):
    return request.app.state.container


def get_principal(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    if credentials is None or not credentials.credentials:
        raise ProblemException(401, "missing API key (Authorization: Bearer <key>)",
                               headers={"WWW-Authenticate": "Bearer"})
    container = request.app.state.container
    row = container.keys.lookup(hash_key(credentials.credentials))
    if row is None:
        raise ProblemException(401, "unknown or revoked API key", headers={"WWW-Authenticate": "Bearer"})
    principal = Principal(key_id=row.id, tenant=row.tenant, role=row.role, groups=tuple(row.groups))
    request.state.principal = principal
    return principal


def require(role: str):
    def _check(principal: Annotated[Principal, Depends(get_principal)]) -> Principal:
        if not principal.has_role(role):
            raise ProblemException(403, f"this operation needs the '{role}' role")
        return principal

    _check.__name__ = f"require_{role}"
    return _check


ContainerDep = Annotated[object, Depends(get_container)]
Reader = Annotated[Principal, Depends(require("reader"))]
Writer = Annotated[Principal, Depends(require("writer"))]
Admin = Annotated[Principal, Depends(require("admin"))]
