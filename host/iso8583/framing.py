"""Sans-io framing catalogue: length prefixes and an optional TPDU header.

Every framer has the same API: feed bytes with ``receive_data`` and drain complete bodies with
``next_frame`` until it returns ``None`` (one read is never assumed to be one message); ``frame``
wraps a body for sending. An impossible length is a ``FramingError``. No I/O, no clock.

========================  =====================================================  ============
name                      layout                                                 jPOS analogue
========================  =====================================================  ============
``binary2``               2-byte big-endian binary length (the skeleton's)       PostChannel
``ascii4``                4 ASCII decimal digits of length                       ASCIIChannel
``bcd2``                  2-byte BCD length (0000-9999)                          BCDChannel
``<any>+tpdu``            length, then a 5-byte TPDU, then the message           NAC / NCC
========================  =====================================================  ============

The length always excludes itself and includes the TPDU when there is one.

Examples
--------
>>> f = TwoByteLengthFramer()
>>> f.receive_data(b"\\x00\\x040800\\x00")
>>> f.next_frame()
b'0800'
>>> f.next_frame() is None
True
>>> TwoByteLengthFramer.frame(b"0810")
b'\\x00\\x040810'
>>> AsciiLengthFramer().frame(b"0810")
b'00040810'
>>> BcdLengthFramer().frame(b"x" * 12)[:2].hex()
'0012'
>>> make_framer("bcd2+tpdu", tpdu=Tpdu(destination=0x0001, source=0x0000)).frame(b"0800")
b'\\x00\\t`\\x00\\x01\\x00\\x000800'
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Protocol

from host.iso8583.errors import FramingError

__all__ = [
    "FRAMINGS",
    "FRAMING_ALIASES",
    "AsciiLengthFramer",
    "BcdLengthFramer",
    "Framer",
    "Tpdu",
    "TpduFramer",
    "TwoByteLengthFramer",
    "make_framer",
]


class Framer(Protocol):
    """What every framing offers (``TwoByteLengthFramer`` is the reference)."""

    def receive_data(self, data: bytes) -> None: ...

    def next_frame(self) -> bytes | None: ...

    def frame(self, body: bytes) -> bytes: ...

    @property
    def buffered(self) -> int: ...


class _LengthPrefixFramer:
    """Buffer + ``PREFIX``-byte length; subclasses parse and format the prefix."""

    PREFIX = 2
    LIMIT = 0xFFFF

    def __init__(self, *, max_length: int = 8192) -> None:
        self._buf = bytearray()
        self._max = min(max_length, self.LIMIT)

    def receive_data(self, data: bytes) -> None:
        self._buf += data

    @property
    def buffered(self) -> int:
        return len(self._buf)

    def _parse_length(self, prefix: bytes) -> int:  # pragma: no cover - abstract
        raise NotImplementedError

    def next_frame(self) -> bytes | None:
        if len(self._buf) < self.PREFIX:
            return None
        n = self._parse_length(bytes(self._buf[: self.PREFIX]))
        if n == 0 or n > self._max:
            raise FramingError(f"impossible frame length {n}")
        if len(self._buf) < self.PREFIX + n:
            return None
        frame = bytes(self._buf[self.PREFIX : self.PREFIX + n])
        del self._buf[: self.PREFIX + n]
        return frame


class TwoByteLengthFramer(_LengthPrefixFramer):
    """2-byte big-endian length prefix (excluding itself): the skeleton's wire contract."""

    def _parse_length(self, prefix: bytes) -> int:
        return int.from_bytes(prefix, "big")

    @staticmethod
    def frame(body: bytes) -> bytes:
        if not 0 < len(body) <= 0xFFFF:
            raise FramingError(f"cannot frame a body of {len(body)} bytes")
        return len(body).to_bytes(2, "big") + body


class AsciiLengthFramer(_LengthPrefixFramer):
    """``digits`` ASCII decimal digits of length (default 4).

    >>> f = AsciiLengthFramer()
    >>> f.receive_data(b"00x40800")
    >>> f.next_frame()
    Traceback (most recent call last):
    ...
    host.iso8583.errors.FramingError: length prefix b'00x4' is not 4 ASCII digits
    """

    def __init__(self, *, digits: int = 4, max_length: int = 8192) -> None:
        self.PREFIX = digits
        self.LIMIT = 10**digits - 1
        super().__init__(max_length=max_length)

    def _parse_length(self, prefix: bytes) -> int:
        if not (prefix.isdigit() and prefix.isascii()):
            raise FramingError(f"length prefix {prefix!r} is not {self.PREFIX} ASCII digits")
        return int(prefix)

    def frame(self, body: bytes) -> bytes:
        if not 0 < len(body) <= self.LIMIT:
            raise FramingError(f"cannot frame a body of {len(body)} bytes")
        return str(len(body)).zfill(self.PREFIX).encode("ascii") + body


class BcdLengthFramer(_LengthPrefixFramer):
    """2-byte packed BCD length (``0x01 0x23`` is 123 bytes).

    >>> f = BcdLengthFramer()
    >>> f.receive_data(b"\\x0a\\x00")
    >>> f.next_frame()
    Traceback (most recent call last):
    ...
    host.iso8583.errors.FramingError: length prefix 0a00 is not BCD
    """

    LIMIT = 9999

    def _parse_length(self, prefix: bytes) -> int:
        text = prefix.hex()
        if not text.isdigit():
            raise FramingError(f"length prefix {text} is not BCD")
        return int(text)

    def frame(self, body: bytes) -> bytes:
        if not 0 < len(body) <= self.LIMIT:
            raise FramingError(f"cannot frame a body of {len(body)} bytes")
        return bytes.fromhex(f"{len(body):04d}") + body


