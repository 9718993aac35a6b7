"""Retention: drop the monthly telemetry indices past the retention period (the pipeline's retention tick)."""

from __future__ import annotations

import logging
from datetime import datetime

from infra.domain.ports import TelemetryIndices
from infra.domain.retention import expired_months

logger = logging.getLogger(__name__)


def enforce_retention(indices: TelemetryIndices, months: int, now: datetime) -> list[str]:
    """Drop every monthly index whose month ended ``months`` months before ``now``; return their names.

    Each is named explicitly, never by pattern. Running it again drops nothing more: it is safe on every tick.
    """
    expired = expired_months(indices.monthly(), indices.prefix, months, now)
    if expired:
        indices.drop(expired)
        logger.info("retention dropped %d monthly index(es) older than %d months: %s", len(expired), months,
                    ", ".join(expired), extra={"dropped": expired, "retention_months": months})
    else:
        logger.info("retention: no monthly index older than %d months", months,
                    extra={"dropped": [], "retention_months": months})
    return expired
