"""Bearer tokens and roles, enforced on the server for every route but health checks."""

from collections.abc import Callable
from dataclasses import dataclass

from fastapi import Depends, Request

from ..domain.vocabulary import Role
from ..usecases.tokens import authenticate
from ..usecases.transitions import Actor
from .problems import ApiProblem

READ_ROLES = (Role.VIEWER, Role.OPERATOR, Role.BILLING, Role.ADMIN)
WRITE_ROLES = (Role.OPERATOR, Role.ADMIN)
ADMIN_ROLES = (Role.ADMIN,)


@dataclass(frozen=True)
class Principal:
    token_id: int
    name: str
    role: Role

    @property
    def actor(self) -> Actor:
        return Actor(name=f"token:{self.name}", role=self.role)


def current_principal(request: Request) -> Principal:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise ApiProblem("unauthorized", "send Authorization: Bearer <token>", {"WWW-Authenticate": "Bearer"})
    with request.app.state.db.read() as session:
        record = authenticate(session, token.strip())
        if record is None:
            raise ApiProblem("unauthorized", "the token is unknown or revoked", {"WWW-Authenticate": "Bearer"})
        return Principal(record.id, record.name, Role(record.role))


def require(roles: tuple[Role, ...]) -> Callable[..., Principal]:
    allowed = ", ".join(r.value for r in roles)

    def dependency(principal: Principal = Depends(current_principal)) -> Principal:
        if principal.role not in roles:
            raise ApiProblem("forbidden", f"role '{principal.role}' may not do this; needs {allowed}")
        return principal

    return dependency


can_read = require(READ_ROLES)
can_write = require(WRITE_ROLES)
is_admin = require(ADMIN_ROLES)
