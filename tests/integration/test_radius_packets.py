"""CoA-Request and Disconnect-Request packets (RFC 5176) sent by workers/connectors/radius.py to fake
routers: real UDP servers on loopback addresses that check every request with their own secret."""

import hashlib
import hmac
import struct

import pytest

from tests.radius_router_support import FakeRouter
from workers.connectors.radius import dictionary, send_packets
from workflow.usecases.radius.packets import PacketResult, SessionPacket, packets_outcome

SECRET = "router-secret-ü-1"  # non-ASCII on purpose: the secret is signed as UTF-8
OTHER_SECRET = "another-secret-2"
DISCONNECT_REQUEST, COA_REQUEST = 40, 43
MESSAGE_AUTHENTICATOR = 80


def session_packet(
    router: FakeRouter, kind="disconnect", session="81a2", login="ana.silva", **changes
) -> SessionPacket:
    values = {
        "router_address": router.address,
        "coa_port": router.port,
        "secret": SECRET,
        "vendor": "mikrotik",
        "kind": kind,
        "login": login,
        "acct_session_id": session,
        "framed_ip": "100.64.0.7",
        "nas_ip": "10.0.0.1",
        "rate_attributes": (("Mikrotik-Rate-Limit", "5000k/20000k"),) if kind == "coa" else (),
    }
    return SessionPacket(**{**values, **changes})


def signatures_hold(raw: bytes, secret: str) -> tuple[bool, bool]:
    """RFC 5176 section 3.3 and RFC 2869 section 5.14, computed here without pyrad: the Request
    Authenticator is MD5(code, id, length, 16 zero octets, attributes, secret); the
    Message-Authenticator is HMAC-MD5 over the packet with the authenticator and its own value zeroed."""
    key = secret.encode()
    header, authenticator, attributes = raw[:4], raw[4:20], raw[20:]
    request_ok = hashlib.md5(header + bytes(16) + attributes + key).digest() == authenticator  # noqa: S324 - RFC 5176

    zeroed, position, found = bytearray(attributes), 0, None
    while position < len(attributes):
        code, length = attributes[position], attributes[position + 1]
        if code == MESSAGE_AUTHENTICATOR:
            found = bytes(attributes[position + 2 : position + length])
            zeroed[position + 2 : position + length] = bytes(16)
        position += length
    expected = hmac.new(key, header + bytes(16) + bytes(zeroed), "md5").digest()
    return request_ok, found is not None and hmac.compare_digest(found, expected)


@pytest.fixture
def router():
    with FakeRouter(secret=SECRET, address="127.0.0.2") as fake:
        yield fake


@pytest.fixture
def second_router():
    with FakeRouter(secret=SECRET, address="127.0.0.3") as fake:
        yield fake


def test_a_disconnect_is_acked_carrying_the_session_identifiers_and_valid_signatures(router):
    [result] = send_packets([session_packet(router)], timeout_seconds=2, tries=2)

    assert result == PacketResult("127.0.0.2", "disconnect", "ana.silva", "81a2", "ack", None, result.detail, False)
    [request] = router.accepted
    assert request.code == DISCONNECT_REQUEST
    assert request.first("User-Name") == "ana.silva"
    assert request.first("Acct-Session-Id") == "81a2"
    assert request.first("NAS-IP-Address") == "10.0.0.1"
    assert request.first("Framed-IP-Address") == "100.64.0.7"
    assert "Mikrotik-Rate-Limit" not in request.attributes
    assert signatures_hold(request.raw, SECRET) == (True, True)
    assert signatures_hold(request.raw, OTHER_SECRET) == (False, False)
    assert packets_outcome([result]).done
    assert packets_outcome([result]).note == "disconnect ACK from 127.0.0.2 (session 81a2)"


def test_without_a_framed_ip_the_request_leaves_the_attribute_out(router):
    [result] = send_packets([session_packet(router, framed_ip=None)], timeout_seconds=2, tries=2)

    assert result.outcome == "ack"
    assert "Framed-IP-Address" not in router.accepted[0].attributes


