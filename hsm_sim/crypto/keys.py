"""Key helpers: TDES ECB, odd parity and key check values (KCV).

Examples
--------
>>> key = bytes.fromhex("6AC292FAA1315B4D858AB3A3D7D5933A")
>>> kcv_tdes(key).hex().upper()
'AF8C07'
>>> kcv_aes_cmac(bytes.fromhex("3F419E1CB7079442AA37474C2EFBF8B8")).hex().upper()
'08793E25AB'
"""

from __future__ import annotations

from hsm_sim.crypto import _primitives as _p
from hsm_sim.crypto import _validate as _v
from hsm_sim.crypto.errors import CryptoError

__all__ = [
    "adjust_key_parity",
    "kcv_aes_cmac",
    "kcv_tdes",
    "key_has_odd_parity",
    "tdes_decrypt_ecb",
    "tdes_encrypt_ecb",
    "xor_bytes",
]


def xor_bytes(a: bytes, b: bytes) -> bytes:
    """XOR two byte strings of equal length.

    Examples
    --------
    >>> xor_bytes(bytes.fromhex("F0F0"), bytes.fromhex("FF00")).hex().upper()
    '0FF0'
    """
    if len(a) != len(b):
        raise CryptoError("operands must have the same length")
    return _p.xor(bytes(a), bytes(b))


def _blocks(data: bytes, size: int) -> bytes:
    if not isinstance(data, bytes | bytearray) or len(data) % size:
        raise CryptoError(f"data length must be a multiple of {size} bytes")
    return bytes(data)


def tdes_encrypt_ecb(key: bytes, data: bytes) -> bytes:
    """Encrypt with TDES-EDE in ECB mode (works for degenerate keys).

    Parameters
    ----------
    key : bytes
        8 (single DES), 16 (double-length) or 24 (triple-length) bytes.
    data : bytes
        A multiple of 8 bytes.

    Examples
    --------
    >>> tdes_encrypt_ecb(bytes.fromhex("0123456789ABCDEF"), bytes(8)).hex().upper()
    'D5D44FF720683D0D'
    """
    return _p.tdes_encrypt_ecb(_v.tdes_key(key), _blocks(data, 8))


def tdes_decrypt_ecb(key: bytes, data: bytes) -> bytes:
    """Decrypt with TDES-EDE in ECB mode (inverse of :func:`tdes_encrypt_ecb`).

    Examples
    --------
    >>> k = bytes.fromhex("0123456789ABCDEFFEDCBA9876543210")
    >>> tdes_decrypt_ecb(k, tdes_encrypt_ecb(k, b"ABCDEFGH"))
    b'ABCDEFGH'
    """
    return _p.tdes_decrypt_ecb(_v.tdes_key(key), _blocks(data, 8))


def _odd(b: int) -> int:
    return b if bin(b).count("1") % 2 else b ^ 1


def adjust_key_parity(key: bytes) -> bytes:
    """Set every byte to odd parity by flipping its least significant bit where needed.

    Examples
    --------
    >>> adjust_key_parity(bytes.fromhex("0022446688AACCEE")).hex().upper()
    '0123456789ABCDEF'
    """
    return bytes(_odd(b) for b in key)


def key_has_odd_parity(key: bytes) -> bool:
    """Whether every byte of ``key`` has odd parity.

    Examples
    --------
    >>> key_has_odd_parity(bytes.fromhex("0123456789ABCDEF"))
    True
    >>> key_has_odd_parity(bytes.fromhex("0023456789ABCDEF"))
    False
    """
    return all(bin(b).count("1") % 2 for b in key)


def kcv_tdes(key: bytes, length: int = 3) -> bytes:
    """DES/TDES key check value: leftmost ``length`` bytes of ``TDES-ECB(key, 0^8)``.

    Parameters
    ----------
    key : bytes
        8, 16 or 24 bytes.
    length : int
        1 to 8 bytes (3 gives the usual 6-hex KCV, 8 the Thales "KCV type 0").

    Examples
    --------
    >>> kcv_tdes(bytes.fromhex("E6F1081FEA4C402CC192B65DE367EC3E"), 8).hex().upper()
    '212CF9158251CDD3'
    """
    if not 1 <= length <= 8:
        raise CryptoError("KCV length must be 1 to 8 bytes")
    return _p.tdes_encrypt_ecb(_v.tdes_key(key), bytes(8))[:length]


def kcv_aes_cmac(key: bytes, length: int = 5) -> bytes:
    """AES key check value: leftmost ``length`` bytes of ``AES-CMAC(key, 0^16)`` (X9.24-1:2017).

    Examples
    --------
    >>> kcv_aes_cmac(bytes.fromhex("3F419E1CB7079442AA37474C2EFBF8B8"), 3).hex().upper()
    '08793E'
    """
    if not 1 <= length <= 16:
        raise CryptoError("KCV length must be 1 to 16 bytes")
    return _p.aes_cmac(_v.aes_key(key), bytes(16))[:length]
