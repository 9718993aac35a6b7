"""The sans-IO connection: bytes and sink results in, effects out, with a fake clock (no sleeping)."""

from __future__ import annotations

import asyncio

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from run.gateway_mqtt.codec import (
    MQTT_3_1_1,
    MQTT_5,
    ConnAck,
    Connect,
    Decoder,
    Disconnect,
    PingReq,
    PingResp,
    Properties,
    PubAck,
    Publish,
    SubAck,
    Subscribe,
    Subscription,
    UnsubAck,
    Unsubscribe,
    Will,
    encode,
    encode_puback,
)
from run.gateway_mqtt.ports import DeviceIdentity, InvalidPayload, NotAuthorized, RateLimited, ServiceUnavailable
from run.gateway_mqtt.protocol import Connection, Effects, Limits

BOTH = pytest.mark.parametrize("version", [MQTT_3_1_1, MQTT_5])


@pytest.fixture
def make(authenticator, clock):
    """Make a connection on the fake clock; CONNECT it with ``connect=...`` kwargs unless connect=None."""

    def make_connection(version: int = MQTT_5, *, limits: Limits = Limits(), busy: bool = False,
                        **connect) -> tuple[Connection, Effects]:
        conn = Connection(authenticator, None, limits, busy=busy, clock=clock.monotonic, wall_clock=clock.time)
        fields = {"client_id": "c1", "protocol_level": version, "username": "JWT", "password": b"ok-dev1"}
        fields.update(connect)
        return conn, received(conn, encode(Connect(**fields), version))

    return make_connection


def received(conn: Connection, data: bytes) -> Effects:
    """Feed ``data``; if it completed a CONNECT, answer it with the authenticator as the transport does, and
    return the effects of both steps together."""
    effects = conn.data_received(data)
    if effects.authentication is None:
        return effects
    assert effects.reading is False and not effects.send  # nothing is read or answered while authenticating
    answer = asyncio.run(conn.authenticate(effects.authentication))
    return Effects(effects.send + answer.send, None, [*effects.deliveries, *answer.deliveries], answer.reading,
                   answer.session, answer.close)


def packets(data: bytes, version: int) -> list:
    decoder = Decoder(version)
    decoder.feed(data)
    found = list(decoder)
    assert decoder.buffered == 0
    return found


def send(conn: Connection, version: int, *items) -> Effects:
    return conn.data_received(b"".join(encode(item, version) for item in items))


def still_open(conn: Connection, version: int) -> bool:
    """Tell whether the connection answers a PINGREQ (and so was not closed)."""
    return send(conn, version, PingReq()).send == b"\xd0\x00"


# --- CONNECT --------------------------------------------------------------------------------------

@BOTH
def test_connect_is_accepted_with_a_good_token(make, version):
    conn, effects = make(version)
    [connack] = packets(effects.send, version)
    assert connack.reason_code == 0 and not connack.session_present and not effects.close
    assert effects.session == ("dev1", "c1")
    if version == MQTT_3_1_1:
        assert effects.send == b"\x20\x02\x00\x00"
    else:
        props = connack.properties
        assert (props.receive_maximum, props.maximum_qos, props.retain_available, props.topic_alias_maximum,
                props.maximum_packet_size) == (32, 1, 0, 0, 256 * 1024)
        assert props.wildcard_subscription_available == props.shared_subscription_available == 0
        assert props.server_keep_alive is None  # 60 s asked, 60 s granted


@pytest.mark.parametrize("version, password, expected", [
    (MQTT_3_1_1, b"wrong", b"\x20\x02\x00\x04"),
    (MQTT_3_1_1, None, b"\x20\x02\x00\x04"),
    (MQTT_3_1_1, b"denied-dev1", b"\x20\x02\x00\x05"),
    (MQTT_3_1_1, b"down", b"\x20\x02\x00\x03"),
    (MQTT_5, b"wrong", 0x86),
    (MQTT_5, None, 0x86),
    (MQTT_5, b"denied-dev1", 0x87),
    (MQTT_5, b"down", 0x88),
])
def test_refused_credentials_get_the_exact_connack_code(make, version, password, expected):
    conn, effects = make(version, password=password, username=None if password is None else "JWT")
    assert effects.close and conn.closed and effects.session is None
    if version == MQTT_3_1_1:
        assert effects.send == expected
    else:
        [connack] = packets(effects.send, version)
        assert connack.reason_code == expected and connack.properties.reason_string


