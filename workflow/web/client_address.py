"""The visitor's network address for the public notice page: the connection's own, or behind a
reverse proxy the one its header names, believed only when the connection comes from a proxy
the provider listed (anyone else could write any address into the header)."""

from ipaddress import IPv4Address, IPv6Address, ip_address

from fastapi import Request

from ..settings import IPNetwork, Settings

Address = IPv4Address | IPv6Address
FORWARDED_FOR = "x-forwarded-for"
MAX_HEADER_CHARS = 2000  # a longer chain is not a proxy's doing


def parse_address(text: str) -> Address | None:
    """One bare address (IPv4, or IPv6 without a zone), or None. An IPv4-mapped IPv6 address (a
    dual-stack socket's way of writing an IPv4 client) is the IPv4 address: RADIUS knows that one."""
    text = text.strip()
    if not text or len(text) > 45 or not text.isascii():
        return None
    try:
        address = ip_address(text)
    except ValueError:
        return None
    if isinstance(address, IPv6Address):
        if address.scope_id is not None:  # fe80::1%eth0: not an address a session holds
            return None
        if address.ipv4_mapped is not None:
            return address.ipv4_mapped
    return address


def _trusted(address: Address, proxies: tuple[IPNetwork, ...]) -> bool:
    return any(address.version == network.version and address in network for network in proxies)


def client_address(request: Request, settings: Settings) -> Address | None:
    """The visitor's address, or None when it cannot be told (then the page is neutral)."""
    peer = parse_address(request.client.host) if request.client else None
    header = settings.notice_client_ip_header
    proxies = settings.notice_proxies
    if peer is None or not header or not _trusted(peer, proxies):
        return peer
    values = request.headers.getlist(header)
    if not values:
        return peer  # the proxy itself, or a request that did not pass through it
    joined = ",".join(values)
    if len(joined) > MAX_HEADER_CHARS:
        return None
    if header.lower() != FORWARDED_FOR:  # X-Real-IP and the like: one address
        return parse_address(joined) if len(values) == 1 else None
    return forwarded_client(joined, proxies)


def forwarded_client(chain: str, proxies: tuple[IPNetwork, ...]) -> Address | None:
    """The visitor in an X-Forwarded-For chain. Each proxy appends the address it saw: walking
    from the right, past our own proxies, the first other entry is the visitor as the last of our
    proxies saw it. Anything to its left the visitor could have written (even "unknown"), so it is
    not read at all."""
    parts = chain.split(",")
    for part in reversed(parts):
        address = parse_address(part)
        if address is None:
            return None  # the hop our proxy vouches for is unreadable: cannot be told
        if not _trusted(address, proxies):
            return address
    return parse_address(parts[0])  # every hop is a proxy of ours: the first is where it came from
