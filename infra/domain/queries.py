"""How telemetry may be read back: page and bucket limits, aggregations, and the consumer search's caps.

The data API (``infra.usecases.readings``), the OpenAPI document and the Elasticsearch adapter share these numbers.
"""

from __future__ import annotations

import re

# A fixed duration: a whole number of ms, s, m, h or d (downsampling intervals, forecast horizons and histories).
DURATION = re.compile(r"^([1-9][0-9]{0,8})(ms|s|m|h|d)$")
UNIT_NS = {"ms": 10**6, "s": 10**9, "m": 60 * 10**9, "h": 3600 * 10**9, "d": 86400 * 10**9}

# GET /api/sensors/{id}/data
DEFAULT_LIMIT = 1000
MAX_LIMIT = 10_000  # Elasticsearch's default index.max_result_window
MAX_BUCKETS = 10_000
AGGREGATIONS = ("avg", "min", "max", "sum", "count")
ORDERS = ("desc", "asc")

# /api/consumers/consume: the Elasticsearch-compatible search of granted sensors (grammar in
# infra/adapters/elasticsearch/grammar.py); a reply holds at most MAX_BUCKETS buckets, as a downsampled one
MAX_SIZE = 1000
MAX_WINDOW = 10_000
MAX_TERMS = 1000
MAX_AGG_DEPTH = 3
MAX_SENSORS = 1000
MAX_QUERY_DEPTH = 8  # compound queries (bool, constant_score) inside one another
MAX_VALUES = 1000  # values of a terms or ids query, clauses of a bool
MAX_TEXT = 1024  # characters of a string value (a keyword reading holds at most as many)
MAX_WILDCARDS = 3  # '*' in a wildcard pattern
