"""Network addresses: which ones only this machine can reach, who a client is, and which
requests come from this machine's own browser.

`client_address` is the one rule for "who is this client" that every per-client limit
uses (the presenter's wrong passcodes, the rooms' rates): the TCP peer, unless the peer
is a proxy the operator declared trusted, in which case the address that proxy put in
X-Forwarded-For (as Werkzeug's ProxyFix does, one hop per declared proxy).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

TRUSTED_PROXIES_ENV = "MNIST_TRUSTED_PROXIES"  # "127.0.0.1,10.0.0.0/8": whose headers to believe
PROXY_HOPS_ENV = "MNIST_PROXY_HOPS"  # how many trusted proxies stand in front (default 1)
MAX_PROXY_HOPS = 5
# Headers that say a request was passed on by a proxy.
FORWARDED_HEADERS = ("x-forwarded-for", "forwarded", "x-real-ip")
# Host names that reach this machine only; an IPv6 address in a Host header is bracketed.
LOCAL_NAMES = frozenset({"localhost", "127.0.0.1", "[::1]"})
UNVERIFIED = "forwarded-unverified"  # every client whose real peer cannot be known
MAX_HEADER = 2048  # longer header values are cut before parsing

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def is_local_address(address: str | None) -> bool:
    """True when a server bound to `address` can only be reached from this machine."""
    if not address:
        return False  # unset: Streamlit listens on every interface
    if address.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(address.strip().strip("[]")).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class TrustedProxies:
    """The proxies whose X-Forwarded-For is believed, and how many stand in a row."""

    networks: tuple[Network, ...] = ()
    hops: int = 1

    def __contains__(self, address: object) -> bool:
        ip = _ip(address)
        return ip is not None and any(ip in net for net in self.networks)

    def __bool__(self) -> bool:
        return bool(self.networks)


NO_PROXIES = TrustedProxies()


def trusted_proxies(env: Mapping[str, str]) -> TrustedProxies:
    """The trusted proxies the operator declared in `env`; ValueError (one sentence) if the
    setting cannot be read."""
    text = (env.get(TRUSTED_PROXIES_ENV) or "").strip()
    hops_text = (env.get(PROXY_HOPS_ENV) or "").strip() or "1"
    if not hops_text.isdigit() or not 1 <= int(hops_text) <= MAX_PROXY_HOPS:
        raise ValueError(
            f"{PROXY_HOPS_ENV} must be a whole number from 1 to {MAX_PROXY_HOPS}, "
            f"not {hops_text[:40]!r}"
        )
    networks = []
    for item in filter(None, (part.strip() for part in text.split(","))):
        try:
            networks.append(ipaddress.ip_network(item.strip("[]"), strict=False))
        except ValueError:
            raise ValueError(
                f"{TRUSTED_PROXIES_ENV} lists {item[:60]!r}, which is not an IP address or "
                "network (e.g. 127.0.0.1,10.0.0.0/8)"
            ) from None
    return TrustedProxies(tuple(networks), int(hops_text))


def header(headers: Mapping[str, str], name: str) -> str | None:
    """A header's value, whatever the case of its name; None when absent."""
    value = headers.get(name)
    if value is None:
        value = next((v for k, v in headers.items() if k.lower() == name), None)
    return None if value is None else str(value)[:MAX_HEADER]


def client_address(
    peer: str | None, headers: Mapping[str, str], trusted: TrustedProxies = NO_PROXIES
) -> str:
    """Who the client is: the TCP `peer`, or, while the peer is a trusted proxy, the address
    it appended to X-Forwarded-For (one hop per trusted proxy, `trusted.hops` at most).

    `peer` None means the real peer cannot be known (a server in front rewrote it from a
    header it was sent): all such clients share one address, UNVERIFIED, so that inventing
    headers gains nothing."""
    if peer is None:
        return UNVERIFIED
    address = _canonical(peer)
    chain = [p.strip() for p in (header(headers, "x-forwarded-for") or "").split(",")]
    chain = [p for p in chain if p]
    for _ in range(trusted.hops):
        if address not in trusted or not chain:
            break
        nearest = _ip(chain.pop())  # the proxy appends the peer it saw: trust from the right
        if nearest is None:
            break  # not an address: keep the proxy's own rather than a made-up one
        address = str(nearest)
    return address


def limit_key(address: str) -> str:
    """The key a per-client limit counts under: the address, an IPv6 client by its /64 (one
    household or phone network gets a whole /64, so each of its addresses is no one new)."""
    ip = _ip(address)
    if isinstance(ip, ipaddress.IPv6Address):
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip) if ip is not None else address


def is_same_origin(headers: Mapping[str, str]) -> bool:
    """Whether a browser's request came from a page of this server: an Origin header, when
    there is one, names the same host and port as the Host header."""
    origin = header(headers, "origin")
    if origin is None:
        return True  # not sent by a page (browsers always send it on a websocket)
    host = (header(headers, "host") or "").strip().lower()
    try:
        parts = urlsplit(origin.strip().lower())
    except ValueError:
        return False
    return bool(host) and parts.scheme in ("http", "https") and parts.netloc == host


def is_local_request(headers: Mapping[str, str]) -> bool:
    """Whether a request comes from this machine's own browser, by name: the Host header is
    localhost, 127.0.0.1 or [::1] (with a port or none), the page that sent it is on that
    same address, and no proxy passed it on. A web page elsewhere that makes its own name
    point at 127.0.0.1 (DNS rebinding) still sends its own name, and is refused."""
    if any(header(headers, name) is not None for name in FORWARDED_HEADERS):
        return False
    host = (header(headers, "host") or "").strip().lower()
    name, _, port = host.rpartition(":") if not host.endswith("]") else (host, "", "")
    if not name or (port and not port.isdigit()):
        name, port = host, ""  # no port given
    return name in LOCAL_NAMES and is_same_origin(headers)


def _ip(address: object) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    if not isinstance(address, str):
        return None
    try:
        ip = ipaddress.ip_address(address.strip().strip("[]"))
    except ValueError:
        return None
    # An IPv4 client seen through an IPv6 socket is the same client.
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


def _canonical(address: str) -> str:
    ip = _ip(address)
    return str(ip) if ip is not None else address.strip()[:64]
