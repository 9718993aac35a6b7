"""The rule state machine: each kind fires once when its condition starts and clears once when it ends, late and
out-of-order readings are ignored as documented, a redelivered message changes nothing; and the rule body's checks."""

import pytest

from infra.domain.errors import BadRequestError
from infra.domain.rules import (CLEARED, FIRED, FORECAST, FORECAST_HISTORY, NO_DATA, NS, RATE, THRESHOLD, Reading, Rule,
                                RuleState, evaluate, forecast_at, parse_rule, tick)

T0 = 1_764_300_000 * NS


def rule(kind=THRESHOLD, **fields) -> Rule:
    return Rule(id="r1", owner_id="o", sensor_id="s", device_id="d", name="n", kind=kind, created_ns=T0, **fields)


def series(*values, step=10, start=T0):
    """Readings ``step`` seconds apart, arriving when they were taken."""
    return [Reading(start + i * step * NS, float(v), start + i * step * NS) for i, v in enumerate(values)]


def run(r: Rule, readings, state=None, per_message=1):
    """Feed readings in messages of ``per_message``; return the final state and all transitions."""
    state = state or RuleState()
    out = []
    for i in range(0, len(readings), per_message):
        state, transitions = evaluate(r, state, readings[i:i + per_message], key=f"m{i}")
        out += transitions
    return state, out


def kinds(transitions):
    return [t.kind for t in transitions]


def test_threshold_fires_once_while_high_and_clears_once():
    _, out = run(rule(operator="above", value=50), series(10, 60, 70, 80, 40, 30, 55))
    assert kinds(out) == [FIRED, CLEARED, FIRED]
    assert [t.value for t in out] == [60, 40, 55]
    assert out[0].at == T0 + 10 * NS


def test_threshold_below():
    _, out = run(rule(operator="below", value=0), series(5, -1, -2, 3))
    assert kinds(out) == [FIRED, CLEARED]


def test_sustained_threshold_fires_only_after_holding_long_enough():
    r = rule(operator="above", value=50, sustained_ns=30 * NS)
    # A 20 s spike does not fire; then high from t=60 s, fires at t=90 s, clears at t=110 s.
    _, out = run(r, series(60, 60, 60, 10, 10, 10, 60, 61, 62, 63, 64, 0))
    assert kinds(out) == [FIRED, CLEARED]
    assert out[0].at == T0 + 90 * NS and out[1].at == T0 + 110 * NS


def test_rate_of_change_fires_on_a_jump_and_clears_when_it_settles():
    r = rule(RATE, change=5, period_ns=60 * NS, direction="any")  # more than 5 per minute
    # 10 s apart: +0.5/10 s is 3/min (fine), +2/10 s is 12/min (fires), then flat (clears).
    _, out = run(r, series(0, 0.5, 1, 3, 5, 7, 7, 7))
    assert kinds(out) == [FIRED, CLEARED]
    assert out[0].at == T0 + 30 * NS and out[1].at == T0 + 60 * NS


def test_rate_direction_fall_ignores_rises():
    r = rule(RATE, change=5, period_ns=60 * NS, direction="fall")
    _, out = run(r, series(0, 10, 20, 10, 10))
    assert kinds(out) == [FIRED, CLEARED]
    assert out[0].value == 10 and out[0].at == T0 + 30 * NS


def test_no_data_fires_once_on_ticks_and_clears_when_data_arrives():
    r = rule(NO_DATA, period_ns=60 * NS)
    state, out = run(r, series(1, 2))  # last arrival at T0 + 10 s
    assert out == []
    state, early = tick(r, state, T0 + 60 * NS)
    state, late = tick(r, state, T0 + 75 * NS)
    state, again = tick(r, state, T0 + 200 * NS)
    assert early == [] and kinds(late) == [FIRED] and again == []
    assert late[0].at == T0 + 70 * NS  # the moment silence crossed the period
    state, back = evaluate(r, state, series(3, start=T0 + 300 * NS), key="m-back")
    assert kinds(back) == [CLEARED]
    assert not state.firing


