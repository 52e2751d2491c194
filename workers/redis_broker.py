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

from kombu.transport import TRANSPORT_ALIASES, redis

SCHEME = "ativaredis"


class QoS(redis.QoS):
    def restore_unacked(self, client=None):
        transport = self.channel.connection
        if client is None and (transport is None or transport.client is None):
            self._delivered.clear()  # the connection they came on is gone; Redis keeps them
            return None
        return super().restore_unacked(client)


class Channel(redis.Channel):
    QoS = QoS


class Transport(redis.Transport):
    Channel = Channel


def register(url: str) -> str:
    """The broker URL to give Celery for a `redis://` URL: the same server, through this transport."""
    TRANSPORT_ALIASES[SCHEME] = f"{__name__}:Transport"
    return SCHEME + url.removeprefix("redis")
