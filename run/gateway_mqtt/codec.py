"""MQTT 3.1.1 and 5 packets: their types, an incremental decoder, and an encoder for every packet type.

The decoder takes arbitrary byte chunks and yields whole packets; it enforces a maximum packet size as soon
as a fixed header is complete, so a huge body is refused before it is buffered. Anything that is not a valid
packet raises ``MalformedPacketError`` (or one of its subclasses), never ``IndexError`` and the like.
The encoder serves the gateway (CONNACK, PUBACK, SUBACK, ...) and, for tests and tools, the client side.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Union

MQTT_3_1_1 = 4
MQTT_5 = 5
SUPPORTED_VERSIONS = (MQTT_3_1_1, MQTT_5)

# Remaining Length is at most four 7-bit groups; a packet adds at most 5 header bytes to it.
MAX_REMAINING_LENGTH = 268_435_455
MAX_PACKET_SIZE = MAX_REMAINING_LENGTH + 5

CONNECT, CONNACK, PUBLISH, PUBACK, PUBREC, PUBREL, PUBCOMP = 1, 2, 3, 4, 5, 6, 7
SUBSCRIBE, SUBACK, UNSUBSCRIBE, UNSUBACK, PINGREQ, PINGRESP, DISCONNECT, AUTH = 8, 9, 10, 11, 12, 13, 14, 15
# Will Properties are not a packet, but they have their own set of allowed properties.
_WILL = 0


class MalformedPacketError(Exception):
    """Bytes that are not a valid MQTT packet; the stream cannot continue (v5 reason 0x81)."""

    reason_code = 0x81


class ProtocolViolationError(MalformedPacketError):
    """A well-formed packet the protocol forbids here, e.g. a repeated property (v5 reason 0x82)."""

    reason_code = 0x82


class PacketTooLargeError(MalformedPacketError):
    """A packet larger than the decoder's maximum packet size (v5 reason 0x95)."""

    reason_code = 0x95


class UnsupportedProtocolVersionError(MalformedPacketError):
    """A CONNECT of an MQTT version this codec does not speak (3.1.1 code 0x01, v5 reason 0x84)."""

    reason_code = 0x84

    def __init__(self, protocol_level: int) -> None:
        super().__init__(f"unsupported MQTT protocol level {protocol_level}")
        self.protocol_level = protocol_level


# --- properties (MQTT 5 §2.2.2.2) -------------------------------------------------------------------

_BYTE, _U16, _U32, _VARINT, _UTF8, _BINARY, _PAIR = range(7)
_BOOL = (0, 1)

# id: (field, type, allowed values or None, packets it may appear in)
_ALL_ACKS = (PUBACK, PUBREC, PUBREL, PUBCOMP)
_EVERY_PACKET = (CONNECT, CONNACK, PUBLISH, _WILL, *_ALL_ACKS, SUBSCRIBE, SUBACK, UNSUBSCRIBE, UNSUBACK,
                 DISCONNECT, AUTH)
_PROPERTY_SPECS: dict[int, tuple[str, int, tuple[int, ...] | None, tuple[int, ...]]] = {
    0x01: ("payload_format_indicator", _BYTE, _BOOL, (PUBLISH, _WILL)),
    0x02: ("message_expiry_interval", _U32, None, (PUBLISH, _WILL)),
    0x03: ("content_type", _UTF8, None, (PUBLISH, _WILL)),
    0x08: ("response_topic", _UTF8, None, (PUBLISH, _WILL)),
    0x09: ("correlation_data", _BINARY, None, (PUBLISH, _WILL)),
    0x0B: ("subscription_identifiers", _VARINT, None, (PUBLISH, SUBSCRIBE)),
    0x11: ("session_expiry_interval", _U32, None, (CONNECT, CONNACK, DISCONNECT)),
    0x12: ("assigned_client_identifier", _UTF8, None, (CONNACK,)),
    0x13: ("server_keep_alive", _U16, None, (CONNACK,)),
    0x15: ("authentication_method", _UTF8, None, (CONNECT, CONNACK, AUTH)),
    0x16: ("authentication_data", _BINARY, None, (CONNECT, CONNACK, AUTH)),
    0x17: ("request_problem_information", _BYTE, _BOOL, (CONNECT,)),
    0x18: ("will_delay_interval", _U32, None, (_WILL,)),
    0x19: ("request_response_information", _BYTE, _BOOL, (CONNECT,)),
    0x1A: ("response_information", _UTF8, None, (CONNACK,)),
    0x1C: ("server_reference", _UTF8, None, (CONNACK, DISCONNECT)),
    0x1F: ("reason_string", _UTF8, None, (CONNACK, *_ALL_ACKS, SUBACK, UNSUBACK, DISCONNECT, AUTH)),
    0x21: ("receive_maximum", _U16, None, (CONNECT, CONNACK)),
    0x22: ("topic_alias_maximum", _U16, None, (CONNECT, CONNACK)),
    0x23: ("topic_alias", _U16, None, (PUBLISH,)),
    0x24: ("maximum_qos", _BYTE, _BOOL, (CONNACK,)),
    0x25: ("retain_available", _BYTE, _BOOL, (CONNACK,)),
    0x26: ("user_properties", _PAIR, None, _EVERY_PACKET),
    0x27: ("maximum_packet_size", _U32, None, (CONNECT, CONNACK)),
    0x28: ("wildcard_subscription_available", _BYTE, _BOOL, (CONNACK,)),
    0x29: ("subscription_identifier_available", _BYTE, _BOOL, (CONNACK,)),
    0x2A: ("shared_subscription_available", _BYTE, _BOOL, (CONNACK,)),
}
# A zero here is a Protocol Error (MQTT 5 §3.1.2.11, §3.3.2.3.4, §3.8.2.1.2).
_NONZERO = frozenset({"receive_maximum", "maximum_packet_size", "topic_alias", "subscription_identifiers"})
_ALLOWED_IDS = {packet: frozenset(pid for pid, spec in _PROPERTY_SPECS.items() if packet in spec[3])
                for packet in _EVERY_PACKET}


