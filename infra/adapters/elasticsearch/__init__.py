"""The Elasticsearch time-series store of telemetry: schema, writes, reads and the consumer search.

- ``schema``: monthly ``telemetry-YYYY.MM`` indices, their template and ``telemetry`` alias, the document of a
  reading and its deterministic ``_id``.
- ``writes``: installing the template, bulk indexing with per-item results and bounded retries, and
  ``ElasticsearchTelemetry``, the ``TelemetryWriter`` port the pipeline writes through.
- ``reads``: ``read_points`` (cursor pages), ``downsample`` (fixed buckets) and ``latest`` for the data API.
- ``search``: ``search_sensors``, the allow-listed search/count behind the consumer proxy.
- ``reader``: ``TelemetryReader``, the reads and the search over the process's client, for the data API.

The limits they enforce are the domain's (``infra.domain.queries``), and so are their errors
(``QueryError``, ``StoreUnavailableError`` in ``infra.domain.errors``).
"""

from infra.adapters.elasticsearch.reader import TelemetryReader
from infra.adapters.elasticsearch.reads import downsample, latest, read_points
from infra.adapters.elasticsearch.schema import (ALIAS, INDEX_PREFIX, TEMPLATE_NAME, VALUE_FIELDS, Document,
                                                 InvalidRecordError, build_document, document_id, index_for,
                                                 index_template)
from infra.adapters.elasticsearch.search import search_sensors
from infra.adapters.elasticsearch.writes import (BulkReport, ElasticsearchTelemetry, ItemFailure, TemplateInstaller,
                                                 bulk_index, install_template)

__all__ = [
    "ALIAS", "INDEX_PREFIX", "TEMPLATE_NAME", "VALUE_FIELDS", "BulkReport", "Document", "ElasticsearchTelemetry",
    "InvalidRecordError", "ItemFailure", "TelemetryReader", "TemplateInstaller", "build_document", "bulk_index", "document_id",
    "downsample", "index_for", "index_template", "install_template", "latest", "read_points", "search_sensors",
]
