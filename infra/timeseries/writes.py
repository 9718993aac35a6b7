"""Writing telemetry: installing the index template, and bulk indexing with per-item outcomes and retries."""

from __future__ import annotations

import logging
import random
import threading
import time
from dataclasses import dataclass, field
from typing import Callable, Sequence

import orjson
from elasticsearch import ApiError, Elasticsearch, NotFoundError, TransportError

from infra.timeseries.schema import TEMPLATE_NAME, TEMPLATE_VERSION, Document, StoreUnavailableError, index_template

logger = logging.getLogger(__name__)

BULK_ATTEMPTS = 4  # tries per item that fails with 429/5xx, inside one call
BULK_BACKOFF = 0.1  # seconds before the second try; doubles each time (0.1 + 0.2 + 0.4 at most)
BULK_CHUNK = 1000  # documents per _bulk request
# Only what the outcome needs; a 1000-item reply shrinks to a few kB.
_BULK_FILTER = "errors,items.*.status,items.*.error.type,items.*.error.reason"


def install_template(es: Elasticsearch) -> bool:
    """Install the ``telemetry`` index template unless this version (or a newer one) is there; True if written.

    Idempotent: the installed template's ``version`` is compared first, so calling it again costs one GET.

    Raises:
        StoreUnavailableError: Elasticsearch could not be reached or refused the request.
    """
    try:
        try:
            found = es.indices.get_index_template(name=TEMPLATE_NAME)["index_templates"]
        except NotFoundError:
            found = []
        installed = found[0]["index_template"].get("version") if found else None
        if installed is not None and installed >= TEMPLATE_VERSION:
            return False
        es.indices.put_index_template(name=TEMPLATE_NAME, **index_template())
    except (ApiError, TransportError) as exc:
        raise StoreUnavailableError(f"installing the index template failed: {_describe(exc)}") from exc
    logger.info("installed index template %s version %s", TEMPLATE_NAME, TEMPLATE_VERSION)
    return True


class TemplateInstaller:
    """Installs the template once per process; later calls cost a flag check (thread-safe)."""

    def __init__(self, es: Elasticsearch | Callable[[], Elasticsearch]):
        self._es = es
        self._done = False
        self._lock = threading.Lock()

    @property
    def installed(self) -> bool:
        return self._done

    def ensure(self) -> None:
        """Install the template unless this process already did.

        Raises:
            StoreUnavailableError: Elasticsearch could not be reached.
        """
        if self._done:
            return
        with self._lock:
            if not self._done:
                install_template(self._es() if callable(self._es) else self._es)
                self._done = True


@dataclass(frozen=True)
class ItemFailure:
    """A document Elasticsearch did not index, with the item's status and reason."""

    document: Document
    status: int
    reason: str


@dataclass
class BulkReport:
    """The outcome of ``bulk_index``: how many were indexed, what was refused for good, what may be retried."""

    indexed: int = 0
    failed: list[ItemFailure] = field(default_factory=list)  # 4xx: the document itself is wrong
    retryable: list[ItemFailure] = field(default_factory=list)  # 429/5xx still failing after the retries

    @property
    def complete(self) -> bool:
        """True when nothing is left to retry (every document was indexed or refused for good)."""
        return not self.retryable


def bulk_index(es: Elasticsearch, documents: Sequence[Document], *, attempts: int = BULK_ATTEMPTS,
               backoff: float = BULK_BACKOFF, chunk: int = BULK_CHUNK,
               sleep: Callable[[float], None] = time.sleep) -> BulkReport:
    """Index ``documents`` with ``index`` actions (overwrite by ``_id``), retrying items that fail with 429/5xx.

    Items refused with another status (a mapping error: 400) are reported as ``failed`` and not retried.
    Items still failing with 429/5xx after ``attempts`` tries are reported as ``retryable``.

    Raises:
        StoreUnavailableError: a whole ``_bulk`` request failed (cluster unreachable, 429/5xx after the
            client's own retries, or refused); nothing can be said about its items.
    """
    report = BulkReport()
    for start in range(0, len(documents), chunk):
        pending = list(documents[start:start + chunk])
        for attempt in range(attempts):
            retry = _send(es, pending, report)
            if not retry:
                break
            if attempt + 1 == attempts:
                report.retryable.extend(retry)
                break
            # Jitter keeps concurrent pushes that all got 429 from hammering the cluster in lockstep.
            sleep(backoff * (2 ** attempt) * random.uniform(0.5, 1.0))
            pending = [failure.document for failure in retry]
    return report


def _send(es: Elasticsearch, documents: list[Document], report: BulkReport) -> list[ItemFailure]:
    lines = []
    for document in documents:
        lines.append(orjson.dumps({"index": {"_index": document.index, "_id": document.id}}))
        lines.append(orjson.dumps(document.source))
    lines.append(b"")
    try:
        reply = es.bulk(operations=b"\n".join(lines), filter_path=_BULK_FILTER).body
    except (ApiError, TransportError) as exc:
        raise StoreUnavailableError(f"bulk indexing failed: {_describe(exc)}") from exc
    if not reply.get("errors"):
        report.indexed += len(documents)
        return []
    retry = []
    for document, item in zip(documents, reply["items"]):
        outcome = next(iter(item.values()))
        status = outcome["status"]
        if status < 300:
            report.indexed += 1
            continue
        error = outcome.get("error") or {}
        failure = ItemFailure(document, status, f"{error.get('type', 'error')}: {error.get('reason', '')}"[:500])
        if status == 429 or status >= 500:
            retry.append(failure)
        else:
            report.failed.append(failure)
    return retry


def _describe(exc: Exception) -> str:
    if isinstance(exc, ApiError):
        return f"{exc.meta.status} {exc.message}"
    return f"{type(exc).__name__}: {exc}"
