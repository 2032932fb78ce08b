"""ISO 9564-1 PIN blocks: formats 0, 1, 2, 3 (TDES, 8 bytes) and 4 (AES, 16 bytes).

``pan`` arguments of formats 0 and 3 are either the full PAN (13-19 digits; the check digit is
dropped and the 12 right-most remaining digits are used) or the 12-digit Thales account-number
field (``pan12``), used as it is. Format 4 takes the full PAN (1-19 digits).

:func:`encipher_pinblock` / :func:`decipher_pinblock` dispatch on the Thales PIN block format
code: ``01`` ISO 0, ``05`` ISO 1, ``47`` ISO 3 (TDES key), ``48`` ISO 4 (AES key).

Examples
--------
>>> encode_pinblock_iso_0("1234", "4012345678909").hex().upper()
'041274EDCBA9876F'
>>> decode_pinblock_iso_0(bytes.fromhex("041274EDCBA9876F"), "4012345678909")
'1234'
"""

from __future__ import annotations

from hsm_sim.crypto import _primitives as _p
from hsm_sim.crypto import _validate as _v
from hsm_sim.crypto.errors import (
    CryptoError,
    PinBlockFormatError,
    PinLengthError,
    UnsupportedPinBlockFormatError,
)

__all__ = [
    "PIN_BLOCK_FORMATS",
    "decipher_pinblock",
    "decipher_pinblock_iso_4",
    "decode_pin_field_iso_4",
    "decode_pinblock_iso_0",
    "decode_pinblock_iso_1",
    "decode_pinblock_iso_2",
    "decode_pinblock_iso_3",
    "encipher_pinblock",
    "encipher_pinblock_iso_4",
    "encode_pan_field_iso_4",
    "encode_pin_field_iso_4",
    "encode_pinblock_iso_0",
    "encode_pinblock_iso_1",
    "encode_pinblock_iso_2",
    "encode_pinblock_iso_3",
]

#: Thales PIN block format codes supported by :func:`encipher_pinblock`.
PIN_BLOCK_FORMATS: frozenset[str] = frozenset({"01", "05", "47", "48"})


def _pan_block(pan: str) -> bytes:
    return bytes(2) + bytes.fromhex(_v.account_number_12(pan))