@dataclass(frozen=True, slots=True)
class Properties:
    """MQTT 5 properties of one packet; ``None`` (or an empty tuple) means absent."""

    payload_format_indicator: int | None = None
    message_expiry_interval: int | None = None
    content_type: str | None = None
    response_topic: str | None = None
    correlation_data: bytes | None = None
    subscription_identifiers: tuple[int, ...] = ()
    session_expiry_interval: int | None = None
    assigned_client_identifier: str | None = None
    server_keep_alive: int | None = None
    authentication_method: str | None = None
    authentication_data: bytes | None = None
    request_problem_information: int | None = None
    will_delay_interval: int | None = None
    request_response_information: int | None = None
    response_information: str | None = None
    server_reference: str | None = None
    reason_string: str | None = None
    receive_maximum: int | None = None
    topic_alias_maximum: int | None = None
    topic_alias: int | None = None
    maximum_qos: int | None = None
    retain_available: int | None = None
    user_properties: tuple[tuple[str, str], ...] = ()
    maximum_packet_size: int | None = None
    wildcard_subscription_available: int | None = None
    subscription_identifier_available: int | None = None
    shared_subscription_available: int | None = None


    def __repr__(self) -> str:
        shown = ", ".join(f"{name}={getattr(self, name)!r}" for name in _PROPERTY_FIELDS
                          if getattr(self, name) not in (None, ()))
        return f"Properties({shown})"


NO_PROPERTIES = Properties()
_PROPERTY_FIELDS = tuple(f.name for f in fields(Properties))


# --- packets ---------------------------------------------------------------------------------------------

@dataclass(slots=True)
class Will:
    """The will message of a CONNECT."""

    topic: str
    payload: bytes = b""
    qos: int = 0
    retain: bool = False
    properties: Properties = NO_PROPERTIES


@dataclass(slots=True)
class Connect:
    """CONNECT; ``protocol_level`` is 4 for MQTT 3.1.1 and 5 for MQTT 5."""

    client_id: str
    protocol_level: int = MQTT_3_1_1
    clean_start: bool = True
    keep_alive: int = 60
    username: str | None = None
    password: bytes | None = None
    will: Will | None = None
    properties: Properties = NO_PROPERTIES


@dataclass(slots=True)
class ConnAck:
    """CONNACK; ``reason_code`` is the 3.1.1 return code or the MQTT 5 reason code."""

    reason_code: int = 0
    session_present: bool = False
    properties: Properties = NO_PROPERTIES


@dataclass(slots=True)
class Publish:
    """PUBLISH; ``packet_id`` is set for QoS 1 and 2 only."""

    topic: str
    payload: bytes = b""
    qos: int = 0
    packet_id: int | None = None
    retain: bool = False
    dup: bool = False
    properties: Properties = NO_PROPERTIES


@dataclass(slots=True)
class PubAck:
    """PUBACK: the end of a QoS 1 delivery."""

    packet_id: int
    reason_code: int = 0
    properties: Properties = NO_PROPERTIES


@dataclass(slots=True)
class PubRec:
    """PUBREC: the first answer in a QoS 2 delivery."""

    packet_id: int
    reason_code: int = 0
    properties: Properties = NO_PROPERTIES


@dataclass(slots=True)
class PubRel:
    """PUBREL: the second packet of a QoS 2 delivery."""

    packet_id: int
    reason_code: int = 0
    properties: Properties = NO_PROPERTIES


@dataclass(slots=True)
class PubComp:
    """PUBCOMP: the end of a QoS 2 delivery."""

    packet_id: int
    reason_code: int = 0
    properties: Properties = NO_PROPERTIES


@dataclass(slots=True)
class Subscription:
    """One topic filter of a SUBSCRIBE with its options (the last three are MQTT 5 only)."""

    topic_filter: str
    qos: int = 0
    no_local: bool = False
    retain_as_published: bool = False
    retain_handling: int = 0


@dataclass(slots=True)
class Subscribe:
    """SUBSCRIBE: at least one subscription."""

    packet_id: int
    subscriptions: tuple[Subscription, ...]
    properties: Properties = NO_PROPERTIES


@dataclass(slots=True)
class SubAck:
    """SUBACK: one return/reason code per subscription."""

    packet_id: int
    reason_codes: tuple[int, ...]
    properties: Properties = NO_PROPERTIES


@dataclass(slots=True)
class Unsubscribe:
    """UNSUBSCRIBE: at least one topic filter."""

    packet_id: int
    topic_filters: tuple[str, ...]
    properties: Properties = NO_PROPERTIES


@dataclass(slots=True)
class UnsubAck:
    """UNSUBACK; MQTT 5 carries one reason code per topic filter, 3.1.1 none."""

    packet_id: int
    reason_codes: tuple[int, ...] = ()
    properties: Properties = NO_PROPERTIES


