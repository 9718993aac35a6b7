"""The MQTT codec: exact bytes, round trips of every packet type in both versions, and fuzzing."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from run.gateway_mqtt import codec
from run.gateway_mqtt.codec import (
    MQTT_3_1_1,
    MQTT_5,
    Auth,
    ConnAck,
    Connect,
    Decoder,
    Disconnect,
    MalformedPacketError,
    PacketTooLargeError,
    PingReq,
    PingResp,
    Properties,
    ProtocolViolationError,
    PubAck,
    PubComp,
    Publish,
    PubRec,
    PubRel,
    SubAck,
    Subscribe,
    Subscription,
    UnsubAck,
    Unsubscribe,
    UnsupportedProtocolVersionError,
    Will,
    encode,
    encode_puback,
    encode_varint,
)

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def decode_all(data: bytes, version: int | None, chunks: list[int] | None = None) -> list:
    """Feed ``data`` in chunks of the given sizes (cycled) and return every packet decoded."""
    decoder = Decoder(version)
    packets = []
    pos = 0
    sizes = chunks or [len(data) or 1]
    index = 0
    while pos < len(data):
        size = sizes[index % len(sizes)]
        index += 1
        decoder.feed(data[pos:pos + size])
        pos += size
        packets.extend(decoder)
    assert decoder.buffered == 0
    return packets


# --- strategies ---------------------------------------------------------------------------------------

texts = st.text(st.characters(blacklist_characters="\x00", blacklist_categories=("Cs",)), max_size=12)
topics = texts.filter(lambda t: t and "+" not in t and "#" not in t)
filters = texts.filter(bool)
packet_ids = st.integers(1, 0xFFFF)
binaries = st.binary(max_size=24)

_KIND_VALUES = {
    codec._U16: st.integers(0, 0xFFFF),
    codec._U32: st.integers(0, 0xFFFFFFFF),
    codec._VARINT: st.integers(1, codec.MAX_REMAINING_LENGTH),
    codec._UTF8: texts,
    codec._BINARY: binaries,
    codec._PAIR: st.lists(st.tuples(texts, texts), min_size=1, max_size=2).map(tuple),
}


def properties(context: int):
    """Valid MQTT 5 properties for one packet type (or will)."""
    optional = {}
    for pid in codec._ALLOWED_IDS[context]:
        name, kind, choices, _ = codec._PROPERTY_SPECS[pid]
        if choices is not None:
            value = st.sampled_from(choices)
        elif name == "subscription_identifiers":
            count = 3 if context == codec.PUBLISH else 1
            value = st.lists(_KIND_VALUES[kind], min_size=1, max_size=count).map(tuple)
        else:
            value = _KIND_VALUES[kind]
            if name in codec._NONZERO:
                value = value.filter(bool)
        optional[name] = value
    return st.fixed_dictionaries({}, optional=optional).map(lambda values: Properties(**values))


def packet_strategies(version: int) -> dict[type, st.SearchStrategy]:
    """A strategy per packet type, for valid packets of the given version."""
    v5 = version == MQTT_5

    def props(context):
        return properties(context) if v5 else st.just(codec.NO_PROPERTIES)

    wills = st.builds(Will, topics, binaries, st.integers(0, 2), st.booleans(), props(codec._WILL))
    connects = st.builds(
        lambda client_id, clean, keep_alive, username, password, will, properties: Connect(
            client_id, version, clean, keep_alive, username,
            password if (v5 or username is not None) else None, will, properties),
        texts, st.booleans(), st.integers(0, 0xFFFF), st.none() | texts, st.none() | binaries,
        st.none() | wills, props(codec.CONNECT))
    connacks = st.builds(ConnAck, st.sampled_from(sorted(codec.CONNACK_CODES_V5 if v5 else codec.CONNACK_CODES_V3)),
                         st.booleans(), props(codec.CONNACK))
    publishes = st.integers(0, 2).flatmap(lambda qos: st.builds(
        Publish, topics, binaries, st.just(qos), packet_ids if qos else st.none(), st.booleans(),
        st.booleans() if qos else st.just(False), props(codec.PUBLISH)))

    def acks(cls, packet_type, codes):
        if not v5:
            return st.builds(cls, packet_ids)
        return st.builds(cls, packet_ids, st.sampled_from(sorted(codes)), props(packet_type))

    if v5:
        subscriptions = st.builds(Subscription, filters, st.integers(0, 2), st.booleans(), st.booleans(),
                                  st.integers(0, 2))
    else:
        subscriptions = st.builds(Subscription, filters, st.integers(0, 2))
    subscribes = st.builds(Subscribe, packet_ids, st.lists(subscriptions, min_size=1, max_size=3).map(tuple),
                           props(codec.SUBSCRIBE))
    subacks = st.builds(SubAck, packet_ids,
                        st.lists(st.sampled_from(sorted(codec.SUBACK_CODES_V5 if v5 else codec.SUBACK_CODES_V3)),
                                 min_size=1, max_size=3).map(tuple), props(codec.SUBACK))
    unsubscribes = st.builds(Unsubscribe, packet_ids, st.lists(filters, min_size=1, max_size=3).map(tuple),
                             props(codec.UNSUBSCRIBE))
    if v5:
        unsubacks = st.builds(UnsubAck, packet_ids, st.lists(st.sampled_from(sorted(codec.UNSUBACK_CODES_V5)),
                                                             min_size=1, max_size=3).map(tuple),
                              props(codec.UNSUBACK))
        disconnects = st.builds(Disconnect, st.sampled_from(sorted(codec.DISCONNECT_CODES_V5)),
                                props(codec.DISCONNECT))
        auths = st.builds(Auth, st.sampled_from(sorted(codec.AUTH_CODES_V5)), props(codec.AUTH))
    else:
        unsubacks = st.builds(UnsubAck, packet_ids)
        disconnects = st.just(Disconnect())
    strategies = {
        Connect: connects, ConnAck: connacks, Publish: publishes,
        PubAck: acks(PubAck, codec.PUBACK, codec.PUBACK_CODES_V5),
        PubRec: acks(PubRec, codec.PUBREC, codec.PUBACK_CODES_V5),
        PubRel: acks(PubRel, codec.PUBREL, codec.PUBREL_CODES_V5),
        PubComp: acks(PubComp, codec.PUBCOMP, codec.PUBREL_CODES_V5),
        Subscribe: subscribes, SubAck: subacks, Unsubscribe: unsubscribes, UnsubAck: unsubacks,
        PingReq: st.just(PingReq()), PingResp: st.just(PingResp()), Disconnect: disconnects,
    }
    if v5:
        strategies[Auth] = auths
    return strategies


def packets(version: int) -> st.SearchStrategy:
    """Any valid packet of the given version."""
    return st.one_of(*packet_strategies(version).values())


versions = st.sampled_from([MQTT_3_1_1, MQTT_5])


# --- exact bytes --------------------------------------------------------------------------------------

def test_server_packets_have_the_bytes_of_the_spec():
    assert encode(ConnAck(0x04), MQTT_3_1_1) == b"\x20\x02\x00\x04"
    assert encode(ConnAck(0x86), MQTT_5) == b"\x20\x03\x00\x86\x00"
    assert encode(PubAck(0x1234), MQTT_3_1_1) == encode_puback(0x1234) == b"\x40\x02\x12\x34"
    assert encode(PubAck(7, 0x87), MQTT_5) == b"\x40\x03\x00\x07\x87"
    assert encode(PubAck(7, 0x99, Properties(reason_string="x")), MQTT_5) == b"\x40\x08\x00\x07\x99\x04\x1f\x00\x01x"
    assert encode(SubAck(3, (0x80, 0x80)), MQTT_3_1_1) == b"\x90\x04\x00\x03\x80\x80"
    assert encode(SubAck(3, (0x87,)), MQTT_5) == b"\x90\x04\x00\x03\x00\x87"
    assert encode(UnsubAck(3), MQTT_3_1_1) == b"\xb0\x02\x00\x03"
    assert encode(UnsubAck(3, (0x11,)), MQTT_5) == b"\xb0\x04\x00\x03\x00\x11"
    assert encode(PingResp(), MQTT_5) == b"\xd0\x00"
    assert encode(Disconnect(0x8B), MQTT_5) == b"\xe0\x01\x8b"
    assert encode(Disconnect(), MQTT_3_1_1) == b"\xe0\x00"


def test_decodes_a_connect_from_the_spec_example():
    # MQTT 3.1.1 CONNECT: client "c1", clean session, keep alive 60, user "JWT", password "tok".
    data = bytes.fromhex("101800044d51545404c2003c000263310003 4a5754 0003746f6b".replace(" ", ""))
    [packet] = decode_all(data, None)
    assert packet == Connect("c1", MQTT_3_1_1, True, 60, "JWT", b"tok")


@pytest.mark.parametrize("value, data", [(0, b"\x00"), (127, b"\x7f"), (128, b"\x80\x01"),
                                         (16_383, b"\xff\x7f"), (16_384, b"\x80\x80\x01"),
                                         (268_435_455, b"\xff\xff\xff\x7f")])
def test_variable_byte_integers_match_the_spec_table(value, data):
    assert encode_varint(value) == data
    packet = Publish("t", b"x" * value) if value < 1000 else None
    if packet is not None:
        assert decode_all(encode(packet, MQTT_5), MQTT_5) == [packet]


def test_encoder_refuses_what_a_version_cannot_express():
    with pytest.raises(ValueError):
        encode(PubAck(1, 0x87), MQTT_3_1_1)
    with pytest.raises(ValueError):
        encode(Publish("t", properties=Properties(content_type="x")), MQTT_3_1_1)
    with pytest.raises(ValueError):
        encode(Auth(), MQTT_3_1_1)
    with pytest.raises(ValueError):
        encode(PubAck(0), MQTT_5)


# --- round trips ------------------------------------------------------------------------------------

@FUZZ
@given(st.data(), versions)
def test_every_packet_type_round_trips(data, version):
    packet = data.draw(packets(version))
    assert decode_all(encode(packet, version), version) == [packet]


@pytest.mark.parametrize("version", [MQTT_3_1_1, MQTT_5])
@pytest.mark.parametrize("packet", [
    Connect("c", will=Will("w/t", b"bye", 1, True), username="u", password=b"p", keep_alive=0),
    ConnAck(0, True), Publish("devices/d/telemetry", b"{}", 1, 9, dup=True), PubAck(1), PubRec(2),
    PubRel(3), PubComp(4), Subscribe(5, (Subscription("a/+", 1), Subscription("#", 2))), SubAck(5, (0x80, 0x01)),
    Unsubscribe(6, ("a", "b")), PingReq(), PingResp(), Disconnect(),
], ids=lambda p: type(p).__name__)
def test_each_packet_type_round_trips_in_both_versions(packet, version):
    if isinstance(packet, Connect):
        packet.protocol_level = version
    assert decode_all(encode(packet, version), version) == [packet]


@pytest.mark.parametrize("packet", [
    UnsubAck(6, (0x00, 0x11)), Auth(0x18, Properties(authentication_method="SCRAM", authentication_data=b"x")),
    Disconnect(0x04, Properties(session_expiry_interval=5, reason_string="bye", user_properties=(("k", "v"),))),
    Publish("t", b"", 0, properties=Properties(subscription_identifiers=(1, 268_435_455), topic_alias=3)),
], ids=lambda p: type(p).__name__)
def test_mqtt5_only_shapes_round_trip(packet):
    assert decode_all(encode(packet, MQTT_5), MQTT_5) == [packet]


@FUZZ
@given(st.data(), versions)
def test_a_valid_stream_split_anywhere_decodes_to_the_same_packets(data, version):
    stream = data.draw(st.lists(packets(version), min_size=1, max_size=6))
    wire = b"".join(encode(packet, version) for packet in stream)
    splits = data.draw(st.lists(st.integers(1, max(1, len(wire))), min_size=1, max_size=8))
    assert decode_all(wire, version, splits) == stream


@FUZZ
@given(st.data(), versions)
def test_a_server_decoder_learns_the_version_from_the_connect(data, version):
    strategies = packet_strategies(version)
    connect = data.draw(strategies[Connect])
    publish = data.draw(strategies[Publish])
    wire = encode(connect, version) + encode(publish, version)
    assert decode_all(wire, None, [data.draw(st.integers(1, len(wire)))]) == [connect, publish]


# --- refusals ---------------------------------------------------------------------------------------

def test_maximum_packet_size_is_enforced_from_the_fixed_header_alone():
    decoder = Decoder(MQTT_5, max_packet_size=1024)
    decoder.feed(b"\x30\xff\xff\x03")  # a PUBLISH announcing 65535 bytes, none of which were sent
    with pytest.raises(PacketTooLargeError):
        decoder.next_packet()
    exact = encode(Publish("t", b"x" * (1024 - 7)), MQTT_5)
    assert len(exact) == 1024 and decode_all(exact, MQTT_5) == [Publish("t", b"x" * 1017)]


def test_a_remaining_length_of_five_bytes_is_malformed():
    decoder = Decoder(MQTT_5)
    decoder.feed(b"\x30\xff\xff\xff\xff\x01")
    with pytest.raises(MalformedPacketError):
        decoder.next_packet()


def test_the_first_packet_must_be_a_connect():
    decoder = Decoder()
    decoder.feed(b"\xc0")  # PINGREQ's first byte is enough to know
    with pytest.raises(ProtocolViolationError):
        decoder.next_packet()


@pytest.mark.parametrize("name, level", [("MQIsdp", 3), ("MQTT", 3), ("MQTT", 6)])
def test_other_mqtt_versions_are_reported_with_their_level(name, level):
    body = len(name).to_bytes(2, "big") + name.encode() + bytes((level, 2, 0, 60, 0, 1)) + b"c"
    decoder = Decoder()
    decoder.feed(bytes((0x10, len(body))) + body)
    with pytest.raises(UnsupportedProtocolVersionError) as raised:
        decoder.next_packet()
    assert raised.value.protocol_level == level


@pytest.mark.parametrize("version, data", [
    (MQTT_5, b"\x30\x07\x00\x01t\x02\x23\x00\x01"),  # property length 2 but the property needs 3 bytes
    (MQTT_5, b"\x30\x08\x00\x01t\x04\x12\x00\x01a"),  # Assigned Client Identifier inside a PUBLISH
    (MQTT_5, b"\x30\x08\x00\x01t\x04\x01\x01\x01\x00"),  # Payload Format Indicator twice
    (MQTT_5, b"\x30\x06\x00\x01t\x02\x01\x02"),  # Payload Format Indicator 2
    (MQTT_5, b"\x30\x06\x00\x01t\x02\x23\x00"),  # truncated Topic Alias
    (MQTT_3_1_1, b"\x36\x05\x00\x01t\x00\x01"),  # QoS 3
    (MQTT_3_1_1, b"\x38\x03\x00\x01t"),  # DUP on QoS 0
    (MQTT_3_1_1, b"\x32\x05\x00\x01t\x00\x00"),  # packet identifier 0
    (MQTT_3_1_1, b"\x30\x04\x00\x01+x"),  # wildcard in a topic name
    (MQTT_3_1_1, b"\x30\x04\x00\x02\xc3\x28"),  # invalid UTF-8
    (MQTT_3_1_1, b"\x30\x04\x00\x01\x00x"),  # U+0000 in a topic
    (MQTT_3_1_1, b"\x30\x02\x00\x00"),  # empty topic
    (MQTT_3_1_1, b"\x82\x03\x00\x01\x00"),  # SUBSCRIBE without filters
    (MQTT_3_1_1, b"\x80\x06\x00\x01\x00\x01a\x01"),  # SUBSCRIBE with wrong fixed header flags
    (MQTT_3_1_1, b"\xc0\x01\x00"),  # PINGREQ with a body
    (MQTT_3_1_1, b"\xf0\x00"),  # AUTH does not exist in 3.1.1
    (MQTT_3_1_1, b"\x00\x00"),  # reserved packet type
    (MQTT_5, b"\xe0\x01\x05"),  # DISCONNECT with a reason code that does not exist
])
def test_malformed_packets_raise_malformed_packet_error(version, data):
    decoder = Decoder(version)
    decoder.feed(data)
    with pytest.raises(MalformedPacketError):
        decoder.next_packet()


# --- fuzzing ------------------------------------------------------------------------------------------

def feed_expecting_only_malformed(data: bytes, version: int | None, chunks: list[int]) -> None:
    decoder = Decoder(version, max_packet_size=4096)
    pos = 0
    index = 0
    try:
        while pos < len(data):
            size = chunks[index % len(chunks)]
            index += 1
            decoder.feed(data[pos:pos + size])
            pos += size
            for _ in decoder:
                pass
    except MalformedPacketError:
        pass


@FUZZ
@given(st.binary(max_size=400), st.lists(st.integers(1, 64), min_size=1, max_size=6),
       st.sampled_from([None, MQTT_3_1_1, MQTT_5]))
def test_random_bytes_raise_nothing_but_malformed_packet_error(data, chunks, version):
    feed_expecting_only_malformed(data, version, chunks)


@FUZZ
@given(st.data(), versions)
def test_mutated_valid_packets_raise_nothing_but_malformed_packet_error(data, version):
    stream = data.draw(st.lists(packets(version), min_size=1, max_size=4))
    wire = bytearray(b"".join(encode(packet, version) for packet in stream))
    for _ in range(data.draw(st.integers(1, 4))):
        pos = data.draw(st.integers(0, len(wire)))
        action = data.draw(st.sampled_from(["flip", "insert", "delete", "replace"]))
        if action == "insert":
            wire[pos:pos] = data.draw(st.binary(min_size=1, max_size=3))
        elif pos < len(wire):
            if action == "flip":
                wire[pos] ^= 1 << data.draw(st.integers(0, 7))
            elif action == "delete":
                del wire[pos]
            else:
                wire[pos] = data.draw(st.integers(0, 255))
    chunks = data.draw(st.lists(st.integers(1, 32), min_size=1, max_size=6))
    feed_expecting_only_malformed(bytes(wire), version, chunks)
    # The same mutation in front of a server decoder, which starts from CONNECT.
    connect = encode(Connect("c", version), version)
    feed_expecting_only_malformed(connect + bytes(wire), None, chunks)
