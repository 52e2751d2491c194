"""RFC 5176 session packets (CoA-Request, Disconnect-Request) as plain data, and what their replies
mean for the effect that sent them. No I/O here: workers/connectors/radius.py sends them."""

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

PacketKind = Literal["disconnect", "coa"]
PacketOutcome = Literal["ack", "nak", "session_not_found", "timeout", "no_router", "error"]

SESSION_CONTEXT_NOT_FOUND = 503

# RFC 5176 section 3.5, to name a NAK's cause in notes and reasons.
ERROR_CAUSES = {
    201: "Residual-Session-Context-Removed",
    202: "Invalid-EAP-Packet",
    401: "Unsupported-Attribute",
    402: "Missing-Attribute",
    403: "NAS-Identification-Mismatch",
    404: "Invalid-Request",
    405: "Unsupported-Service",
    406: "Unsupported-Extension",
    407: "Invalid-Attribute-Value",
    501: "Administratively-Prohibited",
    502: "Request-Not-Routable",
    503: "Session-Context-Not-Found",
    504: "Session-Context-Not-Removable",
    505: "Other-Proxy-Processing-Error",
    506: "Resources-Unavailable",
    507: "Request-Initiated",
    508: "Multiple-Session-Selection-Unsupported",
}

# How many packets a note names one by one before it says "and N more".
NOTE_PACKETS = 5


def error_cause_text(cause: int | None) -> str:
    if cause is None:
        return "no Error-Cause"
    name = ERROR_CAUSES.get(cause)
    return f"Error-Cause {cause} ({name})" if name else f"Error-Cause {cause}"


@dataclass(frozen=True)
class SessionPacket:
    """One request for one open session on one router. The secret signs it and never shows in
    repr() or str()."""

    router_address: str
    coa_port: int
    secret: str = field(repr=False)
    vendor: str
    kind: PacketKind
    login: str
    acct_session_id: str
    framed_ip: str | None
    nas_ip: str
    # For a CoA: the rate attributes for this router's vendor, e.g. (("Mikrotik-Rate-Limit", "5000k/20000k"),).
    rate_attributes: tuple[tuple[str, str | int], ...] = ()

    def as_disconnect(self) -> "SessionPacket":
        return SessionPacket(
            self.router_address,
            self.coa_port,
            self.secret,
            self.vendor,
            "disconnect",
            self.login,
            self.acct_session_id,
            self.framed_ip,
            self.nas_ip,
        )


@dataclass(frozen=True)
class PacketResult:
    """What became of one SessionPacket: `kind` is the packet finally sent (a Disconnect after a
    CoA NAK, with fell_back_to_disconnect). `detail` is English and never holds a secret."""

    router_address: str
    kind: PacketKind
    login: str
    acct_session_id: str
    outcome: PacketOutcome
    error_cause: int | None = None
    detail: str = ""
    fell_back_to_disconnect: bool = False

    @property
    def succeeded(self) -> bool:
        """The session holds no stale attributes any more: changed, dropped, or already gone."""
        return self.outcome in ("ack", "session_not_found")


@dataclass(frozen=True)
class PacketsOutcome:
    """The effect's outcome from its packets: done, or a failure to retry with `note` as reason."""

    done: bool
    note: str


def describe_result(result: PacketResult) -> str:
    """One short English phrase per packet, e.g. "disconnect ACK from 10.0.0.1 (session 81a2)"."""
    session = f"(session {result.acct_session_id})"
    where = result.router_address
    if result.outcome == "ack":
        if result.fell_back_to_disconnect:
            return f"CoA NAK from {where}, disconnect ACK instead {session}"
        return f"{_kind_name(result.kind)} ACK from {where} {session}"
    if result.outcome == "session_not_found":
        return f"session not found at {where} {session}"
    if result.outcome == "nak":
        return f"{_kind_name(result.kind)} NAK from {where}: {error_cause_text(result.error_cause)} {session}"
    if result.outcome == "no_router":
        return f"no router registered for {where} {session}"
    if result.outcome == "timeout":
        return f"{_kind_name(result.kind)} timeout: no answer from {where} {session}"
    return f"{_kind_name(result.kind)} error for {where}: {result.detail or 'unknown error'} {session}"


def packets_outcome(results: Sequence[PacketResult]) -> PacketsOutcome:
    """All packets ACKed (or their sessions already gone) → done, with a note saying so. Any NAK,
    timeout or error → a failure to retry, whose reason names each failing router and cause."""
    if not results:
        return PacketsOutcome(True, "no packet sent")
    failed = [result for result in results if not result.succeeded]
    if failed:
        count = f"{len(failed)} of {len(results)} packets failed: " if len(results) > 1 else ""
        return PacketsOutcome(False, count + _joined(failed))
    return PacketsOutcome(True, _joined(results))


def _kind_name(kind: PacketKind) -> str:
    return "CoA" if kind == "coa" else "disconnect"


def _joined(results: Sequence[PacketResult]) -> str:
    phrases = [describe_result(result) for result in results[:NOTE_PACKETS]]
    if len(results) > NOTE_PACKETS:
        phrases.append(f"and {len(results) - NOTE_PACKETS} more")
    return "; ".join(phrases)