@dataclass(slots=True)
class PingReq:
    """PINGREQ."""


@dataclass(slots=True)
class PingResp:
    """PINGRESP."""


@dataclass(slots=True)
class Disconnect:
    """DISCONNECT; 3.1.1 has no reason code (always 0)."""

    reason_code: int = 0
    properties: Properties = NO_PROPERTIES


@dataclass(slots=True)
class Auth:
    """AUTH (MQTT 5 only): enhanced authentication exchange."""

    reason_code: int = 0
    properties: Properties = NO_PROPERTIES


Packet = Union[Connect, ConnAck, Publish, PubAck, PubRec, PubRel, PubComp, Subscribe, SubAck, Unsubscribe,
               UnsubAck, PingReq, PingResp, Disconnect, Auth]

_PING_REQ = PingReq()
_PING_RESP = PingResp()

# Reason codes each packet may carry (MQTT 5 §2.4 and the packet sections; 3.1.1 §3.2.2.3, §3.9.3).
CONNACK_CODES_V3 = frozenset(range(6))
CONNACK_CODES_V5 = frozenset({0x00, 0x80, 0x81, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89, 0x8A, 0x8C,
                              0x90, 0x95, 0x97, 0x99, 0x9A, 0x9B, 0x9C, 0x9D, 0x9F})
PUBACK_CODES_V5 = frozenset({0x00, 0x10, 0x80, 0x83, 0x87, 0x90, 0x91, 0x97, 0x99})
PUBREL_CODES_V5 = frozenset({0x00, 0x92})
SUBACK_CODES_V3 = frozenset({0x00, 0x01, 0x02, 0x80})
SUBACK_CODES_V5 = frozenset({0x00, 0x01, 0x02, 0x80, 0x83, 0x87, 0x8F, 0x91, 0x97, 0x9E, 0xA1, 0xA2})
UNSUBACK_CODES_V5 = frozenset({0x00, 0x11, 0x80, 0x83, 0x87, 0x8F, 0x91})
DISCONNECT_CODES_V5 = frozenset({0x00, 0x04, 0x80, 0x81, 0x82, 0x83, 0x87, 0x89, 0x8B, 0x8D, 0x8E, 0x8F, 0x90,
                                 0x93, 0x94, 0x95, 0x96, 0x97, 0x98, 0x99, 0x9A, 0x9B, 0x9C, 0x9D, 0x9E, 0x9F,
                                 0xA0, 0xA1, 0xA2})
AUTH_CODES_V5 = frozenset({0x00, 0x18, 0x19})
_ACK_CODES_V5 = {PubAck: PUBACK_CODES_V5, PubRec: PUBACK_CODES_V5, PubRel: PUBREL_CODES_V5,
                 PubComp: PUBREL_CODES_V5}


# --- decoding --------------------------------------------------------------------------------------------

class _Reader:
    """Bounds-checked reads from one packet body; running past ``end`` is a malformed packet."""

    __slots__ = ("data", "pos", "end")

    def __init__(self, data: bytes, pos: int = 0, end: int | None = None) -> None:
        self.data = data
        self.pos = pos
        self.end = len(data) if end is None else end

    def remaining(self) -> int:
        return self.end - self.pos

    def u8(self) -> int:
        pos = self.pos
        if pos >= self.end:
            raise MalformedPacketError("packet ends early")
        self.pos = pos + 1
        return self.data[pos]

    def u16(self) -> int:
        pos = self.pos
        if pos + 2 > self.end:
            raise MalformedPacketError("packet ends early")
        self.pos = pos + 2
        return (self.data[pos] << 8) | self.data[pos + 1]

    def u32(self) -> int:
        pos = self.pos
        if pos + 4 > self.end:
            raise MalformedPacketError("packet ends early")
        self.pos = pos + 4
        return int.from_bytes(self.data[pos:pos + 4], "big")

    def varint(self) -> int:
        value = 0
        for shift in (0, 7, 14, 21):
            byte = self.u8()
            value |= (byte & 0x7F) << shift
            if not byte & 0x80:
                return value
        raise MalformedPacketError("variable byte integer longer than 4 bytes")

    def take(self, size: int) -> bytes:
        pos = self.pos
        if pos + size > self.end:
            raise MalformedPacketError("packet ends early")
        self.pos = pos + size
        return self.data[pos:pos + size]

    def binary(self) -> bytes:
        return self.take(self.u16())

    def utf8(self) -> str:
        return _decode_utf8(self.binary())

    def rest(self) -> bytes:
        data = self.data[self.pos:self.end]
        self.pos = self.end
        return data

    def expect_end(self) -> None:
        if self.pos != self.end:
            raise MalformedPacketError("unexpected bytes at the end of the packet")


def _decode_utf8(raw: bytes) -> str:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise MalformedPacketError("invalid UTF-8 string") from None
    if "\x00" in text:
        raise MalformedPacketError("UTF-8 string contains U+0000")
    return text


