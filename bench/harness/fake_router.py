"""Fake routers (NAS) for the RADIUS benchmark: real UDP servers on loopback addresses that check
every RFC 5176 request with their own secret and answer it, in a process of their own.

One child process serves every router (one socket each, 127.0.0.2, 127.0.0.3, ...): the benchmark's
own process sends the baseline's packets, and a router sharing its interpreter lock would slow
the sender it measures. The child decodes only what it checks, with hashlib and hmac (pyrad's
attribute decoding costs several times more), so that the router is not what either side waits on.

For each request the router checks, in order (a failure is counted and the request dropped, as a
router drops a request it cannot authenticate):
- code Disconnect-Request (40) or CoA-Request (43), a length that fits the datagram;
- the Request Authenticator: MD5(code, id, length, 16 zero octets, attributes, secret)
  (RFC 5176 section 3);
- a Message-Authenticator (attribute 80): HMAC-MD5 with the secret over the packet with a zero
  Request Authenticator and the attribute's value zeroed (RFC 5176 section 3.3, RFC 3579).
Then it answers:
- NAK with Error-Cause 402 (Missing-Attribute) when User-Name or Acct-Session-Id is missing, 403
  (NAS-Identification-Mismatch) when NAS-IP-Address is not the router's own address;
- ACK otherwise (Disconnect-ACK 41, CoA-ACK 44), signed: a Message-Authenticator over the reply
  with the request's authenticator, then the Response Authenticator
  MD5(code, id, length, Request Authenticator, attributes, secret).

It records, per *phase* (the benchmark names one before each measured run), the wall time of the
first ACK of every distinct Acct-Session-Id, the requests seen again (retransmissions), the ones
dropped and why, the ones without a Framed-IP-Address, and the requests per router.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import multiprocessing as mp
import selectors
import socket
import struct
import time
from collections import Counter
from dataclasses import dataclass, field

DISCONNECT_REQUEST, DISCONNECT_ACK, DISCONNECT_NAK = 40, 41, 42
COA_REQUEST, COA_ACK, COA_NAK = 43, 44, 45
USER_NAME, NAS_IP_ADDRESS, FRAMED_IP_ADDRESS, ACCT_SESSION_ID = 1, 4, 8, 44
MESSAGE_AUTHENTICATOR, ERROR_CAUSE = 80, 101
MISSING_ATTRIBUTE, NAS_IDENTIFICATION_MISMATCH = 402, 403
ZERO16 = bytes(16)
RECEIVE_BUFFER_BYTES = 1 << 22  # bursts of a few thousand requests in flight must not overflow it
_REPLY_CODES = {DISCONNECT_REQUEST: (DISCONNECT_ACK, DISCONNECT_NAK), COA_REQUEST: (COA_ACK, COA_NAK)}


@dataclass(frozen=True)
class RouterAddress:
    address: str  # the router's own (NAS) address, also where it listens
    port: int
    secret: str = field(repr=False)


@dataclass
class PhaseRecord:
    """What the routers saw during one phase."""

    first_ack: dict[str, float] = field(default_factory=dict)  # Acct-Session-Id -> wall time of its first ACK
    requests: int = 0
    repeated: int = 0  # requests for a session already ACKed in this phase (retransmissions, duplicates)
    naks: Counter = field(default_factory=Counter)  # Error-Cause -> count
    dropped: Counter = field(default_factory=Counter)  # reason -> count
    without_framed_ip: int = 0
    kinds: Counter = field(default_factory=Counter)  # "disconnect" / "coa" -> requests
    per_router: Counter = field(default_factory=Counter)  # router address -> requests
    first_request: float | None = None


def check_request(raw: bytes, secret: bytes, nas_ip: bytes) -> tuple[bytes | None, str, str | None, dict]:
    """(reply or None, what happened, Acct-Session-Id, facts) for one datagram."""
    if len(raw) < 20:
        return None, "drop:short", None, {}
    code, identifier, length = struct.unpack_from("!BBH", raw)
    if code not in _REPLY_CODES:
        return None, f"drop:code {code}", None, {}
    if length < 20 or length > len(raw):
        return None, "drop:bad length", None, {}
    raw = raw[:length]
    authenticator, attributes = raw[4:20], raw[20:]
    expected = hashlib.md5(raw[:4] + ZERO16 + attributes + secret).digest()  # noqa: S324 - RFC 5176
    if not hmac.compare_digest(expected, authenticator):
        return None, "drop:bad request authenticator", None, {}
    found: dict[int, bytes] = {}
    message_authenticator_at = None
    at = 0
    while at < len(attributes):
        if at + 2 > len(attributes):
            return None, "drop:truncated attribute", None, {}
        kind, size = attributes[at], attributes[at + 1]
        if size < 2 or at + size > len(attributes):
            return None, "drop:bad attribute length", None, {}
        if kind == MESSAGE_AUTHENTICATOR:
            if size != 18:
                return None, "drop:bad Message-Authenticator length", None, {}
            message_authenticator_at = at
        found.setdefault(kind, attributes[at + 2 : at + size])
        at += size
    if message_authenticator_at is None:
        return None, "drop:no Message-Authenticator", None, {}
    ma = message_authenticator_at + 2
    zeroed = attributes[:ma] + ZERO16 + attributes[ma + 16 :]
    expected = hmac.new(secret, raw[:4] + ZERO16 + zeroed, hashlib.md5).digest()
    if not hmac.compare_digest(expected, attributes[ma : ma + 16]):
        return None, "drop:bad Message-Authenticator", None, {}

    session = found.get(ACCT_SESSION_ID)
    facts = {"kind": "coa" if code == COA_REQUEST else "disconnect", "framed_ip": FRAMED_IP_ADDRESS in found}
    cause = None
    if USER_NAME not in found or session is None:
        cause = MISSING_ATTRIBUTE
    elif found.get(NAS_IP_ADDRESS) != nas_ip:
        cause = NAS_IDENTIFICATION_MISMATCH
    ack, nak = _REPLY_CODES[code]
    reply_code = nak if cause is not None else ack
    reply_attributes = b"" if cause is None else struct.pack("!BBI", ERROR_CAUSE, 6, cause)
    reply_attributes += bytes((MESSAGE_AUTHENTICATOR, 18)) + ZERO16
    header = struct.pack("!BBH", reply_code, identifier, 20 + len(reply_attributes))
    signature = hmac.new(secret, header + authenticator + reply_attributes, hashlib.md5).digest()
    reply_attributes = reply_attributes[:-16] + signature
    response = hashlib.md5(header + authenticator + reply_attributes + secret).digest()  # noqa: S324 - RFC 5176
    outcome = "ack" if cause is None else f"nak:{cause}"
    return header + response + reply_attributes, outcome, session.decode(errors="replace") if session else None, facts


def _serve(sockets: list[tuple[socket.socket, bytes, bytes, str]], control) -> None:
    """The child process: answer requests, and the benchmark's commands on `control`."""
    phases: dict[str, PhaseRecord] = {}
    phase = phases.setdefault("idle", PhaseRecord())
    selector = selectors.DefaultSelector()
    for entry in sockets:
        selector.register(entry[0], selectors.EVENT_READ, entry)
    selector.register(control, selectors.EVENT_READ, None)
    while True:
        for key, _ in selector.select():
            if key.data is None:
                try:
                    command, argument = control.recv()
                except EOFError:
                    return
                if command == "phase":
                    phase = phases.setdefault(argument, PhaseRecord())
                    control.send(None)
                elif command == "acked":
                    record = phases.get(argument)
                    control.send(len(record.first_ack) if record else 0)
                elif command == "report":
                    control.send(phases.get(argument))
                elif command == "stop":
                    control.send(None)
                    return
                continue
            sock, secret, nas_ip, address = key.data
            while True:
                try:
                    raw, source = sock.recvfrom(4096)
                except (BlockingIOError, InterruptedError):
                    break
                reply, outcome, session, facts = check_request(raw, secret, nas_ip)
                now = time.time()
                if phase.first_request is None:
                    phase.first_request = now
                phase.requests += 1
                phase.per_router[address] += 1
                if reply is None:
                    phase.dropped[outcome.removeprefix("drop:")] += 1
                    continue
                phase.kinds[facts["kind"]] += 1
                if not facts["framed_ip"]:
                    phase.without_framed_ip += 1
                if outcome == "ack":
                    if session in phase.first_ack:
                        phase.repeated += 1
                    else:
                        phase.first_ack[session] = now
                else:
                    phase.naks[outcome.removeprefix("nak:")] += 1
                try:
                    sock.sendto(reply, source)
                except OSError:
                    pass  # the sender is gone: like a lost reply


