"""The Redis transport's repairs: a connection that is gone must not stop the worker."""

from types import SimpleNamespace

from workers.redis_broker import QoS


def _qos_on(transport) -> QoS:
    qos = QoS(SimpleNamespace(connection=transport, do_restore=True))
    qos._delivered["tag-1"] = object()
    return qos


def test_a_late_ack_after_the_connection_died_is_dropped_not_raised():
    for gone in (None, SimpleNamespace(client=None)):
        qos = _qos_on(gone)
        qos.ack("tag-1")  # kombu's own ack raises AttributeError here and Celery stops the worker
        assert "tag-1" not in qos._delivered


def test_restoring_unacked_messages_without_a_connection_leaves_them_to_redis():
    qos = _qos_on(None)
    assert qos.restore_unacked() is None
    assert not qos._delivered
