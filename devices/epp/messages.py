r"""Typed commands, replies and events of the EPP protocol, to and from :class:`Frame` fields.

Pure data, no I/O. The command table (``COMMANDS``) maps each one-letter code to its dataclass,
so the firmware dispatches by dictionary and an unknown code gets an error reply.

===  ======================  ===================================================  ==================
CMD  command                 request fields                                       reply fields
===  ======================  ===================================================  ==================
Y    link sync               (none; SEQ 0; clears the duplicate cache)             rc
S    status                  (none)                                               rc device enc
                                                                                  tamper entry fw
                                                                                  serial n
Z    tamper status           (none)                                               rc tampered count
I    initialise              (none; clears the tamper state, keys stay wiped)     rc
M    load TMK components     kcv comp1 comp2 [comp3]   (hex)                      rc kcv
W    load key under a KEK    name under alg usage enc_key kcv                     rc kcv
D    delete key              name                                                 rc
L    list keys               (none)                                               rc name,alg,usage,
                                                                                  len,kcv ...
P    start PIN entry         min max inter_ms total_ms                             rc
X    cancel PIN entry        (none)                                               rc
J    load DUKPT initial key  name under alg key ksn kcv   (under ``-``: clear)       rc kcv
B    get PIN block           key_name fmt pan                                     rc block(hex)
                                                                                  [ksn(hex)]
A    start amount entry      min max inter_ms total_ms                             rc
F    enable FDKs             [F1 .. F8]   (none: all disabled)                     rc
b    beep                    [ms 1..5000]                                         rc
l    backlight               on(0/1)                                              rc
===  ======================  ===================================================  ==================

``rc`` is the two-character :class:`~devices.epp.base.EppErrorCode`; a reply whose ``rc`` is
not ``00`` carries only ``rc``. ``B`` under a DUKPT key adds the KSN used. Events (frame type
``E``, SEQ 0): ``K`` PIN key pressed (kind D/C/X/E, digit count: never the digit), ``N`` PIN
entry ended (outcome, digit count, rc), ``A`` amount key pressed (kind, digit count, and the
digit itself for kind D), ``V`` amount entry ended (outcome, rc, and the value when OK),
``F`` function key pressed (F1..F8), ``T`` tampered (tamper count).

Examples
--------
>>> cmd = StartPinEntry(min_length=4, max_length=6, inter_key_ms=500, total_ms=2000)
>>> f = command_frame(cmd, seq=3)
>>> f.fields
('4', '6', '500', '2000')
>>> decode_command(f) == cmd
True
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from typing import ClassVar

from devices.epp.base import (
    FDK_NAMES,
    AmountEntryResult,
    DeviceState,
    EncryptionState,
    EppErrorCode,
    EppStatus,
    FdkEvent,
    KeyAlgorithm,
    KeyEvent,
    KeyInfo,
    KeyKind,
    KeyUsage,
    PinEntryOutcome,
    PinEntryResult,
    TamperStatus,
)
from devices.epp.codec import Frame, FrameType
from devices.epp.errors import EppDecodeError

__all__ = [
    "CLEAR_KEY",
    "COMMANDS",
    "AmountKeyEvent",
    "Backlight",
    "Beep",
    "CancelPinEntry",
    "Command",
    "DeleteKey",
    "EnableFdks",
    "EppEvent",
    "GetPinBlock",
    "GetStatus",
    "GetTamperStatus",
    "Initialize",
    "ListKeys",
    "LoadDukptKey",
    "LoadTmkComponents",
    "LoadWorkingKey",
    "StartAmountEntry",
    "StartPinEntry",
    "Sync",
    "command_frame",
    "decode_command",
    "decode_event",
    "decode_key_list",
    "decode_pin_block_reply",
    "decode_status",
    "decode_tamper_status",
    "event_frame",
    "redact_frame",
    "reply_code",
    "reply_frame",
]

_NAME_RE = re.compile(r"[A-Za-z0-9_.\-]{1,16}\Z")
_HEX_RE = re.compile(r"(?:[0-9A-F]{2})+\Z")


def _hex(value: str, cmd: str, pos: int) -> bytes:
    if not _HEX_RE.match(value):
        raise EppDecodeError("field is not upper-case hex", command=cmd, pos=pos)
    return bytes.fromhex(value)


def _int(value: str, cmd: str, pos: int) -> int:
    if not value.isdigit() or len(value) > 9:
        raise EppDecodeError("field is not a decimal number", command=cmd, pos=pos)
    return int(value)


def _name(value: str, cmd: str, pos: int) -> str:
    if not _NAME_RE.match(value):
        raise EppDecodeError("bad key name", command=cmd, pos=pos)
    return value


def _count(fields: tuple[str, ...], cmd: str, lo: int, hi: int | None = None) -> None:
    hi = lo if hi is None else hi
    if not lo <= len(fields) <= hi:
        raise EppDecodeError("bad field count", command=cmd, pos=len(fields))


@dataclass(frozen=True, kw_only=True)
class Command:
    """Base class of commands; ``CODE`` is the wire command letter."""

    CODE: ClassVar[str] = "?"

    def to_fields(self) -> tuple[str, ...]:
        return ()

    @classmethod
    def from_fields(cls, fields: tuple[str, ...]) -> Command:
        _count(fields, cls.CODE, 0)
        return cls()


@dataclass(frozen=True, kw_only=True)
class Sync(Command):
    CODE: ClassVar[str] = "Y"


@dataclass(frozen=True, kw_only=True)
class GetStatus(Command):
    CODE: ClassVar[str] = "S"


@dataclass(frozen=True, kw_only=True)
class GetTamperStatus(Command):
    CODE: ClassVar[str] = "Z"


@dataclass(frozen=True, kw_only=True)
class Initialize(Command):
    CODE: ClassVar[str] = "I"


@dataclass(frozen=True, kw_only=True)
class ListKeys(Command):
    CODE: ClassVar[str] = "L"


@dataclass(frozen=True, kw_only=True)
class CancelPinEntry(Command):
    CODE: ClassVar[str] = "X"


@dataclass(frozen=True, kw_only=True)
class LoadTmkComponents(Command):
    """Clear TMK components (2 or 3) with the expected KCV of their combination."""

    CODE: ClassVar[str] = "M"
    kcv: str
    components: tuple[bytes, ...] = field(repr=False)

    def to_fields(self) -> tuple[str, ...]:
        return (self.kcv, *(c.hex().upper() for c in self.components))

    @classmethod
    def from_fields(cls, fields: tuple[str, ...]) -> Command:
        _count(fields, cls.CODE, 3, 4)
        comps = tuple(_hex(v, cls.CODE, i) for i, v in enumerate(fields[1:], start=1))
        return cls(kcv=fields[0], components=comps)


@dataclass(frozen=True, kw_only=True)
class LoadWorkingKey(Command):
    """A key encrypted (ECB) under a stored key-encryption key."""

    CODE: ClassVar[str] = "W"
    name: str
    under: str
    algorithm: KeyAlgorithm
    usage: KeyUsage
    encrypted_key: bytes = field(repr=False)
    kcv: str

    def to_fields(self) -> tuple[str, ...]:
        return (
            self.name,
            self.under,
            self.algorithm.value,
            self.usage.value,
            self.encrypted_key.hex().upper(),
            self.kcv,
        )

    @classmethod
    def from_fields(cls, fields: tuple[str, ...]) -> Command:
        _count(fields, cls.CODE, 6)
        try:
            alg = KeyAlgorithm(fields[2])
            usage = KeyUsage(fields[3])
        except ValueError as e:
            raise EppDecodeError("bad algorithm or usage", command=cls.CODE, pos=2) from e
        return cls(
            name=_name(fields[0], cls.CODE, 0),
            under=_name(fields[1], cls.CODE, 1),
            algorithm=alg,
            usage=usage,
            encrypted_key=_hex(fields[4], cls.CODE, 4),
            kcv=fields[5],
        )


CLEAR_KEY = "-"
"""The ``under`` value of ``J`` for a key injected in clear (key-loading room)."""


@dataclass(frozen=True, kw_only=True)
class LoadDukptKey(Command):
    """Inject a DUKPT initial key: TDES IPEK with a 10-byte KSN, or AES initial key with a
    12-byte KSN (initial key ID || counter); clear (``under=None``) or enciphered (ECB) under a
    stored KEK. ``kcv`` is the KCV of the clear initial key."""

    CODE: ClassVar[str] = "J"
    name: str
    under: str | None
    algorithm: KeyAlgorithm
    key: bytes = field(repr=False)
    ksn: bytes
    kcv: str

    def to_fields(self) -> tuple[str, ...]:
        return (
            self.name,
            CLEAR_KEY if self.under is None else self.under,
            self.algorithm.value,
            self.key.hex().upper(),
            self.ksn.hex().upper(),
            self.kcv,
        )

    @classmethod
    def from_fields(cls, fields: tuple[str, ...]) -> Command:
        _count(fields, cls.CODE, 6)
        try:
            alg = KeyAlgorithm(fields[2])
        except ValueError as e:
            raise EppDecodeError("bad algorithm or usage", command=cls.CODE, pos=2) from e
        return cls(
            name=_name(fields[0], cls.CODE, 0),
            under=None if fields[1] == CLEAR_KEY else _name(fields[1], cls.CODE, 1),
            algorithm=alg,
            key=_hex(fields[3], cls.CODE, 3),
            ksn=_hex(fields[4], cls.CODE, 4),
            kcv=fields[5],
        )


@dataclass(frozen=True, kw_only=True)
class DeleteKey(Command):
    CODE: ClassVar[str] = "D"
    name: str

    def to_fields(self) -> tuple[str, ...]:
        return (self.name,)

    @classmethod
    def from_fields(cls, fields: tuple[str, ...]) -> Command:
        _count(fields, cls.CODE, 1)
        return cls(name=_name(fields[0], cls.CODE, 0))


@dataclass(frozen=True, kw_only=True)
class StartPinEntry(Command):
    CODE: ClassVar[str] = "P"
    min_length: int
    max_length: int
    inter_key_ms: int
    total_ms: int

    def to_fields(self) -> tuple[str, ...]:
        return tuple(
            str(v) for v in (self.min_length, self.max_length, self.inter_key_ms, self.total_ms)
        )

    @classmethod
    def from_fields(cls, fields: tuple[str, ...]) -> Command:
        _count(fields, cls.CODE, 4)
        a, b, c, d = (_int(v, cls.CODE, i) for i, v in enumerate(fields))
        return cls(min_length=a, max_length=b, inter_key_ms=c, total_ms=d)


@dataclass(frozen=True, kw_only=True)
class StartAmountEntry(Command):
    """Numeric entry with clear echo (amounts only; refused during PIN entry)."""

    CODE: ClassVar[str] = "A"
    min_digits: int
    max_digits: int
    inter_key_ms: int
    total_ms: int

    def to_fields(self) -> tuple[str, ...]:
        return tuple(
            str(v) for v in (self.min_digits, self.max_digits, self.inter_key_ms, self.total_ms)
        )

    @classmethod
    def from_fields(cls, fields: tuple[str, ...]) -> Command:
        _count(fields, cls.CODE, 4)
        a, b, c, d = (_int(v, cls.CODE, i) for i, v in enumerate(fields))
        return cls(min_digits=a, max_digits=b, inter_key_ms=c, total_ms=d)


@dataclass(frozen=True, kw_only=True)
class EnableFdks(Command):
    """Enable exactly these function keys (none: all disabled)."""

    CODE: ClassVar[str] = "F"
    keys: tuple[str, ...] = ()

    def to_fields(self) -> tuple[str, ...]:
        return self.keys

    @classmethod
    def from_fields(cls, fields: tuple[str, ...]) -> Command:
        _count(fields, cls.CODE, 0, len(FDK_NAMES))
        for i, k in enumerate(fields):
            if k not in FDK_NAMES:
                raise EppDecodeError("unknown function key", command=cls.CODE, pos=i)
        return cls(keys=fields)


@dataclass(frozen=True, kw_only=True)
class GetPinBlock(Command):
    CODE: ClassVar[str] = "B"
    key_name: str
    fmt: str
    pan: str = field(repr=False)

    def to_fields(self) -> tuple[str, ...]:
        return (self.key_name, self.fmt, self.pan)

    @classmethod
    def from_fields(cls, fields: tuple[str, ...]) -> Command:
        _count(fields, cls.CODE, 2, 3)
        pan = fields[2] if len(fields) == 3 else ""
        if pan and (not pan.isdigit() or len(pan) > 19):
            raise EppDecodeError("PAN is not 1-19 digits", command=cls.CODE, pos=2)
        return cls(key_name=_name(fields[0], cls.CODE, 0), fmt=fields[1], pan=pan)


@dataclass(frozen=True, kw_only=True)
class Beep(Command):
    CODE: ClassVar[str] = "b"
    ms: int = 100

    def to_fields(self) -> tuple[str, ...]:
        return (str(self.ms),)

    @classmethod
    def from_fields(cls, fields: tuple[str, ...]) -> Command:
        _count(fields, cls.CODE, 0, 1)
        return cls(ms=_int(fields[0], cls.CODE, 0)) if fields else cls()


@dataclass(frozen=True, kw_only=True)
class Backlight(Command):
    CODE: ClassVar[str] = "l"
    on: bool

    def to_fields(self) -> tuple[str, ...]:
        return ("1" if self.on else "0",)

    @classmethod
    def from_fields(cls, fields: tuple[str, ...]) -> Command:
        _count(fields, cls.CODE, 1)
        if fields[0] not in ("0", "1"):
            raise EppDecodeError("flag must be 0 or 1", command=cls.CODE, pos=0)
        return cls(on=fields[0] == "1")


COMMANDS: dict[str, type[Command]] = {
    c.CODE: c
    for c in (
        Sync,
        GetStatus,
        GetTamperStatus,
        Initialize,
        LoadTmkComponents,
        LoadWorkingKey,
        LoadDukptKey,
        DeleteKey,
        ListKeys,
        StartPinEntry,
        StartAmountEntry,
        EnableFdks,
        CancelPinEntry,
        GetPinBlock,
        Beep,
        Backlight,
    )
}


def command_frame(cmd: Command, *, seq: int) -> Frame:
    """The command frame for ``cmd``."""
    return Frame(type=FrameType.COMMAND, seq=seq, command=cmd.CODE, fields=cmd.to_fields())


def decode_command(frame: Frame) -> Command:
    """Typed command from a frame; raises :class:`EppDecodeError` (code ``EB`` if unknown)."""
    cls = COMMANDS.get(frame.command)
    if cls is None:
        raise EppDecodeError("unknown command", command=frame.command)
    return cls.from_fields(frame.fields)


def reply_frame(frame: Frame, code: EppErrorCode, *values: str) -> Frame:
    """Reply to ``frame``; values are dropped unless ``code`` is OK."""
    fields = (code.value, *values) if code is EppErrorCode.OK else (code.value,)
    return Frame(type=FrameType.REPLY, seq=frame.seq, command=frame.command, fields=fields)


def reply_code(frame: Frame) -> EppErrorCode:
    """The result code of a reply frame."""
    if not frame.fields:
        raise EppDecodeError("reply without result code", command=frame.command, pos=0)
    try:
        return EppErrorCode(frame.fields[0])
    except ValueError as e:
        raise EppDecodeError("unknown result code", command=frame.command, pos=0) from e


def _flag(value: str, cmd: str, pos: int) -> bool:
    if value not in ("0", "1"):
        raise EppDecodeError("flag must be 0 or 1", command=cmd, pos=pos)
    return value == "1"


def decode_status(frame: Frame) -> EppStatus:
    """Status from an OK ``S`` reply."""
    f = frame.fields
    _count(f, "S", 8)
    try:
        device, enc = DeviceState(f[1]), EncryptionState(f[2])
    except ValueError as e:
        raise EppDecodeError("bad state", command="S", pos=1) from e
    return EppStatus(
        device=device,
        encryption=enc,
        tampered=_flag(f[3], "S", 3),
        pin_entry_active=_flag(f[4], "S", 4),
        firmware=f[5],
        serial_number=f[6],
        key_count=_int(f[7], "S", 7),
    )


def decode_tamper_status(frame: Frame) -> TamperStatus:
    """Tamper status from an OK ``Z`` reply."""
    _count(frame.fields, "Z", 3)
    return TamperStatus(
        tampered=_flag(frame.fields[1], "Z", 1), count=_int(frame.fields[2], "Z", 2)
    )


def encode_key_info(k: KeyInfo) -> str:
    """One ``L`` reply field.

    Examples
    --------
    >>> encode_key_info(KeyInfo(name="TPK", algorithm=KeyAlgorithm.TDES,
    ...                         usage=KeyUsage.PIN, length=16, kcv="ABCDEF"))
    'TPK,T,P0,16,ABCDEF'
    >>> encode_key_info(KeyInfo(name="DK", algorithm=KeyAlgorithm.AES, usage=KeyUsage.DUKPT,
    ...                         length=16, kcv="0A1B2C", ksn="123456789012345600000001"))
    'DK,A,B1,16,0A1B2C,123456789012345600000001'
    """
    base = f"{k.name},{k.algorithm.value},{k.usage.value},{k.length},{k.kcv}"
    return f"{base},{k.ksn}" if k.ksn else base


def decode_key_list(frame: Frame) -> list[KeyInfo]:
    """Key infos from an OK ``L`` reply."""
    out = []
    for i, item in enumerate(frame.fields[1:], start=1):
        parts = item.split(",")
        if len(parts) not in (5, 6):
            raise EppDecodeError("bad key entry", command="L", pos=i)
        try:
            alg, usage = KeyAlgorithm(parts[1]), KeyUsage(parts[2])
        except ValueError as e:
            raise EppDecodeError("bad key entry", command="L", pos=i) from e
        out.append(
            KeyInfo(
                name=_name(parts[0], "L", i),
                algorithm=alg,
                usage=usage,
                length=_int(parts[3], "L", i),
                kcv=parts[4],
                ksn=parts[5] if len(parts) == 6 else "",
            )
        )
    return out


@dataclass(frozen=True, kw_only=True)
class AmountKeyEvent:
    """A key pressed during amount entry (wire event ``A``); the digit travels in clear."""

    event: KeyEvent


EppEvent = KeyEvent | PinEntryResult | TamperStatus | AmountKeyEvent | AmountEntryResult | FdkEvent


def event_frame(event: EppEvent) -> Frame:
    """Unsolicited event frame (SEQ 0).

    A PIN :class:`KeyEvent` has no field for the digit, so a PIN digit cannot be put on the
    wire; only :class:`AmountKeyEvent` carries one.

    Examples
    --------
    >>> event_frame(KeyEvent(kind=KeyKind.DIGIT, digits=1, display="7")).fields
    ('D', '1')
    >>> key = KeyEvent(kind=KeyKind.DIGIT, digits=1, display="7")
    >>> event_frame(AmountKeyEvent(event=key)).fields
    ('D', '1', '7')
    """
    fields: tuple[str, ...]
    if isinstance(event, KeyEvent):
        cmd, fields = "K", (event.kind.value, str(event.digits))
    elif isinstance(event, PinEntryResult):
        rc = (event.error or EppErrorCode.OK).value
        cmd, fields = "N", (event.outcome.value, str(event.digits), rc)
    elif isinstance(event, AmountKeyEvent):
        k = event.event
        echo = (k.display,) if k.kind is KeyKind.DIGIT else ()
        cmd, fields = "A", (k.kind.value, str(k.digits), *echo)
    elif isinstance(event, AmountEntryResult):
        rc = (event.error or EppErrorCode.OK).value
        value = (event.value,) if event.value else ()
        cmd, fields = "V", (event.outcome.value, rc, *value)
    elif isinstance(event, FdkEvent):
        cmd, fields = "F", (event.key,)
    else:
        cmd, fields = "T", (str(event.count),)
    return Frame(type=FrameType.EVENT, seq=0, command=cmd, fields=fields)


def decode_event(frame: Frame) -> EppEvent:
    """Typed event from an ``E`` frame."""
    f, cmd = frame.fields, frame.command
    try:
        if cmd == "K":
            _count(f, cmd, 2)
            kind = KeyKind(f[0])
            return KeyEvent(
                kind=kind,
                digits=_int(f[1], cmd, 1),
                display="*" if kind is KeyKind.DIGIT else "",
            )
        if cmd == "N":
            _count(f, cmd, 3)
            code = EppErrorCode(f[2])
            return PinEntryResult(
                outcome=PinEntryOutcome(f[0]),
                digits=_int(f[1], cmd, 1),
                error=None if code is EppErrorCode.OK else code,
            )
        if cmd == "A":
            _count(f, cmd, 2, 3)
            kind = KeyKind(f[0])
            if (kind is KeyKind.DIGIT) != (len(f) == 3):
                raise EppDecodeError("bad field count", command=cmd, pos=len(f))
            if len(f) == 3 and not (len(f[2]) == 1 and f[2].isdigit()):
                raise EppDecodeError("bad event field", command=cmd, pos=2)
            echo = f[2] if len(f) == 3 else ""
            return AmountKeyEvent(
                event=KeyEvent(kind=kind, digits=_int(f[1], cmd, 1), display=echo)
            )
        if cmd == "V":
            _count(f, cmd, 2, 3)
            code = EppErrorCode(f[1])
            value = f[2] if len(f) == 3 else ""
            if value and not (value.isdigit() and len(value) <= 12):
                raise EppDecodeError("bad event field", command=cmd, pos=2)
            return AmountEntryResult(
                outcome=PinEntryOutcome(f[0]),
                value=value,
                error=None if code is EppErrorCode.OK else code,
            )
        if cmd == "F":
            _count(f, cmd, 1)
            if f[0] not in FDK_NAMES:
                raise EppDecodeError("unknown function key", command=cmd, pos=0)
            return FdkEvent(key=f[0])
        if cmd == "T":
            _count(f, cmd, 1)
            return TamperStatus(tampered=True, count=_int(f[0], cmd, 0))
    except ValueError as e:
        if isinstance(e, EppDecodeError):
            raise
        raise EppDecodeError("bad event field", command=cmd) from e
    raise EppDecodeError("unknown event", command=cmd)


def decode_pin_block_reply(frame: Frame) -> tuple[bytes, bytes | None]:
    """``(block, ksn)`` from an OK ``B`` reply; ``ksn`` is None unless the key is DUKPT."""
    f = frame.fields
    _count(f, "B", 2, 3)
    block = _hex(f[1], "B", 1)
    ksn = _hex(f[2], "B", 2) if len(f) == 3 else None
    return block, ksn


_SECRET_FIELDS: dict[tuple[FrameType, str], range] = {
    (FrameType.COMMAND, "M"): range(1, 4),  # clear TMK components
    (FrameType.COMMAND, "W"): range(4, 5),  # encrypted working key
    (FrameType.COMMAND, "J"): range(3, 4),  # DUKPT initial key (clear or enciphered)
    (FrameType.COMMAND, "B"): range(2, 3),  # PAN
    (FrameType.REPLY, "B"): range(1, 2),  # encrypted PIN block
}


def redact_frame(frame: Frame) -> Frame:
    """A copy safe to trace: components, keys, PAN and PIN block replaced by ``*``.

    Examples
    --------
    >>> f = command_frame(LoadTmkComponents(kcv="ABCDEF", components=(b"\x01" * 16,) * 2), seq=1)
    >>> redact_frame(f).fields
    ('ABCDEF', '********************************', '********************************')
    """
    idx = _SECRET_FIELDS.get((frame.type, frame.command))
    if idx is None:
        return frame
    fields = tuple("*" * len(v) if i in idx else v for i, v in enumerate(frame.fields))
    return replace(frame, fields=fields)
