"""How telemetry may be read back: page and bucket limits, aggregations, and the consumer search's caps.

The data API (``infra.usecases.readings``), the OpenAPI document and the Elasticsearch adapter share these numbers.
"""

from __future__ import annotations

# GET /api/sensors/{id}/data
DEFAULT_LIMIT = 1000
MAX_LIMIT = 10_000  # Elasticsearch's default index.max_result_window
MAX_BUCKETS = 10_000
AGGREGATIONS = ("avg", "min", "max", "sum", "count")
ORDERS = ("desc", "asc")

# /api/consumers/consume: the Elasticsearch-compatible search of granted sensors
MAX_SIZE = 1000
MAX_WINDOW = 10_000
MAX_TERMS = 1000
MAX_AGG_DEPTH = 3
MAX_SENSORS = 1000
