"""RFC 5176 CoA-Request and Disconnect-Request packets to the routers (pyrad 2.6).

Packets go out concurrently: one connected UDP socket per router (more when over 256 are in flight,
the Identifier being one octet), replies read with a selector and matched by Identifier, a request
unanswered after `timeout_seconds` sent again with the same Identifier and authenticator, up to
`tries` sends. A reply counts only when its Response Authenticator (and Message-Authenticator, when
present) verifies with the router's secret: anything else is no answer.
"""

import heapq
import ipaddress
import selectors
import socket
import struct
import time
from collections import deque
from dataclasses import dataclass, field
from functools import cache
from importlib.resources import files

from pyrad import packet as radius
from pyrad.dictionary import Dictionary

from workflow.usecases.radius.packets import (
    SESSION_CONTEXT_NOT_FOUND,
    PacketOutcome,
    PacketResult,
    SessionPacket,
    error_cause_text,
)

IDENTIFIERS = 256
SOCKETS_PER_ROUTER = 8  # up to 2048 requests in flight to one router
SENDS_PER_ROUND = 32  # sends between two reads, so replies do not pile up in the socket buffer
RECEIVE_BUFFER_BYTES = 1 << 20
MAX_PACKET_BYTES = 4096

_REQUEST_CODES = {"disconnect": radius.DisconnectRequest, "coa": radius.CoARequest}
_ACKS = {radius.DisconnectRequest: radius.DisconnectACK, radius.CoARequest: radius.CoAACK}
_NAKS = {radius.DisconnectRequest: radius.DisconnectNAK, radius.CoARequest: radius.CoANAK}
_ERROR_CAUSE = 101


@cache
def dictionary() -> Dictionary:
    """The dictionary shipped with the package (pyrad cannot read FreeRADIUS's full tree)."""
    path = files("workers.connectors") / "radius_dictionary" / "dictionary"
    return Dictionary(str(path))


def build_request(session: SessionPacket, identifier: int) -> radius.CoAPacket:
    """The signed request for one session. pyrad adds no Message-Authenticator to a CoAPacket by
    itself: it is asked for here, and computed over a zero Request Authenticator before the
    Request Authenticator is computed over the whole packet (RFC 5176 section 3.3)."""
    request = radius.CoAPacket(
        code=_REQUEST_CODES[session.kind],
        id=identifier,
        secret=session.secret.encode(),
        dict=dictionary(),
        message_authenticator=True,
    )
    request["User-Name"] = session.login
    request["Acct-Session-Id"] = session.acct_session_id
    if ipaddress.ip_address(session.nas_ip).version == 6:
        request["NAS-IPv6-Address"] = session.nas_ip
    else:
        request["NAS-IP-Address"] = session.nas_ip
    if session.framed_ip:
        request["Framed-IP-Address"] = session.framed_ip
    if session.kind == "coa":
        for name, value in session.rate_attributes:
            request.AddAttribute(name, value)
    return request


def send_packets(packets: list[SessionPacket], timeout_seconds: float, tries: int) -> list[PacketResult]:
    """Send every packet and wait for its outcome; results in the order of `packets`."""
    sender = _Sender(timeout_seconds, max(tries, 1))
    try:
        return sender.run(packets)
    finally:
        sender.close()


@dataclass(eq=False)
class _Request:
    index: int
    session: SessionPacket
    fell_back: bool = False
    coa_cause: int | None = None  # the CoA NAK's cause, when this is the Disconnect that followed
    channel: "_Channel | None" = None
    pyrad_packet: radius.CoAPacket | None = None
    raw: bytes = b""
    sends: int = 0
    deadline: float = 0.0


@dataclass(eq=False)
class _Channel:
    """One connected UDP socket to one router and the Identifiers free on it."""

    sock: socket.socket
    free_ids: deque[int] = field(default_factory=lambda: deque(range(IDENTIFIERS)))
    in_flight: dict[int, _Request] = field(default_factory=dict)


