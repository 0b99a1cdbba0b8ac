"""How phones reach the wall's room: this machine's LAN address, the join URL, its QR code."""

from __future__ import annotations

import io
import ipaddress
import os
import socket

from mnist_models.addresses import is_local_address
from mnist_models.rooms.rules import clean_code

PUBLIC_URL_ENV = "MNIST_PUBLIC_URL"


def lan_address() -> str | None:
    """This machine's address on the local network, found without sending anything.

    connect() on a UDP socket only picks the route (no packet leaves); the
    target is a private address, so it works with no internet. Falls back to
    the host name's addresses. None when only loopback is found.
    """
    candidates = []
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.connect(("10.254.254.254", 9))
            candidates.append(s.getsockname()[0])
    except OSError:
        pass
    try:
        candidates += [
            ai[4][0] for ai in socket.getaddrinfo(socket.gethostname(), None, socket.AF_INET)
        ]
    except OSError:
        pass
    for addr in candidates:
        try:
            ip = ipaddress.ip_address(addr)
        except ValueError:
            continue
        if not (ip.is_loopback or ip.is_unspecified or ip.is_link_local):
            return addr
    return None


OPEN_COMMAND = ".venv/bin/streamlit run app.py --server.address 0.0.0.0"  # as the README has it


def public_url() -> str | None:
    """$MNIST_PUBLIC_URL: the server's address as phones reach it (behind a proxy), if set."""
    return os.environ.get(PUBLIC_URL_ENV, "").strip() or None


def base_url(port: int, server_address: str | None = None) -> str:
    """The server's URL as phones on the network see it; $MNIST_PUBLIC_URL wins (proxies)."""
    public = public_url()
    if public:
        return public.rstrip("/")
    host = None
    addr = (server_address or "").strip()
    if addr and addr not in ("0.0.0.0", "::") and not is_local_address(addr):
        host = addr
    host = host or lan_address() or "localhost"
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{int(port)}"


JOIN_PATH = "join"


def join_url(code: str, port: int, server_address: str | None = None) -> str:
    """The URL a phone opens to join room `code` (what the QR code holds)."""
    return f"{base_url(port, server_address)}/{JOIN_PATH}?room={clean_code(code)}"


def qr_svg(url: str, scale: int = 10, dark: str = "#000", light: str = "#fff") -> str:
    """The URL as a standalone SVG QR code (segno: pure Python, offline)."""
    import segno

    buf = io.BytesIO()
    segno.make(url, error="m").save(
        buf,
        kind="svg",
        scale=scale,
        dark=dark,
        light=light,
        border=2,
        xmldecl=False,
        svgclass=None,
        lineclass=None,
    )
    return buf.getvalue().decode()
