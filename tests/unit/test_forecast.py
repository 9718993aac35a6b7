"""Forecasts of synthetic series: a linear trend and a seasonal series are predicted within a stated error, the
method and the holdout error are reported, and what cannot be forecast is refused."""

import math
import random

import pytest

from infra.domain.forecast import HOLT_WINTERS, LINEAR, ForecastError, detect_period, forecast, regularise

STEP = 60


def grid(values, start=1_000_000):
    return [start + i * STEP for i in range(len(values))], values


def test_linear_series_is_continued_within_one_percent():
    times, values = grid([5 + 0.5 * i + random.Random(i).uniform(-0.1, 0.1) for i in range(100)])
    result = forecast(times, values, STEP, 20)
    assert result.method == LINEAR and result.rmse < 0.2
    expected = [5 + 0.5 * i for i in range(100, 120)]
    assert all(abs(p - e) / e < 0.01 for p, e in zip(result.values, expected))
    assert result.points()[0][0] == times[-1] + STEP


def test_seasonal_series_picks_holt_winters_and_stays_within_stated_error():
    period = 24
    def truth(i):
        return 20 + 0.05 * i + 5 * math.sin(2 * math.pi * i / period)
    rng = random.Random(7)
    times, values = grid([truth(i) + rng.gauss(0, 0.2) for i in range(period * 8)])
    assert detect_period(values) == period
    result = forecast(times, values, STEP, period)
    assert result.method == HOLT_WINTERS and result.period == period
    # Stated error: within 1.0 (a fifth of the amplitude) at every step of one period ahead, RMSE under 0.6.
    n = len(values)
    errors = [abs(p - truth(n + h)) for h, p in enumerate(result.values)]
    assert max(errors) < 1.0 and result.rmse < 0.6
    # The linear trend misses the season: its own error is much larger.
    assert forecast(times, values, STEP, period, method=LINEAR).rmse > 2 * result.rmse


def test_gaps_are_interpolated_onto_the_grid():
    assert regularise([0, 60, 180], [1.0, 2.0, 4.0], 60) == [1.0, 2.0, 3.0, 4.0]


def test_no_period_in_a_straight_line():
    assert detect_period([float(i) for i in range(50)]) is None


@pytest.mark.parametrize("kwargs, message", [
    ({"values": [1.0, 2.0, 3.0], "horizon": 5}, "at least"),
    ({"values": [float(i) for i in range(20)], "horizon": 0}, "horizon"),
    ({"values": [float(i) for i in range(20)], "horizon": 5, "method": "arima"}, "method"),
    ({"values": [float(i) for i in range(20)], "horizon": 5, "method": HOLT_WINTERS}, "no period"),
    ({"values": [float(i) for i in range(20)], "horizon": 5, "method": HOLT_WINTERS, "period": 15}, "period"),
])
def test_what_cannot_be_forecast_is_refused(kwargs, message):
    values = kwargs.pop("values")
    times, values = grid(values)
    with pytest.raises(ForecastError, match=message):
        forecast(times, values, STEP, **kwargs)
