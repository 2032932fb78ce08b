"""Thales variant LMK: keys stored under the 20 local master key pairs.

A key of type ``VPP`` (variant digit ``V``, LMK pair code ``PP``) is stored as
``TDES-ECB(LMK_pair XOR variant, key)``: the key-type variant is XORed into byte 0 of the pair.
Schemes ``U`` / ``T`` also XOR ``A6 5A`` / ``6A DE 2B`` into byte 8 (the right half) for the
successive 8-byte parts of the key; ``X`` / ``Y`` / ``Z`` / unprefixed use the pair as it is.

Examples
--------
>>> lmk = VariantLmk.test()
>>> lmk.decrypt_key("001", "BAB32D775A38E4AB").hex().upper()
'13F10E5D868A529E'
>>> lmk.encrypt_key("009", bytes.fromhex("0123456789ABCDEFFEDCBA9876543210"), "U")
'U8E3D3E2FD5919657F05A1AA90D32A014'
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from hsm_sim.crypto import _primitives as _p
from hsm_sim.crypto import _validate as _v
from hsm_sim.crypto.errors import (
    CryptoError,
    KeyLengthError,
    KeySchemeError,
    KeyTypeError,
    LmkError,
    PinUnderLmkError,
)

__all__ = [
    "KEY_FIELD_HEX_LENGTHS",
    "KEY_TYPE_NAMES",
    "LMK_PAIR_NAMES",
    "KeyScheme",
    "KeyType",
    "VariantLmk",
    "parse_key_type",
    "split_key_field",
]

#: LMK pair names in storage order (index 0 = pair 00-01).
LMK_PAIR_NAMES: tuple[str, ...] = tuple(f"{2 * i:02d}-{2 * i + 1:02d}" for i in range(20))

# pair code PP of a key type -> index into LMK_PAIR_NAMES
_PAIR_CODES: Mapping[str, int] = {
    "00": 2, "01": 3, "02": 7, "03": 8, "04": 9, "05": 10, "06": 11, "07": 12,
    "08": 13, "09": 14, "0A": 15, "0B": 16, "0C": 17, "0D": 18, "0E": 19,
}  # fmt: skip

_KEY_TYPE_VARIANTS: tuple[int, ...] = (0x00, 0xA6, 0x5A, 0x6A, 0xDE, 0x2B, 0x50, 0x74, 0x9C, 0xFA)
_SCHEME_VARIANTS: Mapping[str, tuple[int, ...]] = {"U": (0xA6, 0x5A), "T": (0x6A, 0xDE, 0x2B)}

#: Common key type codes (any ``VPP`` with a known pair code is accepted).
KEY_TYPE_NAMES: Mapping[str, str] = {
    "000": "ZMK", "001": "ZPK", "002": "TPK/TMK/PVK", "003": "TAK", "008": "ZAK",
    "009": "BDK type 1", "00A": "ZEK", "00B": "DEK", "402": "CVK", "109": "MK-AC",
    "209": "MK-SMI", "309": "MK-SMC",
}  # fmt: skip


class KeyScheme(StrEnum):
    """Thales key scheme letter under a variant LMK."""

    SINGLE = "Z"
    DOUBLE_VARIANT = "U"
    TRIPLE_VARIANT = "T"
    DOUBLE_X917 = "X"
    TRIPLE_X917 = "Y"


_SCHEME_KEY_LENGTH: Mapping[str, int] = {"Z": 8, "U": 16, "X": 16, "T": 24, "Y": 24}

#: Hex length of the key that follows each key-field prefix (``""`` = unprefixed single).
KEY_FIELD_HEX_LENGTHS: Mapping[str, int] = {"": 16, "Z": 16, "U": 32, "X": 32, "T": 48, "Y": 48}


@dataclass(frozen=True, kw_only=True)
class KeyType:
    """A parsed ``VPP`` key type code."""

    code: str
    variant: int
    pair_index: int

    @property
    def lmk_pair(self) -> str:
        """The LMK pair name, e.g. ``"06-07"``."""
        return LMK_PAIR_NAMES[self.pair_index]


def parse_key_type(code: str) -> KeyType:
    """Parse a 3-character Thales key type code ``VPP``.

    Examples
    --------
    >>> parse_key_type("402")
    KeyType(code='402', variant=4, pair_index=7)
    >>> parse_key_type("109").lmk_pair
    '28-29'
    """
    if not isinstance(code, str) or len(code) != 3:
        raise KeyTypeError("invalid key type code")
    code = code.upper()
    if not code[0].isdigit() or code[1:] not in _PAIR_CODES:
        raise KeyTypeError("invalid key type code")
    return KeyType(code=code, variant=int(code[0]), pair_index=_PAIR_CODES[code[1:]])


def split_key_field(key_field: str) -> tuple[str, str]:
    """Split a key field into its scheme letter (``""`` if none) and its hex.

    An unprefixed 32H / 48H field is read as X9.17 (``X`` / ``Y``): the same encryption.

    Examples
    --------
    >>> split_key_field("U" + "0" * 32)
    ('U', '00000000000000000000000000000000')
    >>> split_key_field("0" * 32)[0]
    'X'
    """
    if not isinstance(key_field, str) or not key_field:
        raise CryptoError("invalid key field")
    head = key_field[0].upper()
    if head in KEY_FIELD_HEX_LENGTHS and head:
        scheme, body = head, key_field[1:]
    elif head == "S":
        raise KeySchemeError("key block keys need a key-block LMK")
    elif _v.is_hex(head):
        scheme = {16: "", 32: "X", 48: "Y"}.get(len(key_field), "")
        body = key_field
    else:
        raise KeySchemeError("invalid key scheme")
    if len(body) != KEY_FIELD_HEX_LENGTHS[scheme] or not _v.is_hex(body):
        raise CryptoError("invalid key field")
    return scheme, body.upper()


def _luhn_digit(digits: str) -> int:
    total = 0
    for i, c in enumerate(reversed(digits)):
        d = int(c) * (2 if i % 2 == 0 else 1)
        total += d - 9 if d > 9 else d
    return (10 - total % 10) % 10


@dataclass(frozen=True, kw_only=True)
class VariantLmk:
    """A variant LMK set: 20 double-length pairs ``00-01`` to ``38-39``.

    Parameters
    ----------
    pairs : tuple of bytes
        20 keys of 16 bytes each, pair 00-01 first. Never shown by ``repr``.
    """

    pairs: tuple[bytes, ...] = field(repr=False)

    def __post_init__(self) -> None:
        if len(self.pairs) != 20 or any(
            not isinstance(p, bytes) or len(p) != 16 for p in self.pairs
        ):
            raise LmkError("an LMK set needs 20 pairs of 16 bytes")

    @classmethod
    def test(cls) -> VariantLmk:
        """The published Thales test LMK set.

        Examples
        --------
        >>> VariantLmk.test().check_value()
        '4F550070D645C657'
        """
        return cls.from_hex(_TEST_LMKS)

    @classmethod
    def from_hex(cls, pairs: Sequence[str]) -> VariantLmk:
        """Build from 20 hex strings (32 characters each), pair 00-01 first."""
        try:
            return cls(pairs=tuple(_v.hex_to_bytes(p, "LMK pair") for p in pairs))
        except (CryptoError, TypeError) as e:
            raise LmkError("an LMK set needs 20 pairs of 16 bytes") from e

    @classmethod
    def from_file(cls, path: str | Path) -> VariantLmk:
        """Load an LMK file (``.toml`` or ``.json``).

        The file holds ``pairs``: either a list of 20 hex strings (pair 00-01 first) or a
        table keyed by pair name (``"00-01" = "0101..."``).
        """
        p = Path(path)
        try:
            text = p.read_text(encoding="utf-8")
            doc: Any = json.loads(text) if p.suffix.lower() == ".json" else tomllib.loads(text)
        except (OSError, ValueError) as e:
            raise LmkError("cannot read the LMK file") from e
        pairs = doc.get("pairs") if isinstance(doc, dict) else None
        if isinstance(pairs, dict):
            try:
                pairs = [pairs[name] for name in LMK_PAIR_NAMES]
            except KeyError as e:
                raise LmkError("an LMK set needs 20 pairs of 16 bytes") from e
        if not isinstance(pairs, list) or not all(isinstance(x, str) for x in pairs):
            raise LmkError("an LMK set needs 20 pairs of 16 bytes")
        return cls.from_hex(pairs)

    def check_value(self) -> str:
        """Simulator-specific LMK check value (16 hex).

        The real payShield algorithm is not public: this chains TDES-ECB under every pair,
        starting from 8 zero bytes.
        """
        h = bytes(8)
        for pair in self.pairs:
            h = _p.tdes_encrypt_ecb(pair, h)
        return h.hex().upper()

    def _variant_key(self, kt: KeyType, scheme: str, part: int) -> bytes:
        lmk = bytearray(self.pairs[kt.pair_index])
        lmk[0] ^= _KEY_TYPE_VARIANTS[kt.variant]
        if scheme in _SCHEME_VARIANTS:
            lmk[8] ^= _SCHEME_VARIANTS[scheme][part]
        return bytes(lmk)

    def encrypt_key(self, key_type: str, key: bytes, scheme: str | KeyScheme) -> str:
        """Encrypt a clear key under the LMK and return the Thales key field.

        Parameters
        ----------
        key_type : str
            ``VPP`` key type code (``000`` ZMK, ``001`` ZPK, ``002`` TPK/PVK, ``009`` BDK...).
        key : bytes
            8 bytes for ``Z``, 16 for ``U``/``X``, 24 for ``T``/``Y``.
        scheme : str or KeyScheme
            ``Z`` (returned unprefixed, 16H), ``U``, ``T``, ``X`` or ``Y``.

        Examples
        --------
        >>> VariantLmk.test().encrypt_key("001", bytes.fromhex("13F10E5D868A529E"), "Z")
        'BAB32D775A38E4AB'
        """
        kt = parse_key_type(key_type)
        s = str(scheme).upper()
        if s not in _SCHEME_KEY_LENGTH:
            raise KeySchemeError("invalid key scheme")
        if not isinstance(key, bytes | bytearray) or len(key) != _SCHEME_KEY_LENGTH[s]:
            raise KeyLengthError("key length does not match the key scheme")
        out = b"".join(
            _p.tdes_encrypt_ecb(self._variant_key(kt, s, i // 8), bytes(key[i : i + 8]))
            for i in range(0, len(key), 8)
        )
        return ("" if s == "Z" else s) + out.hex().upper()

    def decrypt_key(self, key_type: str, key_field: str) -> bytes:
        """Decrypt a Thales key field (``16H``, ``Z``/``U``/``T``/``X``/``Y`` + hex).

        Examples
        --------
        >>> VariantLmk.test().decrypt_key(
        ...     "001", "TA5E7D4FE829B0D83C5E7352636C16C7827E197349E34A5CD").hex().upper()
        '0DF8F7E6D373863729E6451FA8D0981FCE79EA200829E09B'
        """
        kt = parse_key_type(key_type)
        scheme, body = split_key_field(key_field)
        enc = bytes.fromhex(body)
        return b"".join(
            _p.tdes_decrypt_ecb(self._variant_key(kt, scheme, i // 8), enc[i : i + 8])
            for i in range(0, len(enc), 8)
        )

    def _pin_keystream(self, length: int, account: str) -> str:
        acct = _v.account_number_12(account)
        block = bytes.fromhex(f"{length:X}000{acct}")
        stream = _p.tdes_encrypt_ecb(self.pairs[1], block)
        return str(int.from_bytes(stream, "big")).rjust(20, "0")[-(length + 1) :]

    def encrypt_pin(self, pin: str, account: str) -> str:
        """Encrypt a PIN under LMK pair 02-03 (simulator-specific, PIN length + 1 digits).

        Digit-wise addition mod 10 of a keystream derived by TDES under pair 02-03 from the PIN
        length and the account number, plus one keyed check digit. Deterministic, like a real
        HSM, so equal PINs of an account compare equal; not byte-compatible with payShield.

        Examples
        --------
        >>> lmk = VariantLmk.test()
        >>> enc = lmk.encrypt_pin("1234", "401234567890")
        >>> len(enc), lmk.decrypt_pin(enc, "401234567890")
        (5, '1234')
        """
        _v.pin(pin)
        ks = self._pin_keystream(len(pin), account)
        digits = pin + str(_luhn_digit(pin))
        return "".join(str((int(d) + int(k)) % 10) for d, k in zip(digits, ks, strict=True))

    def decrypt_pin(self, pin_under_lmk: str, account: str) -> str:
        """Decrypt a PIN produced by :meth:`encrypt_pin` (raises :class:`PinUnderLmkError`)."""
        if (
            not isinstance(pin_under_lmk, str)
            or not _v.is_digits(pin_under_lmk)
            or not 5 <= len(pin_under_lmk) <= 13
        ):
            raise PinUnderLmkError("invalid PIN under LMK")
        ks = self._pin_keystream(len(pin_under_lmk) - 1, account)
        digits = "".join(
            str((int(d) - int(k)) % 10) for d, k in zip(pin_under_lmk, ks, strict=True)
        )
        pin, check = digits[:-1], digits[-1]
        if str(_luhn_digit(pin)) != check:
            raise PinUnderLmkError("invalid PIN under LMK")
        return pin


_TEST_LMKS: tuple[str, ...] = (
    "01010101010101017902CD1FD36EF8BA", "20202020202020203131313131313131",
    "40404040404040405151515151515151", "61616161616161617070707070707070",
    "80808080808080809191919191919191", "A1A1A1A1A1A1A1A1B0B0B0B0B0B0B0B0",
    "C1C1010101010101D0D0010101010101", "E0E0010101010101F1F1010101010101",
    "1C587F1C13924FEF0101010101010101", "01010101010101010101010101010101",
    "02020202020202020404040404040404", "07070707070707071010101010101010",
    "13131313131313131515151515151515", "16161616161616161919191919191919",
    "1A1A1A1A1A1A1A1A1C1C1C1C1C1C1C1C", "23232323232323232525252525252525",
    "26262626262626262929292929292929", "2A2A2A2A2A2A2A2A2C2C2C2C2C2C2C2C",
    "2F2F2F2F2F2F2F2F3131313131313131", "01010101010101010101010101010101",
)  # fmt: skip