def _read_properties(reader: _Reader, packet: int) -> Properties:
    length = reader.varint()
    if length == 0:
        return NO_PROPERTIES
    end = reader.pos + length
    if end > reader.end:
        raise MalformedPacketError("properties run past the end of the packet")
    sub = _Reader(reader.data, reader.pos, end)
    reader.pos = end
    allowed = _ALLOWED_IDS[packet]
    values: dict[str, object] = {}
    pairs: list[tuple[str, str]] = []
    identifiers: list[int] = []
    while sub.pos < end:
        pid = sub.varint()
        if pid not in allowed:
            raise ProtocolViolationError(f"property 0x{pid:02X} is not allowed in this packet")
        name, kind, choices, _ = _PROPERTY_SPECS[pid]
        if kind == _PAIR:
            pairs.append((sub.utf8(), sub.utf8()))
            continue
        if kind == _BYTE:
            value: object = sub.u8()
        elif kind == _U16:
            value = sub.u16()
        elif kind == _U32:
            value = sub.u32()
        elif kind == _VARINT:
            value = sub.varint()
        elif kind == _UTF8:
            value = sub.utf8()
        else:
            value = sub.binary()
        if choices is not None and value not in choices:
            raise ProtocolViolationError(f"property {name} has the invalid value {value!r}")
        if value == 0 and name in _NONZERO:
            raise ProtocolViolationError(f"property {name} must not be 0")
        if name == "subscription_identifiers":
            # Several identifiers only make sense in a PUBLISH sent to a subscriber (§3.3.2.3.8).
            if identifiers and packet != PUBLISH:
                raise ProtocolViolationError("subscription identifier given twice")
            identifiers.append(value)  # type: ignore[arg-type]
            continue
        if name in values:
            raise ProtocolViolationError(f"property {name} given twice")
        values[name] = value
    if pairs:
        values["user_properties"] = tuple(pairs)
    if identifiers:
        values["subscription_identifiers"] = tuple(identifiers)
    return Properties(**values)  # type: ignore[arg-type]


def _packet_id(reader: _Reader) -> int:
    packet_id = reader.u16()
    if packet_id == 0:
        raise MalformedPacketError("packet identifier 0")
    return packet_id


def _check_topic_name(topic: str) -> None:
    if "+" in topic or "#" in topic:
        raise MalformedPacketError("wildcard in a topic name")


def _parse_connect(flags: int, body: bytes, version: int | None) -> Connect:
    reader = _Reader(body)
    name = reader.utf8()
    level = reader.u8()
    if name == "MQIsdp" or (name == "MQTT" and level not in SUPPORTED_VERSIONS):
        raise UnsupportedProtocolVersionError(level)
    if name != "MQTT" or level not in SUPPORTED_VERSIONS:
        raise MalformedPacketError(f"unknown protocol name {name!r}")
    v5 = level == MQTT_5
    connect_flags = reader.u8()
    if connect_flags & 0x01:
        raise MalformedPacketError("reserved CONNECT flag set")
    has_username = bool(connect_flags & 0x80)
    has_password = bool(connect_flags & 0x40)
    will_retain = bool(connect_flags & 0x20)
    will_qos = (connect_flags >> 3) & 0x03
    has_will = bool(connect_flags & 0x04)
    if not has_will and (will_retain or will_qos):
        raise MalformedPacketError("will QoS or retain set without a will")
    if will_qos == 3:
        raise MalformedPacketError("will QoS 3")
    if has_password and not has_username and not v5:
        raise MalformedPacketError("password without user name")
    keep_alive = reader.u16()
    properties = _read_properties(reader, CONNECT) if v5 else NO_PROPERTIES
    client_id = reader.utf8()
    will = None
    if has_will:
        will_properties = _read_properties(reader, _WILL) if v5 else NO_PROPERTIES
        will_topic = reader.utf8()
        if not will_topic:
            raise MalformedPacketError("empty will topic")
        _check_topic_name(will_topic)
        will = Will(will_topic, reader.binary(), will_qos, will_retain, will_properties)
    username = reader.utf8() if has_username else None
    password = reader.binary() if has_password else None
    reader.expect_end()
    return Connect(client_id, level, bool(connect_flags & 0x02), keep_alive, username, password, will,
                   properties)


def _parse_connack(flags: int, body: bytes, version: int) -> ConnAck:
    reader = _Reader(body)
    ack_flags = reader.u8()
    if ack_flags & 0xFE:
        raise MalformedPacketError("reserved CONNACK flags set")
    code = reader.u8()
    if code not in (CONNACK_CODES_V5 if version == MQTT_5 else CONNACK_CODES_V3):
        raise MalformedPacketError(f"invalid CONNACK code 0x{code:02X}")
    properties = _read_properties(reader, CONNACK) if version == MQTT_5 else NO_PROPERTIES
    reader.expect_end()
    return ConnAck(code, bool(ack_flags), properties)


def _parse_publish(flags: int, body: bytes, version: int) -> Publish:
    qos = (flags >> 1) & 0x03
    if qos == 3:
        raise MalformedPacketError("PUBLISH with QoS 3")
    dup = bool(flags & 0x08)
    if dup and not qos:
        raise MalformedPacketError("DUP set on a QoS 0 PUBLISH")
    size = len(body)
    if size < 2:
        raise MalformedPacketError("packet ends early")
    pos = 2 + ((body[0] << 8) | body[1])
    if pos > size:
        raise MalformedPacketError("packet ends early")
    topic = _decode_utf8(body[2:pos])
    _check_topic_name(topic)
    packet_id = None
    if qos:
        if pos + 2 > size:
            raise MalformedPacketError("packet ends early")
        packet_id = (body[pos] << 8) | body[pos + 1]
        if not packet_id:
            raise MalformedPacketError("packet identifier 0")
        pos += 2
    properties = NO_PROPERTIES
    if version == MQTT_5:
        if pos < size and body[pos] == 0:
            pos += 1
        else:
            reader = _Reader(body, pos)
            properties = _read_properties(reader, PUBLISH)
            pos = reader.pos
        if not topic and properties.topic_alias is None:
            raise ProtocolViolationError("empty topic name without a topic alias")
    elif not topic:
        raise MalformedPacketError("empty topic name")
    return Publish(topic, body[pos:], qos, packet_id, bool(flags & 0x01), dup, properties)


