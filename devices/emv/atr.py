"""ATR parsing (ISO 7816-3): offered protocols, structural check (sans-io).

Examples
--------
>>> atr_protocols(bytes.fromhex("3B80800101"))
frozenset({0, 1})
>>> atr_protocols(bytes.fromhex("3B021450"))
frozenset({0})
>>> atr_protocols(bytes.fromhex("3BFF1300FF"))
Traceback (most recent call last):
...
devices.emv.errors.ApduError: malformed ATR
"""

from __future__ import annotations

from devices.emv.errors import ApduError

__all__ = ["atr_protocols"]


def atr_protocols(atr: bytes) -> frozenset[int]:
    """The protocols (0, 1, ...) an ATR offers.

    Raises
    ------
    ApduError
        ``"malformed ATR"`` (bad TS, truncated interface bytes, wrong length or TCK).
    """
    if len(atr) < 2 or atr[0] not in (0x3B, 0x3F):
        raise ApduError("malformed ATR")
    pos, y, k = 2, atr[1] >> 4, atr[1] & 0x0F
    protocols: list[int] = []
    while True:
        td = None
        for bit in (0x1, 0x2, 0x4, 0x8):
            if y & bit:
                if pos >= len(atr):
                    raise ApduError("malformed ATR")
                if bit == 0x8:
                    td = atr[pos]
                pos += 1
        if td is None:
            break
        protocols.append(td & 0x0F)
        y = td >> 4
    if not protocols:
        protocols = [0]
    tck = any(p != 0 for p in protocols)
    if len(atr) != pos + k + (1 if tck else 0):
        raise ApduError("malformed ATR")
    if tck:
        x = 0
        for b in atr[1:]:
            x ^= b
        if x:
            raise ApduError("malformed ATR")
    return frozenset(protocols)
