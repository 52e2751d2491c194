"""The notice page's pure parts: the per-address token bucket (its Retry-After) and reading one
address the way the page does."""

from ipaddress import IPv4Address, IPv6Address, ip_address

import pytest

from workflow.domain.brazilian import first_name
from workflow.settings import Settings, parse_networks
from workflow.web.client_address import forwarded_client, parse_address
from workflow.web.rate_limit import MAX_ADDRESSES, TokenBuckets, rate_key


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_bucket_allows_the_rate_then_says_how_long_to_wait():
    clock = Clock()
    buckets = TokenBuckets(per_minute=6, clock=clock)  # one token every 10 s
    assert [buckets.take("a") for _ in range(6)] == [0] * 6
    assert buckets.take("a") == 10
    assert buckets.take("b") == 0  # another address, another bucket
    clock.now += 4
    assert buckets.take("a") == 6
    clock.now += 6
    assert buckets.take("a") == 0 and buckets.take("a") == 10
    clock.now += 3600  # refills to the capacity, never beyond
    assert [buckets.take("a") for _ in range(7)] == [0] * 6 + [10]


def test_the_buckets_stay_bounded_under_a_flood_of_addresses():
    clock = Clock()
    buckets = TokenBuckets(per_minute=1, clock=clock)
    for n in range(MAX_ADDRESSES + 5):
        assert buckets.take(f"10.0.{n // 256}.{n % 256}") == 0
    assert len(buckets._buckets) <= MAX_ADDRESSES


def test_a_throttled_address_stays_throttled_through_a_flood_of_other_addresses():
    clock = Clock()
    buckets = TokenBuckets(per_minute=2, clock=clock)
    assert [buckets.take("attacker") for _ in range(3)] == [0, 0, 30]
    for n in range(MAX_ADDRESSES + 500):  # the table fills up, and over
        buckets.take(f"2001:db8:{n:x}::/64")
        if n % 1000 == 0:  # the throttled visitor keeps asking meanwhile
            assert buckets.take("attacker") == 30
    assert buckets.take("attacker") == 30  # not reset by the flood
    assert len(buckets._buckets) == MAX_ADDRESSES
    assert "2001:db8:0::/64" not in buckets._buckets  # the least recently used went first


def test_the_addresses_of_one_ipv6_64_share_a_bucket_and_ipv4_addresses_do_not():
    assert (
        rate_key(ip_address("2001:db8:0:10::5"))
        == rate_key(ip_address("2001:db8:0:10:ffff::1"))
        == ("2001:db8:0:10::/64")
    )
    assert rate_key(ip_address("2001:db8:0:11::5")) != rate_key(ip_address("2001:db8:0:10::5"))
    assert rate_key(ip_address("100.64.0.1")) == "100.64.0.1" != rate_key(ip_address("100.64.0.2"))
    buckets = TokenBuckets(per_minute=2, clock=Clock())
    assert [buckets.take(rate_key(ip_address(f"2001:db8:0:10::{n}"))) for n in range(1, 4)] == [0, 0, 30]
    assert buckets.take(rate_key(ip_address("2001:db8:0:11::1"))) == 0


PROXIES = parse_networks("10.9.0.5, 10.8.0.0/16")


@pytest.mark.parametrize(
    ("chain", "expected"),
    [
        ("100.64.1.2", "100.64.1.2"),
        ("unknown, 100.64.1.2", "100.64.1.2"),  # left of the visitor: whatever they wrote, unread
        ("garbage, 203.0.113.9, 100.64.1.2, 10.8.3.4", "100.64.1.2"),
        ("100.64.1.2, 10.8.3.4, 10.9.0.5", "100.64.1.2"),
        ("10.8.3.4, 10.9.0.5", "10.8.3.4"),  # every hop ours: the first
        ("100.64.1.2, unknown", None),  # the right-most untrusted entry unreadable
        ("100.64.1.2, unknown, 10.9.0.5", None),
        ("100.64.1.2,", None),
        ("", None),
    ],
)
def test_x_forwarded_for_is_read_from_the_right_up_to_the_first_untrusted_entry(chain, expected):
    assert forwarded_client(chain, PROXIES) == (None if expected is None else ip_address(expected))


def test_a_client_ip_header_without_trusted_proxies_is_refused_naming_both_settings():
    with pytest.raises(ValueError, match=r"ATIVA_NOTICE_CLIENT_IP_HEADER .*ATIVA_NOTICE_TRUSTED_PROXIES"):
        Settings(notice_client_ip_header="X-Forwarded-For")
    assert Settings(notice_client_ip_header="X-Real-IP", notice_trusted_proxies="10.0.0.1").notice_proxies


def test_the_notice_hosts_are_host_names_without_a_scheme():
    hosts = Settings(notice_hosts=" Aviso.Provedor.com.br , 203.0.113.30:8080,aviso2.exemplo.").notice_host_names
    assert hosts == {"aviso.provedor.com.br", "203.0.113.30:8080", "aviso2.exemplo"}
    assert Settings().notice_host_names == frozenset()
    for bad in (
        "http://aviso.provedor.com.br",
        "aviso.provedor.com.br/aviso",
        "a b",
        "-x.example",
        "x:0",
        "x:99999",
        "x\x00.example",
        "\u00e1.example",
        "[::1]",
        "x..example",
    ):
        with pytest.raises(ValueError):
            Settings(notice_hosts=bad)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("100.64.0.10", IPv4Address("100.64.0.10")),
        (" 100.64.0.10 ", IPv4Address("100.64.0.10")),
        ("::ffff:100.64.0.10", IPv4Address("100.64.0.10")),
        ("2001:db8::1", IPv6Address("2001:db8::1")),
        ("fe80::1%eth0", None),
        ("100.64.0.10:443", None),
        ("[2001:db8::1]", None),
        ("100.64.0.010", None),
        ("testclient", None),
        ("", None),
        ("1" * 100, None),
        ("100.64.0.1\x00", None),
        ("\uff11\uff10\uff10.64.0.1", None),  # fullwidth digits
        ("\ud800", None),
    ],
)
def test_one_address_is_read_strictly(text, expected):
    assert parse_address(text) == expected


def test_the_first_name_is_the_first_word_only():
    assert first_name("João da Silva") == "João"
    assert first_name("  Maria   Oliveira ") == "Maria"
    assert first_name("Ana") == "Ana"
    assert first_name("") == "" and first_name(None) == ""
