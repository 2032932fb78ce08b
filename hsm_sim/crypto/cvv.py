"""Visa CVV / Mastercard CVC (also CVV2 and iCVV, which differ only in the service code).

Examples
--------
>>> cvk = bytes.fromhex("0123456789ABCDEFFEDCBA9876543210")
>>> generate_cvv(cvk, "4123456789012345", "8701", "101")
'561'
"""

from __future__ import annotations

import hmac

from hsm_sim.crypto import _primitives as _p
from hsm_sim.crypto import _validate as _v
from hsm_sim.crypto.errors import KeyLengthError
from hsm_sim.crypto.pin import decimalize

__all__ = ["generate_cvv", "verify_cvv"]


def generate_cvv(cvk: bytes, pan: str, expiry: str, service_code: str) -> str:
    """Card verification value (3 digits).

    ``data = PAN || expiry || service code`` right-padded with ``0`` to 32 nibbles = B1 || B2;
    ``r = DES(A, B1) XOR B2``; ``r = TDES(A||B, r)``; decimalise; take 3.

    Parameters
    ----------
    cvk : bytes
        CVK pair A || B, 16 bytes.
    pan : str
        1 to 19 digits.
    expiry : str
        4 digits (YYMM as encoded on the card).
    service_code : str
        3 digits (``000`` for CVV2, ``999`` for iCVV by convention).

    Examples
    --------
    >>> generate_cvv(bytes.fromhex("0123456789ABCDEFFEDCBA9876543210"),
    ...              "1234567890123456", "9912", "220")
    '170'
    """
    if not isinstance(cvk, bytes | bytearray) or len(cvk) != 16:
        raise KeyLengthError("CVK must be 16 bytes")
    _v.digits(pan, "PAN", 1, 19)
    _v.digits(expiry, "expiry", 4, 4)
    _v.digits(service_code, "service code", 3, 3)
    block = bytes.fromhex((pan + expiry + service_code).ljust(32, "0"))
    r = _p.xor(_p.des_encrypt_ecb(bytes(cvk[:8]), block[:8]), block[8:])
    r = _p.tdes_encrypt_ecb(bytes(cvk), r)
    return decimalize(r, 3)


def verify_cvv(cvk: bytes, pan: str, expiry: str, service_code: str, cvv: str) -> bool:
    """Whether ``cvv`` matches (constant-time compare).

    Examples
    --------
    >>> verify_cvv(bytes.fromhex("0123456789ABCDEFFEDCBA9876543210"),
    ...            "4123456789012345", "8701", "101", "561")
    True
    """
    _v.digits(cvv, "CVV", 3, 3)
    return hmac.compare_digest(generate_cvv(cvk, pan, expiry, service_code), cvv)
