"""Dates as ES handles them: named and pattern formats, epoch values, date math, rounding and time zones.

Every parsed date is an integer of nanoseconds since the epoch (UTC); ``date`` fields keep milliseconds
and ``date_nanos`` fields nanoseconds, so callers convert with ``// NS_PER_MS``. Supported: the ISO formats
(``strict_date_optional_time`` and its ``_nanos`` variant, which accept up to nine fractional digits),
``epoch_millis``, ``epoch_second``, ES's common named formats, Java-style patterns built from
``yyyy MM dd HH mm ss S… 'literal'`` and the zone letters ``X Z x``, ``||``-joined alternatives, date math
(``now-1h/d``, ``2024-01-01||+1M``) and fixed-offset time zones (``UTC``, ``+01:00``). Region time zones
such as ``Europe/Paris`` are refused rather than approximated.
"""

from __future__ import annotations

import re
from functools import lru_cache
from datetime import date, datetime, timedelta, timezone

from .errors import EsError, unsupported

NS_PER_MS = 1_000_000
NS_PER_S = 1_000_000_000
_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_MAX_DAY = {1: 31, 2: 29, 3: 31, 4: 30, 5: 31, 6: 30, 7: 31, 8: 31, 9: 30, 10: 31, 11: 30, 12: 31}

_ISO = re.compile(
    r"^([+-]?\d{4,9})(?:-(\d{2})(?:-(\d{2})(?:T(\d{2})(?::(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?)?)?)?)?"
    r"(Z|[+-]\d{2}(?::?\d{2})?)?$")
_NUMBER = re.compile(r"^[+-]?\d+(?:\.\d+)?$")


class DateParseError(ValueError):
    """A value that does not match a date format."""


def parse_offset(text: str | None) -> int:
    """Return a time zone's offset in seconds; only UTC aliases and fixed offsets are supported."""
    if text is None or text in ("Z", "UTC", "GMT", "Etc/UTC", "Etc/GMT", "UCT", "Zulu"):
        return 0
    m = re.fullmatch(r"([+-])(\d{1,2})(?::?(\d{2}))?", text.strip())
    if not m:
        raise unsupported(f"time_zone [{text}] (only UTC and fixed offsets such as +01:00 are supported)")
    secs = int(m.group(2)) * 3600 + int(m.group(3) or 0) * 60
    if secs > 18 * 3600:
        raise EsError(400, "illegal_argument_exception", f"Invalid time zone [{text}]")
    return -secs if m.group(1) == "-" else secs


def _zone_offset(text: str) -> int:
    if text == "Z":
        return 0
    sign = -1 if text[0] == "-" else 1
    digits = text[1:].replace(":", "")
    return sign * (int(digits[:2]) * 3600 + int(digits[2:4] or 0) * 60)


@lru_cache(maxsize=8192)
def _days(y: int, mo: int, d: int) -> int:
    try:
        return date(y, mo, d).toordinal() - _EPOCH_ORDINAL
    except ValueError as exc:
        raise DateParseError(str(exc)) from None


def _last_day(y: int, mo: int) -> int:
    if mo == 2:
        return 29 if (y % 4 == 0 and (y % 100 != 0 or y % 400 == 0)) else 28
    return _MAX_DAY[mo]


def _compose(y, mo, d, h, mi, s, frac_ns, offset, round_up) -> int:
    """Turn calendar fields (None = missing) into epoch ns; missing fields take their minimum or maximum."""
    if round_up:
        mo = 12 if mo is None else mo
        d = _last_day(y, mo) if d is None else d
        h = 23 if h is None else h
        mi = 59 if mi is None else mi
        s = 59 if s is None else s
        frac_ns = NS_PER_S - 1 if frac_ns is None else frac_ns
    else:
        mo = mo or 1
        d = d or 1
        h = h or 0
        mi = mi or 0
        s = s or 0
        frac_ns = frac_ns or 0
    if not (1 <= mo <= 12 and 0 <= h <= 23 and 0 <= mi <= 59 and 0 <= s <= 59):
        raise DateParseError("field out of range")
    secs = _days(y, mo, d) * 86400 + h * 3600 + mi * 60 + s - offset
    return secs * NS_PER_S + frac_ns


def _frac_to_ns(frac: str | None) -> int | None:
    if frac is None:
        return None
    return int(frac.ljust(9, "0"))


