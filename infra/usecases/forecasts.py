"""Forecasts of a sensor's readings for the data API: the query parameters, and the forecast over the sensor's
downsampled history (``infra.domain.forecast`` does the arithmetic)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Mapping

from infra.domain.errors import BadRequestError, QueryError
from infra.domain.forecast import AUTO, MAX_HORIZON_POINTS, METHODS, ForecastError, forecast
from infra.domain.queries import DURATION, MAX_BUCKETS, UNIT_NS
from infra.domain.telemetry import RecordError, format_timestamp, parse_timestamp

if TYPE_CHECKING:
    from infra.domain.model import Sensor

NUMERIC = ("double", "long")
DEFAULTS = {"interval": "1m", "history": "1d", "method": AUTO}


@dataclass(frozen=True)
class ForecastQuery:
    """The parameters of ``GET /api/sensors/{id}/forecast``; durations as given and in ns."""

    horizon_ns: int
    interval: str
    interval_ns: int
    history_ns: int
    method: str
    period_ns: int | None
    end_ns: int | None  # end of the history (default: now)


def parse_forecast_query(args: Mapping[str, str]) -> ForecastQuery:
    """Check ``horizon`` (required), ``interval``, ``history``, ``method`` and ``period`` (durations like ``1h``)
    and ``to``, the end of the history (ISO-8601 or epoch, default now).

    Raises:
        BadRequestError: code ``invalid_query``, naming the parameter.
    """
    known = {"horizon", "interval", "history", "method", "period", "to"}
    unknown = sorted(set(args) - known)
    if unknown:
        raise _invalid(f"unknown parameter {unknown[0]!r}; use {', '.join(sorted(known))}")
    if "horizon" not in args:
        raise _invalid("horizon is required, e.g. horizon=1h")
    values = {**DEFAULTS, **args}
    horizon, interval, history = (_duration(name, values[name]) for name in ("horizon", "interval", "history"))
    if values["method"] not in METHODS:
        raise _invalid(f"method must be one of {', '.join(METHODS)}")
    if horizon // interval > MAX_HORIZON_POINTS or horizon < interval:
        raise _invalid(f"horizon must be 1 to {MAX_HORIZON_POINTS} intervals")
    if history // interval > MAX_BUCKETS:
        raise _invalid(f"history holds more than {MAX_BUCKETS} intervals; widen the interval")
    period = _duration("period", values["period"]) if "period" in args else None
    if period is not None and period % interval:
        raise _invalid("period must be a whole number of intervals")
    try:
        end = parse_timestamp(args["to"], 0) if args.get("to") else None
    except RecordError as exc:
        raise _invalid(f"to: {exc.message.replace('timestamp', 'time')}") from None
    return ForecastQuery(horizon, values["interval"], interval, history, values["method"], period, end)


def forecast_sensor(telemetry, sensor: Sensor, query: ForecastQuery, now_ns: int | None = None) -> dict:
    """Forecast a numeric sensor from its averaged history: the method, its fit error and the predicted points.

    Raises:
        BadRequestError: a sensor that is not numeric (``not_numeric``), or a history that cannot be forecast
            (``cannot_forecast``).
    """
    if sensor.type not in NUMERIC:
        raise BadRequestError(f"only numeric sensors can be forecast; this one is {sensor.type}", code="not_numeric")
    end_ns = query.end_ns or now_ns or time.time_ns()
    try:
        buckets = telemetry.buckets(sensor.id, sensor.type, end_ns - query.history_ns, end_ns, query.interval,
                                    "avg", "asc")
    except QueryError as exc:
        raise _invalid(str(exc)) from None
    times = [parse_timestamp(point["timestamp"], end_ns) for point in buckets if point["value"] is not None]
    values = [float(point["value"]) for point in buckets if point["value"] is not None]
    period = query.period_ns // query.interval_ns if query.period_ns else None
    try:
        result = forecast(times, values, query.interval_ns, query.horizon_ns // query.interval_ns,
                          method=query.method, period=period)
    except ForecastError as exc:
        raise BadRequestError(str(exc), code="cannot_forecast") from None
    return {"sensor_id": sensor.id, "method": result.method, "interval": query.interval,
            "period": None if result.period is None else _format_ns(result.period * query.interval_ns),
            "fit_error": {"rmse": result.rmse, "holdout_points": result.holdout},
            "history_points": len(values),
            "points": [{"timestamp": format_timestamp(t), "value": v} for t, v in result.points()]}


def _duration(name: str, raw: str) -> int:
    match = DURATION.match(raw or "")
    if match is None:
        raise _invalid(f"{name} must be a whole number of ms, s, m, h or d, e.g. 1h")
    return int(match.group(1)) * UNIT_NS[match.group(2)]


def _format_ns(ns: int) -> str:
    for unit in ("d", "h", "m", "s"):
        if ns % UNIT_NS[unit] == 0:
            return f"{ns // UNIT_NS[unit]}{unit}"
    return f"{ns // UNIT_NS['ms']}ms"


def _invalid(message: str) -> BadRequestError:
    return BadRequestError(message, code="invalid_query")
