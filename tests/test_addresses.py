"""Who a client is (the real peer, or what a trusted proxy says), which requests come from
this machine's own browser, and which listening addresses only this machine can reach."""

from __future__ import annotations

import pytest

from mnist_models import addresses as ad


@pytest.mark.parametrize(
    "address, local",
    [
        ("127.0.0.1", True),
        ("localhost", True),
        ("::1", True),
        ("[::1]", True),
        ("0.0.0.0", False),
        ("", False),
        (None, False),
        ("192.168.1.4", False),
        ("myhost", False),
    ],
)
def test_local_addresses(address, local) -> None:
    assert ad.is_local_address(address) is local


def proxies(text: str, hops: str = "") -> ad.TrustedProxies:
    return ad.trusted_proxies({ad.TRUSTED_PROXIES_ENV: text, ad.PROXY_HOPS_ENV: hops})


XFF = "X-Forwarded-For"


@pytest.mark.parametrize(
    "peer, headers, trusted, client",
    [
        # No proxy declared: the peer, whatever the headers claim.
        ("198.51.100.7", {}, "", "198.51.100.7"),
        ("127.0.0.1", {XFF: "203.0.113.1"}, "", "127.0.0.1"),
        ("198.51.100.7", {XFF: "203.0.113.1"}, "127.0.0.1", "198.51.100.7"),
        # From a declared proxy: the address it appended (the rightmost), one hop.
        ("127.0.0.1", {XFF: "203.0.113.1"}, "127.0.0.1", "203.0.113.1"),
        ("10.1.2.3", {XFF: "6.6.6.6, 203.0.113.1"}, "10.0.0.0/8", "203.0.113.1"),
        ("10.1.2.3", {"x-forwarded-for": "203.0.113.1"}, "10.0.0.0/8", "203.0.113.1"),
        # A proxy that sent no header, or garbage: the proxy itself.
        ("127.0.0.1", {}, "127.0.0.1", "127.0.0.1"),
        ("127.0.0.1", {XFF: "<script>"}, "127.0.0.1", "127.0.0.1"),
        # The same client, however its address is written.
        ("::ffff:198.51.100.7", {}, "", "198.51.100.7"),
        ("[2001:db8::1]", {}, "", "2001:db8::1"),
        # Peer unknown (the server in front rewrote it): one shared name for all.
        (None, {XFF: "203.0.113.1"}, "127.0.0.1", ad.UNVERIFIED),
    ],
)
def test_client_address(peer, headers, trusted, client) -> None:
    assert ad.client_address(peer, headers, proxies(trusted)) == client


def test_hops_walk_back_through_trusted_proxies_only() -> None:
    two = proxies("10.0.0.0/8", "2")
    chain = {XFF: "6.6.6.6, 203.0.113.1, 10.0.0.9"}
    assert ad.client_address("10.0.0.2", chain, two) == "203.0.113.1"
    assert ad.client_address("10.0.0.2", chain, proxies("10.0.0.0/8")) == "10.0.0.9"
    # The second hop is not a trusted proxy: what it claims is not believed.
    assert ad.client_address("10.0.0.2", {XFF: "6.6.6.6, 203.0.113.1"}, two) == "203.0.113.1"


def test_trusted_proxies_setting() -> None:
    p = proxies(" 127.0.0.1, 10.0.0.0/8 ,::1 ", "2")
    assert p.hops == 2 and "10.9.9.9" in p and "::1" in p and "11.0.0.1" not in p
    assert not proxies("") and "127.0.0.1" not in proxies("")
    for text, hops, words in (
        ("localhost", "", "not an IP address"),
        ("10.0.0.0/8", "0", "from 1 to 5"),
        ("10.0.0.0/8", "-1", "whole number"),
    ):
        with pytest.raises(ValueError, match=words):
            proxies(text, hops)


def test_limits_count_an_ipv6_client_by_its_64() -> None:
    assert ad.limit_key("2001:db8:1:2:aaaa::1") == ad.limit_key("2001:db8:1:2:bbbb::9")
    assert ad.limit_key("2001:db8:1:2::1") != ad.limit_key("2001:db8:1:3::1")
    assert ad.limit_key("198.51.100.7") == "198.51.100.7"
    assert ad.limit_key(ad.UNVERIFIED) == ad.UNVERIFIED


@pytest.mark.parametrize(
    "headers, local",
    [
        ({"Host": "localhost:8501", "Origin": "http://localhost:8501"}, True),
        ({"Host": "127.0.0.1:8501", "Origin": "http://127.0.0.1:8501"}, True),
        ({"Host": "[::1]:8501", "Origin": "http://[::1]:8501"}, True),
        ({"host": "LOCALHOST:8501"}, True),
        ({"Host": "localhost"}, True),
        # DNS rebinding: a page on another name that now points at 127.0.0.1.
        ({"Host": "rebind.example:8633", "Origin": "http://rebind.example:8633"}, False),
        ({"Host": "127.0.0.1.nip.io:8501"}, False),
        # Another site's page connecting to localhost.
        ({"Host": "localhost:8501", "Origin": "http://localhost:9999"}, False),
        ({"Host": "localhost:8501", "Origin": "null"}, False),
        # Passed on by a proxy.
        ({"Host": "localhost:8501", "X-Forwarded-For": "203.0.113.1"}, False),
        ({"Host": "localhost:8501", "Forwarded": "for=203.0.113.1"}, False),
        ({"Host": "localhost:8501", "X-Real-IP": "203.0.113.1"}, False),
        ({"Host": "localhost:8501, rebind.example"}, False),
        ({"Host": "localhost:port"}, False),
        ({}, False),
    ],
)
def test_local_requests(headers, local) -> None:
    assert ad.is_local_request(headers) is local


def test_same_origin() -> None:
    assert ad.is_same_origin({"Host": "demo.example:8501", "Origin": "http://demo.example:8501"})
    assert ad.is_same_origin({"Host": "demo.example"})
    assert not ad.is_same_origin({"Host": "demo.example", "Origin": "https://evil.example"})
    assert not ad.is_same_origin({"Origin": "http://demo.example"})
    assert not ad.is_same_origin({"Host": "a", "Origin": "ftp://a"})
