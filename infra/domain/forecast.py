"""Forecasts of a numeric series: a linear trend, and Holt-Winters (additive) where the series has a period.

Pure Python, no I/O. The input is a series on a regular grid (the data API's downsampled buckets; gaps are filled
by linear interpolation). Each method is judged on a holdout, the last ``HOLDOUT_SHARE`` of the history: fitted
on what comes before it, it forecasts the holdout, and the root-mean-square error of that forecast is the fit
error the answer states. The answer's points come from the same method refitted on the whole history.

``method="auto"`` tries the linear trend and, when a period is given or detected (autocorrelation above
``MIN_SEASONAL_CORRELATION`` at a lag with at least two full periods in the history), Holt-Winters, and keeps the
one with the smaller holdout error.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Sequence

LINEAR, HOLT_WINTERS, AUTO = "linear", "holt_winters", "auto"
METHODS = (AUTO, LINEAR, HOLT_WINTERS)
HOLDOUT_SHARE = 0.2
MIN_POINTS = 4
MIN_SEASONAL_CORRELATION = 0.3
MAX_HORIZON_POINTS = 1000
# Smoothing parameters tried for Holt-Winters (level, trend, season): a small grid, fitted by one-step error.
_ALPHAS = (0.1, 0.3, 0.5, 0.8)
_BETAS = (0.0, 0.05, 0.2)
_GAMMAS = (0.05, 0.2, 0.5)


class ForecastError(ValueError):
    """The series cannot be forecast as asked (too short, no period for Holt-Winters, bad horizon)."""


@dataclass(frozen=True)
class Forecast:
    """Predicted values at ``start + (i + 1) * step`` for i in range(len(values)), the method and its fit error."""

    method: str
    period: int | None  # Holt-Winters' season length, in grid steps
    rmse: float | None  # root-mean-square error of the method's forecast of the holdout
    holdout: int  # points of the holdout
    start: int
    step: int
    values: tuple[float, ...]

    def points(self) -> list[tuple[int, float]]:
        """(time, predicted value) pairs."""
        return [(self.start + (i + 1) * self.step, v) for i, v in enumerate(self.values)]


def forecast(times: Sequence[int], values: Sequence[float], step: int, horizon: int, *, method: str = AUTO,
             period: int | None = None) -> Forecast:
    """Forecast ``horizon`` steps after the last point of a series sampled every ``step`` (same unit as times).

    Raises:
        ForecastError: fewer than MIN_POINTS points, a bad horizon or method, or Holt-Winters without a period.
    """
    if method not in METHODS:
        raise ForecastError(f"method must be one of {', '.join(METHODS)}")
    if not 1 <= horizon <= MAX_HORIZON_POINTS:
        raise ForecastError(f"the horizon must be 1 to {MAX_HORIZON_POINTS} steps of the interval")
    if step <= 0:
        raise ForecastError("the step must be positive")
    grid = regularise(times, values, step)
    if len(grid) < MIN_POINTS:
        raise ForecastError(f"at least {MIN_POINTS} points of history are needed, found {len(grid)}")
    if period is None and method != LINEAR:
        period = detect_period(grid)
    if period is not None and not 2 <= period <= len(grid) // 2:
        if method == HOLT_WINTERS:
            raise ForecastError(f"the period must be 2 to {len(grid) // 2} steps (two full periods of history)")
        period = None
    if method == HOLT_WINTERS and period is None:
        raise ForecastError("no period was given or found in the history; use method=linear")
    candidates = [LINEAR] if method == LINEAR else [HOLT_WINTERS] if method == HOLT_WINTERS else (
        [LINEAR, HOLT_WINTERS] if period is not None else [LINEAR])
    last = min(times) + (len(grid) - 1) * step
    scored = []
    for name in candidates:
        rmse, holdout = _holdout_rmse(name, grid, period)
        scored.append((math.inf if rmse is None else rmse, name, rmse, holdout))
    _, name, rmse, holdout = min(scored)
    predicted = _predict(name, grid, horizon, period)
    return Forecast(name, period if name == HOLT_WINTERS else None, rmse, holdout, last, step, tuple(predicted))


def regularise(times: Sequence[int], values: Sequence[float], step: int) -> list[float]:
    """The series on a grid of ``step`` from its first time, gaps filled by linear interpolation."""
    if len(times) != len(values):
        raise ForecastError("times and values differ in length")
    pairs = sorted(zip(times, values))
    if not pairs:
        return []
    first = pairs[0][0]
    slots: dict[int, float] = {}
    for t, v in pairs:
        slots[round((t - first) / step)] = float(v)
    last = max(slots)
    known = sorted(slots)
    grid = []
    for a, b in zip(known, known[1:] + [last + 1]):
        grid.append(slots[a])
        for k in range(a + 1, min(b, last + 1)):
            grid.append(slots[a] + (slots[b] - slots[a]) * (k - a) / (b - a))
    return grid


def detect_period(series: Sequence[float]) -> int | None:
    """The lag (2 .. n/2) of the highest local peak of the detrended series' autocorrelation, if above the bar."""
    n = len(series)
    if n < 8:
        return None
    slope, intercept = _line(series)
    residual = [v - (intercept + slope * i) for i, v in enumerate(series)]
    mean = sum(residual) / n
    centred = [v - mean for v in residual]
    variance = sum(v * v for v in centred)
    if variance <= 1e-12:
        return None
    acf = [sum(centred[i] * centred[i + lag] for i in range(n - lag)) / variance for lag in range(n // 2 + 2)]
    # Only local peaks count: a smooth series correlates strongly at lag 2 without being periodic at 2. The biased
    # estimator shrinks with the lag, so the highest peak is the period itself rather than a multiple of it.
    peaks = [lag for lag in range(2, n // 2 + 1)
             if acf[lag] > MIN_SEASONAL_CORRELATION and acf[lag] > acf[lag - 1] and acf[lag] >= acf[lag + 1]]
    return max(peaks, key=lambda lag: acf[lag]) if peaks else None


def _holdout_rmse(name: str, series: list[float], period: int | None) -> tuple[float | None, int]:
    holdout = max(1, round(len(series) * HOLDOUT_SHARE))
    train = series[:-holdout]
    if name == HOLT_WINTERS and (period is None or len(train) < 2 * period):
        return None, holdout
    if len(train) < 2:
        return None, holdout
    predicted = _predict(name, train, holdout, period)
    actual = series[-holdout:]
    return math.sqrt(sum((p - a) ** 2 for p, a in zip(predicted, actual)) / holdout), holdout


def _predict(name: str, series: list[float], horizon: int, period: int | None) -> list[float]:
    if name == LINEAR:
        slope, intercept = _line(series)
        n = len(series)
        return [intercept + slope * (n + h) for h in range(horizon)]
    return _holt_winters(series, horizon, period)


def _line(series: Sequence[float]) -> tuple[float, float]:
    """Least-squares slope and intercept of the series against its index."""
    n = len(series)
    mean_x, mean_y = (n - 1) / 2, sum(series) / n
    sxx = sum((i - mean_x) ** 2 for i in range(n))
    if sxx == 0:
        return 0.0, mean_y
    slope = sum((i - mean_x) * (v - mean_y) for i, v in enumerate(series)) / sxx
    return slope, mean_y - slope * mean_x


def _holt_winters(series: list[float], horizon: int, period: int) -> list[float]:
    """Additive Holt-Winters with the smoothing parameters of the smallest one-step error on ``series``."""
    best = min(itertools.product(_ALPHAS, _BETAS, _GAMMAS), key=lambda p: _smooth(series, period, *p)[0])
    _, level, trend, season = _smooth(series, period, *best)
    n = len(series)
    return [level + (h + 1) * trend + season[(n + h) % period] for h in range(horizon)]


def _smooth(series: list[float], period: int, alpha: float, beta: float, gamma: float):
    """Run the additive recursions; return (one-step squared error, level, trend, seasonal indices by position)."""
    first, second = series[:period], series[period:2 * period]
    level = sum(first) / period
    trend = (sum(second) / period - level) / period if len(second) == period else 0.0
    season = [v - level for v in first]
    error = 0.0
    for i in range(period, len(series)):
        value, s = series[i], season[i % period]
        predicted = level + trend + s
        error += (value - predicted) ** 2
        previous = level
        level = alpha * (value - s) + (1 - alpha) * (level + trend)
        trend = beta * (level - previous) + (1 - beta) * trend
        season[i % period] = gamma * (value - level) + (1 - gamma) * s
    return error, level, trend, season