def test_an_expired_token_is_refused_as_bad_credentials(make, authenticator, clock):
    authenticator.expires_at["dev1"] = clock.time() - 1
    _, effects = make(MQTT_3_1_1)
    assert effects.send == b"\x20\x02\x00\x04" and effects.close


@BOTH
def test_a_busy_server_refuses_with_server_unavailable_or_busy(make, version):
    _, effects = make(version, busy=True)
    [connack] = packets(effects.send, version)
    assert connack.reason_code == (0x03 if version == MQTT_3_1_1 else 0x89) and effects.close


@pytest.mark.parametrize("level, expected", [(3, b"\x20\x02\x00\x01"), (6, b"\x20\x03\x00\x84\x00")])
def test_unsupported_protocol_versions_get_the_matching_connack(authenticator, level, expected):
    conn = Connection(authenticator)
    name = b"MQIsdp" if level == 3 else b"MQTT"
    body = len(name).to_bytes(2, "big") + name + bytes((level, 2, 0, 60, 0, 1)) + b"c"
    effects = conn.data_received(bytes((0x10, len(body))) + body)
    assert effects.send == expected and effects.close


def test_empty_client_id_gets_an_assigned_one_in_v5(make):
    _, effects = make(MQTT_5, client_id="")
    [connack] = packets(effects.send, MQTT_5)
    assigned = connack.properties.assigned_client_identifier
    assert assigned and effects.session == ("dev1", assigned)


def test_empty_client_id_needs_clean_session_in_3_1_1(make):
    _, accepted = make(MQTT_3_1_1, client_id="")
    _, refused = make(MQTT_3_1_1, client_id="", clean_start=False)
    assert accepted.send == b"\x20\x02\x00\x00" and accepted.session[1]
    assert refused.send == b"\x20\x02\x00\x02" and refused.close


def test_too_long_client_id_is_refused(make):
    _, v5 = make(MQTT_5, limits=Limits(max_client_id_length=8), client_id="x" * 9)
    _, v3 = make(MQTT_3_1_1, limits=Limits(max_client_id_length=8), client_id="x" * 9)
    assert packets(v5.send, MQTT_5)[0].reason_code == 0x85 and v3.send == b"\x20\x02\x00\x02"


@pytest.mark.parametrize("connect, code", [
    ({"will": Will("dev1", b"bye", qos=2)}, 0x9B),
    ({"will": Will("dev1", b"bye", retain=True)}, 0x9A),
    ({"properties": Properties(authentication_method="SCRAM-SHA-1")}, 0x8C),
])
def test_v5_connects_asking_for_what_is_not_offered_are_refused(make, connect, code):
    _, effects = make(MQTT_5, **connect)
    assert packets(effects.send, MQTT_5)[0].reason_code == code and effects.close


def test_session_expiry_is_answered_with_zero(make):
    _, effects = make(MQTT_5, clean_start=False, properties=Properties(session_expiry_interval=3600))
    [connack] = packets(effects.send, MQTT_5)
    assert connack.properties.session_expiry_interval == 0 and not connack.session_present


@BOTH
def test_anything_before_connect_closes_without_an_answer(authenticator, version):
    for first in (PingReq(), Publish("dev1", b"{}")):
        conn = Connection(authenticator)
        effects = conn.data_received(encode(first, version))
        assert effects.close and effects.send == b"" and not effects.deliveries


@BOTH
def test_a_second_connect_is_a_protocol_error(make, version):
    conn, _ = make(version)
    effects = send(conn, version, Connect("c2", version, username="JWT", password=b"ok-dev1"))
    assert effects.close
    if version == MQTT_5:
        assert packets(effects.send, version)[0].reason_code == 0x82
    else:
        assert effects.send == b""