class IsoFormat:
    """``strict_date_optional_time`` (3 fractional digits out) or its ``_nanos`` variant (up to 9 out)."""

    def __init__(self, name: str, nanos: bool):
        self.name = name
        self.nanos = nanos

    def parse(self, value: str, round_up: bool = False, offset: int = 0) -> int:
        m = _ISO.match(value)
        if not m:
            raise DateParseError(value)
        y, mo, d, h, mi, s, frac, zone = m.groups()
        off = _zone_offset(zone) if zone else offset
        return _compose(int(y), _i(mo), _i(d), _i(h), _i(mi), _i(s), _frac_to_ns(frac), off, round_up)

    def format(self, ns: int, offset: int = 0) -> str:
        dt, rem = _split(ns, offset)
        if self.nanos and rem % NS_PER_MS:
            frac = f"{rem:09d}".rstrip("0")
        else:
            frac = f"{rem // NS_PER_MS:03d}"
        return f"{dt:%Y-%m-%dT%H:%M:%S}.{frac}{_zone_text(offset, 'XXX')}"


class EpochFormat:
    """``epoch_millis`` or ``epoch_second``: a number (or numeric string) with an optional fraction."""

    def __init__(self, name: str, unit_ns: int):
        self.name = name
        self.unit_ns = unit_ns

    def parse(self, value, round_up: bool = False, offset: int = 0) -> int:
        if isinstance(value, bool):
            raise DateParseError(str(value))
        if isinstance(value, int):
            return value * self.unit_ns
        if isinstance(value, float):
            if value != value or value in (float("inf"), float("-inf")):
                raise DateParseError(str(value))
            return round(value * self.unit_ns)
        text = str(value)
        if not _NUMBER.match(text):
            raise DateParseError(text)
        whole, _, frac = text.partition(".")
        sign = -1 if whole.startswith("-") else 1
        ns = abs(int(whole)) * self.unit_ns
        if frac:
            ns += int(frac[:18].ljust(18, "0")) * self.unit_ns // 10**18
        return sign * ns

    def format(self, ns: int, offset: int = 0) -> str:
        if self.unit_ns == NS_PER_MS:
            return str(ns // NS_PER_MS)
        return str(ns // NS_PER_S)


_TOKEN = re.compile(r"'[^']*'|([a-zA-Z])\1*|.", re.S)


class PatternFormat:
    """A Java-style pattern such as ``yyyy-MM-dd HH:mm:ss.SSS``: letters ``y u M d H m s S X x Z``."""

    def __init__(self, pattern: str):
        self.name = pattern
        self.parts: list[tuple[str, object]] = []
        regex = []
        for m in _TOKEN.finditer(pattern):
            tok = m.group(0)
            if tok.startswith("'"):
                lit = tok[1:-1] or "'"
                self.parts.append(("lit", lit))
                regex.append(re.escape(lit))
                continue
            letter = tok[0]
            if not letter.isalpha():
                self.parts.append(("lit", tok))
                regex.append(re.escape(tok))
                continue
            n = len(tok)
            if letter in "yu":
                regex.append(r"(?P<y>[+-]?\d{4,9})" if n != 2 else r"(?P<y>\d{2})")
            elif letter == "M" and n <= 2:
                regex.append(r"(?P<mo>\d{1,2})" if n == 1 else r"(?P<mo>\d{2})")
            elif letter == "d" and n <= 2:
                regex.append(r"(?P<d>\d{1,2})" if n == 1 else r"(?P<d>\d{2})")
            elif letter == "H" and n <= 2:
                regex.append(r"(?P<h>\d{1,2})" if n == 1 else r"(?P<h>\d{2})")
            elif letter == "m" and n <= 2:
                regex.append(r"(?P<mi>\d{1,2})" if n == 1 else r"(?P<mi>\d{2})")
            elif letter == "s" and n <= 2:
                regex.append(r"(?P<s>\d{1,2})" if n == 1 else r"(?P<s>\d{2})")
            elif letter == "S" and n <= 9:
                regex.append(rf"(?P<f>\d{{{n}}})")
            elif letter in "XxZ":
                regex.append(r"(?P<z>Z|[+-]\d{2}(?::?\d{2})?)")
            else:
                raise unsupported(f"date format pattern letter [{tok}] in [{pattern}]")
            self.parts.append((letter, n))
        try:
            self.regex = re.compile("^" + "".join(regex) + "$")
        except re.error:
            raise unsupported(f"date format [{pattern}] (a field appears twice)") from None

    def parse(self, value: str, round_up: bool = False, offset: int = 0) -> int:
        m = self.regex.match(str(value))
        if not m:
            raise DateParseError(value)
        g = m.groupdict()
        y = int(g["y"]) if g.get("y") is not None else 1970
        if g.get("y") is not None and len(g["y"]) == 2:
            y += 2000
        off = _zone_offset(g["z"]) if g.get("z") else offset
        return _compose(y, _i(g.get("mo")), _i(g.get("d")), _i(g.get("h")), _i(g.get("mi")), _i(g.get("s")),
                        _frac_to_ns(g.get("f")), off, round_up)

    def format(self, ns: int, offset: int = 0) -> str:
        dt, rem = _split(ns, offset)
        out = []
        for kind, arg in self.parts:
            if kind == "lit":
                out.append(arg)
            elif kind in "yu":
                out.append(f"{dt.year % 100:02d}" if arg == 2 else f"{dt.year:04d}")
            elif kind == "M":
                out.append(f"{dt.month:0{arg}d}")
            elif kind == "d":
                out.append(f"{dt.day:0{arg}d}")
            elif kind == "H":
                out.append(f"{dt.hour:0{arg}d}")
            elif kind == "m":
                out.append(f"{dt.minute:0{arg}d}")
            elif kind == "s":
                out.append(f"{dt.second:0{arg}d}")
            elif kind == "S":
                out.append(f"{rem:09d}"[:arg])
            else:
                out.append(_zone_text(offset, kind * arg))
        return "".join(out)


_NAMED_PATTERNS = {
    "date": "yyyy-MM-dd", "strict_date": "yyyy-MM-dd", "year_month_day": "yyyy-MM-dd",
    "strict_year_month_day": "yyyy-MM-dd", "year_month": "yyyy-MM", "strict_year_month": "yyyy-MM",
    "year": "yyyy", "strict_year": "yyyy",
    "date_time": "yyyy-MM-dd'T'HH:mm:ss.SSSXXX", "strict_date_time": "yyyy-MM-dd'T'HH:mm:ss.SSSXXX",
    "date_time_no_millis": "yyyy-MM-dd'T'HH:mm:ssXXX", "strict_date_time_no_millis": "yyyy-MM-dd'T'HH:mm:ssXXX",
    "date_hour_minute_second": "yyyy-MM-dd'T'HH:mm:ss", "strict_date_hour_minute_second": "yyyy-MM-dd'T'HH:mm:ss",
    "date_hour_minute_second_millis": "yyyy-MM-dd'T'HH:mm:ss.SSS",
    "strict_date_hour_minute_second_millis": "yyyy-MM-dd'T'HH:mm:ss.SSS",
    "date_hour_minute_second_fraction": "yyyy-MM-dd'T'HH:mm:ss.SSS",
    "strict_date_hour_minute_second_fraction": "yyyy-MM-dd'T'HH:mm:ss.SSS",
    "date_hour_minute": "yyyy-MM-dd'T'HH:mm", "strict_date_hour_minute": "yyyy-MM-dd'T'HH:mm",
    "date_hour": "yyyy-MM-dd'T'HH", "strict_date_hour": "yyyy-MM-dd'T'HH",
    "basic_date": "yyyyMMdd", "basic_date_time": "yyyyMMdd'T'HHmmss.SSSZ",
    "basic_date_time_no_millis": "yyyyMMdd'T'HHmmssZ",
}


class DateFormat:
    """A ``||``-joined list of formats: parse tries each in turn, format uses the first."""

    def __init__(self, spec: str):
        self.spec = spec
        self.formats = [_one_format(part.strip()) for part in spec.split("||")]

    def parse(self, value, round_up: bool = False, offset: int = 0) -> int:
        for fmt in self.formats:
            if not isinstance(value, str) and not isinstance(fmt, EpochFormat):
                continue
            try:
                return fmt.parse(value, round_up, offset)
            except DateParseError:
                continue
        raise DateParseError(f"failed to parse date field [{value}] with format [{self.spec}]")

    def format(self, ns: int, offset: int = 0) -> str:
        return self.formats[0].format(ns, offset)


def _one_format(name: str):
    if name in ("strict_date_optional_time", "date_optional_time", "iso8601"):
        return IsoFormat(name, nanos=False)
    if name in ("strict_date_optional_time_nanos", "date_optional_time_nanos"):
        return IsoFormat(name, nanos=True)
    if name == "epoch_millis":
        return EpochFormat(name, NS_PER_MS)
    if name == "epoch_second":
        return EpochFormat(name, NS_PER_S)
    if name in _NAMED_PATTERNS:
        return PatternFormat(_NAMED_PATTERNS[name])
    if re.fullmatch(r"[a-z_]+", name):
        raise unsupported(f"date format [{name}]")
    return PatternFormat(name)


_FORMAT_CACHE: dict[str, DateFormat] = {}


def get_format(spec: str) -> DateFormat:
    """Return the (cached) parser for a format spec; raise a 400 for what is unsupported."""
    fmt = _FORMAT_CACHE.get(spec)
    if fmt is None:
        fmt = _FORMAT_CACHE[spec] = DateFormat(spec)
    return fmt


DEFAULT_DATE = "strict_date_optional_time||epoch_millis"
DEFAULT_DATE_NANOS = "strict_date_optional_time_nanos||epoch_millis"


def _i(text):
    return int(text) if text is not None else None


def _split(ns: int, offset: int) -> tuple[datetime, int]:
    secs, rem = divmod(ns, NS_PER_S)
    return _EPOCH + timedelta(seconds=secs + offset), rem


def _zone_text(offset: int, letters: str) -> str:
    if offset == 0 and letters[0] in "X":
        return "Z"
    sign = "-" if offset < 0 else "+"
    hh, mm = divmod(abs(offset) // 60, 60)
    if letters in ("Z", "ZZ", "ZZZ", "X", "XX", "x", "xx"):
        return f"{sign}{hh:02d}{mm:02d}"
    return f"{sign}{hh:02d}:{mm:02d}"


# --- date math --------------------------------------------------------------------------------------------

_MATH_OP = re.compile(r"([+-])(\d+)([yMwdhHms])|/([yMwdhHms])")


def parse_math(value, fmt: DateFormat, round_up: bool, now_ns: int, offset: int = 0) -> int:
    """Evaluate an ES date-math expression (``now-1h/d``, ``2024-01-01||+1M``) or a plain date."""
    if isinstance(value, str):
        if value.startswith("now"):
            anchor, rest = now_ns, value[3:]
        elif "||" in value:
            text, rest = value.split("||", 1)
            anchor = fmt.parse(text, False, offset)
        else:
            return fmt.parse(value, round_up, offset)
        pos = 0
        ns = anchor
        while pos < len(rest):
            m = _MATH_OP.match(rest, pos)
            if not m:
                raise EsError(400, "parse_exception", f"operation [{rest[pos:]}] is not supported in date math "
                              f"expression [{value}]")
            if m.group(4):
                ns = _round(ns, m.group(4), round_up, offset)
            else:
                n = int(m.group(2)) * (-1 if m.group(1) == "-" else 1)
                ns = _add(ns, n, m.group(3), offset)
            pos = m.end()
        return ns
    return fmt.parse(value, round_up, offset)


_FIXED_NS = {"w": 7 * 86400 * NS_PER_S, "d": 86400 * NS_PER_S, "h": 3600 * NS_PER_S, "H": 3600 * NS_PER_S,
             "m": 60 * NS_PER_S, "s": NS_PER_S}


def _add(ns: int, n: int, unit: str, offset: int) -> int:
    if unit in _FIXED_NS:
        return ns + n * _FIXED_NS[unit]
    dt, rem = _split(ns, offset)
    months = dt.year * 12 + dt.month - 1 + (n * 12 if unit == "y" else n)
    y, mo = divmod(months, 12)
    mo += 1
    d = min(dt.day, _last_day(y, mo))
    secs = _days(y, mo, d) * 86400 + dt.hour * 3600 + dt.minute * 60 + dt.second - offset
    return secs * NS_PER_S + rem


def floor_unit(ns: int, unit: str, offset: int = 0) -> int:
    """Round down to the start of a calendar unit (y M q w d h m s) in the given fixed offset."""
    dt, _ = _split(ns, offset)
    if unit == "y":
        start = _days(dt.year, 1, 1) * 86400
    elif unit in ("M", "q"):
        mo = dt.month if unit == "M" else (dt.month - 1) // 3 * 3 + 1
        start = _days(dt.year, mo, 1) * 86400
    elif unit == "w":
        start = (_days(dt.year, dt.month, dt.day) - dt.weekday()) * 86400
    elif unit == "d":
        start = _days(dt.year, dt.month, dt.day) * 86400
    elif unit in ("h", "H"):
        start = _days(dt.year, dt.month, dt.day) * 86400 + dt.hour * 3600
    elif unit == "m":
        start = _days(dt.year, dt.month, dt.day) * 86400 + dt.hour * 3600 + dt.minute * 60
    else:
        start = _days(dt.year, dt.month, dt.day) * 86400 + dt.hour * 3600 + dt.minute * 60 + dt.second
    return (start - offset) * NS_PER_S


def next_unit(ns_start: int, unit: str, offset: int = 0) -> int:
    """Return the start of the calendar unit after the one starting at ``ns_start``."""
    if unit == "q":
        return _add(ns_start, 3, "M", offset)
    if unit in ("y", "M"):
        return _add(ns_start, 1, unit, offset)
    return ns_start + _FIXED_NS[unit]


def _round(ns: int, unit: str, round_up: bool, offset: int) -> int:
    start = floor_unit(ns, unit, offset)
    if round_up:
        return next_unit(start, unit, offset) - 1
    return start
