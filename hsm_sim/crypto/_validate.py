"""Private input checks shared by the crypto modules (messages are part of the API)."""

from __future__ import annotations

from hsm_sim.crypto.errors import CryptoError, KeyLengthError, PinLengthError

__all__: list[str] = []

_HEX = frozenset("0123456789ABCDEFabcdef")


def is_digits(s: str) -> bool:
    return s.isascii() and s.isdigit()


def is_hex(s: str) -> bool:
    return all(c in _HEX for c in s)


def hex_to_bytes(s: str, what: str) -> bytes:
    if len(s) % 2 or not is_hex(s):
        raise CryptoError(f"{what} must be an even number of hexadecimal characters")
    return bytes.fromhex(s)


def tdes_key(key: bytes, what: str = "TDES key") -> bytes:
    if not isinstance(key, bytes | bytearray) or len(key) not in (8, 16, 24):
        raise KeyLengthError(f"{what} must be 8, 16 or 24 bytes")
    return bytes(key)


def double_tdes_key(key: bytes, what: str) -> bytes:
    if not isinstance(key, bytes | bytearray) or len(key) not in (16, 24):
        raise KeyLengthError(f"{what} must be 16 or 24 bytes")
    return bytes(key)


def aes_key(key: bytes, what: str = "AES key") -> bytes:
    if not isinstance(key, bytes | bytearray) or len(key) not in (16, 24, 32):
        raise KeyLengthError(f"{what} must be 16, 24 or 32 bytes")
    return bytes(key)


def pin(pin: str) -> str:
    if not isinstance(pin, str) or not is_digits(pin):
        raise CryptoError("PIN must contain digits only")
    if not 4 <= len(pin) <= 12:
        raise PinLengthError("PIN must be 4 to 12 digits")
    return pin


def digits(value: str, what: str, lo: int, hi: int) -> str:
    if not isinstance(value, str) or not is_digits(value) or not lo <= len(value) <= hi:
        if lo == hi:
            raise CryptoError(f"{what} must be {lo} digits")
        raise CryptoError(f"{what} must be {lo} to {hi} digits")
    return value


def account_number_12(pan: str) -> str:
    """The 12 right-most PAN digits excluding the check digit (``pan12``).

    A 13-19 digit value is a full PAN (check digit dropped); a 12-digit value is taken to be the
    Thales 12N account-number field already.
    """
    digits(pan, "PAN", 12, 19)
    return pan if len(pan) == 12 else pan[-13:-1]