def test_connect_may_arrive_in_pieces_and_with_publishes_behind_it(authenticator):
    conn = Connection(authenticator)
    wire = encode(Connect("c1", MQTT_5, password=b"ok-dev1"), MQTT_5) + encode(Publish("dev1", b"{}", 1, 1), MQTT_5)
    first = conn.data_received(wire[:5])
    rest = received(conn, wire[5:])
    assert first.send == b"" and packets(rest.send, MQTT_5)[0].reason_code == 0
    assert [call.payload for call in rest.deliveries] == [b"{}"]


# --- authentication (asynchronous) ----------------------------------------------------------------

def test_nothing_is_read_or_answered_until_the_authenticator_answers(authenticator):
    conn = Connection(authenticator)
    wire = encode(Connect("c1", MQTT_5, password=b"ok-dev1"), MQTT_5) + encode(Publish("dev1", b"{}", 1, 1), MQTT_5)
    asked = conn.data_received(wire)
    assert (asked.authentication.username, asked.authentication.password) == (None, b"ok-dev1")
    assert asked.reading is False and asked.send == b"" and not asked.deliveries and asked.session is None
    assert conn.data_received(encode(PingReq(), MQTT_5)) == Effects()  # kept for later, not answered yet
    answer = asyncio.run(conn.authenticate(asked.authentication))
    assert answer.reading is True and answer.session == ("dev1", "c1") and answer.authentication is None
    connack, pingresp = packets(answer.send, MQTT_5)
    assert connack.reason_code == 0 and isinstance(pingresp, PingResp)
    assert [call.payload for call in answer.deliveries] == [b"{}"]


def test_the_connect_timeout_bounds_authentication_and_a_late_answer_is_ignored(authenticator, clock):
    conn = Connection(authenticator, limits=Limits(connect_timeout=5), clock=clock.monotonic, wall_clock=clock.time)
    asked = conn.data_received(encode(Connect("c1", MQTT_5, password=b"ok-dev1"), MQTT_5))
    clock.advance(5)
    assert conn.timer().close
    assert conn.authenticated(asked.authentication, DeviceIdentity("dev1")) == Effects()


def test_an_unexpected_authenticator_failure_is_an_internal_error(clock):
    class Broken:
        async def authenticate(self, username, password, client_id):
            raise KeyError("bug")

    conn = Connection(Broken())
    effects = received(conn, encode(Connect("c1", MQTT_5, password=b"ok-dev1"), MQTT_5))
    assert effects.close and packets(effects.send, MQTT_5)[0].reason_code == 0x80


# --- timeouts -------------------------------------------------------------------------------------

def test_connect_timeout_closes_a_silent_connection(authenticator, clock):
    conn = Connection(authenticator, limits=Limits(connect_timeout=5), clock=clock.monotonic)
    conn.data_received(encode(Connect("c1", username="JWT", password=b"ok-dev1"), MQTT_3_1_1)[:4])  # a partial CONNECT
    assert conn.next_deadline == clock.now + 5
    clock.advance(4.9)
    assert not conn.timer().close
    clock.advance(0.2)
    effects = conn.timer()
    assert effects.close and effects.send == b"" and conn.next_deadline is None


@BOTH
def test_keep_alive_disconnects_after_one_and_a_half_periods_without_a_packet(make, clock, version):
    conn, _ = make(version, keep_alive=10)
    clock.advance(14.9)
    assert not conn.timer().close
    assert still_open(conn, version)  # a PINGREQ restarts the period
    clock.advance(14.9)
    assert not conn.timer().close
    clock.advance(0.2)
    effects = conn.timer()
    assert effects.close
    if version == MQTT_5:
        assert packets(effects.send, version)[0].reason_code == 0x8D
    else:
        assert effects.send == b""


def test_keep_alive_zero_or_too_long_is_capped_and_told_in_v5(make, clock):
    limits = Limits(max_keep_alive=100)
    _, none_asked = make(MQTT_5, limits=limits, keep_alive=0)
    _, too_long = make(MQTT_5, limits=limits, keep_alive=1000)
    assert packets(none_asked.send, MQTT_5)[0].properties.server_keep_alive == 100
    assert packets(too_long.send, MQTT_5)[0].properties.server_keep_alive == 100
    v3, _ = make(MQTT_3_1_1, limits=limits, keep_alive=0)
    assert v3.next_deadline == clock.now + 150


