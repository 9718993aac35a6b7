"""The outage budget of the dead-letter policy in infra/pubsub_topology.json."""

import dataclasses

import pytest

from infra.config import PubSubTopology
from infra.ops.dead_letters import JITTER, outage_budget, retry_delay, seconds

HOUR = 3600


def test_redeliveries_back_off_from_the_minimum_to_the_maximum():
    topology = PubSubTopology.load()
    shortest = [retry_delay(topology, refused, JITTER[0]) for refused in range(1, 100)]
    longest = [retry_delay(topology, refused, JITTER[1]) for refused in range(1, 100)]
    assert shortest[0] == 10 and longest[0] == 14  # the minimum, plus 40 % of it at the longest draw
    assert shortest == sorted(shortest) and longest == sorted(longest)
    assert longest[-1] == 600 and shortest[-1] == pytest.approx(0.6 * 596 + 4)


def test_the_policy_keeps_messages_for_hours_before_dead_lettering_them():
    topology = PubSubTopology.load()
    assert outage_budget(topology) == pytest.approx(31388, abs=1)  # 8.7 h with the shortest draws
    assert outage_budget(topology, JITTER[1]) == pytest.approx(52049, abs=1)  # 14.5 h with the longest
    assert outage_budget(topology) > 8 * HOUR


def test_the_former_policy_dead_lettered_within_about_a_minute():
    former = dataclasses.replace(PubSubTopology.load(), max_delivery_attempts=5)
    assert outage_budget(former, JITTER[1]) < 90


def test_messages_are_retained_longer_than_the_budget():
    topology = PubSubTopology.load()
    # Otherwise Pub/Sub would drop unacknowledged telemetry at the end of retention, before dead-lettering it.
    assert seconds(topology.message_retention) > outage_budget(topology, JITTER[1])


def test_durations_are_read_in_seconds_only():
    assert seconds("600s") == 600
    with pytest.raises(ValueError, match="seconds"):
        seconds("10m")
