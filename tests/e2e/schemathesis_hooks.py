"""Hooks and an extra check for the schemathesis run of tests/e2e/test_schemathesis_run.py.

Loaded by the schemathesis process itself (its config names this module); the test passes the
run's facts in the environment variables below.
"""

import base64
import hashlib
import hmac
import os
import time

import requests
import schemathesis

OWN_TOKEN_ID = "ATIVA_FUZZ_OWN_TOKEN_ID"
SPARE_TOKEN_ID = "ATIVA_FUZZ_SPARE_TOKEN_ID"
BILLING_SECRET = "ATIVA_FUZZ_BILLING_SECRET"
REVOKE = "POST /api/v1/tokens/{token_id}/revoke"
BILLING_EVENTS = "POST /api/v1/billing/events"
NO_SUCH_ID = 2**31 - 1
PROBLEM_FIELDS = ("type", "title", "status", "detail", "code")


class _SignBody(requests.auth.AuthBase):
    """Signs the bytes actually sent (after schemathesis serialised the body) with a current
    timestamp, so that a fuzzed event gets past the signature and reaches the parser. A request
    without a `webhook-signature` header (the missing-header probes) goes unsigned: a 401."""

    def __init__(self, secret: str):
        self.key = base64.b64decode(secret.removeprefix("whsec_"))

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        if "webhook-signature" not in request.headers or "webhook-timestamp" not in request.headers:
            return request
        body = request.body or b""
        if isinstance(body, str):
            body = body.encode()
        timestamp = request.headers["webhook-timestamp"] = str(int(time.time()))
        signed = f"{request.headers.get('webhook-id', '')}.{timestamp}.".encode() + body
        digest = hmac.new(self.key, signed, hashlib.sha256).digest()
        request.headers["webhook-signature"] = "v1," + base64.b64encode(digest).decode()
        return request


@schemathesis.hook
def before_call(context, case, kwargs):
    label = f"{case.method.upper()} {case.operation.path}"
    for name, value in (case.path_parameters or {}).items():
        if value is None:
            # schemathesis 4.32 follows an inferred link to a null id (an effect's service_id) and
            # would send ".../services/None/...": send an id that no row has instead.
            case.path_parameters[name] = NO_SUCH_ID
    if label == REVOKE and str((case.path_parameters or {}).get("token_id")) == os.environ[OWN_TOKEN_ID]:
        # The one request that would lock the run out: revoke a spare token instead.
        case.path_parameters["token_id"] = int(os.environ[SPARE_TOKEN_ID])
    if label == BILLING_EVENTS:
        kwargs["auth"] = _SignBody(os.environ[BILLING_SECRET])


@schemathesis.check
def error_is_problem_json(ctx, response, case):
    """Every error answers RFC 9457 problem+json with our machine `code`."""
    if response.status_code < 400:
        return None
    media = response.headers.get("content-type", [""])[0].split(";")[0].strip()
    if media != "application/problem+json":
        raise AssertionError(
            f"{response.status_code} answered {media or 'no content type'}, not application/problem+json"
        )
    try:
        body = response.json()
    except ValueError:
        raise AssertionError("the problem body is not JSON") from None
    missing = [name for name in PROBLEM_FIELDS if not isinstance(body, dict) or name not in body]
    if missing:
        raise AssertionError(f"the problem body lacks {', '.join(missing)}")
    if body["status"] != response.status_code:
        raise AssertionError(f"the problem says status {body['status']}, the response {response.status_code}")
    return None