def _ack_parser(cls: type, packet: int):
    codes = _ACK_CODES_V5[cls]

    def parse(flags: int, body: bytes, version: int):
        reader = _Reader(body)
        packet_id = _packet_id(reader)
        if version != MQTT_5:
            reader.expect_end()
            return cls(packet_id)
        code = reader.u8() if reader.remaining() else 0
        if code not in codes:
            raise MalformedPacketError(f"invalid reason code 0x{code:02X}")
        properties = _read_properties(reader, packet) if reader.remaining() else NO_PROPERTIES
        reader.expect_end()
        return cls(packet_id, code, properties)

    return parse


def _parse_subscribe(flags: int, body: bytes, version: int) -> Subscribe:
    reader = _Reader(body)
    packet_id = _packet_id(reader)
    properties = _read_properties(reader, SUBSCRIBE) if version == MQTT_5 else NO_PROPERTIES
    subscriptions = []
    while reader.remaining():
        topic_filter = reader.utf8()
        if not topic_filter:
            raise MalformedPacketError("empty topic filter")
        options = reader.u8()
        qos = options & 0x03
        if qos == 3:
            raise MalformedPacketError("subscription QoS 3")
        if version == MQTT_5:
            retain_handling = (options >> 4) & 0x03
            if options & 0xC0 or retain_handling == 3:
                raise MalformedPacketError("invalid subscription options")
            subscriptions.append(Subscription(topic_filter, qos, bool(options & 0x04), bool(options & 0x08),
                                              retain_handling))
        else:
            if options & 0xFC:
                raise MalformedPacketError("reserved subscription option bits set")
            subscriptions.append(Subscription(topic_filter, qos))
    if not subscriptions:
        raise ProtocolViolationError("SUBSCRIBE without a topic filter")
    return Subscribe(packet_id, tuple(subscriptions), properties)


def _parse_suback(flags: int, body: bytes, version: int) -> SubAck:
    reader = _Reader(body)
    packet_id = _packet_id(reader)
    properties = _read_properties(reader, SUBACK) if version == MQTT_5 else NO_PROPERTIES
    codes = tuple(reader.rest())
    allowed = SUBACK_CODES_V5 if version == MQTT_5 else SUBACK_CODES_V3
    if not codes or any(code not in allowed for code in codes):
        raise MalformedPacketError("invalid SUBACK codes")
    return SubAck(packet_id, codes, properties)


def _parse_unsubscribe(flags: int, body: bytes, version: int) -> Unsubscribe:
    reader = _Reader(body)
    packet_id = _packet_id(reader)
    properties = _read_properties(reader, UNSUBSCRIBE) if version == MQTT_5 else NO_PROPERTIES
    topic_filters = []
    while reader.remaining():
        topic_filter = reader.utf8()
        if not topic_filter:
            raise MalformedPacketError("empty topic filter")
        topic_filters.append(topic_filter)
    if not topic_filters:
        raise ProtocolViolationError("UNSUBSCRIBE without a topic filter")
    return Unsubscribe(packet_id, tuple(topic_filters), properties)


def _parse_unsuback(flags: int, body: bytes, version: int) -> UnsubAck:
    reader = _Reader(body)
    packet_id = _packet_id(reader)
    if version != MQTT_5:
        reader.expect_end()
        return UnsubAck(packet_id)
    properties = _read_properties(reader, UNSUBACK)
    codes = tuple(reader.rest())
    if not codes or any(code not in UNSUBACK_CODES_V5 for code in codes):
        raise MalformedPacketError("invalid UNSUBACK codes")
    return UnsubAck(packet_id, codes, properties)


def _parse_empty(packet: PingReq | PingResp):
    def parse(flags: int, body: bytes, version: int):
        if body:
            raise MalformedPacketError("unexpected bytes in an empty packet")
        return packet

    return parse


def _reason_and_properties(cls: type, packet: int, codes: frozenset[int]):
    def parse(flags: int, body: bytes, version: int):
        if version != MQTT_5:
            if packet == AUTH:
                raise MalformedPacketError("AUTH is not an MQTT 3.1.1 packet")
            if body:
                raise MalformedPacketError("unexpected bytes in DISCONNECT")
            return cls()
        reader = _Reader(body)
        code = reader.u8() if reader.remaining() else 0
        if code not in codes:
            raise MalformedPacketError(f"invalid reason code 0x{code:02X}")
        properties = _read_properties(reader, packet) if reader.remaining() else NO_PROPERTIES
        reader.expect_end()
        return cls(code, properties)

    return parse