def test_keep_alive_is_not_enforced_while_the_gateway_is_not_reading(make, clock):
    conn, _ = make(MQTT_5, limits=Limits(receive_maximum=1), keep_alive=10)
    effects = send(conn, MQTT_5, Publish("dev1", b"a", 1, 1))
    assert effects.reading is False and conn.next_deadline is None
    clock.advance(100)
    assert not conn.timer().close
    done = conn.delivery_done(effects.deliveries[0])
    assert done.reading is True and conn.next_deadline == clock.now + 15


# --- publishing -----------------------------------------------------------------------------------

@BOTH
def test_puback_is_sent_only_when_the_sink_is_done(make, version):
    conn, _ = make(version)
    effects = send(conn, version, Publish("dev1", b'{"v": 1}', 1, 7))
    [call] = effects.deliveries
    assert effects.send == b"" and (call.identity.device_id, call.payload, call.qos) == ("dev1", b'{"v": 1}', 1)
    assert conn.delivery_done(call).send == b"\x40\x02\x00\x07"


@BOTH
def test_both_topic_forms_of_the_own_device_are_accepted(make, version):
    conn, _ = make(version)
    effects = send(conn, version, Publish("dev1", b"a"), Publish("devices/dev1/telemetry", b"b", 1, 2))
    assert [call.payload for call in effects.deliveries] == [b"a", b"b"]
    assert conn.delivery_done(effects.deliveries[0]).send == b""  # QoS 0: no PUBACK


def test_foreign_topic_qos1_in_v5_gets_puback_not_authorized_and_stays(make):
    conn, _ = make(MQTT_5)
    effects = send(conn, MQTT_5, Publish("devices/dev2/telemetry", b"{}", 1, 9))
    assert not effects.deliveries and not effects.close
    assert effects.send == encode(PubAck(9, 0x87, Properties(reason_string="topic not allowed for this device")),
                                  MQTT_5)
    assert still_open(conn, MQTT_5)


def test_foreign_topic_qos0_in_v5_is_disconnected_not_authorized(make):
    conn, _ = make(MQTT_5)
    effects = send(conn, MQTT_5, Publish("dev2", b"{}"))
    assert effects.close and not effects.deliveries
    assert effects.send == encode(Disconnect(0x87, Properties(reason_string="topic not allowed for this device")),
                                  MQTT_5)


@pytest.mark.parametrize("topic", ["dev2", "devices/dev2/telemetry", "devices/dev1", "dev1/x"])
def test_foreign_topic_in_3_1_1_closes_the_connection(make, topic):
    conn, _ = make(MQTT_3_1_1)
    effects = send(conn, MQTT_3_1_1, Publish(topic, b"{}", 1, 3))
    assert effects.close and effects.send == b"" and not effects.deliveries


@BOTH
def test_qos2_is_refused(make, version):
    conn, _ = make(version)
    effects = send(conn, version, Publish("dev1", b"{}", 2, 4))
    assert effects.close and not effects.deliveries
    if version == MQTT_5:
        assert effects.send == b"\xe0\x1b\x9b\x19\x1f\x00\x16QoS 2 is not supported"
    else:
        assert effects.send == b""


def test_retain_is_a_protocol_error_in_v5_and_ignored_in_3_1_1(make):
    v5, _ = make(MQTT_5)
    refused = send(v5, MQTT_5, Publish("dev1", b"{}", 1, 1, retain=True))
    assert refused.close and packets(refused.send, MQTT_5)[0].reason_code == 0x9A
    v3, _ = make(MQTT_3_1_1)
    accepted = send(v3, MQTT_3_1_1, Publish("dev1", b"{}", 1, 1, retain=True))
    assert v3.delivery_done(accepted.deliveries[0]).send == b"\x40\x02\x00\x01"


def test_topic_alias_is_refused(make):
    conn, _ = make(MQTT_5)
    effects = send(conn, MQTT_5, Publish("dev1", b"{}", 0, properties=Properties(topic_alias=1)))
    assert effects.close and packets(effects.send, MQTT_5)[0].reason_code == 0x94


