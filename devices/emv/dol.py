"""Data object lists (PDOL, CDOL1/2, DDOL): parse a DOL, build its data (sans-io).

Examples
--------
>>> dol = parse_dol(bytes.fromhex("9F02069F1A02"))
>>> dol
(DolEntry(tag=40706, length=6), DolEntry(tag=40730, length=2))
>>> build_dol_data(dol, {0x9F02: bytes.fromhex("000000001000"), 0x9F1A: b"\\x08\\x40"}).hex()
'0000000010000840'
>>> split_dol_data(dol, bytes.fromhex("0000000010000840"))[0x9F1A].hex()
'0840'
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from devices.emv.errors import CardDataError

__all__ = ["DolEntry", "build_dol_data", "parse_dol", "read_tag", "split_dol_data"]


@dataclass(frozen=True)
class DolEntry:
    """One DOL entry: a tag and the length the card wants."""

    tag: int
    length: int


def read_tag(data: bytes, pos: int) -> tuple[int, int]:
    """Read one BER tag at ``pos``; returns ``(tag, next_pos)`` (for DOLs, which carry no values).

    Raises
    ------
    CardDataError
        ``"truncated tag"``.
    """
    if pos >= len(data):
        raise CardDataError("truncated tag")
    tag = data[pos]
    pos += 1
    if tag & 0x1F == 0x1F:
        while True:
            if pos >= len(data) or tag > 0xFFFFFF:
                raise CardDataError("truncated tag")
            b = data[pos]
            tag = tag << 8 | b
            pos += 1
            if not b & 0x80:
                break
    return tag, pos


def parse_dol(dol: bytes) -> tuple[DolEntry, ...]:
    """Parse a DOL: tags with lengths, no values.

    Raises
    ------
    CardDataError
        ``"truncated tag"`` or ``"truncated DOL"``.
    """
    out: list[DolEntry] = []
    pos = 0
    while pos < len(dol):
        tag, pos = read_tag(dol, pos)
        if pos >= len(dol):
            raise CardDataError("truncated DOL", tag=tag)
        out.append(DolEntry(tag, dol[pos]))
        pos += 1
    return tuple(out)


_NUMERIC = frozenset({0x9F02, 0x9F03, 0x5F2A, 0x9F1A, 0x9A, 0x9C, 0x9F21, 0x9F41, 0x9F42})


def build_dol_data(dol: tuple[DolEntry, ...], values: Mapping[int, bytes]) -> bytes:
    """Concatenate the values the DOL asks for (EMV Book 3 §5.4).

    A missing value is zero-filled; a numeric value too long is truncated on the left and padded
    on the left; any other value is truncated or padded on the right with zeros.
    """
    out = bytearray()
    for e in dol:
        v = values.get(e.tag, b"")
        if len(v) == e.length:
            out += v
        elif e.tag in _NUMERIC:
            out += v[-e.length :].rjust(e.length, b"\0") if e.length else b""
        else:
            out += v[: e.length].ljust(e.length, b"\0")
    return bytes(out)


def split_dol_data(dol: tuple[DolEntry, ...], data: bytes) -> dict[int, bytes]:
    """The card side: cut DOL-related data back into tag values.

    Raises
    ------
    CardDataError
        ``"DOL data length mismatch"``.
    """
    if len(data) != sum(e.length for e in dol):
        raise CardDataError("DOL data length mismatch")
    out: dict[int, bytes] = {}
    pos = 0
    for e in dol:
        out[e.tag] = data[pos : pos + e.length]
        pos += e.length
    return out
