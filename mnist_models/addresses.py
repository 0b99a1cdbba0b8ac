"""Network addresses: which ones only this machine can reach."""

from __future__ import annotations

import ipaddress


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