@BOTH
def test_subscribe_is_refused_per_filter_and_the_connection_stays(make, version):
    conn, _ = make(version)
    effects = send(conn, version, Subscribe(5, (Subscription("dev1"), Subscription("devices/#", 1))))
    if version == MQTT_3_1_1:
        assert effects.send == b"\x90\x04\x00\x05\x80\x80"
    else:
        assert effects.send == encode(SubAck(5, (0x87, 0x87), Properties(reason_string="this gateway only ingests")),
                                      MQTT_5)
    assert not effects.close and still_open(conn, version)


@BOTH
def test_unsubscribe_gets_an_unsuback(make, version):
    conn, _ = make(version)
    effects = send(conn, version, Unsubscribe(6, ("a", "b")))
    expected = UnsubAck(6) if version == MQTT_3_1_1 else UnsubAck(6, (0x11, 0x11))
    assert effects.send == encode(expected, version) and not effects.close


def test_problem_information_off_means_no_reason_strings_on_acks(make):
    conn, _ = make(MQTT_5, properties=Properties(request_problem_information=0))
    effects = send(conn, MQTT_5, Publish("dev2", b"{}", 1, 9))
    assert effects.send == b"\x40\x03\x00\x09\x87"


def test_reason_strings_are_left_out_beyond_the_client_maximum_packet_size(make):
    conn, _ = make(MQTT_5, properties=Properties(maximum_packet_size=8))
    effects = send(conn, MQTT_5, Publish("dev2", b"{}", 1, 9))
    assert effects.send == b"\x40\x03\x00\x09\x87"


@BOTH
def test_client_disconnect_closes(make, version):
    conn, _ = make(version)
    effects = send(conn, version, Disconnect())
    assert effects.close and effects.send == b""


# --- bounds -----------------------------------------------------------------------------------------

@BOTH
def test_in_flight_publishes_are_bounded_and_reading_pauses_at_the_bound(make, version):
    conn, connect = make(version, limits=Limits(receive_maximum=2))
    if version == MQTT_5:
        assert packets(connect.send, version)[0].properties.receive_maximum == 2
    effects = send(conn, version, *(Publish("dev1", b"%d" % i, 1, i) for i in (1, 2, 3, 4)))
    assert [call.packet_id for call in effects.deliveries] == [1, 2] and effects.reading is False
    assert conn.data_received(encode(PingReq(), version)).send == b""  # buffered, not decoded
    first, second = effects.deliveries
    after_second = conn.delivery_done(second)  # PUBACKs go out in completion order
    assert after_second.send == encode_puback(2) and [c.packet_id for c in after_second.deliveries] == [3]
    assert after_second.reading is None  # 1 and 3 in flight: still at the bound
    after_first = conn.delivery_done(first)
    assert after_first.send == encode_puback(1) and [c.packet_id for c in after_first.deliveries] == [4]
    third, fourth = after_second.deliveries[0], after_first.deliveries[0]
    below_the_bound = conn.delivery_done(third)
    assert below_the_bound.send == encode_puback(3) + b"\xd0\x00"  # then the PINGREQ that waited
    assert below_the_bound.reading is True
    last = conn.delivery_done(fourth)
    assert last.send == encode_puback(4) and last.reading is None


def test_qos0_publishes_count_against_the_bound_too(make):
    conn, _ = make(MQTT_5, limits=Limits(receive_maximum=3))
    effects = send(conn, MQTT_5, *(Publish("dev1", b"x") for _ in range(5)))
    assert len(effects.deliveries) == 3 and effects.reading is False


@BOTH
def test_an_oversized_packet_ends_the_connection(make, version):
    conn, _ = make(version, limits=Limits(max_packet_size=1024, max_connect_packet_size=512))
    effects = conn.data_received(b"\x30\x80\x10")  # the header of a 2048-byte PUBLISH is enough
    assert effects.close
    if version == MQTT_5:
        assert packets(effects.send, version)[0].reason_code == 0x95
    else:
        assert effects.send == b""


def test_a_large_connect_is_refused_before_authentication(authenticator):
    conn = Connection(authenticator, limits=Limits(max_connect_packet_size=128))
    effects = conn.data_received(encode(Connect("c", username="JWT", password=b"ok-" + b"x" * 200), MQTT_3_1_1))
    assert effects.close and effects.send == b""


