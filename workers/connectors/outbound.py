"""The workers' Deliver: webhooks for billing and provisioning, RFC 5176 packets for the session
effects (target "radius"). Many calls go out at once (deliver_many): the session calls in one
concurrent send, the webhooks on the process's caller threads."""

from collections.abc import Sequence

from workflow.settings import Settings
from workflow.usecases.effects import Delivered, Delivery, DeliveryFailed
from workflow.usecases.radius import sessions

from . import radius, webhooks


class Outbound:
    def __init__(self, settings: Settings):
        self.settings = settings

    def __call__(self, delivery: Delivery) -> Delivered | None:
        if delivery.target != sessions.TARGET:
            webhooks.deliver(delivery, self.settings)
            return None
        [outcome] = self.deliver_many([delivery])
        if isinstance(outcome, DeliveryFailed):
            raise outcome
        return outcome

    def deliver_many(self, deliveries: Sequence[Delivery]) -> list[Delivered | DeliveryFailed]:
        """The packets of every session call in one send_packets (concurrent), each call's outcome
        from its own packets' answers; the webhooks at once (webhooks.deliver_many)."""
        packets, owners, webhook_indexes = [], [], []
        for index, delivery in enumerate(deliveries):
            if delivery.target != sessions.TARGET:
                webhook_indexes.append(index)
                continue
            for packet in sessions.packets_of(delivery):
                packets.append(packet)
                owners.append(index)
        outcomes: dict[int, Delivered | DeliveryFailed] = {}
        if webhook_indexes:  # at once, on the caller threads (the pipeline sends them apart from packets)
            sent = webhooks.deliver_many([deliveries[index] for index in webhook_indexes], self.settings)
            outcomes.update(zip(webhook_indexes, sent, strict=True))
        results = (
            radius.send_packets(packets, self.settings.radius_timeout_seconds, self.settings.radius_tries)
            if packets
            else []
        )
        by_delivery: dict[int, list] = {}
        for owner, result in zip(owners, results, strict=True):
            by_delivery.setdefault(owner, []).append(result)
        for index, delivery in enumerate(deliveries):
            if index not in outcomes:
                outcomes[index] = sessions.delivered(delivery, by_delivery.get(index, []))
        return [outcomes[index] for index in range(len(deliveries))]
