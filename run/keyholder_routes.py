"""The routes api-devices and api-consumers share: a key holder's list, create, read, patch, delete and keys.

``add_keyholder_routes(bp, DEVICE, Endpoints(...))`` serves ``/api/devices[/{id}[/key[/rotate]]]``; with
``CONSUMER``, the same under ``/api/consumers``. Each service spells its endpoint names out (``list_devices``,
``rotate_consumer_key``...), so they can be found by name, and may shape the replies (``HolderReplies``: api-devices
adds each device's status). The use-cases are ``infra.usecases.keyholders``.
"""

from __future__ import annotations

from typing import Any, Mapping, NamedTuple

from flask import Blueprint, request

from infra.domain.model import KeyHolder, PageRequest, User
from infra.usecases import keyholders
from infra.web.auth import current_user
from infra.web.paging import page_reply, page_request
from infra.web.app import json_body
from infra.wiring import wiring_of
from infra.web.accepted import accepted


class Endpoints(NamedTuple):
    """The endpoint names of one kind of key holder's routes."""

    list: str
    create: str
    get: str
    patch: str
    delete: str
    key: str
    rotate: str


class HolderReplies:
    """How the routes list and show one kind of key holder: by default, their public fields."""

    def __init__(self, audience: str):
        self.audience = audience

    def listing(self, user: User, page: PageRequest, args: Mapping[str, str]) -> dict[str, Any]:
        """The reply of the list route (``args``: its query parameters; an admin may name an ``owner_id``)."""
        return page_reply(keyholders.list_holders(wiring_of().repository, self.audience, user, page,
                                                  args.get("owner_id")))

    def one(self, holder: KeyHolder, *, created: bool = False) -> dict[str, Any]:
        """The reply showing one holder (``created``: it was made by this request)."""
        return holder.public()


def add_keyholder_routes(bp: Blueprint, audience: str, endpoints: Endpoints,
                         replies: HolderReplies | None = None) -> None:
    """Add the routes of one kind of key holder (``DEVICE`` or ``CONSUMER``) to ``bp``, named ``endpoints``,
    replying through ``replies`` (default: ``HolderReplies``)."""
    replies = replies or HolderReplies(audience)
    noun = audience
    base = f"/api/{noun}s"
    item = f"{base}/<{noun}_id>"  # the id is named after the kind, as in the OpenAPI document

    def holder_id(path: dict[str, str]) -> str:
        return path[f"{noun}_id"]

    @bp.get(base, endpoint=endpoints.list)
    def list_holders():
        """The caller's objects (an admin: everyone's, or one owner's with ``?owner_id=``)."""
        return replies.listing(current_user(), page_request(), request.args)

    @bp.post(base, endpoint=endpoints.create)
    def create():
        """Create an object owned by the caller."""
        user = current_user()
        holder = keyholders.create(wiring_of().repository, audience, user, json_body(lenient=True))
        return replies.one(holder, created=True), 201, {"Location": f"{base}/{holder.id}"}

    @bp.get(item, endpoint=endpoints.get)
    def get(**path: str):
        """One object."""
        return replies.one(keyholders.get(wiring_of().repository, audience, current_user(), holder_id(path)))

    @bp.patch(item, endpoint=endpoints.patch)
    def patch(**path: str):
        """Change the object's name or description."""
        user = current_user()
        holder = keyholders.update(wiring_of().repository, audience, user, holder_id(path), json_body(lenient=True))
        return replies.one(holder)

    @bp.delete(item, endpoint=endpoints.delete)
    def delete(**path: str):
        """Delete the object with what hangs on it (a device's sensors, grants); 202 while a device's readings are
        being erased."""
        wiring = wiring_of()
        deletion = keyholders.delete(wiring.repository, audience, current_user(), holder_id(path), wiring.erasures)
        return accepted(deletion) if deletion is not None else ("", 204)

    @bp.get(f"{item}/key", endpoint=endpoints.key)
    def get_key(**path: str):
        """A token for the current key version."""
        wiring, user = wiring_of(), current_user()
        return keyholders.current_key(wiring.repository, wiring.issuer, audience, user, holder_id(path)).public()

    @bp.post(f"{item}/key/rotate", endpoint=endpoints.rotate)
    def rotate_key(**path: str):
        """Revoke every token of the object and return a new one."""
        wiring, user = wiring_of(), current_user()
        key = keyholders.rotate_key(wiring.repository, wiring.issuer, audience, user, holder_id(path))
        wiring.revocations.invalidate(audience, key.holder_id)
        return key.public()