@dataclass(frozen=True, kw_only=True)
class Tpdu:
    """5-byte transport PDU: id (``0x60``), destination and source addresses.

    >>> t = Tpdu.from_bytes(bytes.fromhex("6000010002"))
    >>> t.swapped().to_bytes().hex()
    '6000020001'
    """

    id: int = 0x60
    destination: int = 0
    source: int = 0

    def __post_init__(self) -> None:
        if not (0 <= self.id <= 0xFF and 0 <= self.destination <= 0xFFFF
                and 0 <= self.source <= 0xFFFF):
            raise FramingError("TPDU field out of range")

    def to_bytes(self) -> bytes:
        return (bytes([self.id]) + self.destination.to_bytes(2, "big")
                + self.source.to_bytes(2, "big"))

    @classmethod
    def from_bytes(cls, raw: bytes) -> Tpdu:
        if len(raw) != 5:
            raise FramingError(f"TPDU must be 5 bytes, got {len(raw)}")
        return cls(id=raw[0], destination=int.from_bytes(raw[1:3], "big"),
                   source=int.from_bytes(raw[3:5], "big"))

    def swapped(self) -> Tpdu:
        """The reply header: source and destination exchanged."""
        return Tpdu(id=self.id, destination=self.source, source=self.destination)


class TpduFramer:
    """A TPDU between any length framing and the message.

    ``next_frame`` strips the TPDU and remembers it as ``last_tpdu``. ``frame`` sends ``tpdu``,
    or, with ``swap_on_reply`` and once a TPDU has been received (the answering side), the last
    received one with source and destination exchanged.

    >>> server = TpduFramer(TwoByteLengthFramer(), swap_on_reply=True)
    >>> server.receive_data(bytes.fromhex("0009" "6000010002") + b"0800")
    >>> server.next_frame(), server.last_tpdu
    (b'0800', Tpdu(id=96, destination=1, source=2))
    >>> server.frame(b"0810")[2:7].hex()
    '6000020001'
    """

    def __init__(self, inner: Framer, *, tpdu: Tpdu | None = None, swap_on_reply: bool = True,
                 expect_id: int | None = 0x60) -> None:
        self._inner = inner
        self._tpdu = tpdu or Tpdu()
        self._swap = swap_on_reply
        self._expect_id = expect_id
        self.last_tpdu: Tpdu | None = None

    def receive_data(self, data: bytes) -> None:
        self._inner.receive_data(data)

    @property
    def buffered(self) -> int:
        return self._inner.buffered

    def next_frame(self) -> bytes | None:
        raw = self._inner.next_frame()
        if raw is None:
            return None
        if len(raw) <= 5:
            raise FramingError(f"frame of {len(raw)} bytes has no room for a TPDU and a message")
        if self._expect_id is not None and raw[0] != self._expect_id:
            raise FramingError(f"TPDU id {raw[0]:02X} is not {self._expect_id:02X}")
        self.last_tpdu = Tpdu.from_bytes(raw[:5])
        return raw[5:]

    def frame(self, body: bytes) -> bytes:
        header = self._tpdu
        if self._swap and self.last_tpdu is not None:
            header = self.last_tpdu.swapped()
        return self._inner.frame(header.to_bytes() + body)


def _with_tpdu(factory: Callable[..., Framer]) -> Callable[..., Framer]:
    def make(*, tpdu: Tpdu | None = None, swap_on_reply: bool = True, **kw: Any) -> Framer:
        return TpduFramer(factory(**kw), tpdu=tpdu, swap_on_reply=swap_on_reply)

    return make


def _binary2(**kw: Any) -> Framer:
    return TwoByteLengthFramer(**kw)


def _ascii4(**kw: Any) -> Framer:
    return AsciiLengthFramer(digits=4, **kw)


def _bcd2(**kw: Any) -> Framer:
    return BcdLengthFramer(**kw)


#: Framing name -> factory (keyword options: ``max_length``; ``tpdu``, ``swap_on_reply`` for +tpdu).
FRAMINGS: Mapping[str, Callable[..., Framer]] = MappingProxyType({
    "binary2": _binary2,
    "ascii4": _ascii4,
    "bcd2": _bcd2,
    "binary2+tpdu": _with_tpdu(_binary2),
    "ascii4+tpdu": _with_tpdu(_ascii4),
    "bcd2+tpdu": _with_tpdu(_bcd2),
})

#: Common names of the same layouts (jPOS channel families).
FRAMING_ALIASES: Mapping[str, str] = MappingProxyType({
    "post": "binary2", "nac": "binary2+tpdu", "ncc": "bcd2+tpdu", "ascii": "ascii4",
})


def make_framer(name: str, **options: Any) -> Framer:
    """A new framer by catalogue name or alias; an unknown name is a ``FramingError``.

    >>> type(make_framer("nac")).__name__
    'TpduFramer'
    """
    factory = FRAMINGS.get(FRAMING_ALIASES.get(name, name))
    if factory is None:
        raise FramingError(f"unknown framing {name!r}")
    return factory(**options)
