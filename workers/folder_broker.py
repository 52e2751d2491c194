"""The embedded broker: kombu's folder transport, with messages that appear in the folder whole.

kombu writes a message file in place (create, lock, write) while a consumer may already rename and
read it: the consumer reads an empty file, JSON decoding fails and the worker stops for good (seen
in the UI tests under load). Writing under a name no consumer looks at, then renaming it into
place (atomic within one filesystem), closes that window.
"""

import os
import uuid
from time import monotonic

from kombu.exceptions import ChannelError
from kombu.transport import TRANSPORT_ALIASES, filesystem
from kombu.utils.encoding import str_to_bytes
from kombu.utils.json import dumps

SCHEME = "ativafs"


class Channel(filesystem.Channel):
    # kombu's filesystem.Channel._put has this signature too; the abstract base declares (queue, message).
    def _put(self, queue, payload, **kwargs):  # type: ignore[override]
        # The same name kombu would use, so ordering and queue matching are unchanged.
        name = f"{round(monotonic() * 1000)}_{uuid.uuid4()}.{queue}.msg"
        final = os.path.join(self.data_folder_out, name)
        staging = final + ".part"  # consumers only take names ending in '<queue>.msg'
        try:
            with open(staging, "wb") as message:
                message.write(str_to_bytes(dumps(payload)))
            os.replace(staging, final)
        except OSError as exc:
            raise ChannelError(f"Cannot add file {final!r} to directory") from exc


class Transport(filesystem.Transport):
    Channel = Channel


def register() -> str:
    """Make `ativafs://` resolve to this transport; returns the broker URL to give Celery."""
    TRANSPORT_ALIASES[SCHEME] = f"{__name__}:Transport"
    # A host the transport ignores: without one kombu warns "No hostname was supplied" at every
    # connection.
    return f"{SCHEME}://localhost/"
