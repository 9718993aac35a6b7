"""The retention rule: which monthly indices are past the retention period."""

from datetime import datetime, timezone

import pytest

from infra.domain.retention import expired_months

NAMES = ["telemetry-2025.09", "telemetry-2025.10", "telemetry-2025.11", "telemetry-2026.12", "telemetry-1999.01",
         "telemetry-2025.13", "telemetry-foo", "other-2001.01", "telemetry-2025.10-old"]


def test_a_month_goes_once_it_ended_the_retention_ago():
    now = datetime(2026, 12, 2, 5, 0, tzinfo=timezone.utc)
    # 13 months back from December 2026 is November 2025: October 2025 ended before then, November did not.
    assert expired_months(NAMES, "telemetry-", 13, now) == ["telemetry-1999.01", "telemetry-2025.09",
                                                           "telemetry-2025.10"]


def test_the_boundary_moves_at_the_turn_of_the_month():
    names = ["telemetry-2025.11"]
    assert expired_months(names, "telemetry-", 13, datetime(2026, 12, 31, 23, 59, 59, tzinfo=timezone.utc)) == []
    assert expired_months(names, "telemetry-", 13, datetime(2027, 1, 1, tzinfo=timezone.utc)) == names


def test_one_month_keeps_the_current_and_the_previous_month():
    now = datetime(2026, 1, 15, tzinfo=timezone.utc)
    names = ["telemetry-2026.01", "telemetry-2025.12", "telemetry-2025.11"]
    assert expired_months(names, "telemetry-", 1, now) == ["telemetry-2025.11"]


def test_a_retention_below_one_month_is_refused():
    with pytest.raises(ValueError):
        expired_months(NAMES, "telemetry-", 0, datetime(2026, 1, 1, tzinfo=timezone.utc))
