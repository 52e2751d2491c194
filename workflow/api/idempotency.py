"""Idempotency-Key on POST: a retry gets the first response back and changes nothing.

The key is recorded in the same transaction as the change it answers, so a crash cannot leave a
change without its record (or the reverse); two concurrent requests with one key race on a unique
index and the loser replays the winner's response. The records themselves are kept by the service
layer (workflow/usecases/idempotency.py); here, the header, the replayed response and the problems.
"""

import hashlib
import json
from collections.abc import Callable
from datetime import timedelta

from fastapi import Depends, Request
from fastapi.responses import JSONResponse
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ..db.reconnect import guarded_by_idempotency_key
from ..domain import limits
from ..domain.errors import AtivaError
from ..usecases import idempotency
from .auth import Principal, current_principal
from .problems import MEDIA_TYPE, ApiProblem, body_for_error, problem_response

HEADER = "Idempotency-Key"
MAX_KEY_LENGTH = 255

Handler = Callable[[Session], dict]


class Idempotent:
    def __init__(self, request: Request, principal: Principal, key: str | None, fingerprint: str):
        self.db = request.app.state.db
        self.ttl = timedelta(hours=request.app.state.settings.idempotency_ttl_hours)
        self.key = key
        self.use = idempotency.KeyUse(principal.token_id, key, fingerprint) if key is not None else None

    def run(self, status_code: int, handler: Handler) -> JSONResponse:
        if self.use is None:  # no key
            with self.db.write() as session:
                return JSONResponse(handler(session), status_code=status_code)
        with guarded_by_idempotency_key():  # run again, the key replays what was committed
            return self._run_keyed(self.use, status_code, handler)

    def _run_keyed(self, use: idempotency.KeyUse, status_code: int, handler: Handler) -> JSONResponse:
        stored = self._replay(use)
        if stored is not None:
            return stored
        try:
            with self.db.write() as session:
                body = handler(session)
                idempotency.record_answer(session, use, status_code, body)
            return JSONResponse(body, status_code=status_code)
        except IntegrityError:
            stored = self._replay(use)  # a concurrent request with the same key won the race
            if stored is None:
                raise
            return stored
        except AtivaError as error:
            # Refusals replay too: a retry must not succeed later where the first call was refused.
            problem = body_for_error(error)
            try:
                with self.db.write() as session:
                    idempotency.record_answer(session, use, problem["status"], problem)
            except IntegrityError:
                stored = self._replay(use)  # a concurrent request with the same key answered first
                if stored is not None:
                    return stored
            return problem_response(problem)

    def _replay(self, use: idempotency.KeyUse) -> JSONResponse | None:
        with self.db.write() as session:
            stored = idempotency.stored_answer(session, use, self.ttl)
        if stored is None:
            return None
        if stored.fingerprint != use.fingerprint:
            raise ApiProblem(
                "idempotency_key_reused",
                f"{HEADER} {self.key!r} was already used for a different request",
            )
        media = MEDIA_TYPE if stored.status_code >= 400 else "application/json"
        return JSONResponse(
            stored.body,
            status_code=stored.status_code,
            media_type=media,
            headers={"Idempotent-Replayed": "true"},
        )


async def idempotent(request: Request, principal: Principal = Depends(current_principal)) -> Idempotent:
    key = request.headers.get(HEADER)
    if key is not None:
        key = key.strip()
        if not key or len(key) > MAX_KEY_LENGTH:
            raise ApiProblem("validation_error", f"{HEADER} must be 1 to {MAX_KEY_LENGTH} characters")
        bad = limits.forbidden_character(key)
        if bad:
            raise ApiProblem("validation_error", f"{HEADER} must not contain control characters ({bad})")
    return Idempotent(request, principal, key, _fingerprint(request, await request.body()))


def _fingerprint(request: Request, body: bytes) -> str:
    """Same method, path and JSON value: key order and spacing do not make another request."""
    try:
        canonical = json.dumps(json.loads(body), sort_keys=True, separators=(",", ":")).encode()
    except ValueError:
        canonical = body
    return hashlib.sha256(f"{request.method} {request.url.path}\n".encode() + canonical).hexdigest()
