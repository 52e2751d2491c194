"""The embedded folder broker never hands a consumer a message that is still being written.

kombu's own folder transport creates the file, then writes it: a consumer polling at that moment
read an empty file and the worker stopped (JSONDecodeError). Here a producer and a consumer race
on one folder with large messages; every message must arrive whole, none lost."""

import threading

from kombu import Connection

from workers import folder_broker

MESSAGES = 400


def connection(folder) -> Connection:
    options = {
        "data_folder_in": str(folder),
        "data_folder_out": str(folder),
        "control_folder": str(folder / "control"),
        "store_processed": False,
        "polling_interval": 0.001,
    }
    return Connection(folder_broker.register(), transport_options=options)


def test_a_consumer_racing_the_producer_gets_every_message_whole(tmp_path):
    body = "x" * 200_000  # large enough that a write is not one instant
    received, errors = [], []

    def consume():
        try:
            with connection(tmp_path) as conn:
                queue = conn.SimpleQueue("race")
                while len(received) < MESSAGES:
                    message = queue.get(timeout=30)
                    received.append(message.payload)
                    message.ack()
        except Exception as error:  # noqa: BLE001 - the thread must report, not die silently
            errors.append(error)

    consumer = threading.Thread(target=consume)
    consumer.start()
    with connection(tmp_path) as conn:
        queue = conn.SimpleQueue("race")
        for n in range(MESSAGES):
            queue.put({"n": n, "body": body})
    consumer.join(timeout=120)
    assert not errors, errors
    assert sorted(m["n"] for m in received) == list(range(MESSAGES))
    assert all(m["body"] == body for m in received)
    assert not list(tmp_path.glob("*.part"))