def test_malformed_packets_get_disconnect_malformed_in_v5(make):
    conn, _ = make(MQTT_5)
    effects = conn.data_received(b"\x30\x03\x00\x05a")  # topic length past the end
    assert effects.close and packets(effects.send, MQTT_5)[0].reason_code == 0x81


@BOTH
def test_a_reused_packet_id_in_flight(make, version):
    conn, _ = make(version)
    send(conn, version, Publish("dev1", b"a", 1, 1))
    resend = send(conn, version, Publish("dev1", b"a", 1, 1, dup=True))
    if version == MQTT_3_1_1:
        assert not resend.deliveries and not resend.close  # its PUBACK will answer both
        assert send(conn, version, Publish("dev1", b"b", 1, 1)).close
    else:
        assert resend.close and packets(resend.send, version)[0].reason_code == 0x82


def test_hurry_shortens_the_connect_timeout_of_a_silent_connection(authenticator, clock):
    conn = Connection(authenticator, limits=Limits(connect_timeout=10), clock=clock.monotonic)
    clock.advance(1)
    conn.hurry(2)
    assert conn.next_deadline == clock.now + 1  # 2 s from when the connection was accepted
    clock.advance(1)
    assert conn.timer().close


def test_hurry_spares_a_connection_whose_connect_is_being_authenticated(authenticator, clock):
    conn = Connection(authenticator, limits=Limits(connect_timeout=10), clock=clock.monotonic)
    assert conn.awaiting_connect
    conn.data_received(encode(Connect("c1", MQTT_5, password=b"ok-dev1"), MQTT_5))
    assert not conn.awaiting_connect
    conn.hurry(2)
    assert conn.next_deadline == clock.now + 10


# --- token lifetime -------------------------------------------------------------------------------

def test_token_expiry_disconnects_with_maximum_connect_time(make, authenticator, clock):
    authenticator.expires_at["dev1"] = clock.time() + 30
    conn, _ = make(MQTT_5, keep_alive=60)
    assert conn.next_deadline == clock.now + 30
    clock.advance(29)
    assert not conn.timer().close and send(conn, MQTT_5, Publish("dev1", b"{}")).deliveries
    clock.advance(1)
    effects = conn.timer()
    assert effects.close and packets(effects.send, MQTT_5)[0].reason_code == 0xA0


def test_a_publish_after_expiry_is_not_accepted_even_before_the_timer(make, authenticator, clock):
    authenticator.expires_at["dev1"] = clock.time() + 30
    conn, _ = make(MQTT_3_1_1)
    clock.advance(31)
    effects = send(conn, MQTT_3_1_1, Publish("dev1", b"{}", 1, 1))
    assert effects.close and not effects.deliveries


@BOTH
def test_a_token_the_sink_finds_revoked_ends_the_connection_without_puback(make, version):
    conn, _ = make(version)
    [call] = send(conn, version, Publish("dev1", b"{}", 1, 2)).deliveries
    effects = conn.delivery_done(call, NotAuthorized("the device key was rotated"))
    assert effects.close
    if version == MQTT_5:
        assert packets(effects.send, version) == [Disconnect(0x87, Properties(
            reason_string="the device token was revoked"))]
    else:
        assert effects.send == b""


# --- sink outcomes --------------------------------------------------------------------------------

@BOTH
def test_qos1_calls_name_their_delivery_by_client_and_packet_id_with_the_dup_flag(make, version):
    conn, _ = make(version, client_id="box-7")
    [first] = send(conn, version, Publish("dev1", b"a", 1, 9)).deliveries
    [again] = send(conn, version, Publish("dev1", b"b", 1, 10, dup=True)).deliveries
    [qos0] = send(conn, version, Publish("dev1", b"c")).deliveries
    assert (first.delivery_id, first.repeated) == ("box-7:9", False)
    assert (again.delivery_id, again.repeated) == ("box-7:10", True)
    assert qos0.delivery_id is None