def test_a_router_known_by_an_ipv6_address_is_named_by_nas_ipv6_address(router):
    [result] = send_packets([session_packet(router, nas_ip="2001:db8::1")], timeout_seconds=2, tries=2)

    assert result.outcome == "ack"
    [request] = router.accepted
    assert request.first("NAS-IPv6-Address") == "2001:db8::1"
    assert "NAS-IP-Address" not in request.attributes


def test_a_nak_with_session_context_not_found_means_the_session_is_gone(router):
    router.policy = "session_not_found"

    [result] = send_packets([session_packet(router)], timeout_seconds=2, tries=2)

    assert (result.outcome, result.error_cause, result.fell_back_to_disconnect) == ("session_not_found", 503, False)
    outcome = packets_outcome([result])
    assert outcome.done
    assert outcome.note == "session not found at 127.0.0.2 (session 81a2)"


def test_a_coa_carries_the_rate_attributes_and_is_acked(router):
    packets = [
        session_packet(router, "coa", session="s1"),
        session_packet(
            router,
            "coa",
            session="s2",
            vendor="generic",
            rate_attributes=(("WISPr-Bandwidth-Max-Up", 5_000_000), ("WISPr-Bandwidth-Max-Down", 20_000_000)),
        ),
    ]

    results = send_packets(packets, timeout_seconds=2, tries=2)

    assert [(r.kind, r.outcome, r.fell_back_to_disconnect) for r in results] == [("coa", "ack", False)] * 2
    [mikrotik] = router.requests_for("s1")
    assert mikrotik.code == COA_REQUEST
    assert mikrotik.first("Mikrotik-Rate-Limit") == "5000k/20000k"
    assert signatures_hold(mikrotik.raw, SECRET) == (True, True)
    [generic] = router.requests_for("s2")
    assert (generic.first("WISPr-Bandwidth-Max-Up"), generic.first("WISPr-Bandwidth-Max-Down")) == (
        5_000_000,
        20_000_000,
    )
    assert packets_outcome(results).note == "CoA ACK from 127.0.0.2 (session s1); CoA ACK from 127.0.0.2 (session s2)"


def test_a_coa_nak_falls_back_to_a_disconnect_of_that_session(router):
    router.policy = "coa_nak"

    [result] = send_packets([session_packet(router, "coa")], timeout_seconds=2, tries=2)

    assert (result.kind, result.outcome, result.fell_back_to_disconnect) == ("disconnect", "ack", True)
    assert "401" in result.detail
    coa, disconnect = router.accepted
    assert (coa.code, disconnect.code) == (COA_REQUEST, DISCONNECT_REQUEST)
    assert disconnect.first("Acct-Session-Id") == coa.first("Acct-Session-Id") == "81a2"
    assert "Mikrotik-Rate-Limit" not in disconnect.attributes
    assert packets_outcome([result]).done


def test_a_disconnect_nak_for_another_cause_fails_the_effect_naming_router_and_cause(router):
    router.policy = "coa_nak"
    [fell_back] = send_packets([session_packet(router, "coa")], timeout_seconds=2, tries=2)
    assert fell_back.outcome == "ack"

    # A Disconnect NAKed (not 503) is a failure: the effect retries.
    nak = PacketResult("10.0.0.9", "disconnect", "ana.silva", "77", "nak", 404, "Disconnect-NAK", False)
    outcome = packets_outcome([fell_back, nak])
    assert not outcome.done
    assert outcome.note == (
        "1 of 2 packets failed: disconnect NAK from 10.0.0.9: Error-Cause 404 (Invalid-Request) (session 77)"
    )


def test_a_silent_router_times_out_after_the_tries(router):
    router.policy = "silent"

    [result] = send_packets([session_packet(router)], timeout_seconds=0.2, tries=3)

    assert result.outcome == "timeout"
    assert len(router.accepted) == 1  # one request, sent three times with the same identifier
    assert router.duplicates == 2
    outcome = packets_outcome([result])
    assert not outcome.done
    assert outcome.note == "disconnect timeout: no answer from 127.0.0.2 (session 81a2)"


def test_an_unanswered_request_is_sent_again_unchanged_and_its_late_ack_counts(router):
    router.silent_for = 1

    [result] = send_packets([session_packet(router)], timeout_seconds=0.3, tries=3)

    assert result.outcome == "ack"
    assert (len(router.accepted), router.duplicates, router.ignored) == (1, 1, 1)


