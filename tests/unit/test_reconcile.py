"""The fault tests' verdict (tests/support/reconcile.py): what counts as lost, duplicated or unexpected."""

import pytest

from tests.support.reconcile import Ledger, Reconciliation


def test_readings_are_unique_in_value_and_time():
    ledger = Ledger(start_ns=0)
    readings = ledger.readings("s1", 3) + ledger.readings("s2", 2)
    assert [r["value"] for r in readings] == [0, 1, 2, 3, 4]
    assert len({r["timestamp"] for r in readings}) == 5
    ledger.acknowledge(readings[:2])
    assert ledger.accepted == {0: "s1", 1: "s1"} and ledger.sensors == ["s1", "s2"]


def test_every_accepted_reading_stored_once_passes():
    result = Reconciliation.count({0: "s1", 1: "s2"}, [("s1", 0), ("s2", 1)])
    assert result.line() == "accepted 2, indexed 2, lost 0, duplicated 0"
    result.check()


@pytest.mark.parametrize("stored, expected", [
    ([("s1", 0)], "accepted 2, indexed 1, lost 1, duplicated 0"),  # acknowledged, never stored
    ([("s1", 0), ("s1", 1), ("s1", 1)], "accepted 2, indexed 3, lost 0, duplicated 1"),  # stored twice
    ([("s1", 0), ("s1", 1), ("s1", 7)], "accepted 2, indexed 3, lost 0, duplicated 0"),  # stored, never acknowledged
    ([("s1", 0), ("s2", 1)], "accepted 2, indexed 2, lost 1, duplicated 0"),  # under another sensor
])
def test_anything_else_fails(stored, expected):
    result = Reconciliation.count({0: "s1", 1: "s1"}, stored)
    assert result.line() == expected
    with pytest.raises(AssertionError):
        result.check()


def test_nothing_accepted_fails():
    with pytest.raises(AssertionError, match="sent nothing"):
        Reconciliation.count({}, []).check()
