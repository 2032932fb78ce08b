"""ISO 7816-4 command and response APDUs and the EMV commands (sans-io codec).

Examples
--------
>>> select_command(bytes.fromhex("A0000000031010")).encode().hex().upper()
'00A4040007A000000003101000'
>>> r = decode_response(bytes.fromhex("6F009000"))
>>> (r.data.hex(), r.sw, r.ok)
('6f00', 36864, True)
>>> read_record_command(1, 2).encode().hex().upper()
'00B2020C00'
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum

from devices.emv.errors import ApduError, EmvUsageError

__all__ = [
    "PSE_NAME",
    "AcType",
    "CommandApdu",
    "Ins",
    "ResponseApdu",
    "Sw",
    "decode_command",
    "decode_response",
    "external_authenticate_command",
    "generate_ac_command",
    "get_data_command",
    "get_response_command",
    "gpo_command",
    "read_record_command",
    "select_command",
    "verify_plaintext_pin_command",
]

PSE_NAME = b"1PAY.SYS.DDF01"


class Ins(IntEnum):
    """Instruction bytes used by the kernel and the virtual card."""

    SELECT = 0xA4
    READ_RECORD = 0xB2
    GET_PROCESSING_OPTIONS = 0xA8
    GET_DATA = 0xCA
    VERIFY = 0x20
    GENERATE_AC = 0xAE
    EXTERNAL_AUTHENTICATE = 0x82
    GET_CHALLENGE = 0x84
    GET_RESPONSE = 0xC0
    PIN_CHANGE_UNBLOCK = 0x24
    APPLICATION_BLOCK = 0x1E
    APPLICATION_UNBLOCK = 0x18
    CARD_BLOCK = 0x16
    PUT_DATA = 0xDA


class Sw(IntEnum):
    """Status words (SW1 SW2 as one integer)."""

    OK = 0x9000
    WARNING_SELECTED_FILE_INVALIDATED = 0x6283
    AUTH_FAILED = 0x6300
    WRONG_LENGTH = 0x6700
    SECURITY_NOT_SATISFIED = 0x6982
    AUTH_METHOD_BLOCKED = 0x6983
    REFERENCED_DATA_INVALIDATED = 0x6984
    CONDITIONS_NOT_SATISFIED = 0x6985
    WRONG_DATA = 0x6A80
    FUNCTION_NOT_SUPPORTED = 0x6A81
    FILE_NOT_FOUND = 0x6A82
    RECORD_NOT_FOUND = 0x6A83
    REFERENCED_DATA_NOT_FOUND = 0x6A88
    WRONG_P1P2 = 0x6B00
    INS_NOT_SUPPORTED = 0x6D00
    CLA_NOT_SUPPORTED = 0x6E00


class AcType(IntEnum):
    """Cryptogram type requested in GENERATE AC P1 (bits 8-7) and returned in CID 9F27."""

    AAC = 0x00
    TC = 0x40
    ARQC = 0x80


@dataclass(frozen=True, kw_only=True)
class CommandApdu:
    """A command APDU (short lengths only). ``le`` None = case 1/3, 0 = 256 bytes expected."""

    cla: int
    ins: int
    p1: int = 0
    p2: int = 0
    data: bytes = field(default=b"", repr=False)
    le: int | None = None

    def __post_init__(self) -> None:
        for name in ("cla", "ins", "p1", "p2"):
            if not 0 <= getattr(self, name) <= 0xFF:
                raise EmvUsageError(f"{name} out of range")
        if len(self.data) > 255:
            raise EmvUsageError("command data longer than 255 bytes")
        if self.le is not None and not 0 <= self.le <= 255:
            raise EmvUsageError("le out of range")

    def encode(self) -> bytes:
        """The wire bytes ``CLA INS P1 P2 [Lc data] [Le]``."""
        out = bytes((self.cla, self.ins, self.p1, self.p2))
        if self.data:
            out += bytes((len(self.data),)) + self.data
        if self.le is not None:
            out += bytes((self.le,))
        return out

    @property
    def header(self) -> bytes:
        """``CLA INS P1 P2``."""
        return bytes((self.cla, self.ins, self.p1, self.p2))


def decode_command(raw: bytes) -> CommandApdu:
    """Parse a short command APDU (cases 1-4).

    Raises
    ------
    ApduError
        ``"command APDU shorter than 4 bytes"`` or ``"command APDU length mismatch"``.

    Examples
    --------
    >>> decode_command(bytes.fromhex("80CA9F3600")).le
    0
    """
    if len(raw) < 4:
        raise ApduError("command APDU shorter than 4 bytes")
    cla, ins, p1, p2 = raw[0], raw[1], raw[2], raw[3]
    body = raw[4:]
    if not body:
        return CommandApdu(cla=cla, ins=ins, p1=p1, p2=p2)
    if len(body) == 1:
        return CommandApdu(cla=cla, ins=ins, p1=p1, p2=p2, le=body[0])
    lc = body[0]
    if lc == 0 or len(body) not in (1 + lc, 2 + lc):
        raise ApduError("command APDU length mismatch")
    le = body[1 + lc] if len(body) == 2 + lc else None
    return CommandApdu(cla=cla, ins=ins, p1=p1, p2=p2, data=bytes(body[1 : 1 + lc]), le=le)


@dataclass(frozen=True, kw_only=True)
class ResponseApdu:
    """A response APDU: data and the status word."""

    data: bytes = field(repr=False)
    sw1: int
    sw2: int

    @property
    def sw(self) -> int:
        """``SW1 << 8 | SW2``."""
        return self.sw1 << 8 | self.sw2

    @property
    def ok(self) -> bool:
        """True for 9000."""
        return self.sw == Sw.OK

    def encode(self) -> bytes:
        """``data || SW1 SW2``."""
        return self.data + bytes((self.sw1, self.sw2))

    def __repr__(self) -> str:
        return f"ResponseApdu(len={len(self.data)}, sw={self.sw:04X})"


def decode_response(raw: bytes) -> ResponseApdu:
    """Split ``data || SW1 SW2``.

    Raises
    ------
    ApduError
        ``"response APDU shorter than 2 bytes"`` (a mute card).
    """
    if len(raw) < 2:
        raise ApduError("response APDU shorter than 2 bytes")
    return ResponseApdu(data=bytes(raw[:-2]), sw1=raw[-2], sw2=raw[-1])


def select_command(name: bytes, *, next_occurrence: bool = False) -> CommandApdu:
    """SELECT by DF name (``00 A4 04 00|02``)."""
    if not 1 <= len(name) <= 16:
        raise EmvUsageError("DF name must be 1 to 16 bytes")
    return CommandApdu(
        cla=0x00, ins=Ins.SELECT, p1=0x04, p2=0x02 if next_occurrence else 0x00, data=name, le=0
    )


def read_record_command(sfi: int, record: int) -> CommandApdu:
    """READ RECORD ``00 B2 rec (SFI<<3|4) 00``."""
    if not 1 <= sfi <= 30 or not 1 <= record <= 255:
        raise EmvUsageError("SFI must be 1-30 and record 1-255")
    return CommandApdu(cla=0x00, ins=Ins.READ_RECORD, p1=record, p2=sfi << 3 | 4, le=0)


def gpo_command(pdol_data: bytes) -> CommandApdu:
    """GET PROCESSING OPTIONS ``80 A8 00 00 Lc 83 L data 00``."""
    if len(pdol_data) > 252:
        raise EmvUsageError("PDOL data too long")
    return CommandApdu(
        cla=0x80, ins=Ins.GET_PROCESSING_OPTIONS, data=bytes((0x83, len(pdol_data))) + pdol_data,
        le=0,
    )


def get_data_command(tag: int) -> CommandApdu:
    """GET DATA ``80 CA tag(2) 00`` (9F36 ATC, 9F17 PIN try counter, 9F13 last online ATC)."""
    if not 0 <= tag <= 0xFFFF:
        raise EmvUsageError("GET DATA tag must fit in two bytes")
    return CommandApdu(cla=0x80, ins=Ins.GET_DATA, p1=tag >> 8, p2=tag & 0xFF, le=0)


def verify_plaintext_pin_command(pin_block: bytes) -> CommandApdu:
    """VERIFY plaintext offline PIN ``00 20 00 80 08 <ISO 9564 format 2 block>``.

    Built only inside the PIN pad (XFS ``PresentIDC``): the kernel never sees the block.
    """
    if len(pin_block) != 8 or pin_block[0] >> 4 != 2:
        raise EmvUsageError("plaintext PIN block must be 8 bytes of ISO 9564 format 2")
    return CommandApdu(cla=0x00, ins=Ins.VERIFY, p1=0x00, p2=0x80, data=pin_block)


def generate_ac_command(ac_type: AcType, cdol_data: bytes, *, cda: bool = False) -> CommandApdu:
    """GENERATE AC ``80 AE P1 00 Lc data 00`` (P1 = AAC 00, TC 40, ARQC 80, +10 for CDA)."""
    return CommandApdu(
        cla=0x80, ins=Ins.GENERATE_AC, p1=int(ac_type) | (0x10 if cda else 0), data=cdol_data,
        le=0,
    )


def external_authenticate_command(issuer_auth_data: bytes) -> CommandApdu:
    """EXTERNAL AUTHENTICATE ``00 82 00 00 Lc <tag 91 value>`` (8 to 16 bytes)."""
    if not 8 <= len(issuer_auth_data) <= 16:
        raise EmvUsageError("issuer authentication data must be 8 to 16 bytes")
    return CommandApdu(cla=0x00, ins=Ins.EXTERNAL_AUTHENTICATE, data=issuer_auth_data)


def get_response_command(length: int) -> CommandApdu:
    """GET RESPONSE ``00 C0 00 00 Le`` (T=0 61xx handling)."""
    return CommandApdu(cla=0x00, ins=Ins.GET_RESPONSE, le=length & 0xFF)
