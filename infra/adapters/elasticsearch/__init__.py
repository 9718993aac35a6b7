"""The Elasticsearch time-series store of telemetry: schema, writes, reads, the consumer search, the pipeline.

- ``schema``: monthly ``telemetry-YYYY.MM`` indices, their template and ``telemetry`` alias, the document of a
  reading and its deterministic ``_id``.
- ``writes``: installing the template, bulk indexing with per-item results and bounded retries.
- ``reads``: ``read_points`` (cursor pages), ``downsample`` (fixed buckets) and ``latest`` for the data API.
- ``search``: ``search_sensors``, the allow-listed search/count behind the consumer proxy.
- ``pipeline``: ``PushIndexer``, a Pub/Sub push turned into documents and rejections.
"""

from infra.adapters.elasticsearch.reads import (AGGREGATIONS, DEFAULT_LIMIT, MAX_BUCKETS, MAX_LIMIT, downsample, latest,
                                    read_points)
from infra.adapters.elasticsearch.schema import (ALIAS, INDEX_PREFIX, TEMPLATE_NAME, VALUE_FIELDS, Document, InvalidRecordError,
                                     QueryError, StoreUnavailableError, build_document, document_id, index_for,
                                     index_template)
from infra.adapters.elasticsearch.search import MAX_SIZE, MAX_TERMS, MAX_WINDOW, search_sensors
from infra.adapters.elasticsearch.writes import BulkReport, ItemFailure, TemplateInstaller, bulk_index, install_template

__all__ = [
    "AGGREGATIONS", "ALIAS", "DEFAULT_LIMIT", "INDEX_PREFIX", "MAX_BUCKETS", "MAX_LIMIT", "MAX_SIZE", "MAX_TERMS",
    "MAX_WINDOW", "TEMPLATE_NAME", "VALUE_FIELDS", "BulkReport", "Document", "InvalidRecordError", "ItemFailure",
    "QueryError", "StoreUnavailableError", "TemplateInstaller", "build_document", "bulk_index", "document_id",
    "downsample", "index_for", "index_template", "install_template", "latest", "read_points", "search_sensors",
]