def test_a_request_signed_with_another_secret_is_dropped_by_the_router_and_times_out(router):
    [result] = send_packets([session_packet(router, secret=OTHER_SECRET)], timeout_seconds=0.2, tries=2)

    assert result.outcome == "timeout"
    assert router.accepted == []
    assert [r.reason for r in router.rejected] == ["bad request authenticator"] * 2


def test_a_reply_signed_with_another_secret_is_no_answer(router):
    router.reply_secret = OTHER_SECRET

    [result] = send_packets([session_packet(router)], timeout_seconds=0.2, tries=2)

    assert result.outcome == "timeout"
    assert len(router.accepted) == 1


def test_an_unreachable_port_times_out(router):
    closed_port = router.port
    router.stop()  # nothing listens there any more: ICMP port unreachable, like no answer

    [result] = send_packets([session_packet(router, coa_port=closed_port)], timeout_seconds=0.2, tries=2)

    assert result.outcome == "timeout"


def test_a_packet_that_cannot_be_encoded_is_an_error_and_the_others_still_go(router):
    packets = [session_packet(router, session="bad", nas_ip="not-an-address"), session_packet(router, session="ok")]

    bad, ok = send_packets(packets, timeout_seconds=2, tries=2)

    assert (bad.outcome, ok.outcome) == ("error", "ack")
    assert [r.first("Acct-Session-Id") for r in router.accepted] == ["ok"]
    assert not packets_outcome([bad, ok]).done


def test_many_packets_to_two_routers_are_each_acked_exactly_once(router, second_router):
    packets = [
        session_packet(target, kind, session=f"{target.address}-{n}", login=f"cliente{n}")
        for n in range(250)
        for target, kind in ((router, "disconnect"), (second_router, "coa"))
    ]

    results = send_packets(packets, timeout_seconds=5, tries=3)

    assert [(r.acct_session_id, r.outcome) for r in results] == [(p.acct_session_id, "ack") for p in packets]
    for target in (router, second_router):
        sessions = [r.first("Acct-Session-Id") for r in target.accepted]
        assert len(sessions) == len(set(sessions)) == 250
        assert all(signatures_hold(r.raw, SECRET) == (True, True) for r in target.accepted)
    assert packets_outcome(results).done
    assert packets_outcome(results).note.endswith("and 495 more")


def test_the_secret_never_shows_in_packets_results_or_notes(router):
    router.policy = "coa_nak"
    packet = session_packet(router, "coa")
    router_results = send_packets([packet], timeout_seconds=2, tries=2)
    silent = FakeRouter(secret=SECRET, address="127.0.0.3", policy="silent")
    with silent:
        silent_results = send_packets([session_packet(silent, secret=SECRET)], timeout_seconds=0.2, tries=1)
    bad = send_packets([session_packet(router, nas_ip="not-an-address")], timeout_seconds=0.2, tries=1)

    texts = [repr(packet), str(packet), str(packet.as_disconnect())]
    for result in [*router_results, *silent_results, *bad]:
        texts += [repr(result), str(result), result.detail, packets_outcome([result]).note]
    assert bad[0].outcome == "error"
    for text in texts:
        assert SECRET not in text
        assert "router-secret" not in text


def test_the_shipped_dictionary_names_the_attributes_in_use():
    names = dictionary().attributes
    for name, code in [("Message-Authenticator", 80), ("Error-Cause", 101), ("Acct-Terminate-Cause", 49)]:
        assert names[name].code == code
    assert (names["Mikrotik-Rate-Limit"].vendor, names["Mikrotik-Rate-Limit"].code) == ("Mikrotik", 8)
    assert (names["Mikrotik-Address-List"].vendor, names["Mikrotik-Address-List"].code) == ("Mikrotik", 19)
    assert (names["WISPr-Bandwidth-Max-Up"].vendor, names["WISPr-Bandwidth-Max-Down"].code) == ("WISPr", 8)
    assert names["Error-Cause"].values.GetForward("Session-Context-Not-Found") == struct.pack("!I", 503)
