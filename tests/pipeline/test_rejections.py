"""Rejections in Firestore: recorded idempotently, listed per owner and device, newest first."""

from datetime import datetime, timedelta, timezone

import pytest

from infra.adapters.firestore_rejections import FirestoreRejections

from infra.domain.rejections import MAX_LIST_LIMIT, SAMPLE_CHARS, Rejection

T0 = datetime(2026, 11, 28, 3, 0, tzinfo=timezone.utc)


def rejection(minutes: int, *, owner="o1", device="d1", part="message", message_id=None, sample="{}"):
    return Rejection(reason=f"bad at {minutes}", message_id=message_id or f"m{minutes}",
                     published_at=T0 + timedelta(minutes=minutes), part=part, owner_id=owner, device_id=device,
                     sensor_id="s1" if part != "message" else None, sample=sample)


def test_an_owner_lists_its_rejections_newest_first(firestore_db):
    FirestoreRejections(firestore_db).record([rejection(1), rejection(3), rejection(2), rejection(5, owner="o2")])
    listed = FirestoreRejections(firestore_db).list("o1")
    assert [r["reason"] for r in listed] == ["bad at 3", "bad at 2", "bad at 1"]
    assert listed[0] == {"id": listed[0]["id"], "owner_id": "o1", "device_id": "d1", "sensor_id": None,
                         "source": "pipeline", "reason": "bad at 3", "message_id": "m3", "part": "message",
                         "at": "2026-11-28T03:03:00.000000Z", "sample": "{}"}
    assert [r["reason"] for r in FirestoreRejections(firestore_db).list("o2")] == ["bad at 5"]
    assert FirestoreRejections(firestore_db).list("nobody") == []


def test_rejections_are_filtered_by_device_and_limited(firestore_db):
    FirestoreRejections(firestore_db).record([rejection(i, device=f"d{i % 2}") for i in range(6)])
    assert [r["reason"] for r in FirestoreRejections(firestore_db).list("o1", "d1")] == ["bad at 5", "bad at 3", "bad at 1"]
    assert [r["reason"] for r in FirestoreRejections(firestore_db).list("o1", limit=2)] == ["bad at 5", "bad at 4"]
    with pytest.raises(ValueError):
        FirestoreRejections(firestore_db).list("o1", limit=MAX_LIST_LIMIT + 1)


def test_recording_the_same_rejection_again_overwrites_it(firestore_db):
    first = [rejection(1, part="record-0", message_id="42"), rejection(1, part="record-3", message_id="42")]
    ids = FirestoreRejections(firestore_db).record(first)
    assert FirestoreRejections(firestore_db).record(first) == ids
    assert len(set(ids)) == 2
    assert len(FirestoreRejections(firestore_db).list("o1")) == 2


def test_samples_are_truncated(firestore_db):
    FirestoreRejections(firestore_db).record([rejection(1, sample="x" * 10_000)])
    [listed] = FirestoreRejections(firestore_db).list("o1")
    assert len(listed["sample"]) == SAMPLE_CHARS and listed["sample"].endswith("…")


def test_many_rejections_are_written_in_batches(firestore_db):
    FirestoreRejections(firestore_db).record([rejection(1, part=f"record-{i}", message_id="big") for i in range(450)])
    assert len(FirestoreRejections(firestore_db).list("o1", limit=MAX_LIST_LIMIT)) == 450
