r"""Sans-io framing for the SST EPP serial protocol (no I/O, no clock).

The protocol is our own, in the style of real EPPs (SZZT ZT588, Sankyo): STX/ETX framing, an
ASCII length, an XOR checksum, single-byte ACK/NAK and unsolicited events told apart from
replies by a frame-type byte.

Wire format
-----------
::

    STX | LEN (3 ASCII digits) | TYPE | SEQ | CMD | DATA | ETX | LRC (2 ASCII hex digits)

``STX`` 0x02, ``ETX`` 0x03. ``LEN`` counts TYPE..DATA (3 + len(DATA), at most 999).
``TYPE`` is ``C`` (command, host to EPP), ``R`` (reply, EPP to host) or ``E`` (unsolicited
event, EPP to host). ``SEQ`` is one ASCII digit: the host numbers commands ``1``..``9``
cyclically and the reply repeats it; ``0`` is reserved for the link-sync command and for events.
``CMD`` is one printable ASCII letter. ``DATA`` is printable ASCII fields separated by FS (0x1C);
binary values travel as upper-case hex. ``LRC`` is the XOR of every byte from LEN through ETX,
written as two hex digits. Every byte between STX and ETX is printable or FS, so ACK (0x06),
NAK (0x15), STX and ETX never occur inside a frame.

Link rules (carried out by the driver and the firmware, which own the clock): the receiver of a
valid frame answers ACK, of a damaged frame NAK; the sender resends on NAK or on a missing ACK,
up to its retry count. The EPP resends its last frame on NAK and answers a repeated command
(same SEQ and bytes) with its cached reply instead of executing it twice.

Decoding never raises on bad input: :meth:`EppConnection.next_event` reports a
:class:`BadFrame` and resynchronises on the next STX.

Examples
--------
>>> host, epp = EppConnection(Role.HOST), EppConnection(Role.DEVICE)
>>> wire = host.send(Frame(type=FrameType.COMMAND, seq=1, command="S"))
>>> wire
b'\x02003C1S\x0311'
>>> epp.receive_data(wire[:4]); epp.next_event()
NeedData()
>>> epp.receive_data(wire[4:] + b"\x06"); epp.next_event()
Frame(type=<FrameType.COMMAND: 'C'>, seq=1, command='S')
>>> epp.next_event()
Ack()
>>> epp.next_event()
NeedData()
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

from devices.epp.errors import EppLocalProtocolError

__all__ = [
    "ACK",
    "ETX",
    "FS",
    "MAX_DATA",
    "NAK",
    "STX",
    "Ack",
    "BadFrame",
    "BadFrameReason",
    "EppConnection",
    "Event",
    "Frame",
    "FrameType",
    "Nak",
    "NeedData",
    "Role",
    "encode_frame",
    "lrc",
]

STX = 0x02
ETX = 0x03
ACK = 0x06
NAK = 0x15
FS = 0x1C
MAX_BODY = 999
MAX_DATA = MAX_BODY - 3
_HEADER = 4  # STX + 3 length digits
_TRAILER = 3  # ETX + 2 LRC digits


class FrameType(Enum):
    """The frame-type byte: who sent it and why."""

    COMMAND = "C"
    REPLY = "R"
    EVENT = "E"


class Role(Enum):
    """Which end of the link a connection is: the host sends commands, the device the rest."""

    HOST = "host"
    DEVICE = "device"


@dataclass(frozen=True, kw_only=True)
class Frame:
    """One frame. ``fields`` may hold key material, so it is left out of ``repr``."""

    type: FrameType
    seq: int
    command: str
    fields: tuple[str, ...] = field(default=(), repr=False)

    def __post_init__(self) -> None:
        if not 0 <= self.seq <= 9:
            raise EppLocalProtocolError("seq must be 0..9")
        if len(self.command) != 1 or not _printable(self.command):
            raise EppLocalProtocolError("command must be one printable ASCII character")
        if self.fields == ("",):
            raise EppLocalProtocolError("a single empty field cannot be encoded")
        for f in self.fields:
            if not _printable(f):
                raise EppLocalProtocolError("fields must be printable ASCII")

    @property
    def data(self) -> bytes:
        """DATA as it goes on the wire (fields joined by FS)."""
        return bytes([FS]).join(f.encode("ascii") for f in self.fields)


@dataclass(frozen=True)
class Ack:
    """The peer acknowledged our last frame."""


@dataclass(frozen=True)
class Nak:
    """The peer rejected our last frame (bad checksum or format)."""


@dataclass(frozen=True)
class NeedData:
    """No complete event in the buffer yet."""


class BadFrameReason(Enum):
    """Why bytes were discarded."""

    GARBAGE = "bytes outside a frame"
    BAD_LENGTH = "length field is not 3 digits in range"
    NO_ETX = "ETX missing at the position LEN gives"
    BAD_LRC = "LRC mismatch"
    BAD_BYTE = "non-printable byte inside a frame"
    BAD_HEADER = "bad frame type, sequence or command"
    WRONG_DIRECTION = "frame type not allowed in this direction"


@dataclass(frozen=True, kw_only=True)
class BadFrame:
    """Bytes were discarded; ``skipped`` counts them. The receiver should NAK (except GARBAGE)."""

    reason: BadFrameReason
    skipped: int


Event = Frame | Ack | Nak | NeedData | BadFrame


def _printable(text: str) -> bool:
    return all(0x20 <= ord(c) <= 0x7E for c in text)


def lrc(data: bytes) -> int:
    """XOR of all bytes.

    Examples
    --------
    >>> lrc(b"003C1S\\x03") == 0x11
    True
    """
    value = 0
    for b in data:
        value ^= b
    return value


def encode_frame(frame: Frame) -> bytes:
    r"""Encode one frame.

    Examples
    --------
    >>> encode_frame(Frame(type=FrameType.REPLY, seq=1, command="S", fields=("00", "online")))
    b'\x02012R1S00\x1conline\x0313'
    """
    data = frame.data
    if len(data) > MAX_DATA:
        raise EppLocalProtocolError(f"DATA longer than {MAX_DATA} bytes")
    body = f"{len(data) + 3:03d}{frame.type.value}{frame.seq}{frame.command}".encode() + data
    body += bytes([ETX])
    return bytes([STX]) + body + f"{lrc(body):02X}".encode()


_ALLOWED_IN = {
    Role.HOST: {FrameType.REPLY, FrameType.EVENT},
    Role.DEVICE: {FrameType.COMMAND},
}


class EppConnection:
    """One end of the link: a byte buffer in, typed events out, frames to bytes.

    Parameters
    ----------
    role
        ``Role.HOST`` accepts reply and event frames and sends commands;
        ``Role.DEVICE`` the reverse.
    """

    def __init__(self, role: Role) -> None:
        self.role = role
        self._buf = bytearray()

    def receive_data(self, data: bytes) -> None:
        """Append received bytes (any split: one read is never one frame)."""
        self._buf += data

    def discard_partial(self) -> int:
        """Drop a buffered partial frame (call after an inter-byte timeout); returns its size."""
        n = len(self._buf)
        self._buf.clear()
        return n

    def next_event(self) -> Event:  # noqa: PLR0911, PLR0912 - one check per frame rule
        """Return the next event; never raises on bad input."""
        buf = self._buf
        if not buf:
            return NeedData()
        first = buf[0]
        if first == ACK:
            del buf[0]
            return Ack()
        if first == NAK:
            del buf[0]
            return Nak()
        if first != STX:
            n = 1
            while n < len(buf) and buf[n] not in (STX, ACK, NAK):
                n += 1
            del buf[:n]
            return BadFrame(reason=BadFrameReason.GARBAGE, skipped=n)
        if len(buf) < _HEADER:
            return self._check_prefix()
        digits = bytes(buf[1:4])
        if not digits.isdigit() or not 3 <= int(digits) <= MAX_BODY:
            return self._resync(BadFrameReason.BAD_LENGTH)
        body_len = int(digits)
        total = _HEADER + body_len + _TRAILER
        if len(buf) < total:
            return self._check_prefix()
        if buf[_HEADER + body_len] != ETX:
            return self._resync(BadFrameReason.NO_ETX)
        try:
            want = int(bytes(buf[total - 2 : total]).decode("ascii"), 16)
        except (UnicodeDecodeError, ValueError):
            return self._resync(BadFrameReason.BAD_LRC)
        if bytes(buf[total - 2 : total]).upper() != bytes(buf[total - 2 : total]) or want != lrc(
            bytes(buf[1 : total - 2])
        ):
            return self._resync(BadFrameReason.BAD_LRC)
        body = bytes(buf[_HEADER : _HEADER + body_len])
        for b in body:
            if not (0x20 <= b <= 0x7E or b == FS):
                return self._resync(BadFrameReason.BAD_BYTE)
        text = body.decode("ascii")
        try:
            ftype = FrameType(text[0])
        except ValueError:
            return self._resync(BadFrameReason.BAD_HEADER)
        if not text[1].isdigit() or FS in body[:3]:
            return self._resync(BadFrameReason.BAD_HEADER)
        raw = text[3:]
        fields = tuple(raw.split(chr(FS))) if raw else ()
        if fields == ("",):
            return self._resync(BadFrameReason.BAD_HEADER)
        del buf[:total]
        if ftype not in _ALLOWED_IN[self.role]:
            return BadFrame(reason=BadFrameReason.WRONG_DIRECTION, skipped=total)
        return Frame(type=ftype, seq=int(text[1]), command=text[2], fields=fields)

    def _check_prefix(self) -> Event:
        """A partial frame: fail fast if what we have already cannot be a frame."""
        for i, b in enumerate(self._buf[1:4], start=1):
            if not 0x30 <= b <= 0x39:
                return self._resync(BadFrameReason.BAD_LENGTH, i)
        return NeedData()

    def _resync(self, reason: BadFrameReason, _at: int = 1) -> BadFrame:
        """Drop the STX and everything up to the next STX/ACK/NAK; report it."""
        buf = self._buf
        n = 1
        while n < len(buf) and buf[n] not in (STX, ACK, NAK):
            n += 1
        del buf[:n]
        return BadFrame(reason=reason, skipped=n)

    def send(self, event: Frame | Ack | Nak) -> bytes:
        """Bytes for one outgoing event; refuses frame types this role may not send."""
        if isinstance(event, Ack):
            return bytes([ACK])
        if isinstance(event, Nak):
            return bytes([NAK])
        if event.type in _ALLOWED_IN[self.role]:
            raise EppLocalProtocolError(
                f"a {self.role.value} cannot send a {event.type.name.lower()} frame"
            )
        return encode_frame(event)
