"""Writing telemetry: installing the index template, bulk indexing with per-item outcomes and retries, and the
``TelemetryWriter`` port the pipeline writes through (``ElasticsearchTelemetry``)."""

from __future__ import annotations

import logging
import random
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import orjson
from elasticsearch import ApiError, Elasticsearch, NotFoundError, TransportError

from infra.adapters.elasticsearch.schema import (DEFAULT_REPLICAS, TEMPLATE_NAME, TEMPLATE_VERSION, Document,
                                                 InvalidRecordError, build_document, index_template)
from infra.domain.errors import ServiceUnavailableError, StoreUnavailableError
from infra.domain.ports import Stored

logger = logging.getLogger(__name__)

BULK_ATTEMPTS = 4  # tries per item that fails with 429/5xx, inside one call
BULK_BACKOFF = 0.1  # seconds before the second try; doubles each time (0.1 + 0.2 + 0.4 at most)
BULK_CHUNK = 1000  # documents per _bulk request
# Only what the outcome needs; a 1000-item reply shrinks to a few kB.
_BULK_FILTER = "errors,items.*.status,items.*.error.type,items.*.error.reason"
# Item errors that say the document itself can never be indexed (ES >= 8.8 says document_parsing_exception,
# earlier 8.x mapper_parsing_exception). Every other item failure is retried: an index that cannot be created now
# (shard limit: validation_exception; auto-create off: index_not_found_exception; a read-only block:
# cluster_block_exception) must not turn data the device was told was accepted into a rejection.
PERMANENT_ITEM_ERRORS = frozenset(("document_parsing_exception", "mapper_parsing_exception",
                                   "strict_dynamic_mapping_exception"))


def install_template(es: Elasticsearch, replicas: int = DEFAULT_REPLICAS) -> bool:
    """Install the ``telemetry`` index template unless this version (or a newer one) with these replicas is there;
    True if written.

    Idempotent: the installed template is compared first, so calling it again costs one GET.

    Raises:
        StoreUnavailableError: Elasticsearch could not be reached or refused the request.
    """
    try:
        try:
            found = es.indices.get_index_template(name=TEMPLATE_NAME)["index_templates"]
        except NotFoundError:
            found = []
        if found and _is_current(found[0]["index_template"], replicas):
            return False
        es.indices.put_index_template(name=TEMPLATE_NAME, **index_template(replicas))
    except (ApiError, TransportError) as exc:
        raise StoreUnavailableError(f"installing the index template failed: {_describe(exc)}") from exc
    logger.info("installed index template %s version %s with %d replica(s)", TEMPLATE_NAME, TEMPLATE_VERSION,
                replicas)
    return True


def _is_current(installed: dict, replicas: int) -> bool:
    version = installed.get("version")
    settings = installed.get("template", {}).get("settings", {})
    # Elasticsearch answers settings nested under "index" with string values.
    found = settings.get("index", settings).get("number_of_replicas")
    return version is not None and version >= TEMPLATE_VERSION and str(found) == str(replicas)


class TemplateInstaller:
    """Installs the template once per process; later calls cost a flag check (thread-safe)."""

    def __init__(self, es: Elasticsearch | Callable[[], Elasticsearch], replicas: int = DEFAULT_REPLICAS):
        self._es = es
        self.replicas = replicas
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
                install_template(self._es() if callable(self._es) else self._es, self.replicas)
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
    failed: list[ItemFailure] = field(default_factory=list)  # the document itself is wrong (PERMANENT_ITEM_ERRORS)
    retryable: list[ItemFailure] = field(default_factory=list)  # anything else, still failing after the retries

    @property
    def complete(self) -> bool:
        """True when nothing is left to retry (every document was indexed or refused for good)."""
        return not self.retryable


def bulk_index(es: Elasticsearch, documents: Sequence[Document], *, attempts: int = BULK_ATTEMPTS,
               backoff: float = BULK_BACKOFF, chunk: int = BULK_CHUNK,
               sleep: Callable[[float], None] = time.sleep) -> BulkReport:
    """Index ``documents`` with ``index`` actions (overwrite by ``_id``), retrying items that fail for now.

    Items the mapping refuses (``PERMANENT_ITEM_ERRORS``) are reported as ``failed`` and not retried. Items still
    failing otherwise (429/5xx, an index that cannot be created) after ``attempts`` tries are ``retryable``.

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
        if status == 400 and error.get("type") in PERMANENT_ITEM_ERRORS:
            report.failed.append(failure)
        else:
            retry.append(failure)
    return retry


def _describe(exc: Exception) -> str:
    if isinstance(exc, ApiError):
        return f"{exc.meta.status} {exc.message}"
    return f"{type(exc).__name__}: {exc}"


class ElasticsearchTelemetry:
    """The ``TelemetryWriter`` port: a message's records as documents, indexed idempotently.

    A record the mapping can never hold (``InvalidRecordError``, ``PERMANENT_ITEM_ERRORS``) is reported as refused;
    anything that may succeed later (the cluster down, 429/5xx, an index that cannot be created now) raises, so the
    message is redelivered.
    """

    def __init__(self, es: Callable[[], Elasticsearch], installer: TemplateInstaller):
        self._es = es
        self.installer = installer

    def write(self, records: Sequence[Any], *, device_id: str, owner_id: str, received_at: str,
              gateway: str) -> Stored:
        """Index ``records``; return how many were stored and which are refused for good.

        Raises:
            StoreUnavailableError: Elasticsearch could not be reached or refused the whole request.
            ServiceUnavailableError: some records are still refused for now after the retries.
        """
        documents: list[Document] = []
        positions: dict[int, int] = {}  # id(document) → record index, to name refused records
        refused: dict[int, str] = {}
        for index, record in enumerate(records):
            try:
                document = build_document(record, device_id=device_id, owner_id=owner_id, received_at=received_at,
                                          gateway=gateway)
            except InvalidRecordError as exc:
                refused[index] = str(exc)
                continue
            positions[id(document)] = index
            documents.append(document)
        if not documents:
            return Stored(0, refused)
        self.installer.ensure()
        report = bulk_index(self._es(), documents)
        if not report.complete:
            sample = report.retryable[0]
            logger.warning("%d record(s) still refused with %s (%s) after retries", len(report.retryable),
                           sample.status, sample.reason)
            raise ServiceUnavailableError(f"Elasticsearch refused {len(report.retryable)} record(s) for now "
                                          f"({sample.status}); redeliver the message", retry_after=10,
                                          code="store_overloaded")
        for failure in report.failed:
            refused[positions[id(failure.document)]] = (f"refused by Elasticsearch ({failure.status} "
                                                        f"{failure.reason})")
        return Stored(report.indexed, refused)