def test_a_v5_puback_tells_how_many_records_a_later_one_replaced(make):
    v5, _ = make(MQTT_5)
    [call] = send(v5, MQTT_5, Publish("dev1", b"{}", 1, 3)).deliveries
    assert packets(v5.delivery_done(call, replaced=2).send, MQTT_5) == [
        PubAck(3, 0, Properties(user_properties=(("replaced", "2"),)))]
    quiet, _ = make(MQTT_5, properties=Properties(request_problem_information=0))
    [call] = send(quiet, MQTT_5, Publish("dev1", b"{}", 1, 3)).deliveries
    assert quiet.delivery_done(call, replaced=2).send == encode_puback(3)  # no user properties were wanted
    v3, _ = make(MQTT_3_1_1)
    [call] = send(v3, MQTT_3_1_1, Publish("dev1", b"{}", 1, 3)).deliveries
    assert v3.delivery_done(call, replaced=2).send == encode_puback(3)

def publish_and_fail(make, version, error, qos=1):
    conn, _ = make(version)
    [call] = send(conn, version, Publish("dev1", b"{}", qos, 5 if qos else None)).deliveries
    return conn, conn.delivery_done(call, error)


def test_invalid_payload_gets_puback_payload_format_invalid_with_the_reason_in_v5(make):
    conn, effects = publish_and_fail(make, MQTT_5, InvalidPayload("records[0].value: not a number"))
    assert effects.send == encode(PubAck(5, 0x99, Properties(reason_string="records[0].value: not a number")), MQTT_5)
    assert still_open(conn, MQTT_5)


def test_invalid_payload_is_acknowledged_in_3_1_1_so_it_is_not_resent_forever(make):
    conn, effects = publish_and_fail(make, MQTT_3_1_1, InvalidPayload("bad"))
    assert effects.send == b"\x40\x02\x00\x05" and not effects.close


def test_rate_limited_gets_quota_exceeded_in_v5_and_a_close_in_3_1_1(make):
    _, v5 = publish_and_fail(make, MQTT_5, RateLimited())
    assert packets(v5.send, MQTT_5)[0] == PubAck(5, 0x97, Properties(reason_string="quota exceeded"))
    _, v3 = publish_and_fail(make, MQTT_3_1_1, RateLimited())
    assert v3.close and v3.send == b""


@BOTH
def test_sink_unavailable_means_no_puback_and_a_disconnect(make, version):
    _, effects = publish_and_fail(make, version, ServiceUnavailable("pubsub down"))
    assert effects.close
    if version == MQTT_5:
        assert packets(effects.send, version) == [Disconnect(0x89, Properties(
            reason_string="server unavailable, try again later"))]
    else:
        assert effects.send == b""


def test_qos0_failures_are_dropped_quietly(make):
    for error in (InvalidPayload("bad"), RateLimited()):
        conn, effects = publish_and_fail(make, MQTT_5, error, qos=0)
        assert effects.send == b"" and not effects.close and still_open(conn, MQTT_5)


def test_deliver_runs_the_injected_sink_and_maps_its_errors(authenticator, sink):
    conn = Connection(authenticator, sink)
    received(conn, encode(Connect("c", MQTT_5, password=b"ok-dev1"), MQTT_5))
    first, second = conn.data_received(encode(Publish("dev1", b"1", 1, 1), MQTT_5)
                                       + encode(Publish("dev1", b"2", 1, 2), MQTT_5)).deliveries
    assert asyncio.run(conn.deliver(first)).send == encode_puback(1)
    sink.error = InvalidPayload("nope")
    assert packets(asyncio.run(conn.deliver(second)).send, MQTT_5)[0].reason_code == 0x99
    assert sink.records == [("dev1", b"1")] and sink.deliveries == [("c:1", False)]


def test_an_unexpected_sink_exception_counts_as_unavailable(authenticator, sink):
    conn = Connection(authenticator, sink)
    received(conn, encode(Connect("c", MQTT_5, password=b"ok-dev1"), MQTT_5))
    [call] = conn.data_received(encode(Publish("dev1", b"1", 1, 1), MQTT_5)).deliveries
    sink.error = KeyError("bug")
    effects = asyncio.run(conn.deliver(call))
    assert effects.close and packets(effects.send, MQTT_5)[0].reason_code == 0x89


# --- shutdown and take-over ---------------------------------------------------------------------------