def test_no_data_counts_silence_from_the_rules_creation():
    r = rule(NO_DATA, period_ns=60 * NS)
    assert tick(r, RuleState(), T0 + 59 * NS)[1] == []
    assert kinds(tick(r, RuleState(), T0 + 61 * NS)[1]) == [FIRED]


def test_no_data_uses_arrival_time_not_the_device_clock():
    r = rule(NO_DATA, period_ns=60 * NS)
    # A reading stamped an hour ago but arriving now counts as data now.
    old = Reading(T0 - 3600 * NS, 1.0, T0 + 100 * NS)
    state, _ = evaluate(r, RuleState(), [old], key="m")
    assert tick(r, state, T0 + 150 * NS)[1] == []


def test_redelivered_message_fires_nothing_twice():
    r = rule(operator="above", value=50)
    message = series(10, 60)
    state, first = evaluate(r, RuleState(), message, key="msg-1")
    again, second = evaluate(r, state, message, key="msg-1")
    assert kinds(first) == [FIRED] and second == [] and again == state


def test_readings_of_one_message_are_evaluated_in_event_time_order():
    r = rule(operator="above", value=50)
    shuffled = list(reversed(series(10, 60, 20)))  # 60 is the middle reading
    _, out = evaluate(r, RuleState(), shuffled, key="m")
    assert kinds(out) == [FIRED, CLEARED]


def test_late_readings_are_ignored():
    r = rule(operator="above", value=50)
    state, _ = evaluate(r, RuleState(), series(10, start=T0 + 100 * NS), key="now")
    state, out = evaluate(r, state, series(99, start=T0), key="late")  # older than the last evaluated reading
    assert out == [] and state.last_ts == T0 + 100 * NS


def test_disabled_rule_fires_nothing():
    _, out = run(rule(operator="above", value=0, enabled=False), series(1, 2))
    assert out == []


def test_alert_ids_are_deterministic_and_distinct():
    _, one = run(rule(operator="above", value=50), series(60, 10, 60))
    _, two = run(rule(operator="above", value=50), series(60, 10, 60))
    assert [t.alert_id for t in one] == [t.alert_id for t in two]
    assert len({t.alert_id for t in one}) == 3


def test_state_survives_a_round_trip_through_plain_data():
    state, _ = run(rule(operator="above", value=50, sustained_ns=NS), series(60, 70))
    assert RuleState.from_dict(state.to_dict()) == state
    assert RuleState.from_dict(None) == RuleState()


def test_parse_threshold_rule():
    fields = parse_rule({"name": "hot", "sensor_id": "s1", "kind": "threshold", "operator": "above", "value": 30,
                         "sustained_for": 2.5, "webhook_url": "https://example.com/hook"})
    assert fields["sustained_ns"] == 2_500_000_000 and fields["value"] == 30.0 and fields["enabled"] is True


@pytest.mark.parametrize("body, field", [
    ({"name": "x", "sensor_id": "s", "kind": "bogus"}, "kind"),
    ({"name": "x", "sensor_id": "s", "kind": "threshold", "operator": "over", "value": 1}, "operator"),
    ({"name": "x", "sensor_id": "s", "kind": "threshold", "operator": "above", "value": "1"}, "value"),
    ({"name": "x", "sensor_id": "s", "kind": "threshold", "operator": "above", "value": 1, "period": 5}, "period"),
    ({"name": "x", "sensor_id": "s", "kind": "rate", "change": 0, "period": 60}, "change"),
    ({"name": "x", "sensor_id": "s", "kind": "rate", "change": 1, "period": -1}, "period"),
    ({"name": "x", "sensor_id": "s", "kind": "no_data", "period": 0}, "period"),
    ({"name": "x", "sensor_id": "s", "kind": "no_data", "period": 60, "webhook_url": "http://example.com"},
     "webhook_url"),
    ({"name": "x", "sensor_id": "s", "kind": "no_data", "period": 60, "webhook_url": "https://u:p@example.com"},
     "webhook_url"),
    ({"name": "", "sensor_id": "s", "kind": "no_data", "period": 60}, "name"),
    ({"sensor_id": "s", "kind": "no_data", "period": 60}, "name"),
    ({"name": "x", "sensor_id": "s", "kind": "no_data", "period": 60, "owner_id": "me"}, "owner_id"),
    ({"name": "x", "sensor_id": "s", "kind": "no_data", "period": 60, "colour": "red"}, "colour"),
])
def test_bad_rule_bodies_name_the_field(body, field):
    with pytest.raises(BadRequestError) as caught:
        parse_rule(body)
    assert caught.value.details == {"field": field}


