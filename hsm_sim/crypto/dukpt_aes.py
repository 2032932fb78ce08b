"""AES DUKPT (ANSI X9.24-3:2017): initial key, transaction keys and working keys.

KSN = initial key ID (8 bytes) || 32-bit transaction counter.

Examples
--------
>>> bdk = bytes.fromhex("FEDCBA9876543210F1F1F1F1F1F1F1F1")
>>> derive_initial_key_aes(bdk, bytes.fromhex("1234567890123456")).hex().upper()
'1273671EA26AC29AFA4D1084127652A1'
>>> tk = derive_transaction_key_aes(bdk, bytes.fromhex("123456789012345600000001"))
>>> tk.hex().upper()
'4F21B565BAD9835E112B6465635EAE44'
>>> derive_working_key_aes(tk, bytes.fromhex("123456789012345600000001"),
...     AesDukptKeyUsage.PIN_ENCRYPTION, AesDukptKeyType.AES128).hex().upper()
'AF8CB133A78F8DC2D1359F18527593FB'
"""

from __future__ import annotations

from enum import Enum

from hsm_sim.crypto import _primitives as _p
from hsm_sim.crypto.errors import CryptoError, KeyLengthError

__all__ = [
    "AesDukptKeyType",
    "AesDukptKeyUsage",
    "derive_initial_key_aes",
    "derive_transaction_key_aes",
    "derive_transaction_key_aes_from_initial_key",
    "derive_working_key_aes",
]


class AesDukptKeyType(Enum):
    """Derived key algorithm: (algorithm indicator, key length in bits)."""

    TDEA2 = (0x0000, 128)
    TDEA3 = (0x0001, 192)
    AES128 = (0x0002, 128)
    AES192 = (0x0003, 192)
    AES256 = (0x0004, 256)

    @property
    def bits(self) -> int:
        """Key length in bits."""
        return self.value[1]


class AesDukptKeyUsage(Enum):
    """Key usage indicator of the derivation data."""

    KEY_ENCRYPTION_KEY = 0x0002
    PIN_ENCRYPTION = 0x1000
    MAC_GENERATION = 0x2000
    MAC_VERIFICATION = 0x2001
    MAC_BOTH_WAYS = 0x2002
    DATA_ENCRYPTION_ENCRYPT = 0x3000
    DATA_ENCRYPTION_DECRYPT = 0x3001
    DATA_ENCRYPTION_BOTH_WAYS = 0x3002
    KEY_DERIVATION = 0x8000
    KEY_DERIVATION_INITIAL_KEY = 0x8001


_AES_BY_LEN = {16: AesDukptKeyType.AES128, 24: AesDukptKeyType.AES192, 32: AesDukptKeyType.AES256}


def _aes_type(key: bytes, what: str) -> AesDukptKeyType:
    if not isinstance(key, bytes | bytearray) or len(key) not in _AES_BY_LEN:
        raise KeyLengthError(f"{what} must be 16, 24 or 32 bytes")
    return _AES_BY_LEN[len(key)]


def _derive(
    parent: bytes, usage: AesDukptKeyUsage, key_type: AesDukptKeyType, tail: bytes
) -> bytes:
    alg, bits = key_type.value
    out = b""
    for i in range(1, (bits + 127) // 128 + 1):
        data = (
            bytes([1, i])
            + usage.value.to_bytes(2, "big")
            + alg.to_bytes(2, "big")
            + bits.to_bytes(2, "big")
            + tail
        )
        out += _p.aes_encrypt_ecb(parent, data)
    return out[: bits // 8]


def _split_ksn(ksn: bytes) -> tuple[bytes, int]:
    if not isinstance(ksn, bytes | bytearray) or len(ksn) != 12:
        raise CryptoError("KSN must be 12 bytes")
    return bytes(ksn[:8]), int.from_bytes(ksn[8:], "big")


def derive_initial_key_aes(bdk: bytes, initial_key_id: bytes) -> bytes:
    """Initial DUKPT key from an AES BDK and the 8-byte initial key ID (same size as the BDK)."""
    kt = _aes_type(bdk, "BDK")
    if not isinstance(initial_key_id, bytes | bytearray) or len(initial_key_id) != 8:
        raise CryptoError("initial key ID must be 8 bytes")
    usage = AesDukptKeyUsage.KEY_DERIVATION_INITIAL_KEY
    return _derive(bytes(bdk), usage, kt, bytes(initial_key_id))


def derive_transaction_key_aes_from_initial_key(initial_key: bytes, ksn: bytes) -> bytes:
    """Transaction (derivation) key for the KSN's counter, starting from the initial key."""
    kt = _aes_type(initial_key, "initial key")
    ikid, counter = _split_ksn(ksn)
    key = bytes(initial_key)
    working = 0
    bit = 1 << 31
    while bit:
        if counter & bit:
            working |= bit
            tail = ikid[4:] + working.to_bytes(4, "big")
            key = _derive(key, AesDukptKeyUsage.KEY_DERIVATION, kt, tail)
        bit >>= 1
    return key


def derive_transaction_key_aes(bdk: bytes, ksn: bytes) -> bytes:
    """Transaction key for a 12-byte KSN, derived from the BDK."""
    ikid, _ = _split_ksn(ksn)
    return derive_transaction_key_aes_from_initial_key(derive_initial_key_aes(bdk, ikid), ksn)


def derive_working_key_aes(
    transaction_key: bytes, ksn: bytes, usage: AesDukptKeyUsage, key_type: AesDukptKeyType
) -> bytes:
    """Working key of ``usage`` and ``key_type`` (AES-128/192/256, 2TDEA, 3TDEA).

    The key type may be at most as strong as the transaction key (an AES-128 BDK cannot
    yield an AES-256 working key).
    """
    parent_type = _aes_type(transaction_key, "transaction key")
    if key_type.bits > parent_type.bits:
        raise KeyLengthError("working key is longer than the transaction key")
    ikid, counter = _split_ksn(ksn)
    return _derive(bytes(transaction_key), usage, key_type, ikid[4:] + counter.to_bytes(4, "big"))
