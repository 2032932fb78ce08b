"""The one adapter around pyiso8583: pure encode/decode of a message body (no framing).

Examples
--------
>>> raw = encode({"t": "0800", "11": "000001", "41": "ATM00001", "70": "301"})
>>> raw[:4]
b'0800'
>>> decode(raw)["41"]
'ATM00001'
"""

from __future__ import annotations

from typing import Any

import iso8583 as _iso
from iso8583 import DecodeError as _PyDecodeError
from iso8583 import EncodeError as _PyEncodeError

from host.iso8583.errors import DecodeError, EncodeError
from host.iso8583.spec import DEFAULT_SPEC

__all__ = ["decode", "encode", "masked_dump"]

Fields = dict[str, str]

_OMIT = {"35", "45", "52", "55", "64", "128"}  # never shown, not even masked (SEC-2)


def encode(fields: Fields, spec: dict[str, dict[str, Any]] | None = None) -> bytes:
    """Encode a field dict (``"t"`` = MTI) into message bytes."""
    doc = {k: v for k, v in fields.items() if k not in ("p", "1")}
    try:
        raw, _ = _iso.encode(doc, spec or DEFAULT_SPEC)
    except _PyEncodeError as e:
        raise EncodeError(e.msg, field=e.field) from e
    return bytes(raw)


def decode(data: bytes, spec: dict[str, dict[str, Any]] | None = None) -> Fields:
    """Decode message bytes into a field dict; any malformation is our ``DecodeError``."""
    try:
        doc, _ = _iso.decode(bytearray(data), spec or DEFAULT_SPEC)
    except _PyDecodeError as e:
        raise DecodeError(e.msg, field=e.field, pos=e.pos) from e
    except (ValueError, IndexError, TypeError, UnicodeDecodeError) as e:  # defensive: never leak
        raise DecodeError(f"undecodable message: {type(e).__name__}") from e
    return {k: v for k, v in doc.items() if k not in ("p", "1")}


def masked_dump(fields: Fields) -> dict[str, str]:
    """A copy safe for logs: PAN masked 6+4, track 2, PIN block, ICC data and MACs omitted."""
    out: dict[str, str] = {}
    for k, v in fields.items():
        if k in _OMIT:
            continue
        if k == "2":
            v = v[:6] + "*" * max(0, len(v) - 10) + v[-4:] if len(v) >= 13 else "*" * len(v)
        out[k] = v
    return out