def test_http_webhooks_only_to_loopback_and_only_when_allowed():
    body = {"name": "x", "sensor_id": "s", "kind": "no_data", "period": 60, "webhook_url": "http://127.0.0.1:9/h"}
    assert parse_rule(body, allow_http=True)["webhook_url"] == "http://127.0.0.1:9/h"
    with pytest.raises(BadRequestError):
        parse_rule(body)
    with pytest.raises(BadRequestError):
        parse_rule({**body, "webhook_url": "http://10.0.0.1/h"}, allow_http=True)


def test_patch_keeps_kind_and_sensor():
    current = rule(operator="above", value=50)
    assert parse_rule({"value": 60}, current=current)["value"] == 60.0
    with pytest.raises(BadRequestError):
        parse_rule({"kind": "rate"}, current=current)


def test_forecast_fires_once_before_the_value_crosses_and_clears_once_the_trend_turns():
    # A rise of 1 per 10 s from 10: at 20 s apart readings the line reaches 50 within 300 s only from about 21 on.
    r = rule(FORECAST, operator="above", value=50, period_ns=300 * NS)
    rising = list(range(10, 30))
    falling = [29 - 2 * i for i in range(1, 12)]
    state, out = run(r, series(*rising, *falling))
    assert kinds(out) == [FIRED, CLEARED]
    fired, cleared = out
    assert fired.value < 50  # before any reading crossed: the forecast's point
    assert "within 300 s" in fired.reason and "forecast" in fired.reason
    assert cleared.value < fired.value + 10
    assert len(state.history_ts) == len(state.history_values) == 31
    assert RuleState.from_dict(state.to_dict()) == state  # stored as flat lists, read back as it was


def test_forecast_needs_a_few_readings_and_keeps_only_the_latest():
    r = rule(FORECAST, operator="below", value=0, period_ns=60 * NS)
    _, out = run(r, series(10, 5, 0.5))  # heading below 0, but three readings are too few to fit a trend
    assert out == []
    state, out = run(r, series(*range(100, 0, -1)))
    assert kinds(out) == [FIRED]
    assert len(state.history_ts) == FORECAST_HISTORY


def test_forecast_at_is_the_least_squares_line():
    times = [T0 + i * NS for i in range(6)]
    assert forecast_at(times, [2.0 * i + 1 for i in range(6)], T0 + 10 * NS) == pytest.approx(21.0)
    assert forecast_at(times[:4], [1.0] * 4, T0) is None
    assert forecast_at([T0] * 6, [1.0] * 6, T0) is None


def test_a_forecast_rule_body_needs_operator_value_and_horizon():
    fields = parse_rule({"name": "soon hot", "sensor_id": "s", "kind": "forecast", "operator": "above", "value": 30,
                         "period": 600})
    assert (fields["operator"], fields["value"], fields["period_ns"]) == ("above", 30.0, 600 * NS)
    with pytest.raises(BadRequestError, match="period"):
        parse_rule({"name": "x", "sensor_id": "s", "kind": "forecast", "operator": "above", "value": 30})
    with pytest.raises(BadRequestError, match="sustained_for"):
        parse_rule({"name": "x", "sensor_id": "s", "kind": "forecast", "operator": "above", "value": 30,
                    "period": 60, "sustained_for": 5})