class _Sender:
    def __init__(self, timeout_seconds: float, tries: int) -> None:
        self.timeout = timeout_seconds
        self.tries = tries
        self.selector = selectors.DefaultSelector()
        self.channels: dict[tuple[str, int], list[_Channel]] = {}
        self.waiting: dict[tuple[str, int], deque[_Request]] = {}
        self.deadlines: list[tuple[float, int, _Request]] = []  # a heap; stale entries skipped
        self.results: list[PacketResult | None] = []
        self.in_flight = 0
        self._sequence = 0

    def run(self, packets: list[SessionPacket]) -> list[PacketResult]:
        self.results = [None] * len(packets)
        for index, session in enumerate(packets):
            self._enqueue(_Request(index, session))
        while self.in_flight or any(self.waiting.values()):
            sent = self._send_waiting()
            self._receive(wait=0.0 if sent else self._until_next_deadline())
            self._expire()
        return [result for result in self.results if result is not None]

    def close(self) -> None:
        for channels in self.channels.values():
            for channel in channels:
                channel.sock.close()
        self.selector.close()

    # Sending

    def _enqueue(self, request: _Request) -> None:
        session = request.session
        destination = (session.router_address, session.coa_port)
        self.waiting.setdefault(destination, deque()).append(request)

    def _send_waiting(self) -> int:
        sent = 0
        for destination, queue in self.waiting.items():
            while queue and sent < SENDS_PER_ROUND:
                try:
                    channel = self._channel_with_free_id(destination)
                except (ValueError, OSError) as error:
                    self._finish(queue.popleft(), "error", detail=f"cannot reach {destination[0]}: {_describe(error)}")
                    continue
                if channel is None:
                    break  # wait for a reply or a timeout to free an Identifier
                self._send_first(queue.popleft(), channel)
                sent += 1
        return sent

    def _channel_with_free_id(self, destination: tuple[str, int]) -> _Channel | None:
        channels = self.channels.setdefault(destination, [])
        for channel in channels:
            if channel.free_ids:
                return channel
        if len(channels) >= SOCKETS_PER_ROUTER:
            return None
        family = socket.AF_INET6 if ipaddress.ip_address(destination[0]).version == 6 else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_DGRAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECEIVE_BUFFER_BYTES)
            sock.setblocking(False)
            # Connected: the kernel drops datagrams from any other address and port.
            sock.connect(destination)
        except OSError:
            sock.close()
            raise
        channel = _Channel(sock)
        self.selector.register(sock, selectors.EVENT_READ, channel)
        channels.append(channel)
        return channel

    def _send_first(self, request: _Request, channel: _Channel) -> None:
        identifier = channel.free_ids.popleft()
        try:
            request.pyrad_packet = build_request(request.session, identifier)
            request.raw = request.pyrad_packet.RequestPacket()
        except Exception as error:  # noqa: BLE001 - a value pyrad cannot encode fails this packet only
            channel.free_ids.append(identifier)
            self._finish(request, "error", detail=f"cannot encode the request: {_describe(error)}")
            return
        request.channel = channel
        channel.in_flight[identifier] = request
        self.in_flight += 1
        self._transmit(request)

    def _transmit(self, request: _Request) -> None:
        channel = request.channel
        if channel is None:
            return
        request.sends += 1
        request.deadline = time.monotonic() + self.timeout
        self._sequence += 1
        heapq.heappush(self.deadlines, (request.deadline, self._sequence, request))
        try:
            channel.sock.send(request.raw)
        except (BlockingIOError, ConnectionRefusedError):
            pass  # a full buffer or an earlier ICMP port unreachable: the retransmission covers it
        except OSError as error:
            self._release(request)
            where = request.session.router_address
            self._finish(request, "error", detail=f"cannot send to {where}: {_describe(error)}")

    # Receiving

    def _until_next_deadline(self) -> float:
        while self.deadlines and self._is_stale(self.deadlines[0]):
            heapq.heappop(self.deadlines)
        if not self.deadlines:
            return 0.0
        return max(0.0, self.deadlines[0][0] - time.monotonic())

    def _receive(self, wait: float) -> None:
        for key, _ in self.selector.select(wait):
            channel: _Channel = key.data
            while True:
                try:
                    raw = channel.sock.recv(MAX_PACKET_BYTES)
                except (BlockingIOError, InterruptedError):
                    break
                except ConnectionRefusedError:
                    continue  # ICMP port unreachable: like no answer
                self._on_reply(channel, raw)

    def _on_reply(self, channel: _Channel, raw: bytes) -> None:
        if len(raw) < 20:
            return
        request = channel.in_flight.get(raw[1])
        if request is None or request.pyrad_packet is None:
            return  # late, duplicated or stray
        sent = request.pyrad_packet
        try:
            reply = sent.CreateReply(packet=raw)
            valid = sent.VerifyReply(reply, raw)
        except Exception:  # noqa: BLE001 - a reply pyrad cannot decode is no answer
            return
        if not valid or reply.code not in (_ACKS[sent.code], _NAKS[sent.code]):
            return  # a forged or corrupted reply (wrong secret) counts as no answer
        self._release(request)
        if reply.code == _ACKS[sent.code]:
            self._finish(request, "ack", detail=f"{_code_name(reply.code)} from {request.session.router_address}")
            return
        cause = _error_cause(reply)
        detail = f"{_code_name(reply.code)} from {request.session.router_address}: {error_cause_text(cause)}"
        if cause == SESSION_CONTEXT_NOT_FOUND:
            self._finish(request, "session_not_found", cause, detail)
        elif request.session.kind == "coa":
            # Routers that cannot change a live session's attributes NAK the CoA: dropping the
            # session makes it redial and pick up its group's attributes.
            self._enqueue(_Request(request.index, request.session.as_disconnect(), fell_back=True, coa_cause=cause))
        else:
            self._finish(request, "nak", cause, detail)

    # Timeouts

    def _expire(self) -> None:
        now = time.monotonic()
        while self.deadlines and self.deadlines[0][0] <= now:
            entry = heapq.heappop(self.deadlines)
            if self._is_stale(entry):
                continue
            request = entry[2]
            if request.sends < self.tries:
                self._transmit(request)
            else:
                self._release(request)
                self._finish(
                    request,
                    "timeout",
                    detail=f"no answer from {request.session.router_address}:{request.session.coa_port} "
                    f"after {request.sends} tries of {self.timeout:g} s",
                )

    @staticmethod
    def _is_stale(entry: tuple[float, int, _Request]) -> bool:
        deadline, _, request = entry
        return request.channel is None or request.deadline != deadline

    # Bookkeeping

    def _release(self, request: _Request) -> None:
        channel = request.channel
        if channel is None or request.pyrad_packet is None:
            return
        del channel.in_flight[request.pyrad_packet.id]
        # Reused last: a late reply to this request meets a different authenticator and is dropped.
        channel.free_ids.append(request.pyrad_packet.id)
        request.channel = None
        self.in_flight -= 1

    def _finish(self, request: _Request, outcome: PacketOutcome, cause: int | None = None, detail: str = "") -> None:
        if request.fell_back:
            detail = f"CoA NAK ({error_cause_text(request.coa_cause)}), then {detail}"
        session = request.session
        self.results[request.index] = PacketResult(
            router_address=session.router_address,
            kind=session.kind,
            login=session.login,
            acct_session_id=session.acct_session_id,
            outcome=outcome,
            error_cause=cause,
            detail=detail,
            fell_back_to_disconnect=request.fell_back,
        )


def _error_cause(reply: radius.Packet) -> int | None:
    values = reply.get(_ERROR_CAUSE)  # by code: the raw 4 octets, whatever the dictionary names them
    if not values or len(values[0]) != 4:
        return None
    return int(struct.unpack("!I", values[0])[0])


def _code_name(code: int) -> str:
    return {
        radius.DisconnectACK: "Disconnect-ACK",
        radius.DisconnectNAK: "Disconnect-NAK",
        radius.CoAACK: "CoA-ACK",
        radius.CoANAK: "CoA-NAK",
    }.get(code, f"code {code}")


def _describe(error: Exception) -> str:
    """An error in a few words. OSError's text names the system error only; pyrad's encoding errors
    name the attribute and value (logins, addresses), never the secret."""
    if isinstance(error, OSError) and error.strerror:
        return f"{type(error).__name__}: {error.strerror}"
    return f"{type(error).__name__}: {error}"[:200]
