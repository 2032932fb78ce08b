"""TDES DUKPT (ANSI X9.24-1:2009): IPEK, transaction keys and working-key variants.

Examples
--------
>>> bdk = bytes.fromhex("0123456789ABCDEFFEDCBA9876543210")
>>> derive_ipek_tdes(bdk, bytes.fromhex("FFFF9876543210E00000")).hex().upper()
'6AC292FAA1315B4D858AB3A3D7D5933A'
>>> derive_transaction_key_tdes(bdk, bytes.fromhex("FFFF9876543210E00001")).hex().upper()
'042666B49184CFA368DE9628D0397BC9'
"""

from __future__ import annotations

from enum import Enum

from hsm_sim.crypto import _primitives as _p
from hsm_sim.crypto.errors import CryptoError, KeyLengthError

__all__ = [
    "TdesDukptKeyUsage",
    "derive_ipek_tdes",
    "derive_transaction_key_tdes",
    "derive_transaction_key_tdes_from_ipek",
    "derive_working_key_tdes",
    "ksn_counter_tdes",
]

_C0 = bytes.fromhex("C0C0C0C000000000C0C0C0C000000000")
_COUNTER_BITS = 21
_COUNTER_MASK = (1 << _COUNTER_BITS) - 1


class TdesDukptKeyUsage(Enum):
    """Working-key variant XORed into the transaction key."""

    PIN = "00000000000000FF00000000000000FF"
    MAC_REQUEST = "000000000000FF00000000000000FF00"
    MAC_RESPONSE = "00000000FF00000000000000FF000000"
    DATA_REQUEST = "0000000000FF00000000000000FF0000"
    DATA_RESPONSE = "000000FF00000000000000FF00000000"


def _key16(key: bytes, what: str) -> bytes:
    if not isinstance(key, bytes | bytearray) or len(key) != 16:
        raise KeyLengthError(f"{what} must be 16 bytes")
    return bytes(key)


def _ksn(ksn: bytes) -> int:
    if not isinstance(ksn, bytes | bytearray) or len(ksn) != 10:
        raise CryptoError("KSN must be 10 bytes")
    return int.from_bytes(ksn, "big")


def ksn_counter_tdes(ksn: bytes) -> int:
    """The 21-bit transaction counter of a 10-byte KSN.

    Examples
    --------
    >>> ksn_counter_tdes(bytes.fromhex("FFFF9876543210E00012"))
    18
    """
    return _ksn(ksn) & _COUNTER_MASK


def derive_ipek_tdes(bdk: bytes, ksn: bytes) -> bytes:
    """Initial PIN encryption key from a double-length BDK and any KSN of the device.

    Parameters
    ----------
    bdk : bytes
        16-byte base derivation key.
    ksn : bytes
        10-byte key serial number (the counter bits are ignored).
    """
    bdk = _key16(bdk, "BDK")
    base = ((_ksn(ksn) & ~_COUNTER_MASK) >> 16).to_bytes(8, "big")
    left = _p.tdes_encrypt_ecb(bdk, base)
    right = _p.tdes_encrypt_ecb(_p.xor(bdk, _C0), base)
    return left + right


def _nrkgp(key: bytes, reg: bytes) -> bytes:
    def half(k: bytes) -> bytes:
        return _p.xor(_p.des_encrypt_ecb(k[:8], _p.xor(reg, k[8:])), k[8:])

    return half(_p.xor(key, _C0)) + half(key)


def derive_transaction_key_tdes_from_ipek(ipek: bytes, ksn: bytes) -> bytes:
    """Transaction (future) key for the KSN's counter, starting from the IPEK.

    Examples
    --------
    >>> ipek = bytes.fromhex("6AC292FAA1315B4D858AB3A3D7D5933A")
    >>> derive_transaction_key_tdes_from_ipek(
    ...     ipek, bytes.fromhex("FFFF9876543210E00003")).hex().upper()
    '0DF3D9422ACA56E547676D07AD6BADFA'
    """
    key = _key16(ipek, "IPEK")
    value = _ksn(ksn)
    counter = value & _COUNTER_MASK
    reg = value & 0xFFFFFFFFFFFFFFFF & ~_COUNTER_MASK
    bit = 1 << (_COUNTER_BITS - 1)
    while bit:
        if counter & bit:
            reg |= bit
            key = _nrkgp(key, reg.to_bytes(8, "big"))
        bit >>= 1
    return key


def derive_transaction_key_tdes(bdk: bytes, ksn: bytes) -> bytes:
    """Transaction key for ``ksn`` derived from the BDK (IPEK, then the counter walk)."""
    return derive_transaction_key_tdes_from_ipek(derive_ipek_tdes(bdk, ksn), ksn)


def derive_working_key_tdes(
    transaction_key: bytes, usage: TdesDukptKeyUsage, *, data_key_owf: bool = True
) -> bytes:
    """Working key: the transaction key XOR the usage variant.

    Parameters
    ----------
    transaction_key : bytes
        16-byte transaction key.
    usage : TdesDukptKeyUsage
        PIN, MAC request/response or data request/response.
    data_key_owf : bool
        For data keys, apply the X9.24-1:2009 one-way step "encrypt the variant with itself"
        (each half TDES-ECB under the variant key). ``False`` gives the plain variant that
        several libraries and IDTech-style devices use.

    Examples
    --------
    >>> tk = bytes.fromhex("042666B49184CFA368DE9628D0397BC9")
    >>> derive_working_key_tdes(tk, TdesDukptKeyUsage.PIN).hex().upper()
    '042666B49184CF5C68DE9628D0397B36'
    """
    key = _key16(transaction_key, "transaction key")
    v = _p.xor(key, bytes.fromhex(usage.value))
    if data_key_owf and usage in (TdesDukptKeyUsage.DATA_REQUEST, TdesDukptKeyUsage.DATA_RESPONSE):
        v = _p.tdes_encrypt_ecb(v, v[:8]) + _p.tdes_encrypt_ecb(v, v[8:])
    return v
