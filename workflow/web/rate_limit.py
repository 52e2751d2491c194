"""A token bucket per client key, in this process: enough to keep a public page from being
hammered (each worker process of `ativa serve` keeps its own buckets)."""

import math
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv6Address, ip_network

MAX_ADDRESSES = 10_000  # past this, the least recently used buckets are forgotten


@dataclass
class _Bucket:
    tokens: float
    updated: float


def rate_key(address: IPv4Address | IPv6Address) -> str:
    """What a visitor's requests are counted by: an IPv4 address, or an IPv6 address's /64 (one
    customer is routed a whole /64 at least: counting each address would let them rotate freely)."""
    if address.version == 6:
        return str(ip_network(f"{address}/64", strict=False))
    return str(address)


class TokenBuckets:
    def __init__(self, per_minute: int, clock=time.monotonic):
        self.capacity = float(per_minute)
        self.refill_per_second = per_minute / 60.0
        self._clock = clock
        # Least recently used first: a flood of new keys evicts idle ones, never the one being
        # throttled (it is used at each of its requests), so nobody is reset by flooding.
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()
        self._lock = threading.Lock()

    def take(self, key: str) -> int:
        """0 when the request may go on; else the seconds to wait before the next one (Retry-After)."""
        with self._lock:
            now = self._clock()
            bucket = self._buckets.get(key)
            if bucket is None:
                while len(self._buckets) >= MAX_ADDRESSES:
                    self._buckets.popitem(last=False)
                bucket = self._buckets[key] = _Bucket(self.capacity, now)
            else:
                self._buckets.move_to_end(key)
                bucket.tokens = min(self.capacity, bucket.tokens + (now - bucket.updated) * self.refill_per_second)
                bucket.updated = now
            if bucket.tokens >= 1:
                bucket.tokens -= 1
                return 0
            return max(1, math.ceil((1 - bucket.tokens) / self.refill_per_second))