@BOTH
def test_shutdown_waits_for_publishes_in_flight_then_disconnects(make, version):
    conn, _ = make(version)
    [call] = send(conn, version, Publish("dev1", b"{}", 1, 8)).deliveries
    effects = conn.begin_shutdown()
    assert effects.reading is False and not effects.close
    assert conn.data_received(encode(Publish("dev1", b"late", 1, 9), version)) is not None
    done = conn.delivery_done(call)
    assert done.close and not done.deliveries
    if version == MQTT_5:
        assert packets(done.send, version) == [PubAck(8), Disconnect(0x8B, Properties(
            reason_string="server shutting down"))]
    else:
        assert done.send == encode_puback(8)


def test_shutdown_without_publishes_in_flight_disconnects_at_once(make):
    conn, _ = make(MQTT_5)
    effects = conn.begin_shutdown()
    assert effects.close and packets(effects.send, MQTT_5)[0].reason_code == 0x8B


def test_abort_disconnects_despite_publishes_in_flight(make):
    conn, _ = make(MQTT_5)
    [call] = send(conn, MQTT_5, Publish("dev1", b"{}", 1, 8)).deliveries
    conn.begin_shutdown()
    effects = conn.abort()
    assert effects.close and packets(effects.send, MQTT_5)[0].reason_code == 0x8B
    assert conn.delivery_done(call).send == b""  # too late: the client resends it elsewhere


def test_take_over_disconnects_with_session_taken_over(make):
    conn, _ = make(MQTT_5)
    effects = conn.take_over()
    assert effects.close and packets(effects.send, MQTT_5)[0].reason_code == 0x8E


def test_nothing_is_processed_after_close(make):
    conn, _ = make(MQTT_3_1_1)
    send(conn, MQTT_3_1_1, Disconnect())
    assert send(conn, MQTT_3_1_1, Publish("dev1", b"{}")) == Effects()
    assert conn.timer() == Effects() and conn.next_deadline is None


def test_connack_exact_bytes_refusal_v5(make):
    _, effects = make(MQTT_5, password=b"wrong")
    assert effects.send == encode(ConnAck(0x86, False, Properties(reason_string="bad user name or password")),
                                  MQTT_5)


def client_packets(version: int):
    """Packets a client might send after CONNECT, good and bad."""
    ids = st.integers(1, 5)
    return st.one_of(
        st.builds(Publish, st.sampled_from(["dev1", "devices/dev1/telemetry", "dev2"]), st.binary(max_size=8),
                  st.just(1), ids, st.booleans()),
        st.builds(Publish, st.sampled_from(["dev1", "dev2"]), st.binary(max_size=8)),
        st.builds(Publish, st.just("dev1"), st.just(b""), st.just(2), ids),
        st.builds(Subscribe, ids, st.just((Subscription("a"),))), st.builds(Unsubscribe, ids, st.just(("a",))),
        st.just(PingReq()), st.builds(PubAck, ids), st.just(Disconnect()),
        st.just(Connect("again", version)))


@settings(max_examples=150, deadline=None)
@given(st.data(), st.sampled_from([MQTT_3_1_1, MQTT_5]), st.binary(max_size=40),
       st.lists(st.integers(1, 40), min_size=1))
def test_any_client_stream_after_connect_never_raises(data, version, garbage, chunks):
    conn = Connection(_Accepting(), limits=Limits(receive_maximum=4))
    received(conn, encode(Connect("c", version, username="JWT", password=b"ok-dev1"), version))
    stream = data.draw(st.lists(client_packets(version), max_size=12))
    wire = b"".join(encode(packet, version) for packet in stream) + garbage
    pending = []
    pos = 0
    index = 0
    while pos < len(wire):
        size = chunks[index % len(chunks)]
        index += 1
        effects = conn.data_received(wire[pos:pos + size])
        pos += size
        pending.extend(effects.deliveries)
        if data.draw(st.booleans()) and pending:
            conn.delivery_done(pending.pop(0))
    for call in pending:
        conn.delivery_done(call)
    assert conn.pending == 0


class _Accepting:
    async def authenticate(self, username, password, client_id):
        return DeviceIdentity("dev1")
