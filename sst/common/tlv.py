"""BER-TLV (ISO/IEC 8825-1 subset used by EMV): pure encode and decode.

Tags are integers holding the tag bytes big-endian (``0x9F02``, ``0x5F2A``, ``0x70``); lengths
use the short form or the long form ``81``..``84``. A constructed tag (bit 6 of its first byte,
``0x20``) is decoded into ``children``; a primitive tag keeps its ``value``. This module imports
no project package: the host (field 55) and the card side (``devices.emv``) share it.

``Tlv.__repr__`` shows tags and lengths only: ICC data can carry a PAN (``5A``) or track 2
equivalent data (``57``), so values never reach a log through ``repr``.

Examples
--------
>>> tlvs = decode_tlv(bytes.fromhex("9F02060000000100009F1A020156"))
>>> tlvs
[Tlv(tag=0x9F02, len=6), Tlv(tag=0x9F1A, len=2)]
>>> find(tlvs, 0x9F1A).value.hex()
'0156'
>>> encode_tlv(tlvs).hex().upper()
'9F02060000000100009F1A020156'
>>> outer = decode_tlv(bytes.fromhex("70075A054761739001"))[0]
>>> outer.children
(Tlv(tag=0x5A, len=5),)
>>> to_dict([outer])[0x5A].hex()
'4761739001'
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass

__all__ = ["Tlv", "TlvError", "decode_tlv", "encode_tlv", "find", "iter_tlv", "to_dict"]

_MAX_TAG_BYTES = 4
_MAX_LEN_BYTES = 4


class TlvError(ValueError):
    """Malformed BER-TLV: ``offset`` is where decoding stopped, ``tag`` the tag being read.

    >>> e = TlvError("length runs past the end of data", offset=3, tag=0x9F02)
    >>> str(e)
    'length runs past the end of data (tag 9F02, offset 3)'
    >>> import pickle; pickle.loads(pickle.dumps(e)).offset
    3
    """

    def __init__(self, reason: str, *, offset: int | None = None, tag: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.offset = offset
        self.tag = tag

    def __reduce__(self) -> tuple[object, ...]:
        return (_rebuild_tlv_error, (self.reason, self.offset, self.tag))

    def __str__(self) -> str:
        where = []
        if self.tag is not None:
            where.append(f"tag {self.tag:02X}")
        if self.offset is not None:
            where.append(f"offset {self.offset}")
        return f"{self.reason} ({', '.join(where)})" if where else self.reason


def _rebuild_tlv_error(reason: str, offset: int | None, tag: int | None) -> TlvError:
    return TlvError(reason, offset=offset, tag=tag)


def tag_bytes(tag: int) -> bytes:
    """The wire bytes of a tag number, checked for BER structure.

    >>> tag_bytes(0x9F02).hex()
    '9f02'
    >>> tag_bytes(0x9F)
    Traceback (most recent call last):
    ...
    sst.common.tlv.TlvError: tag 9F announces more tag bytes (tag 9F)
    """
    if tag <= 0 or tag >= 1 << (8 * _MAX_TAG_BYTES):
        raise TlvError("tag out of range", tag=max(tag, 0))
    raw = tag.to_bytes((tag.bit_length() + 7) // 8, "big")
    multi = raw[0] & 0x1F == 0x1F
    if not multi:
        if len(raw) != 1:
            raise TlvError(f"tag {tag:02X} has extra bytes after a one-byte tag", tag=tag)
        return raw
    if len(raw) == 1:
        raise TlvError(f"tag {tag:02X} announces more tag bytes", tag=tag)
    for i, b in enumerate(raw[1:], start=1):
        last = i == len(raw) - 1
        if bool(b & 0x80) == last:
            raise TlvError(f"tag {tag:02X} has a bad continuation bit", tag=tag)
    return raw


def is_constructed(tag: int) -> bool:
    """Bit 6 of the first tag byte.

    >>> is_constructed(0x70), is_constructed(0x9F02), is_constructed(0xBF0C)
    (True, False, True)
    """
    first = tag >> (8 * ((tag.bit_length() - 1) // 8)) if tag > 0 else 0
    return bool(first & 0x20)


@dataclass(frozen=True)
class Tlv:
    """One data object. Constructed tags carry ``children``; ``value`` is then their encoding.

    Build a constructed object from children alone: ``Tlv(0x70, children=(Tlv(0x5A, b"..."),))``
    fills ``value``.
    """

    tag: int
    value: bytes = b""
    children: tuple[Tlv, ...] | None = None

    def __post_init__(self) -> None:
        tag_bytes(self.tag)
        if self.children is None:
            if is_constructed(self.tag):
                object.__setattr__(self, "children", tuple(decode_tlv(self.value)))
            return
        if not is_constructed(self.tag):
            raise TlvError("children given for a primitive tag", tag=self.tag)
        children = tuple(self.children)
        object.__setattr__(self, "children", children)
        encoded = encode_tlv(children)
        if self.value and self.value != encoded:
            raise TlvError("value disagrees with children", tag=self.tag)
        object.__setattr__(self, "value", encoded)

    def __repr__(self) -> str:
        head = f"Tlv(tag=0x{self.tag:02X}, len={len(self.value)}"
        if self.children:
            return head + f", children={self.children!r})"
        return head + ")"


def _read_tag(data: bytes, pos: int) -> tuple[int, int]:
    start = pos
    first = data[pos]
    pos += 1
    tag = first
    if first & 0x1F == 0x1F:
        while True:
            if pos >= len(data):
                raise TlvError("tag runs past the end of data", offset=start, tag=tag)
            if pos - start >= _MAX_TAG_BYTES:
                raise TlvError("tag longer than 4 bytes", offset=start, tag=tag)
            b = data[pos]
            pos += 1
            tag = (tag << 8) | b
            if not b & 0x80:
                break
    return tag, pos


def _read_length(data: bytes, pos: int, tag: int) -> tuple[int, int]:
    if pos >= len(data):
        raise TlvError("length missing", offset=pos, tag=tag)
    first = data[pos]
    if first < 0x80:
        return first, pos + 1
    count = first & 0x7F
    if count == 0:
        raise TlvError("indefinite length is not allowed", offset=pos, tag=tag)
    if count > _MAX_LEN_BYTES:
        raise TlvError("length field longer than 4 bytes", offset=pos, tag=tag)
    if pos + 1 + count > len(data):
        raise TlvError("length runs past the end of data", offset=pos, tag=tag)
    return int.from_bytes(data[pos + 1 : pos + 1 + count], "big"), pos + 1 + count


def _decode(data: bytes, base: int, depth: int) -> list[Tlv]:
    if depth > 16:
        raise TlvError("nesting deeper than 16 levels", offset=base)
    out: list[Tlv] = []
    pos = 0
    while pos < len(data):
        if data[pos] == 0x00:  # EMV allows 00 padding between data objects
            pos += 1
            continue
        start = pos
        tag, pos = _read_tag(data, pos)
        length, pos = _read_length(data, pos, tag)
        if pos + length > len(data):
            raise TlvError("value runs past the end of data", offset=base + start, tag=tag)
        value = bytes(data[pos : pos + length])
        children = None
        if is_constructed(tag):
            children = tuple(_decode(value, base + pos, depth + 1))
        obj = Tlv.__new__(Tlv)  # skip re-validation of what we just parsed
        object.__setattr__(obj, "tag", tag)
        object.__setattr__(obj, "value", value)
        object.__setattr__(obj, "children", children)
        out.append(obj)
        pos += length
    return out


def decode_tlv(data: bytes) -> list[Tlv]:
    """Decode a sequence of data objects; any malformation is a ``TlvError``.

    >>> decode_tlv(bytes.fromhex("9F0206000000"))
    Traceback (most recent call last):
    ...
    sst.common.tlv.TlvError: value runs past the end of data (tag 9F02, offset 0)
    """
    return _decode(bytes(data), 0, 0)


def _length_bytes(n: int) -> bytes:
    if n < 0x80:
        return bytes([n])
    raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
    if len(raw) > _MAX_LEN_BYTES:
        raise TlvError("value too long")
    return bytes([0x80 | len(raw)]) + raw


def encode_tlv(tlvs: Iterable[Tlv] | Mapping[int, bytes] | Tlv) -> bytes:
    """Encode data objects (minimal lengths). A mapping is taken as primitive tag -> value.

    >>> encode_tlv({0x9F36: b"\\x00\\x01"}).hex().upper()
    '9F36020001'
    >>> encode_tlv([Tlv(0x5F20, b"A" * 130)])[:4].hex().upper()
    '5F208182'
    """
    if isinstance(tlvs, Tlv):
        tlvs = [tlvs]
    elif isinstance(tlvs, Mapping):
        tlvs = [Tlv(tag, bytes(value)) for tag, value in tlvs.items()]
    out = bytearray()
    for t in tlvs:
        content = encode_tlv(t.children) if t.children is not None else t.value
        out += tag_bytes(t.tag) + _length_bytes(len(content)) + content
    return bytes(out)


def iter_tlv(tlvs: Iterable[Tlv]) -> Iterator[Tlv]:
    """Every data object, depth first (a constructed one before its children)."""
    for t in tlvs:
        yield t
        if t.children:
            yield from iter_tlv(t.children)


def find(tlvs: Iterable[Tlv], tag: int) -> Tlv | None:
    """The first data object with ``tag``, searching nested templates depth first."""
    return next((t for t in iter_tlv(tlvs) if t.tag == tag), None)


def to_dict(tlvs: Iterable[Tlv]) -> dict[int, bytes]:
    """Primitive tags -> values, flattened through templates; the first occurrence wins.

    >>> to_dict(decode_tlv(bytes.fromhex("9F360200019F36020002")))
    {40758: b'\\x00\\x01'}
    """
    out: dict[int, bytes] = {}
    for t in iter_tlv(tlvs):
        if t.children is None:
            out.setdefault(t.tag, t.value)
    return out