# packet type: (required fixed-header flags or None if PUBLISH-style, parser)
_PARSERS = {
    CONNECT: (0, _parse_connect),
    CONNACK: (0, _parse_connack),
    PUBLISH: (None, _parse_publish),
    PUBACK: (0, _ack_parser(PubAck, PUBACK)),
    PUBREC: (0, _ack_parser(PubRec, PUBREC)),
    PUBREL: (2, _ack_parser(PubRel, PUBREL)),
    PUBCOMP: (0, _ack_parser(PubComp, PUBCOMP)),
    SUBSCRIBE: (2, _parse_subscribe),
    SUBACK: (0, _parse_suback),
    UNSUBSCRIBE: (2, _parse_unsubscribe),
    UNSUBACK: (0, _parse_unsuback),
    PINGREQ: (0, _parse_empty(_PING_REQ)),
    PINGRESP: (0, _parse_empty(_PING_RESP)),
    DISCONNECT: (0, _reason_and_properties(Disconnect, DISCONNECT, DISCONNECT_CODES_V5)),
    AUTH: (0, _reason_and_properties(Auth, AUTH, AUTH_CODES_V5)),
}

# Compact the buffer once this many consumed bytes sit at its front (or when it empties).
_COMPACT_AFTER = 64 * 1024


class Decoder:
    """Turn a byte stream into packets: ``feed`` chunks, then call ``next_packet`` until it returns None.

    With ``version=None`` (the server side) the first packet must be a CONNECT, and its protocol level
    becomes the version used for everything after it. After a ``MalformedPacketError`` the stream is
    unusable. ``max_packet_size`` may be changed between packets (e.g. raised after authentication).
    """

    __slots__ = ("version", "max_packet_size", "_buffer", "_pos")

    def __init__(self, version: int | None = None, max_packet_size: int = MAX_PACKET_SIZE) -> None:
        if version is not None and version not in SUPPORTED_VERSIONS:
            raise ValueError(f"unsupported MQTT version {version}")
        self.version = version
        self.max_packet_size = max_packet_size
        self._buffer = bytearray()
        self._pos = 0

    @property
    def buffered(self) -> int:
        """Bytes received but not yet returned as packets."""
        return len(self._buffer) - self._pos

    def feed(self, data: bytes) -> None:
        """Append received bytes."""
        buffer = self._buffer
        if self._pos:
            if self._pos == len(buffer):
                buffer.clear()
                self._pos = 0
            elif self._pos >= _COMPACT_AFTER:
                del buffer[:self._pos]
                self._pos = 0
        buffer += data

    def next_packet(self) -> Packet | None:
        """Return the next whole packet, or None until more bytes arrive.

        Raises:
            MalformedPacketError: the bytes are not a valid packet (subclasses say more).
        """
        buffer = self._buffer
        pos = self._pos
        size = len(buffer)
        if size == pos:
            return None
        first = buffer[pos]
        packet_type = first >> 4
        if self.version is None and packet_type != CONNECT:
            raise ProtocolViolationError("the first packet must be CONNECT")
        if packet_type == 0:
            raise MalformedPacketError("reserved packet type 0")
        length = 0
        index = pos + 1
        for shift in (0, 7, 14, 21):
            if index >= size:
                return None
            byte = buffer[index]
            index += 1
            length |= (byte & 0x7F) << shift
            if not byte & 0x80:
                break
        else:
            raise MalformedPacketError("remaining length longer than 4 bytes")
        total = index - pos + length
        if total > self.max_packet_size:
            raise PacketTooLargeError(f"packet of {total} bytes exceeds the maximum of {self.max_packet_size}")
        if size - pos < total:
            return None
        body = bytes(buffer[index:index + length])
        self._pos = pos + total
        required_flags, parse = _PARSERS[packet_type]
        flags = first & 0x0F
        if required_flags is not None and flags != required_flags:
            raise MalformedPacketError(f"invalid fixed header flags for packet type {packet_type}")
        packet = parse(flags, body, self.version)
        if self.version is None:
            self.version = packet.protocol_level
        return packet

    def __iter__(self):
        """Yield every whole packet buffered so far."""
        while (packet := self.next_packet()) is not None:
            yield packet


# --- encoding --------------------------------------------------------------------------------------------

def encode_varint(value: int) -> bytes:
    """Encode an MQTT Variable Byte Integer."""
    if not 0 <= value <= MAX_REMAINING_LENGTH:
        raise ValueError(f"variable byte integer out of range: {value}")
    if value < 0x80:
        return bytes((value,))
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _frame(first_byte: int, body: bytes | bytearray) -> bytes:
    return bytes((first_byte,)) + encode_varint(len(body)) + body


def _u16(value: int) -> bytes:
    if not 0 <= value <= 0xFFFF:
        raise ValueError(f"two-byte integer out of range: {value}")
    return value.to_bytes(2, "big")


def _binary(data: bytes) -> bytes:
    return _u16(len(data)) + data


def _utf8(text: str) -> bytes:
    if "\x00" in text:
        raise ValueError("MQTT strings must not contain U+0000")
    return _binary(text.encode("utf-8"))


def _nonzero_packet_id(packet_id: int | None) -> bytes:
    if not packet_id or not 0 < packet_id <= 0xFFFF:
        raise ValueError(f"invalid packet identifier {packet_id!r}")
    return packet_id.to_bytes(2, "big")


