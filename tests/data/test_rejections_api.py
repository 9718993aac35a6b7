"""Owners list what was refused for good, per device, through the API."""

from datetime import datetime, timedelta, timezone

import pytest

from infra.adapters.firestore_rejections import FirestoreRejections

from infra.domain.rejections import Rejection

pytestmark = pytest.mark.e2e


def test_an_owner_lists_a_devices_rejections_newest_first(services, new_user, firestore_db):
    owner, stranger = new_user(), new_user()
    device = owner.create_device("flaky")
    me = owner.me()
    now = datetime.now(timezone.utc)
    FirestoreRejections(firestore_db).record([
        Rejection("value 'warm' is not a number", "m1", now - timedelta(seconds=5), owner_id=me["id"],
                  device_id=device["id"], sample='{"value": "warm"}'),
        Rejection("not JSON", "m2", now, owner_id=me["id"], device_id=device["id"], sample="{oops"),
        Rejection("someone else's", "m3", now, owner_id="other", device_id="elsewhere"),
    ])
    reply = owner.call("GET", f"/api/devices/{device['id']}/rejections")
    assert [(item["message_id"], item["reason"]) for item in reply["items"]] == [
        ("m2", "not JSON"), ("m1", "value 'warm' is not a number")]
    assert reply["items"][1]["sample"] == '{"value": "warm"}'
    assert owner.call("GET", f"/api/devices/{device['id']}/rejections", params={"limit": 1})["items"][0][
        "message_id"] == "m2"
    assert stranger.request("GET", f"/api/devices/{device['id']}/rejections").status_code == 404
    bad = owner.request("GET", f"/api/devices/{device['id']}/rejections", params={"limit": "0"})
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "invalid_query"
