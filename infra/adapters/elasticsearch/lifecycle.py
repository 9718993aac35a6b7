"""The store's side of data lifecycle: the monthly indices (listed, dropped by name) and erasing readings.

``MonthlyIndices`` is the ``TelemetryIndices`` port: it lists ``telemetry-*`` and drops indices by their names, in
comma lists, never by pattern (a cluster refuses wildcard deletes by default, ``action.destructive_requires_name``,
and a pattern could reach indices nobody meant). ``Eraser`` is the ``ReadingsEraser`` port: an asynchronous
``_delete_by_query`` (``wait_for_completion=false``) per task, followed through ``GET _tasks/<id>``, so a delete of
millions of readings outlives the request (and the process) that started it.
"""

from __future__ import annotations

import warnings
from typing import Callable, Sequence

from elasticsearch import ApiError, Elasticsearch, NotFoundError, TransportError

from infra.adapters.elasticsearch.schema import ALIAS, INDEX_PREFIX
from infra.domain.errors import StoreUnavailableError

NAMES_PER_DELETE = 50  # index names per DELETE, keeping its URL short


class MonthlyIndices:
    """The ``TelemetryIndices`` port over the process's client."""

    prefix = INDEX_PREFIX

    def __init__(self, es: Callable[[], Elasticsearch]):
        self._es = es

    def monthly(self) -> list[str]:
        try:
            return sorted(self._es().indices.get_alias(index=f"{INDEX_PREFIX}*", allow_no_indices=True))
        except (ApiError, TransportError) as exc:
            raise StoreUnavailableError(f"listing the telemetry indices failed: {exc}") from exc

    def drop(self, names: Sequence[str]) -> None:
        for name in names:
            if "*" in name or "," in name or not name.startswith(INDEX_PREFIX):
                raise ValueError(f"not a telemetry index name: {name!r}")
        try:
            for start in range(0, len(names), NAMES_PER_DELETE):
                self._es().indices.delete(index=",".join(names[start:start + NAMES_PER_DELETE]),
                                          ignore_unavailable=True)
        except (ApiError, TransportError) as exc:
            raise StoreUnavailableError(f"dropping telemetry indices failed: {exc}") from exc


class Eraser:
    """The ``ReadingsEraser`` port over the process's client."""

    def __init__(self, es: Callable[[], Elasticsearch]):
        self._es = es

    def start(self, field: str, value: str) -> str:
        try:
            # conflicts=proceed: a reading rewritten meanwhile (a redelivery) must not abort the whole delete.
            reply = self._es().delete_by_query(index=ALIAS, query={"term": {field: value}}, conflicts="proceed",
                                               refresh=True, wait_for_completion=False, allow_no_indices=True,
                                               ignore_unavailable=True)
        except (ApiError, TransportError) as exc:
            raise StoreUnavailableError(f"starting the erasure of {field}={value} failed: {exc}") from exc
        return reply["task"]

    def finished(self, task_id: str) -> bool | None:
        try:
            with warnings.catch_warnings():  # the client flags the tasks API "technical preview"; it is ES's own
                warnings.simplefilter("ignore")
                reply = self._es().tasks.get(task_id=task_id)
        except NotFoundError:
            return None
        except (ApiError, TransportError) as exc:
            raise StoreUnavailableError(f"reading task {task_id} failed: {exc}") from exc
        if reply.get("error") or (reply.get("response") or {}).get("failures"):
            return None  # failed: the caller starts again (the delete is idempotent)
        return bool(reply.get("completed"))

    def remaining(self, field: str, value: str) -> int:
        try:
            return int(self._es().count(index=ALIAS, query={"term": {field: value}}, allow_no_indices=True,
                                        ignore_unavailable=True)["count"])
        except NotFoundError:
            return 0  # no telemetry index at all
        except (ApiError, TransportError) as exc:
            raise StoreUnavailableError(f"counting readings of {field}={value} failed: {exc}") from exc
