"""Local IAM: Google's Firestore and Pub/Sub publisher clients, refusing what a service's role does not allow.

The emulators have no IAM, so code that lacks a grant works locally and fails in production. On the emulators a
service process gets these clients instead (``Clients.for_service``), built from its row of run/permissions.py.
They refuse at the RPC, where Google's services refuse, with the exception Google's clients raise there
(``google.api_core.exceptions.PermissionDenied``), so the code's own error handling runs as it would in production.
"""

from __future__ import annotations

from typing import Any

from google.api_core.exceptions import PermissionDenied
from google.cloud import firestore, pubsub_v1

from run.permissions import NONE, READ

# Firestore checks each RPC (https://cloud.google.com/firestore/docs/security/iam): reads need datastore.entities.get
# or list; beginTransaction and rollback need datastore.databases.get, which datastore.viewer holds too; a commit
# needs create, update or delete for each write it carries (none for a transaction that only read), the other
# write RPCs always need them.
_READ_RPCS = frozenset({"get_document", "list_documents", "batch_get_documents", "run_query", "run_aggregation_query",
                        "execute_pipeline", "partition_query", "listen", "list_collection_ids", "begin_transaction",
                        "rollback"})
_WRITE_RPCS = frozenset({"commit", "batch_write", "create_document", "update_document", "delete_document", "write"})


class _RefusingFirestoreApi:
    """The GAPIC Firestore API of one client, refusing each RPC ``access`` does not cover; the rest passes through."""

    def __init__(self, api: Any, access: str, who: str):
        self._api = api
        self._access = access
        self._who = who

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._api, name)
        if name not in _READ_RPCS | _WRITE_RPCS:
            return attribute

        def checked(*args, **kwargs):
            if self._access == NONE or (self._access == READ and _writes(name, kwargs.get("request"))):
                raise PermissionDenied(f"Missing or insufficient permissions. (local IAM: {self._who} may not {name}; "
                                       "run/permissions.py)")
            return attribute(*args, **kwargs)

        return checked


def _writes(rpc: str, request: Any) -> bool:
    if rpc != "commit":
        return rpc in _WRITE_RPCS
    writes = request.get("writes") if isinstance(request, dict) else getattr(request, "writes", None)
    return bool(writes)


class LocalIamFirestore(firestore.Client):
    """A Firestore client with ``access`` (NONE, READ or WRITE) to its database, as the role ``who`` holds."""

    def __init__(self, *, project: str, database: str | None, access: str, who: str):
        super().__init__(project=project, database=database)
        self._iam = (access, f"{who} ({access} on database {self._database})")

    @property
    def _firestore_api(self):
        access, who = self._iam
        return _RefusingFirestoreApi(super()._firestore_api, access, who)


class LocalIamPublisher(pubsub_v1.PublisherClient):
    """A Pub/Sub publisher that may publish to ``topics`` only (names after the environment's ``prefix``), as the
    role ``who`` may."""

    def __init__(self, *, project: str, topics: tuple[str, ...], prefix: str, who: str, **kwargs):
        super().__init__(**kwargs)
        self._allowed = {self.topic_path(project, prefix + topic) for topic in topics}
        self._who = who

    def _gapic_publish(self, *args, **kwargs):
        # The one call every batch makes to publish (pubsub_v1.publisher._batch.thread): a refusal here fails every
        # future of the batch with PermissionDenied, as Pub/Sub's answer would.
        topic = kwargs.get("topic", args[0] if args else None)
        if topic not in self._allowed:
            raise PermissionDenied(f"User not authorized to perform this action. (local IAM: {self._who} may not "
                                   f"publish to {topic}; run/permissions.py)")
        return super()._gapic_publish(*args, **kwargs)
