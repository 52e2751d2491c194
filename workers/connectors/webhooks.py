"""Signed webhooks (Standard Webhooks): billing notifications and provisioning calls."""

import json
from collections.abc import Sequence
from datetime import UTC, datetime

import httpx
from standardwebhooks import Webhook

from workflow.settings import Settings
from workflow.usecases.effects import Delivered, Delivery, DeliveryFailed

from .. import runtime


def _target(delivery: Delivery, settings: Settings) -> tuple[str, str]:
    if delivery.target == "billing":
        url, secret, name = settings.billing_webhook_url, settings.billing_webhook_secret, "BILLING"
    else:
        url, secret, name = (settings.provisioning_webhook_url, settings.provisioning_webhook_secret, "PROVISIONING")
    if not url:
        raise DeliveryFailed(f"ATIVA_{name}_WEBHOOK_URL is not set")
    if secret is None or not secret.get_secret_value():
        # Never send unsigned: the receiver could not tell us from an attacker.
        raise DeliveryFailed(f"ATIVA_{name}_WEBHOOK_SECRET is not set")
    return url, secret.get_secret_value()


def signed_headers(secret: str, message_id: str, body: str, now: datetime | None = None) -> dict[str, str]:
    now = now or datetime.now(UTC)
    return {
        "content-type": "application/json",
        "webhook-id": message_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": Webhook(secret).sign(message_id, now, body),
    }


def deliver(delivery: Delivery, settings: Settings) -> None:
    url, secret = _target(delivery, settings)
    try:
        body = json.dumps(delivery.payload, separators=(",", ":"), ensure_ascii=False)
        response = runtime.http().post(
            url, content=body.encode(), headers=signed_headers(secret, delivery.message_id, body)
        )
    except httpx.HTTPError as error:
        raise DeliveryFailed(f"{type(error).__name__}: {error}") from None
    except Exception as error:  # noqa: BLE001 - e.g. an invalid secret; recorded on the effect
        raise DeliveryFailed(f"{type(error).__name__}: {error}") from None
    if not 200 <= response.status_code < 300:
        raise DeliveryFailed(f"HTTP {response.status_code} from {delivery.target}: {response.text[:200]}")


def deliver_many(deliveries: Sequence[Delivery], settings: Settings) -> list[Delivered | DeliveryFailed]:
    """The calls at once, on the process's caller threads (one connection each, kept alive);
    each call's outcome its own, in the order given: one receiver's failure fails no other."""
    if len(deliveries) == 1:
        return [_outcome(deliveries[0], settings)]
    return list(runtime.callers().map(lambda delivery: _outcome(delivery, settings), deliveries))


def _outcome(delivery: Delivery, settings: Settings) -> Delivered | DeliveryFailed:
    try:
        deliver(delivery, settings)
    except DeliveryFailed as failure:
        return failure
    except Exception as error:  # noqa: BLE001 - this call's failure, recorded on its effect alone
        return DeliveryFailed(f"{type(error).__name__}: {error}")
    return Delivered()
