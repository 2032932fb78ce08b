"""The one adapter around pyiso8583: pure encode/decode of a message body (no framing).

``spec`` is a pyiso8583 spec dict or a catalogue name (``"ascii"``, ``"bcd"``); the default is
the skeleton's ``DEFAULT_SPEC``. Field dicts map field numbers to strings, ``"t"`` being the MTI;
binary fields are hex text, as pyiso8583 represents them. In the BCD dialect, track 2 (field 35)
travels with the ``D`` separator and is handed back with ``=``, so callers see one format.

Examples
--------
>>> raw = encode({"t": "0800", "11": "000001", "41": "ATM00001", "70": "301"})
>>> raw[:4]
b'0800'
>>> decode(raw)["41"]
'ATM00001'
>>> encode({"t": "0800", "7": "1129120000", "11": "000001", "70": "301"}, "bcd").hex()
'08008220000000000000040000000000000011291200000000010301'
>>> from sst.common.tlv import Tlv
>>> encode_field_55([Tlv(0x9F36, b"\\x00\\x01")])
'9F36020001'
>>> decode_field_55("9F36020001", "ascii")
[Tlv(tag=0x9F36, len=2)]
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import iso8583 as _iso
from iso8583 import DecodeError as _PyDecodeError
from iso8583 import EncodeError as _PyEncodeError

from host.iso8583.errors import DecodeError, EncodeError
from host.iso8583.spec import DEFAULT_SPEC, SPECS
from sst.common import tlv as _tlv

__all__ = [
    "Fields",
    "SpecLike",
    "decode",
    "decode_field_55",
    "encode",
    "encode_field_55",
    "masked_dump",
    "resolve_spec",
]

Fields = dict[str, str]
SpecLike = dict[str, dict[str, Any]] | str | None

#: Never shown, not even masked (SEC-2): track 2/3, PIN blocks, ICC data, MACs.
_OMIT = frozenset({"35", "36", "45", "52", "53", "55", "64", "96", "128"})
_TRACK2 = "35"


def resolve_spec(spec: SpecLike) -> dict[str, dict[str, Any]]:
    """A spec dict from a dict, a catalogue name or ``None`` (the default).

    >>> resolve_spec("bcd")["t"]["data_enc"]
    'b'
    """
    if spec is None:
        return DEFAULT_SPEC
    if isinstance(spec, str):
        try:
            return SPECS[spec]
        except KeyError:
            raise EncodeError(f"unknown spec {spec!r}") from None
    return spec


def _binary(spec: dict[str, dict[str, Any]], key: str) -> bool:
    return key in spec and spec[key]["data_enc"] == "b"


def encode(fields: Fields, spec: SpecLike = None) -> bytes:
    """Encode a field dict (``"t"`` = MTI) into message bytes."""
    sp = resolve_spec(spec)
    doc = {k: v for k, v in fields.items() if k not in ("p", "1")}
    if _TRACK2 in doc and _binary(sp, _TRACK2):
        doc[_TRACK2] = doc[_TRACK2].replace("=", "D")
    try:
        raw, _ = _iso.encode(doc, sp)
    except _PyEncodeError as e:
        raise EncodeError(e.msg, field=e.field) from e
    except (ValueError, TypeError, AttributeError, KeyError) as e:  # bad value types
        raise EncodeError(f"unencodable message: {type(e).__name__}") from e
    return bytes(raw)


def decode(data: bytes, spec: SpecLike = None) -> Fields:
    """Decode message bytes into a field dict; any malformation is our ``DecodeError``."""
    sp = resolve_spec(spec)
    try:
        doc, _ = _iso.decode(bytearray(data), sp)
    except _PyDecodeError as e:
        raise DecodeError(e.msg, field=e.field, pos=e.pos) from e
    except (ValueError, IndexError, TypeError, UnicodeDecodeError) as e:  # defensive: never leak
        raise DecodeError(f"undecodable message: {type(e).__name__}") from e
    out = {k: v for k, v in doc.items() if k not in ("p", "1")}
    if _TRACK2 in out and _binary(sp, _TRACK2):
        out[_TRACK2] = out[_TRACK2].replace("D", "=").replace("d", "=")
    return out


def masked_dump(fields: Fields) -> dict[str, str]:
    """A copy safe for logs: PAN masked 6+4; track 2, PIN blocks, ICC data and MACs omitted.

    Field 48 of a key change (field 70 = 161) carries a key and is omitted too.

    >>> masked_dump({"t": "0210", "2": "4761739001010010", "35": "x", "39": "00"})
    {'t': '0210', '2': '476173******0010', '39': '00'}
    """
    out: dict[str, str] = {}
    key_change = fields.get("70") == "161"
    for k, v in fields.items():
        if k in _OMIT or (key_change and k == "48"):
            continue
        if k == "2":
            v = v[:6] + "*" * max(0, len(v) - 10) + v[-4:] if len(v) >= 13 else "*" * len(v)  # noqa: PLW2901 - masked in place before storing
        out[k] = v
    return out


def encode_field_55(tlvs: Iterable[_tlv.Tlv]) -> str:
    """Field 55 value for a field dict: BER-TLV as upper-case hex text.

    Both dialects take hex text at the field-dict level: the ASCII spec sends it as characters,
    the BCD spec as raw bytes.
    """
    return _tlv.encode_tlv(list(tlvs)).hex().upper()


def decode_field_55(value: str | bytes, spec_name: str = "ascii") -> list[_tlv.Tlv]:
    """Field 55 into data objects; bad hex or bad TLV is a ``DecodeError`` on field 55.

    ``value`` is the field-dict hex text (either dialect), or wire bytes: hex characters for the
    ``"ascii"`` dialect, raw TLV bytes for ``"bcd"``.

    >>> decode_field_55(bytes.fromhex("9F3602"), "bcd")
    Traceback (most recent call last):
    ...
    host.iso8583.errors.DecodeError: bad ICC data: value runs past the end of data (field 55, pos 0)
    """
    if spec_name not in SPECS:
        raise DecodeError(f"unknown spec {spec_name!r}", field="55")
    try:
        if isinstance(value, str):
            raw = bytes.fromhex(value)
        elif spec_name == "ascii":
            raw = bytes.fromhex(value.decode("ascii"))
        else:
            raw = bytes(value)
    except (ValueError, UnicodeDecodeError):
        raise DecodeError("field 55 is not hex text", field="55") from None
    try:
        return _tlv.decode_tlv(raw)
    except _tlv.TlvError as e:
        raise DecodeError(f"bad ICC data: {e.reason}", field="55", pos=e.offset) from e
