"""Elasticsearch-shaped errors: one exception type that renders ES's ``{"error": {...}, "status": n}`` body."""

from __future__ import annotations

from typing import Any

STANDIN = "the Elasticsearch stand-in"


class EsError(Exception):
    """An error the server answers with ES's JSON shape; ``extra`` keys sit beside ``type`` and ``reason``."""

    def __init__(self, status: int, type_: str, reason: str, *, caused_by: dict | None = None,
                 root_cause: "EsError | None" = None, **extra: Any):
        super().__init__(reason)
        self.status = status
        self.type = type_
        self.reason = reason
        self.caused_by = caused_by
        self.root_cause = root_cause
        self.extra = extra

    def cause_dict(self) -> dict:
        """Return the ``{"type", "reason", ...}`` object used for root causes and bulk items."""
        body: dict[str, Any] = {"type": self.type, "reason": self.reason}
        body.update(self.extra)
        if self.caused_by is not None:
            body["caused_by"] = self.caused_by
        return body

    def to_body(self) -> dict:
        """Return the full response body."""
        root = (self.root_cause or self).cause_dict()
        root.pop("caused_by", None)
        error = self.cause_dict()
        error = {"root_cause": [root], **error}
        return {"error": error, "status": self.status}


def unsupported(what: str, status: int = 400) -> EsError:
    """Refuse something real ES does but the stand-in does not, naming it."""
    return EsError(status, "illegal_argument_exception", f"{what} is not supported by {STANDIN}")


def illegal_argument(reason: str) -> EsError:
    return EsError(400, "illegal_argument_exception", reason)


def parsing(reason: str, **extra: Any) -> EsError:
    return EsError(400, "parsing_exception", reason, **extra)


def index_not_found(name: str) -> EsError:
    return EsError(404, "index_not_found_exception", f"no such index [{name}]",
                   **{"resource.type": "index_or_alias", "resource.id": name, "index_uuid": "_na_",
                      "index": name})


def query_shard(reason: str, index: str, caused_by: dict | None = None) -> EsError:
    """A query that cannot run on an index; ES wraps it in a search-phase failure."""
    root = EsError(400, "query_shard_exception", reason, index_uuid="_na_", index=index)
    err = EsError(400, "search_phase_execution_exception", "all shards failed", root_cause=root,
                  phase="query", grouped=True,
                  failed_shards=[{"shard": 0, "index": index, "node": "standin",
                                  "reason": root.cause_dict() | ({"caused_by": caused_by} if caused_by else {})}])
    return err


def search_failure(inner: EsError, index: str) -> EsError:
    """Wrap a per-index failure the way ES reports a search where every shard failed."""
    return EsError(inner.status, "search_phase_execution_exception", "all shards failed", root_cause=inner,
                   phase="query", grouped=True,
                   failed_shards=[{"shard": 0, "index": index, "node": "standin", "reason": inner.cause_dict()}])


class MapperError(Exception):
    """A document that does not fit its mapping; becomes a per-item 400.

    Its type is ``document_parsing_exception``, which ES reports since 8.8 where older 8.x releases said
    ``mapper_parsing_exception``; clients should key on the item's 400 status rather than the type.
    """

    def __init__(self, reason: str, caused_by: dict | None = None, type_: str = "document_parsing_exception"):
        super().__init__(reason)
        self.reason = reason
        self.caused_by = caused_by
        self.type = type_

    def to_es(self) -> EsError:
        return EsError(400, self.type, self.reason, caused_by=self.caused_by)
