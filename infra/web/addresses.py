"""Client addresses behind proxies that append to ``X-Forwarded-For`` (Cloud Run, the HTTPS load balancer)."""

from __future__ import annotations


def forwarded_client(forwarded_for: str | None, peer: str | None, trusted_hops: int) -> str:
    """The caller's address: the socket ``peer``, or the X-Forwarded-For entry of the nearest untrusted hop.

    With ``trusted_hops`` proxies in front, each appending the address it saw, the client is the entry that many
    places from the right; entries further left are whatever the client sent and cannot be trusted.
    """
    if trusted_hops > 0:
        hops = [part.strip() for part in (forwarded_for or "").split(",") if part.strip()]
        if len(hops) >= trusted_hops:
            return hops[-trusted_hops]
        if hops:
            return hops[0]
    return peer or "unknown"