class FakeRouters:
    """Routers on `addresses`, each with its secret, on a free port each, served by one child
    process. Use as a context manager, or start() / stop()."""

    def __init__(self, routers: list[tuple[str, str]]):  # (address, secret)
        self._wanted = routers
        self.routers: list[RouterAddress] = []
        self._process: mp.process.BaseProcess | None = None
        self._control = None

    def __enter__(self) -> FakeRouters:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()

    def start(self) -> FakeRouters:
        sockets = []
        for address, secret in self._wanted:
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECEIVE_BUFFER_BYTES)
            sock.bind((address, 0))
            sock.setblocking(False)
            port = sock.getsockname()[1]
            self.routers.append(RouterAddress(address, port, secret))
            sockets.append((sock, secret.encode(), ipaddress.ip_address(address).packed, address))
        # fork: the bound sockets are inherited; nothing but the sockets and the pipe is used there.
        context = mp.get_context("fork")
        parent_end, child_end = context.Pipe()
        self._process = context.Process(target=_serve, args=(sockets, child_end), name="fake-routers", daemon=True)
        self._process.start()
        child_end.close()
        for sock, *_ in sockets:
            sock.close()
        self._control = parent_end
        return self

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    def _ask(self, command: str, argument: str | None = None):
        assert self._control is not None, "the routers are not running"
        self._control.send((command, argument))
        if not self._control.poll(30):
            raise RuntimeError(f"the fake routers did not answer {command!r} within 30 s")
        return self._control.recv()

    def begin(self, phase: str) -> None:
        """From now on, requests count for `phase`."""
        self._ask("phase", phase)

    def acked(self, phase: str) -> int:
        """Distinct Acct-Session-Ids ACKed during `phase` so far."""
        return self._ask("acked", phase)

    def report(self, phase: str) -> PhaseRecord:
        return self._ask("report", phase) or PhaseRecord()

    def stop(self) -> None:
        if self._process is None:
            return
        try:
            if self._process.is_alive():
                self._ask("stop")
        except (OSError, EOFError, RuntimeError):
            pass
        self._process.join(timeout=5)
        if self._process.is_alive():
            self._process.kill()
            self._process.join(timeout=5)
        if self._control is not None:
            self._control.close()
        self._process = self._control = None
