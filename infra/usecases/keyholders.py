"""Devices and consumers, the key holders: create, list, read, rename, delete, and hand out or rotate keys.

api-devices and api-consumers share these use-cases; ``audience`` (``DEVICE`` or ``CONSUMER``) says which kind.
Every call takes the signed-in caller. Objects of another owner are reported as missing (404), so their
existence does not leak; admins see and manage everything.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from infra.domain.errors import NotFoundError
from infra.domain.model import (HOLDER_CREATE, HOLDER_PATCH, Consumer, Device, KeyHolder, Page, PageRequest, User,
                         can_access, new_id, utc_now)
from infra.domain.claims import DEVICE
from infra.domain.deletions import DEVICE as DEVICE_DELETION, Deletion
from infra.domain.ports import Repository
from infra.usecases.deletions import DeletionRequests, delete_erasing
from infra.domain.ports import TokenIssuer

KINDS: dict[str, type[KeyHolder]] = {kind.audience: kind for kind in (Device, Consumer)}


@dataclass(frozen=True)
class Key:
    """A token for a holder's current key version."""

    audience: str
    holder_id: str
    key_version: int
    token: str

    def public(self) -> dict:
        """The key reply: the original's ``{token, device_id}`` (or ``consumer_id``) plus the version."""
        return {"token": self.token, f"{self.audience}_id": self.holder_id, "key_version": self.key_version}


def create(repo: Repository, audience: str, caller: User, body: dict[str, Any]) -> KeyHolder:
    """Create a device or consumer owned by the caller."""
    fields = HOLDER_CREATE.parse(body)
    now = utc_now()
    holder = KINDS[audience](id=new_id(), owner_id=caller.id, name=fields["name"], description=fields["description"],
                             key_version=1, created_at=now, updated_at=now)
    repo.create_holder(holder)
    return holder


def list_holders(repo: Repository, audience: str, caller: User, page: PageRequest,
                 owner_id: str | None = None) -> Page[KeyHolder]:
    """The caller's devices or consumers; an admin gets everyone's (or one owner's with ``owner_id``)."""
    if not caller.is_admin:
        owner_id = caller.id
    return repo.list_holders(audience, owner_id, page)


def get(repo: Repository, audience: str, caller: User, holder_id: str) -> KeyHolder:
    """A device or consumer the caller may see.

    Raises:
        NotFoundError: no such object, or another owner's.
    """
    holder = repo.get_holder(audience, holder_id)
    if holder is None or not can_access(caller, holder.owner_id):
        raise _missing(audience)
    return holder


def update(repo: Repository, audience: str, caller: User, holder_id: str, body: dict[str, Any]) -> KeyHolder:
    """Change a device's or consumer's name or description (nothing else may change)."""
    holder = get(repo, audience, caller, holder_id)
    fields = HOLDER_PATCH.parse(body)
    if not fields:
        return holder
    fields["updated_at"] = utc_now()
    if not repo.update_holder(audience, holder.id, fields):
        raise _missing(audience)
    return replace(holder, **fields)


def delete(repo: Repository, audience: str, caller: User, holder_id: str,
           erasures: DeletionRequests | None = None) -> Deletion | None:
    """Delete a device (with its sensors and their grants) or a consumer (with its grants); its tokens stop
    working. With ``erasures``, a device's readings are to be erased: that is requested first and returned."""
    holder = get(repo, audience, caller, holder_id)
    found, deletion = delete_erasing(erasures if audience == DEVICE else None, DEVICE_DELETION, holder.id,
                                     holder.owner_id, caller, lambda: repo.delete_holder(audience, holder.id))
    if not found:
        raise _missing(audience)
    return deletion


def current_key(repo: Repository, issuer: TokenIssuer, audience: str, caller: User, holder_id: str) -> Key:
    """A token for the holder's current key version (read fresh, not from a cache)."""
    holder = get(repo, audience, caller, holder_id)
    return Key(audience, holder.id, holder.key_version, issuer.issue(audience, holder.id, version=holder.key_version))


def rotate_key(repo: Repository, issuer: TokenIssuer, audience: str, caller: User, holder_id: str) -> Key:
    """Bump the holder's key version, which revokes every earlier token, and return a token for the new one."""
    holder = get(repo, audience, caller, holder_id)
    version = repo.bump_key(audience, holder.id)
    if version is None:
        raise _missing(audience)
    return Key(audience, holder.id, version, issuer.issue(audience, holder.id, version=version))


def _missing(audience: str) -> NotFoundError:
    return NotFoundError(f"no such {audience}")
