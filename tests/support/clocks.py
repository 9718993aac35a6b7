"""A clock the test moves: wall time (timezone-aware UTC) and a monotonic reading that advance together."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

T0 = datetime(2026, 12, 1, 12, 0, tzinfo=timezone.utc)


class ManualClock:
    """Call it for the wall time; ``monotonic`` gives the seconds since it started; ``advance`` moves both."""

    def __init__(self, start: datetime = T0):
        self.start = start
        self.seconds = 0.0

    def __call__(self) -> datetime:
        return self.start + timedelta(seconds=self.seconds)

    def monotonic(self) -> float:
        return self.seconds

    def advance(self, seconds: float) -> None:
        self.seconds += seconds