def encode_properties(properties: Properties, packet: int = -1) -> bytes:
    """Encode MQTT 5 properties with their length prefix (``packet`` checks they are allowed there)."""
    if properties is NO_PROPERTIES:
        return b"\x00"
    out = bytearray()
    for pid, (name, kind, choices, packets) in _PROPERTY_SPECS.items():
        value = getattr(properties, name)
        if value is None or value == ():
            continue
        if packet != -1 and packet not in packets:
            raise ValueError(f"property {name} is not allowed in this packet")
        values = value if kind == _PAIR or name == "subscription_identifiers" else (value,)
        for item in values:
            out += encode_varint(pid)
            if kind == _BYTE:
                if not 0 <= item <= 0xFF or (choices is not None and item not in choices):
                    raise ValueError(f"invalid {name}: {item!r}")
                out.append(item)
            elif kind == _U16:
                out += _u16(item)
            elif kind == _U32:
                if not 0 <= item <= 0xFFFFFFFF:
                    raise ValueError(f"invalid {name}: {item!r}")
                out += item.to_bytes(4, "big")
            elif kind == _VARINT:
                out += encode_varint(item)
            elif kind == _UTF8:
                out += _utf8(item)
            elif kind == _BINARY:
                out += _binary(item)
            else:
                out += _utf8(item[0]) + _utf8(item[1])
    return encode_varint(len(out)) + out


def _check_v3_properties(properties: Properties) -> None:
    if properties != NO_PROPERTIES:
        raise ValueError("MQTT 3.1.1 packets have no properties")


def _encode_connect(packet: Connect, version: int) -> bytes:
    level = packet.protocol_level
    v5 = level == MQTT_5
    flags = 0x02 if packet.clean_start else 0
    will = packet.will
    if will is not None:
        if will.qos not in (0, 1, 2):
            raise ValueError("will QoS must be 0, 1 or 2")
        flags |= 0x04 | (will.qos << 3) | (0x20 if will.retain else 0)
    if packet.username is not None:
        flags |= 0x80
    if packet.password is not None:
        if packet.username is None and not v5:
            raise ValueError("MQTT 3.1.1 needs a user name with a password")
        flags |= 0x40
    if not v5:
        _check_v3_properties(packet.properties)
        if will is not None:
            _check_v3_properties(will.properties)
    body = bytearray(_utf8("MQIsdp" if level == 3 else "MQTT"))
    body.append(level)
    body.append(flags)
    body += _u16(packet.keep_alive)
    if v5:
        body += encode_properties(packet.properties, CONNECT)
    body += _utf8(packet.client_id)
    if will is not None:
        if v5:
            body += encode_properties(will.properties, _WILL)
        body += _utf8(will.topic) + _binary(will.payload)
    if packet.username is not None:
        body += _utf8(packet.username)
    if packet.password is not None:
        body += _binary(packet.password)
    return _frame(CONNECT << 4, body)


def _encode_connack(packet: ConnAck, version: int) -> bytes:
    codes = CONNACK_CODES_V5 if version == MQTT_5 else CONNACK_CODES_V3
    if packet.reason_code not in codes:
        raise ValueError(f"invalid CONNACK code 0x{packet.reason_code:02X}")
    body = bytes((1 if packet.session_present else 0, packet.reason_code))
    if version == MQTT_5:
        return _frame(CONNACK << 4, body + encode_properties(packet.properties, CONNACK))
    _check_v3_properties(packet.properties)
    return _frame(CONNACK << 4, body)


def _encode_publish(packet: Publish, version: int) -> bytes:
    qos = packet.qos
    if qos not in (0, 1, 2):
        raise ValueError("QoS must be 0, 1 or 2")
    if packet.dup and not qos:
        raise ValueError("DUP needs QoS 1 or 2")
    first = (PUBLISH << 4) | (0x08 if packet.dup else 0) | (qos << 1) | (0x01 if packet.retain else 0)
    body = bytearray(_utf8(packet.topic))
    if qos:
        body += _nonzero_packet_id(packet.packet_id)
    elif packet.packet_id is not None:
        raise ValueError("a QoS 0 PUBLISH has no packet identifier")
    if version == MQTT_5:
        body += encode_properties(packet.properties, PUBLISH)
    else:
        _check_v3_properties(packet.properties)
    body += packet.payload
    return _frame(first, body)


def _encode_ack(packet: PubAck | PubRec | PubRel | PubComp, version: int) -> bytes:
    packet_type = _ACK_TYPES[type(packet)]
    first = (packet_type << 4) | (0x02 if packet_type == PUBREL else 0)
    body = _nonzero_packet_id(packet.packet_id)
    if version != MQTT_5:
        if packet.reason_code:
            raise ValueError("MQTT 3.1.1 acknowledgements have no reason code")
        _check_v3_properties(packet.properties)
        return _frame(first, body)
    if packet.reason_code not in _ACK_CODES_V5[type(packet)]:
        raise ValueError(f"invalid reason code 0x{packet.reason_code:02X}")
    # The reason code and property length may be left out when they are 0 (MQTT 5 §3.4.2.1).
    if packet.properties is not NO_PROPERTIES and packet.properties != NO_PROPERTIES:
        return _frame(first, body + bytes((packet.reason_code,)) + encode_properties(packet.properties,
                                                                                     packet_type))
    if packet.reason_code:
        return _frame(first, body + bytes((packet.reason_code,)))
    return _frame(first, body)


_ACK_TYPES = {PubAck: PUBACK, PubRec: PUBREC, PubRel: PUBREL, PubComp: PUBCOMP}


