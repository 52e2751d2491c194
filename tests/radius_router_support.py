"""A fake router (NAS) for RFC 5176 tests: a real UDP server on a loopback address that checks each
CoA-Request / Disconnect-Request with its own secret, records it, and answers as told.

    with FakeRouter(secret="s3cret-router", address="127.0.0.2") as router:
        send_packets([... router.address, router.port ...], timeout_seconds=1, tries=2)
        router.accepted  # requests whose authenticator and Message-Authenticator verified
        router.rejected  # requests dropped: signed with another secret, or without a Message-Authenticator

Policies (`policy`, may be changed while running):
- "ack": ACK every request;
- "session_not_found": NAK every request with Error-Cause 503;
- "coa_nak": NAK a CoA with Error-Cause 401 (Unsupported-Attribute), ACK a Disconnect;
- "silent": answer nothing.
`silent_for=N` leaves the first N requests unanswered (recorded), to exercise retransmission.
`reply_secret` signs the replies with another secret (a forged reply the sender must ignore).
"""

import selectors
import socket
import struct
import threading
from dataclasses import dataclass, field
from typing import Literal

from pyrad import packet as radius

from workers.connectors.radius import dictionary

Policy = Literal["ack", "session_not_found", "coa_nak", "silent"]
UNSUPPORTED_ATTRIBUTE = 401
SESSION_CONTEXT_NOT_FOUND = 503


@dataclass(frozen=True)
class ReceivedRequest:
    code: int  # radius.DisconnectRequest (40) or radius.CoARequest (43)
    identifier: int
    authenticator: bytes
    attributes: dict[str, list]  # decoded by name: {"User-Name": ["ana"], ...}
    raw: bytes
    source: tuple[str, int]

    @property
    def kind(self) -> str:
        return "coa" if self.code == radius.CoARequest else "disconnect"

    def first(self, name: str):
        values = self.attributes.get(name)
        return values[0] if values else None


@dataclass(frozen=True)
class RejectedRequest:
    reason: str
    raw: bytes
    source: tuple[str, int]


@dataclass
class FakeRouter:
    secret: str
    address: str = "127.0.0.2"
    port: int = 0  # 0: a free port, known after start
    policy: Policy = "ack"
    silent_for: int = 0
    reply_secret: str | None = None
    accepted: list[ReceivedRequest] = field(default_factory=list)
    rejected: list[RejectedRequest] = field(default_factory=list)
    duplicates: int = 0  # retransmissions of a request already accepted (answered again, not recorded twice)
    ignored: int = 0  # requests left unanswered on purpose (silent, silent_for)

    def __post_init__(self) -> None:
        self._sock: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._seen: set[tuple[tuple[str, int], int, bytes]] = set()

    def __enter__(self) -> "FakeRouter":
        self.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop()

    def start(self) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 22)
        sock.bind((self.address, self.port))
        sock.setblocking(False)
        self.port = sock.getsockname()[1]
        self._sock = sock
        self._stop.clear()
        self._thread = threading.Thread(target=self._serve, name=f"fake-router-{self.address}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self._sock is not None:
            self._sock.close()
        self._thread = self._sock = None

    def requests_for(self, acct_session_id: str) -> list[ReceivedRequest]:
        with self._lock:
            return [r for r in self.accepted if r.first("Acct-Session-Id") == acct_session_id]

    # The server loop

    def _serve(self) -> None:
        assert self._sock is not None
        with selectors.DefaultSelector() as selector:
            selector.register(self._sock, selectors.EVENT_READ)
            while not self._stop.is_set():
                if not selector.select(0.05):
                    continue
                while True:
                    try:
                        raw, source = self._sock.recvfrom(4096)
                    except (BlockingIOError, InterruptedError):
                        break
                    reply = self._handle(raw, source)
                    if reply is not None:
                        try:
                            self._sock.sendto(reply, source)
                        except OSError:
                            pass  # the sender is gone: like a lost reply

    def _handle(self, raw: bytes, source: tuple[str, int]) -> bytes | None:
        secret = self.secret.encode()
        try:
            request = radius.CoAPacket(secret=secret, dict=dictionary(), packet=raw)
        except Exception as error:  # noqa: BLE001 - a malformed packet is dropped and recorded
            return self._reject(f"undecodable: {type(error).__name__}", raw, source)
        if request.code not in (radius.CoARequest, radius.DisconnectRequest):
            return self._reject(f"unexpected code {request.code}", raw, source)
        if not request.VerifyCoARequest():
            return self._reject("bad request authenticator", raw, source)
        if not request.message_authenticator:
            return self._reject("no Message-Authenticator", raw, source)
        if not request.verify_message_authenticator():
            return self._reject("bad Message-Authenticator", raw, source)

        key = (source, request.id, request.authenticator)
        with self._lock:
            if key in self._seen:
                self.duplicates += 1
            else:
                self._seen.add(key)
                self.accepted.append(
                    ReceivedRequest(
                        request.code,
                        request.id,
                        request.authenticator,
                        # pyrad's keys() gives names; iterating the packet gives raw attribute codes.
                        {name: list(request[name]) for name in request.keys() if isinstance(name, str)},  # noqa: SIM118
                        raw,
                        source,
                    )
                )
            if self.policy == "silent" or self.silent_for > 0:
                self.silent_for = max(0, self.silent_for - 1)
                self.ignored += 1
                return None
            policy = self.policy
        return self._reply(request, policy)

    def _reply(self, request: radius.CoAPacket, policy: Policy) -> bytes:
        reply = request.CreateReply()
        is_coa = request.code == radius.CoARequest
        cause = None
        if policy == "session_not_found":
            cause = SESSION_CONTEXT_NOT_FOUND
        elif policy == "coa_nak" and is_coa:
            cause = UNSUPPORTED_ATTRIBUTE
        if cause is not None:
            reply.code = radius.CoANAK if is_coa else radius.DisconnectNAK
            reply[101] = [struct.pack("!I", cause)]  # Error-Cause, raw
        reply.message_authenticator = True
        if self.reply_secret is not None:
            reply.secret = self.reply_secret.encode()
        return reply.ReplyPacket()

    def _reject(self, reason: str, raw: bytes, source: tuple[str, int]) -> None:
        with self._lock:
            self.rejected.append(RejectedRequest(reason, raw, source))
        return None
