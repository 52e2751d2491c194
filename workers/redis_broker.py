"""The Redis broker, with one repair: losing Redis while holding unacknowledged messages must not
stop the worker.

When Celery's consumer loses its connection, kombu closes the channel twice; the second close
tries again to put the unacknowledged messages back after the transport has been detached from
its connection, and fails with `AttributeError: 'NoneType' object has no attribute 'hostname'`
(in `restore_unacked_once`), which Celery treats as unrecoverable: the worker stopped. Here that
second attempt gives up quietly instead. Nothing is lost: the messages stay in Redis's unacked
set, which kombu restores after the visibility timeout, and the outbox relay publishes their
effects again long before that.
"""

from contextlib import contextmanager

from kombu.transport import TRANSPORT_ALIASES, redis

SCHEME = "ativaredis"


class QoS(redis.QoS):
    def _detached(self) -> bool:
        transport = self.channel.connection
        return transport is None or transport.client is None

    def restore_unacked(self, client=None):
        if client is None and self._detached():
            self._delivered.clear()  # the connection they came on is gone; Redis keeps them
            return None
        return super().restore_unacked(client)

    def ack(self, delivery_tag):
        # A task that finishes after the connection died acks into the void (the same crash, in
        # `_remove_from_indices`). Redis still holds the message as unacked and delivers it again
        # later; the effect is done by then, so that run only finds it settled.
        if self._detached():
            self._delivered.pop(delivery_tag, None)
            return None
        return super().ack(delivery_tag)


class Channel(redis.Channel):
    QoS = QoS

    @contextmanager
    def conn_or_acquire(self, client=None):
        # kombu builds a new redis.Redis per publish (about a quarter of apply_async's CPU, mostly
        # its response-callback table); a client holds no connection of its own, only the pool,
        # so one per pool serves every publish of this channel (thread-safe, as the pool is).
        if client is not None:
            yield client
            return
        pool = self.pool
        cached = self._publish_client
        if cached is None or cached.connection_pool is not pool:
            cached = self._publish_client = self._create_client()
        yield cached

    _publish_client = None


class Transport(redis.Transport):
    Channel = Channel


def register(url: str) -> str:
    """The broker URL to give Celery for a `redis://` URL: the same server, through this transport."""
    TRANSPORT_ALIASES[SCHEME] = f"{__name__}:Transport"
    return SCHEME + url.removeprefix("redis")