def _encode_subscribe(packet: Subscribe, version: int) -> bytes:
    if not packet.subscriptions:
        raise ValueError("SUBSCRIBE needs at least one topic filter")
    body = bytearray(_nonzero_packet_id(packet.packet_id))
    if version == MQTT_5:
        body += encode_properties(packet.properties, SUBSCRIBE)
    else:
        _check_v3_properties(packet.properties)
    for sub in packet.subscriptions:
        if not sub.topic_filter or sub.qos not in (0, 1, 2) or sub.retain_handling not in (0, 1, 2):
            raise ValueError(f"invalid subscription {sub!r}")
        options = sub.qos
        if version == MQTT_5:
            options |= (0x04 if sub.no_local else 0) | (0x08 if sub.retain_as_published else 0)
            options |= sub.retain_handling << 4
        elif sub.no_local or sub.retain_as_published or sub.retain_handling:
            raise ValueError("MQTT 3.1.1 subscriptions have QoS only")
        body += _utf8(sub.topic_filter)
        body.append(options)
    return _frame((SUBSCRIBE << 4) | 0x02, body)


def _encode_suback(packet: SubAck, version: int) -> bytes:
    allowed = SUBACK_CODES_V5 if version == MQTT_5 else SUBACK_CODES_V3
    if not packet.reason_codes or any(code not in allowed for code in packet.reason_codes):
        raise ValueError(f"invalid SUBACK codes {packet.reason_codes!r}")
    body = bytearray(_nonzero_packet_id(packet.packet_id))
    if version == MQTT_5:
        body += encode_properties(packet.properties, SUBACK)
    else:
        _check_v3_properties(packet.properties)
    body += bytes(packet.reason_codes)
    return _frame(SUBACK << 4, body)


def _encode_unsubscribe(packet: Unsubscribe, version: int) -> bytes:
    if not packet.topic_filters or not all(packet.topic_filters):
        raise ValueError("UNSUBSCRIBE needs non-empty topic filters")
    body = bytearray(_nonzero_packet_id(packet.packet_id))
    if version == MQTT_5:
        body += encode_properties(packet.properties, UNSUBSCRIBE)
    else:
        _check_v3_properties(packet.properties)
    for topic_filter in packet.topic_filters:
        body += _utf8(topic_filter)
    return _frame((UNSUBSCRIBE << 4) | 0x02, body)


def _encode_unsuback(packet: UnsubAck, version: int) -> bytes:
    body = bytearray(_nonzero_packet_id(packet.packet_id))
    if version != MQTT_5:
        if packet.reason_codes:
            raise ValueError("MQTT 3.1.1 UNSUBACK has no reason codes")
        _check_v3_properties(packet.properties)
        return _frame(UNSUBACK << 4, body)
    if not packet.reason_codes or any(code not in UNSUBACK_CODES_V5 for code in packet.reason_codes):
        raise ValueError(f"invalid UNSUBACK codes {packet.reason_codes!r}")
    body += encode_properties(packet.properties, UNSUBACK) + bytes(packet.reason_codes)
    return _frame(UNSUBACK << 4, body)


def _encode_reason_only(packet_type: int, codes: frozenset[int]):
    def encode_packet(packet: Disconnect | Auth, version: int) -> bytes:
        if version != MQTT_5:
            if packet_type == AUTH:
                raise ValueError("AUTH is an MQTT 5 packet")
            if packet.reason_code:
                raise ValueError("MQTT 3.1.1 DISCONNECT has no reason code")
            _check_v3_properties(packet.properties)
            return _frame(packet_type << 4, b"")
        if packet.reason_code not in codes:
            raise ValueError(f"invalid reason code 0x{packet.reason_code:02X}")
        if packet.properties != NO_PROPERTIES:
            return _frame(packet_type << 4,
                          bytes((packet.reason_code,)) + encode_properties(packet.properties, packet_type))
        if packet.reason_code:
            return _frame(packet_type << 4, bytes((packet.reason_code,)))
        return _frame(packet_type << 4, b"")

    return encode_packet


_ENCODERS = {
    Connect: _encode_connect,
    ConnAck: _encode_connack,
    Publish: _encode_publish,
    PubAck: _encode_ack,
    PubRec: _encode_ack,
    PubRel: _encode_ack,
    PubComp: _encode_ack,
    Subscribe: _encode_subscribe,
    SubAck: _encode_suback,
    Unsubscribe: _encode_unsubscribe,
    UnsubAck: _encode_unsuback,
    PingReq: lambda packet, version: b"\xc0\x00",
    PingResp: lambda packet, version: b"\xd0\x00",
    Disconnect: _encode_reason_only(DISCONNECT, DISCONNECT_CODES_V5),
    Auth: _encode_reason_only(AUTH, AUTH_CODES_V5),
}


def encode(packet: Packet, version: int) -> bytes:
    """Encode one packet for a connection of the given MQTT version (4 or 5).

    A CONNECT is encoded for its own ``protocol_level``. Raises ValueError for a packet that cannot be
    expressed in that version (e.g. properties in 3.1.1) or has out-of-range fields.
    """
    if version not in SUPPORTED_VERSIONS:
        raise ValueError(f"unsupported MQTT version {version}")
    return _ENCODERS[type(packet)](packet, version)


def encode_puback(packet_id: int) -> bytes:
    """Encode a successful PUBACK (the same bytes in 3.1.1 and 5): the hot path of the gateway."""
    return b"\x40\x02" + packet_id.to_bytes(2, "big")
