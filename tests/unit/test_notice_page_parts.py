"""The notice page's pure parts: the per-address token bucket (its Retry-After) and reading one
address the way the page does."""

from ipaddress import IPv4Address, IPv6Address

import pytest

from workflow.domain.brazilian import first_name
from workflow.web.client_address import parse_address
from workflow.web.rate_limit import MAX_ADDRESSES, TokenBuckets


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
