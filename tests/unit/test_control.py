"""The twin, commands and status rules (infra.domain.control): versions and conflicts, merge patches and the delta,
size and depth limits, the command lifecycle with expiry read at any moment."""

from datetime import datetime, timedelta, timezone

import pytest

from infra.domain.control import (COMMAND_MAX_TTL, DELIVERED, EXPIRED, FAILED, QUEUED, SUCCEEDED, TWIN_MAX_BYTES,
                                  Status, Twin, VersionConflictError, delta, etag, merge_patch, new_command,
                                  new_command_id, parse_etag, session_status)
from infra.domain.model import valid_id
from infra.domain.errors import BadRequestError, ConflictError, PayloadTooLargeError

T0 = datetime(2026, 12, 1, 12, 0, tzinfo=timezone.utc)


def test_desired_updates_are_versioned_and_conditional():
    twin = Twin("d1", "o1").with_desired({"rate": 5}, T0)
    assert (twin.desired, twin.desired_version, twin.desired_at) == ({"rate": 5}, 1, T0)
    assert twin.with_desired({"rate": 6}, T0, expected_version=1).desired_version == 2
    with pytest.raises(VersionConflictError) as caught:
        twin.with_desired({"rate": 7}, T0, expected_version=0)
    assert (caught.value.status, caught.value.code) == (412, "version_conflict")


def test_reported_state_is_a_merge_patch_and_the_delta_is_what_differs():
    twin = Twin("d1", "o1").with_desired({"rate": 5, "led": {"color": "red", "on": True}}, T0)
    twin = twin.with_reported({"rate": 5, "led": {"color": "blue", "on": True}, "fw": "1.2"}, T0)
    twin = twin.with_reported({"fw": None}, T0)
    assert twin.reported == {"rate": 5, "led": {"color": "blue", "on": True}} and twin.reported_version == 2
    assert twin.public()["delta"] == {"led": {"color": "red"}}
    assert merge_patch({"a": {"b": 1, "c": 2}}, {"a": {"c": None, "d": {"e": None, "f": 3}}}) == {"a": {"b": 1, "d": {"f": 3}}}
    assert delta({"a": 1}, {"a": 1, "b": 2}) == {}


@pytest.mark.parametrize("document, error", [
    ([1, 2], BadRequestError), ("x", BadRequestError), ({"a": {"b": {"c": {"d": {"e": {"f": {}}}}}}}, BadRequestError),
    ({"big": "x" * TWIN_MAX_BYTES}, PayloadTooLargeError),
])
def test_documents_are_objects_of_bounded_size_and_depth(document, error):
    with pytest.raises(error):
        Twin("d1", "o1").with_desired(document, T0)


def test_a_command_is_delivered_then_answered_once():
    command = new_command("c1", "d1", "o1", {"name": "reboot", "payload": {"delay": 5}, "ttl": 60}, T0)
    assert (command.status, command.expires_at) == (QUEUED, T0 + timedelta(seconds=60))
    delivered = command.delivered(T0 + timedelta(seconds=1))
    assert delivered.status == DELIVERED and delivered.delivered(T0 + timedelta(seconds=2)) == delivered
    done = delivered.finished(SUCCEEDED, T0 + timedelta(seconds=3), result={"ok": True})
    assert (done.status, done.result) == (SUCCEEDED, {"ok": True})
    with pytest.raises(ConflictError):
        done.finished(FAILED, T0 + timedelta(seconds=4), error="late")
    with pytest.raises(ConflictError):
        done.delivered(T0 + timedelta(seconds=4))


def test_an_open_command_past_its_expiry_reads_as_expired_and_takes_no_answer():
    command = new_command("c1", "d1", "o1", {"name": "reboot", "ttl": 10}, T0)
    later = T0 + timedelta(seconds=11)
    assert command.current(later).status == EXPIRED and command.public(later)["status"] == EXPIRED
    assert command.delivered(T0).current(later).status == EXPIRED
    for attempt in (lambda: command.delivered(later), lambda: command.finished(SUCCEEDED, later)):
        with pytest.raises(ConflictError):
            attempt()


@pytest.mark.parametrize("body", [{"name": "Reboot"}, {"name": ""}, {"name": "x", "ttl": 0},
                                  {"name": "x", "ttl": COMMAND_MAX_TTL + 1}, {"name": "x", "ttl": True},
                                  {"name": "x", "owner_id": "o2"}])
def test_bad_command_requests_are_refused(body):
    with pytest.raises(BadRequestError):
        new_command("c1", "d1", "o1", body, T0)


def test_status_is_online_when_connected_or_seen_lately():
    window = timedelta(seconds=300)
    assert Status(protocols=("mqtt",), connected_since=T0).online(T0 + timedelta(days=1), window)
    seen = Status(last_seen=T0)
    assert seen.online(T0 + timedelta(seconds=299), window) and not seen.online(T0 + timedelta(seconds=301), window)
    assert not Status().online(T0, window)


def test_command_ids_are_valid_ids_that_sort_newest_first():
    ids = [new_command_id(T0 + timedelta(microseconds=i)) for i in range(3)]
    assert all(valid_id(i) for i in ids) and sorted(ids) == ids[::-1]
    assert new_command_id(T0) != new_command_id(T0)


@pytest.mark.parametrize("header, version", [(None, None), ("*", None), ('"3"', 3), ('W/"12"', 12), ("7", 7)])
def test_entity_tags_name_a_version(header, version):
    assert parse_etag(header, "If-Match") == version
    assert parse_etag(etag(5), "If-Match") == 5


@pytest.mark.parametrize("header", ['"a"', '"1", "2"', '"-1"', '"1.5"', '"' + "9" * 19 + '"'])
def test_a_malformed_entity_tag_is_a_bad_request(header):
    with pytest.raises(BadRequestError) as caught:
        parse_etag(header, "If-None-Match")
    assert caught.value.code == "invalid_header"


def test_sessions_not_refreshed_since_the_bound_or_half_written_do_not_count():
    sessions = {"i1/a": {"protocol": "ws", "since": T0, "seen": T0 + timedelta(seconds=50)},
                "i2/b": {"protocol": "mqtt", "since": T0 - timedelta(seconds=5)},  # never refreshed
                "i3/c": {"seen": T0 + timedelta(seconds=60)}}  # a refresh that raced its close
    status = session_status(T0, sessions, T0 + timedelta(seconds=30))
    assert status == Status(last_seen=T0, protocols=("ws",), connected_since=T0)
    assert session_status(T0, sessions, T0 - timedelta(seconds=10)).connected_since == T0 - timedelta(seconds=5)
