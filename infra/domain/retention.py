"""The retention rule: which monthly telemetry indices lie wholly past the retention period.

Readings live in one index per UTC month (``telemetry-YYYY.MM``), so retention drops whole indices: cheap on any
cluster, with no per-document deletes. A month's index goes once the month's last instant lies ``months`` calendar
months back, so every reading is kept at least ``months`` months and at most one month more.
"""

from __future__ import annotations

import re
from datetime import datetime

_MONTHLY = re.compile(r"^(\d{4})\.(\d{2})$")


def month_number(year: int, month: int) -> int:
    """Months since year 0, so that month arithmetic is integer arithmetic."""
    return year * 12 + month - 1


def expired_months(names: list[str], prefix: str, months: int, now: datetime) -> list[str]:
    """The names among ``names`` (``<prefix>YYYY.MM``) whose month ended at least ``months`` months before ``now``.

    Names that are not a monthly index of ``prefix`` are never chosen.

    Raises:
        ValueError: ``months`` is below 1 (the current month is always kept).
    """
    if months < 1:
        raise ValueError(f"the retention must be at least one month, got {months}")
    # Month M ends when M + 1 begins; it is past the retention once M + 1 <= (the current month) - months.
    last_expired = month_number(now.year, now.month) - months - 1
    expired = []
    for name in names:
        match = _MONTHLY.match(name[len(prefix):]) if name.startswith(prefix) else None
        if match and 1 <= int(match.group(2)) <= 12 and month_number(int(match.group(1)), int(match.group(2))) \
                <= last_expired:
            expired.append(name)
    return sorted(expired)
