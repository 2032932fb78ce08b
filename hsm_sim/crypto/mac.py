"""MACs: ISO 9797-1 algorithms 1 and 3 (padding methods 1/2), AES-CMAC and TDES-CMAC.

Examples
--------
>>> key = bytes.fromhex("0123456789ABCDEFFEDCBA9876543210")
>>> mac_iso9797_alg3(key, b"Now is the time for all ").hex().upper()
'A1C72E74EA3FA9B6'
"""

from __future__ import annotations

from enum import IntEnum

from hsm_sim.crypto import _primitives as _p
from hsm_sim.crypto import _validate as _v
from hsm_sim.crypto.errors import CryptoError, KeyLengthError

__all__ = [
    "MacPadding",
    "generate_retail_mac",
    "mac_aes_cmac",
    "mac_iso9797_alg1",
    "mac_iso9797_alg3",
    "mac_tdes_cmac",
    "pad_iso9797",
]


class MacPadding(IntEnum):
    """ISO 9797-1 padding method."""

    METHOD_1 = 1  # zeros (an empty message becomes one zero block)
    METHOD_2 = 2  # 0x80 then zeros


def pad_iso9797(data: bytes, padding: int = MacPadding.METHOD_1, block_size: int = 8) -> bytes:
    """Pad ``data`` with ISO 9797-1 method 1 or 2.

    Examples
    --------
    >>> pad_iso9797(b"", 1).hex()
    '0000000000000000'
    >>> pad_iso9797(b"\\x01", 2).hex()
    '0180000000000000'
    >>> pad_iso9797(bytes(8), 1).hex()
    '0000000000000000'
    """
    if padding == MacPadding.METHOD_1:
        if data and len(data) % block_size == 0:
            return bytes(data)
        return bytes(data) + bytes(-len(data) % block_size or block_size)
    if padding == MacPadding.METHOD_2:
        data = bytes(data) + b"\x80"
        return data + bytes(-len(data) % block_size)
    raise CryptoError("padding method must be 1 or 2")


def mac_iso9797_alg1(key: bytes, data: bytes, *, padding: int = MacPadding.METHOD_1) -> bytes:
    """ISO 9797-1 MAC algorithm 1 (CBC-MAC) with DES (8-byte key) or TDES; 8-byte MAC.

    With single DES and padding 1 this is ANSI X9.9 / FIPS 113 DAA.

    Examples
    --------
    >>> mac_iso9797_alg1(bytes.fromhex("0123456789ABCDEF"),
    ...                  b"7654321 Now is the time for ").hex().upper()
    'F1D30F6849312CA4'
    """
    key = _v.tdes_key(key, "MAC key")
    padded = pad_iso9797(data, padding)
    return _p.tdes_encrypt_cbc(key, bytes(8), padded)[-8:]


def mac_iso9797_alg3(key: bytes, data: bytes, *, padding: int = MacPadding.METHOD_1) -> bytes:
    """ISO 9797-1 MAC algorithm 3 (ANSI X9.19 retail MAC); 16-byte key K1 || K2; 8-byte MAC.

    Single-DES CBC with K1, then the last block ``DES(K1, DES^-1(K2, h))``.

    Examples
    --------
    >>> mac_iso9797_alg3(bytes.fromhex("0123456789ABCDEFFEDCBA9876543210"),
    ...                  bytes.fromhex("1234567890ABCDEF"), padding=2).hex().upper()
    '912476C111DB4238'
    """
    if not isinstance(key, bytes | bytearray) or len(key) != 16:
        raise KeyLengthError("MAC key must be 16 bytes")
    k1, k2 = bytes(key[:8]), bytes(key[8:])
    h = _p.tdes_encrypt_cbc(k1, bytes(8), pad_iso9797(data, padding))[-8:]
    return _p.des_encrypt_ecb(k1, _p.des_decrypt_ecb(k2, h))


def generate_retail_mac(
    key1: bytes, key2: bytes, data: bytes, *, padding: int = MacPadding.METHOD_1
) -> bytes:
    """Generalised retail MAC: CBC with TDES(key1), final ``TDES(key1, TDES^-1(key2, h))``.

    Equal to :func:`mac_iso9797_alg3` when ``key1`` and ``key2`` are 8-byte halves; with
    longer keys it is the psec ``generate_retail_mac`` generalisation.

    Examples
    --------
    >>> k = bytes.fromhex("0123456789ABCDEFFEDCBA9876543210")
    >>> generate_retail_mac(k[:8], k[8:], b"Now is the time for all ").hex().upper()
    'A1C72E74EA3FA9B6'
    """
    key1 = _v.tdes_key(key1, "MAC key")
    key2 = _v.tdes_key(key2, "MAC key")
    h = _p.tdes_encrypt_cbc(key1, bytes(8), pad_iso9797(data, padding))[-8:]
    return _p.tdes_encrypt_ecb(key1, _p.tdes_decrypt_ecb(key2, h))


def mac_aes_cmac(key: bytes, data: bytes) -> bytes:
    """AES-CMAC (NIST SP 800-38B / RFC 4493), 16 bytes.

    Examples
    --------
    >>> mac_aes_cmac(bytes.fromhex("2B7E151628AED2A6ABF7158809CF4F3C"), b"").hex().upper()
    'BB1D6929E95937287FA37D129B756746'
    """
    return _p.aes_cmac(_v.aes_key(key), bytes(data))


def mac_tdes_cmac(key: bytes, data: bytes) -> bytes:
    """TDES-CMAC (NIST SP 800-38B), 8 bytes; degenerate keys allowed.

    Examples
    --------
    >>> mac_tdes_cmac(bytes.fromhex("0123456789ABCDEF23456789ABCDEF01"), b"").hex().upper()
    '79CE52A7F786A960'
    """
    return _p.tdes_cmac(_v.tdes_key(key), bytes(data))
