"""Bearer-token authentication for the HTTP APIs: who is calling, and may they?

Rules, the same on every route:
- no ``Authorization: Bearer`` header → 401 ``unauthorized``;
- a token that is malformed, forged, expired, of another audience, or whose account, device or consumer is gone
  or whose key was rotated → 401 ``invalid_token`` with ``WWW-Authenticate: Bearer error="invalid_token"``;
- authenticated but lacking the role → 403; another tenant's object → 404 (raised by the use-cases).

User tokens are checked against the user record on every request (one read), so a deleted account's tokens
stop working at once and role changes apply immediately.
"""

from __future__ import annotations

from typing import Mapping, Sequence

from flask import g, request

from infra.web.addresses import forwarded_client
from infra.domain.errors import ForbiddenError, NotFoundError, UnauthorizedError
from infra.domain.model import Consumer, KeyHolder, Sensor, User, can_access
from infra.domain.claims import CONSUMER, USER, Claims, TokenError
from infra.wiring import wiring_of


def bearer_token(headers: Mapping[str, str] | None = None, *, required: bool = True) -> str | None:
    """The token of the ``Authorization: Bearer <token>`` header (header name and scheme in any case) of
    ``headers``, by default the request's: the one parser of bearer tokens.

    Without ``required``, None stands for a missing or malformed header.

    Raises:
        UnauthorizedError: 401 ``missing_token`` or ``malformed_header``, when ``required``.
    """
    value = (request.headers if headers is None else headers).get("Authorization")
    scheme, _, token = (value or "").strip().partition(" ")
    token = token.strip()
    if scheme.lower() == "bearer" and token and " " not in token:
        return token
    if not required:
        return None
    if not value:
        raise UnauthorizedError("send the token as 'Authorization: Bearer <token>'", code="missing_token")
    raise UnauthorizedError("the Authorization header must be 'Bearer <token>'", code="malformed_header")


def verified_claims(audience: str) -> Claims:
    """The verified claims of the request's bearer token for ``audience``.

    Raises:
        UnauthorizedError: no token (``unauthorized``) or a token not valid here (``invalid_token``).
    """
    token = bearer_token(required=False)
    if token is None:
        raise UnauthorizedError("send Authorization: Bearer <token>")
    try:
        return wiring_of().verifier.verify(token, audience)
    except TokenError as exc:
        raise invalid_token(exc.message) from None


def invalid_token(message: str) -> UnauthorizedError:
    """The 401 for a token that cannot be used, with the RFC 6750 challenge."""
    return UnauthorizedError(message, code="invalid_token",
                             headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})


def current_user() -> User:
    """The signed-in user of this request (verified once per request, then kept in ``g``)."""
    user = g.get("iot_user")
    if user is None:
        claims = verified_claims(USER)
        user = wiring_of().repository.get_user(claims.subject)
        if user is None:
            raise invalid_token("the account of this token no longer exists")
        if claims.version != user.token_version:
            raise invalid_token("this session ended when the account's password changed; sign in again")
        g.iot_user = user
    return user


def current_holder(audience: str, *, fresh: bool = False) -> KeyHolder:
    """The device or consumer (``audience``) of this request's token, if its key version is current.

    Args:
        fresh: read the key version from Firestore instead of the revocation cache (at most
            ``IOT_REVOCATION_CACHE_TTL`` seconds old).
    """
    slot = f"iot_{audience}"
    holder = g.get(slot)
    if holder is None:
        claims = verified_claims(audience)
        holder = wiring_of().revocations.current(audience, claims, fresh=fresh)
        if holder is None:
            raise invalid_token(f"this {audience} key was revoked or the {audience} deleted")
        setattr(g, slot, holder)
    return holder


def current_consumer(*, fresh: bool = False) -> Consumer:
    """The consumer of this request's consumer token, if its key version is current (see ``current_holder``)."""
    return current_holder(CONSUMER, fresh=fresh)


def reader_audience() -> str:
    """Whether this request reads as a user (``USER``) or as a consumer (``CONSUMER``), checking the token.

    Raises:
        UnauthorizedError: no token, or one that is neither a valid user token nor any consumer token.
    """
    token = bearer_token(required=False)
    if token is None:
        raise UnauthorizedError("send Authorization: Bearer <token>")
    try:
        return wiring_of().verifier.verify(token, USER).audience
    except TokenError as exc:
        if exc.reason != "wrong_audience":
            raise invalid_token(exc.message) from None
        return CONSUMER


def sensor_for_reading(sensor_id: str) -> Sensor:
    """The sensor whose data this request may read: with a user token, one the user may see (admins: any); with a
    consumer token, one granted to that consumer (grant read fresh, key version through the revocation cache).

    Raises:
        UnauthorizedError: no token, or one that is neither a valid user nor a current consumer token.
        NotFoundError: a user asks for a missing sensor or another tenant's.
        ForbiddenError: code ``not_granted`` when a consumer asks for a sensor it was not granted (or a missing one).
    """
    return sensors_for_reading([sensor_id])[0]


def sensors_for_reading(sensor_ids: Sequence[str]) -> list[Sensor]:
    """The sensors of ``sensor_ids`` this request may read (as ``sensor_for_reading``), in order, read in one
    batch (sensors, and a consumer's grants with them); raises as ``sensor_for_reading`` if any may not be read.
    The caller bounds how many ids one request may name."""
    repository = wiring_of().repository
    if reader_audience() == USER:
        user = current_user()
        found = repository.readable_sensors(sensor_ids)
        if any(s not in found or not can_access(user, found[s].owner_id) for s in sensor_ids):
            raise NotFoundError("no such sensor")
    else:
        found = repository.readable_sensors(sensor_ids, granted_to=current_consumer().id)
        if any(s not in found for s in sensor_ids):
            raise ForbiddenError("this consumer has no grant on that sensor", code="not_granted")
    return [found[s] for s in sensor_ids]


def client_address(trusted_hops: int) -> str:
    """The caller's address: the socket peer, or the X-Forwarded-For entry of the nearest untrusted hop
    (see ``infra.web.addresses.forwarded_client``)."""
    return forwarded_client(request.headers.get("X-Forwarded-For"), request.remote_addr, trusted_hops)