def _fill_nibbles(fill: bytes | None, count: int, *, hex_letters: bool) -> str:
    """``count`` fill nibbles: taken from the front of ``fill`` or random."""
    if fill is not None:
        nibbles = bytes(fill).hex().upper()
        if len(nibbles) < count:
            raise CryptoError("fill is too short for this PIN length")
        nibbles = nibbles[:count]
        if hex_letters and not all(c in "ABCDEF" for c in nibbles):
            raise CryptoError("format 3 fill digits must be A to F")
        return nibbles
    if not hex_letters:
        return _p.random_bytes((count + 1) // 2).hex().upper()[:count]
    out: list[str] = []
    while len(out) < count:
        for b in _p.random_bytes(count):
            if (b & 7) < 6 and len(out) < count:
                out.append("ABCDEF"[b & 7])
    return "".join(out)


def _encode(control: int, pin: str, fill: str) -> bytes:
    return bytes.fromhex(f"{control:X}{len(pin):X}{pin}{fill}")


def _check_block(pin_block: bytes, size: int) -> bytes:
    if not isinstance(pin_block, bytes | bytearray) or len(pin_block) != size:
        raise PinBlockFormatError(f"PIN block must be {size} bytes")
    return bytes(pin_block)


def _decode(block_hex: str, control: int, fill_chars: str | None) -> str:
    if block_hex[0] != f"{control:X}":
        raise PinBlockFormatError(f"PIN block is not ISO format {control}")
    length = int(block_hex[1], 16)
    if not 4 <= length <= 12:
        raise PinLengthError("PIN must be 4 to 12 digits")
    pin = block_hex[2 : 2 + length]
    if not pin.isdigit():
        raise PinBlockFormatError("PIN block contains non-decimal PIN digits")
    if fill_chars is not None and not all(c in fill_chars for c in block_hex[2 + length : 16]):
        raise PinBlockFormatError("PIN block has invalid fill digits")
    return pin


def encode_pinblock_iso_0(pin: str, pan: str) -> bytes:
    """Encode an ISO 9564-1 format 0 (ANSI X9.8) clear PIN block.

    ``0 L PIN F...`` XOR ``0000 || pan12``.

    Parameters
    ----------
    pin : str
        4 to 12 decimal digits.
    pan : str
        Full PAN (13-19 digits) or the 12-digit account number.

    Returns
    -------
    bytes
        8-byte clear PIN block.

    Raises
    ------
    PinLengthError
        PIN must be 4 to 12 digits
    CryptoError
        PIN must contain digits only; PAN must be 12 to 19 digits

    Examples
    --------
    >>> encode_pinblock_iso_0("1234", "8998811234567890").hex().upper()
    '0412BCEEDCBA9876'
    >>> encode_pinblock_iso_0("1234", "401234567890").hex().upper()
    '041274EDCBA9876F'
    """
    _v.pin(pin)
    return _p.xor(_encode(0, pin, "F" * (14 - len(pin))), _pan_block(pan))


def decode_pinblock_iso_0(pin_block: bytes, pan: str) -> str:
    """Decode an ISO format 0 clear PIN block back to the PIN.

    Raises
    ------
    PinBlockFormatError
        wrong size, wrong control nibble, non-decimal PIN digits or fill not ``F``.
    PinLengthError
        length nibble outside 4..12.

    Examples
    --------
    >>> decode_pinblock_iso_0(bytes.fromhex("0412BCEEDCBA9876"), "8998811234567890")
    '1234'
    """
    block = _check_block(pin_block, 8)
    return _decode(_p.xor(block, _pan_block(pan)).hex().upper(), 0, "F")


def encode_pinblock_iso_1(pin: str, *, fill: bytes | None = None) -> bytes:
    """Encode an ISO format 1 clear PIN block: ``1 L PIN`` + fill (random 0-F unless given).

    Parameters
    ----------
    pin : str
        4 to 12 decimal digits.
    fill : bytes, optional
        Fill nibbles taken from the front of these bytes (at least ``14 - len(pin)`` nibbles);
        random when omitted (transaction-unique, as the standard asks).

    Examples
    --------
    >>> encode_pinblock_iso_1("1234", fill=bytes.fromhex("AB12CD34EF56")).hex().upper()
    '141234AB12CD34EF'
    """
    _v.pin(pin)
    return _encode(1, pin, _fill_nibbles(fill, 14 - len(pin), hex_letters=False))


def decode_pinblock_iso_1(pin_block: bytes) -> str:
    """Decode an ISO format 1 clear PIN block.

    Examples
    --------
    >>> decode_pinblock_iso_1(bytes.fromhex("141234AB12CD34EF"))
    '1234'
    """
    return _decode(_check_block(pin_block, 8).hex().upper(), 1, None)


def encode_pinblock_iso_2(pin: str) -> bytes:
    """Encode an ISO format 2 (EMV offline) clear PIN block: ``2 L PIN F...``.

    Examples
    --------
    >>> encode_pinblock_iso_2("1234").hex().upper()
    '241234FFFFFFFFFF'
    """
    _v.pin(pin)
    return _encode(2, pin, "F" * (14 - len(pin)))


def decode_pinblock_iso_2(pin_block: bytes) -> str:
    """Decode an ISO format 2 clear PIN block.

    Examples
    --------
    >>> decode_pinblock_iso_2(bytes.fromhex("241234FFFFFFFFFF"))
    '1234'
    """
    return _decode(_check_block(pin_block, 8).hex().upper(), 2, "F")


def encode_pinblock_iso_3(pin: str, pan: str, *, fill: bytes | None = None) -> bytes:
    """Encode an ISO format 3 clear PIN block: ``3 L PIN`` + fill A-F, XOR ``0000 || pan12``.

    Parameters
    ----------
    pin : str
        4 to 12 decimal digits.
    pan : str
        Full PAN (13-19 digits) or the 12-digit account number.
    fill : bytes, optional
        Fill nibbles (all A-F) from the front of these bytes; random A-F when omitted.

    Examples
    --------
    >>> encode_pinblock_iso_3("123456", "1112223334445550",
    ...                       fill=bytes.fromhex("AFBECDDC")).hex().upper()
    '361216759CFA8889'
    """
    _v.pin(pin)
    clear = _encode(3, pin, _fill_nibbles(fill, 14 - len(pin), hex_letters=True))
    return _p.xor(clear, _pan_block(pan))


def decode_pinblock_iso_3(pin_block: bytes, pan: str) -> str:
    """Decode an ISO format 3 clear PIN block (fill must be A-F).

    Examples
    --------
    >>> decode_pinblock_iso_3(bytes.fromhex("361216759CFA8889"), "1112223334445550")
    '123456'
    """
    block = _check_block(pin_block, 8)
    return _decode(_p.xor(block, _pan_block(pan)).hex().upper(), 3, "ABCDEF")


def encode_pin_field_iso_4(pin: str, *, fill: bytes | None = None) -> bytes:
    """ISO format 4 plain-text PIN field: ``4 L PIN``, ``A`` to 16 nibbles, 8 fill bytes.

    Parameters
    ----------
    fill : bytes, optional
        Exactly 8 bytes; random when omitted.

    Examples
    --------
    >>> encode_pin_field_iso_4("1234", fill=bytes.fromhex("2F69ADDE2E9E7ACE")).hex().upper()
    '441234AAAAAAAAAA2F69ADDE2E9E7ACE'
    """
    _v.pin(pin)
    if fill is None:
        fill = _p.random_bytes(8)
    elif len(fill) != 8:
        raise CryptoError("format 4 fill must be 8 bytes")
    return _encode(4, pin, "A" * (14 - len(pin))) + bytes(fill)


def decode_pin_field_iso_4(pin_field: bytes) -> str:
    """Decode an ISO format 4 plain-text PIN field.

    Examples
    --------
    >>> decode_pin_field_iso_4(bytes.fromhex("441234AAAAAAAAAA2F69ADDE2E9E7ACE"))
    '1234'
    """
    block = _check_block(pin_field, 16)
    return _decode(block[:8].hex().upper(), 4, "A")


def encode_pan_field_iso_4(pan: str) -> bytes:
    """ISO format 4 plain-text PAN field: ``(len(PAN) - 12)`` nibble || PAN, zero-padded right.

    A PAN shorter than 12 digits gets length nibble 0 and is left-padded with zeros to 12.

    Examples
    --------
    >>> encode_pan_field_iso_4("112233445566778899").hex().upper()
    '61122334455667788990000000000000'
    >>> encode_pan_field_iso_4("4111111111111111").hex().upper()
    '44111111111111111000000000000000'
    """
    _v.digits(pan, "PAN", 1, 19)
    body = f"{len(pan) - 12}{pan}" if len(pan) >= 12 else "0" + pan.rjust(12, "0")
    return bytes.fromhex(body.ljust(32, "0"))


def encipher_pinblock_iso_4(
    key: bytes, pin: str, pan: str, *, fill: bytes | None = None
) -> bytes:
    """Encipher an ISO format 4 PIN block: ``AES(K, AES(K, PIN field) XOR PAN field)``.

    Examples
    --------
    >>> key = bytes.fromhex("00112233445566778899AABBCCDDEEFF")
    >>> block = encipher_pinblock_iso_4(key, "1234", "1234567890123456")
    >>> decipher_pinblock_iso_4(key, block, "1234567890123456")
    '1234'
    """
    key = _v.aes_key(key)
    pin_field = encode_pin_field_iso_4(pin, fill=fill)
    pan_field = encode_pan_field_iso_4(pan)
    return _p.aes_encrypt_ecb(key, _p.xor(_p.aes_encrypt_ecb(key, pin_field), pan_field))


def decipher_pinblock_iso_4(key: bytes, pin_block: bytes, pan: str) -> str:
    """Decipher an ISO format 4 PIN block and return the PIN.

    Examples
    --------
    >>> decipher_pinblock_iso_4(bytes.fromhex("00112233445566778899AABBCCDDEEFF"),
    ...     bytes.fromhex("E4BE5B623AF7E006AC319E5B93544564"), "1234567890123456")
    '1234'
    """
    key = _v.aes_key(key)
    block = _check_block(pin_block, 16)
    pan_field = encode_pan_field_iso_4(pan)
    pin_field = _p.aes_decrypt_ecb(key, _p.xor(_p.aes_decrypt_ecb(key, block), pan_field))
    return decode_pin_field_iso_4(pin_field)


def encipher_pinblock(
    key: bytes, pin: str, pan: str, fmt: str, *, fill: bytes | None = None
) -> bytes:
    """Build and encrypt a PIN block for a Thales format code.

    Parameters
    ----------
    key : bytes
        TDES key (8/16/24 bytes) for ``01``, ``05``, ``47``; AES key (16/24/32) for ``48``.
    pin : str
        4 to 12 digits.
    pan : str
        Full PAN, or the 12-digit account number for ``01``/``47`` (ignored by ``05``).
    fmt : str
        Thales PIN block format code: ``01`` ISO 0, ``05`` ISO 1, ``47`` ISO 3, ``48`` ISO 4.
    fill : bytes, optional
        Fill for formats 1, 3 and 4 (random when omitted).

    Raises
    ------
    UnsupportedPinBlockFormatError
        unsupported PIN block format code (Thales 23).

    Examples
    --------
    >>> k = bytes.fromhex("0123456789ABCDEFFEDCBA9876543210")
    >>> blk = encipher_pinblock(k, "1234", "4012345678909", "01")
    >>> decipher_pinblock(k, blk, "4012345678909", "01")
    '1234'
    """
    if fmt == "48":
        return encipher_pinblock_iso_4(key, pin, pan, fill=fill)
    if fmt == "01":
        clear = encode_pinblock_iso_0(pin, pan)
    elif fmt == "05":
        clear = encode_pinblock_iso_1(pin, fill=fill)
    elif fmt == "47":
        clear = encode_pinblock_iso_3(pin, pan, fill=fill)
    else:
        raise UnsupportedPinBlockFormatError("unsupported PIN block format code")
    return _p.tdes_encrypt_ecb(_v.tdes_key(key), clear)


def decipher_pinblock(key: bytes, block: bytes, pan: str, fmt: str) -> str:
    """Decrypt a PIN block of Thales format ``fmt`` and return the PIN.

    Raises
    ------
    UnsupportedPinBlockFormatError
        unsupported PIN block format code (Thales 23).
    PinBlockFormatError
        the decrypted block is not a valid block of that format (Thales 20).
    PinLengthError
        the PIN length is outside 4..12 (Thales 24).

    Examples
    --------
    >>> k = bytes.fromhex("0123456789ABCDEFFEDCBA9876543210")
    >>> decipher_pinblock(k, encipher_pinblock(k, "98765", "", "05"), "", "05")
    '98765'
    """
    if fmt == "48":
        return decipher_pinblock_iso_4(key, block, pan)
    if fmt not in PIN_BLOCK_FORMATS:
        raise UnsupportedPinBlockFormatError("unsupported PIN block format code")
    clear = _p.tdes_decrypt_ecb(_v.tdes_key(key), _check_block(block, 8))
    if fmt == "01":
        return decode_pinblock_iso_0(clear, pan)
    if fmt == "05":
        return decode_pinblock_iso_1(clear)
    return decode_pinblock_iso_3(clear, pan)
