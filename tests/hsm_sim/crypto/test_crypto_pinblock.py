"""ISO 9564-1 PIN blocks against the vectors, psec and round trips."""

from __future__ import annotations

import contextlib
from typing import Any

import psec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from hsm_sim.crypto import (
    CryptoError,
    KeyLengthError,
    PinBlockFormatError,
    PinLengthError,
    UnsupportedPinBlockFormatError,
    decipher_pinblock,
    decipher_pinblock_iso_4,
    decode_pin_field_iso_4,
    decode_pinblock_iso_0,
    decode_pinblock_iso_1,
    decode_pinblock_iso_2,
    decode_pinblock_iso_3,
    encipher_pinblock,
    encipher_pinblock_iso_4,
    encode_pan_field_iso_4,
    encode_pin_field_iso_4,
    encode_pinblock_iso_0,
    encode_pinblock_iso_1,
    encode_pinblock_iso_2,
    encode_pinblock_iso_3,
    tdes_encrypt_ecb,
)

Vectors = dict[str, list[dict[str, Any]]]

# psec is a test-only oracle on cryptography's deprecated TripleDES.
pytestmark = pytest.mark.filterwarnings("ignore:.*TripleDES")

COUNTS = {
    "pinblock_iso0": 3,
    "pinblock_iso1": 1,
    "pinblock_iso3": 1,
    "pinblock_iso4_fields": 1,
    "pinblock_iso4_pan_field": 1,
    "pinblock_iso4_decipher": 1,
}


def test_vector_counts(vectors: Vectors) -> None:
    assert {k: len(vectors[k]) for k in COUNTS} == COUNTS


@pytest.mark.parametrize("i", range(COUNTS["pinblock_iso0"]))
def test_pinblock_iso0(vectors: Vectors, i: int) -> None:
    inp, exp = vectors["pinblock_iso0"][i]["inputs"], vectors["pinblock_iso0"][i]["expected"]
    block = encode_pinblock_iso_0(inp["pin"], inp["pan"])
    assert block.hex().upper() == exp["pinblock"]
    assert decode_pinblock_iso_0(block, inp["pan"]) == inp["pin"]


@pytest.mark.parametrize("i", range(COUNTS["pinblock_iso1"]))
def test_pinblock_iso1(vectors: Vectors, i: int) -> None:
    inp, exp = vectors["pinblock_iso1"][i]["inputs"], vectors["pinblock_iso1"][i]["expected"]
    block = encode_pinblock_iso_1(inp["pin"], fill=bytes.fromhex(inp["fill_hex"]))
    assert block.hex().upper() == exp["pinblock"]
    assert decode_pinblock_iso_1(block) == inp["pin"]


@pytest.mark.parametrize("i", range(COUNTS["pinblock_iso3"]))
def test_pinblock_iso3(vectors: Vectors, i: int) -> None:
    inp, exp = vectors["pinblock_iso3"][i]["inputs"], vectors["pinblock_iso3"][i]["expected"]
    # The IBM account number already excludes the check digit: it is the 15 digits left of it.
    pan = inp["pan_without_check_digit"] + "0"
    block = encode_pinblock_iso_3(inp["pin"], pan, fill=bytes.fromhex(inp["fill_hex"]))
    assert block.hex().upper() == exp["pinblock"]
    assert decode_pinblock_iso_3(block, pan) == inp["pin"]
    assert encode_pinblock_iso_3(inp["pin"], inp["pan_without_check_digit"][-12:],
                                 fill=bytes.fromhex(inp["fill_hex"])) == block


@pytest.mark.parametrize("i", range(COUNTS["pinblock_iso4_fields"]))
def test_pinblock_iso4_fields(vectors: Vectors, i: int) -> None:
    v = vectors["pinblock_iso4_fields"][i]
    inp, exp = v["inputs"], v["expected"]
    pin_field = encode_pin_field_iso_4(inp["pin"], fill=bytes.fromhex(inp["random_fill"]))
    assert pin_field.hex().upper() == exp["pin_field"]
    assert encode_pan_field_iso_4(inp["pan"]).hex().upper() == exp["pan_field"]
    assert decode_pin_field_iso_4(pin_field) == inp["pin"]


@pytest.mark.parametrize("i", range(COUNTS["pinblock_iso4_pan_field"]))
def test_pinblock_iso4_pan_field(vectors: Vectors, i: int) -> None:
    v = vectors["pinblock_iso4_pan_field"][i]
    assert encode_pan_field_iso_4(v["inputs"]["pan"]).hex().upper() == v["expected"]["pan_field"]


@pytest.mark.parametrize("i", range(COUNTS["pinblock_iso4_decipher"]))
def test_pinblock_iso4_decipher(vectors: Vectors, i: int) -> None:
    inp = vectors["pinblock_iso4_decipher"][i]["inputs"]
    key, block = bytes.fromhex(inp["key"]), bytes.fromhex(inp["encrypted_pinblock"])
    pin = vectors["pinblock_iso4_decipher"][i]["expected"]["pin"]
    assert decipher_pinblock_iso_4(key, block, inp["pan"]) == pin
    assert decipher_pinblock(key, block, inp["pan"], "48") == pin


TDES_KEY = bytes.fromhex("0123456789ABCDEFFEDCBA9876543210")
AES_KEY = bytes.fromhex("00112233445566778899AABBCCDDEEFF")
PAN = "4012345678909"


def _tdes_block(clear_hex: str) -> bytes:
    return tdes_encrypt_ecb(TDES_KEY, bytes.fromhex(clear_hex))


# fmt: off
PINBLOCK_EXCEPTION_CASES: list[tuple[Any, type[Exception], str]] = [
    (lambda: encode_pinblock_iso_0("123", PAN), PinLengthError, "PIN must be 4 to 12 digits"),
    (lambda: encode_pinblock_iso_0("1234567890123", PAN), PinLengthError,
     "PIN must be 4 to 12 digits"),
    (lambda: encode_pinblock_iso_0("12a4", PAN), CryptoError, "PIN must contain digits only"),
    (lambda: encode_pinblock_iso_0("1234", "12345678901"), CryptoError,
     "PAN must be 12 to 19 digits"),
    (lambda: encode_pinblock_iso_0("1234", "40123456789X9"), CryptoError,
     "PAN must be 12 to 19 digits"),
    (lambda: encode_pinblock_iso_1("1234", fill=b"\x00"), CryptoError,
     "fill is too short for this PIN length"),
    (lambda: encode_pinblock_iso_3("1234", PAN, fill=bytes(5)), CryptoError,
     "format 3 fill digits must be A to F"),
    (lambda: encode_pin_field_iso_4("1234", fill=bytes(7)), CryptoError,
     "format 4 fill must be 8 bytes"),
    (lambda: encode_pan_field_iso_4(""), CryptoError, "PAN must be 1 to 19 digits"),
    (lambda: decode_pinblock_iso_0(bytes(7), PAN), PinBlockFormatError,
     "PIN block must be 8 bytes"),
    (lambda: decode_pinblock_iso_1(bytes.fromhex("041234FFFFFFFFFF")), PinBlockFormatError,
     "PIN block is not ISO format 1"),
    (lambda: decode_pinblock_iso_2(bytes.fromhex("231234FFFFFFFFFF")), PinLengthError,
     "PIN must be 4 to 12 digits"),
    (lambda: decode_pinblock_iso_2(bytes.fromhex("2D1234FFFFFFFFFF")), PinLengthError,
     "PIN must be 4 to 12 digits"),
    (lambda: decode_pinblock_iso_2(bytes.fromhex("24123AFFFFFFFFFF")), PinBlockFormatError,
     "PIN block contains non-decimal PIN digits"),
    (lambda: decode_pinblock_iso_2(bytes.fromhex("241234FFFFFFFFFE")), PinBlockFormatError,
     "PIN block has invalid fill digits"),
    (lambda: decode_pinblock_iso_3(encode_pinblock_iso_0("1234", PAN), PAN),
     PinBlockFormatError, "PIN block is not ISO format 3"),
    (lambda: decode_pin_field_iso_4(bytes(8)), PinBlockFormatError, "PIN block must be 16 bytes"),
    (lambda: encipher_pinblock(TDES_KEY, "1234", PAN, "02"), UnsupportedPinBlockFormatError,
     "unsupported PIN block format code"),
    (lambda: decipher_pinblock(TDES_KEY, bytes(8), PAN, "34"), UnsupportedPinBlockFormatError,
     "unsupported PIN block format code"),
    (lambda: decipher_pinblock(TDES_KEY, _tdes_block("031234FFFFFFFFFF"), "000000000000", "01"),
     PinLengthError, "PIN must be 4 to 12 digits"),
    (lambda: decipher_pinblock(TDES_KEY, _tdes_block("141234FFFFFFFFFF"), PAN, "01"),
     PinBlockFormatError, "PIN block is not ISO format 0"),
    (lambda: encipher_pinblock(AES_KEY[:8], "1234", PAN, "48"), KeyLengthError,
     "AES key must be 16, 24 or 32 bytes"),
    (lambda: encipher_pinblock(AES_KEY[:15], "1234", PAN, "01"), KeyLengthError,
     "TDES key must be 8, 16 or 24 bytes"),
]
# fmt: on


@pytest.mark.parametrize(("call", "error", "message"), PINBLOCK_EXCEPTION_CASES)
def test_pinblock_exception(call: Any, error: type[Exception], message: str) -> None:
    with pytest.raises(error) as e:
        call()
    assert str(e.value) == message


def test_error_codes() -> None:
    assert PinBlockFormatError.thales_error_code == "20"
    assert UnsupportedPinBlockFormatError.thales_error_code == "23"
    assert PinLengthError.thales_error_code == "24"


pins = st.text("0123456789", min_size=4, max_size=12)
pans = st.text("0123456789", min_size=13, max_size=19)


@given(pin=pins, pan=pans)
def test_iso0_matches_psec(pin: str, pan: str) -> None:
    ours = encode_pinblock_iso_0(pin, pan)
    assert ours == psec.pinblock.encode_pinblock_iso_0(pin, pan)
    assert decode_pinblock_iso_0(ours, pan) == pin
    assert psec.pinblock.decode_pinblock_iso_0(ours, pan) == pin


@given(pin=pins, pan=pans)
def test_iso3_matches_psec(pin: str, pan: str) -> None:
    ours = encode_pinblock_iso_3(pin, pan)
    assert psec.pinblock.decode_pinblock_iso_3(ours, pan) == pin
    assert decode_pinblock_iso_3(psec.pinblock.encode_pinblock_iso_3(pin, pan), pan) == pin


@given(pin=pins)
def test_iso2_matches_psec(pin: str) -> None:
    assert encode_pinblock_iso_2(pin) == psec.pinblock.encode_pinblock_iso_2(pin)
    assert decode_pinblock_iso_2(encode_pinblock_iso_2(pin)) == pin


@given(pin=pins, pan=st.text("0123456789", min_size=1, max_size=19),
       key=st.sampled_from([16, 24, 32]).flatmap(lambda n: st.binary(min_size=n, max_size=n)))
def test_iso4_matches_psec(pin: str, pan: str, key: bytes) -> None:
    assert encode_pan_field_iso_4(pan) == psec.pinblock.encode_pan_field_iso_4(pan)
    ours = encipher_pinblock_iso_4(key, pin, pan)
    assert psec.pinblock.decipher_pinblock_iso_4(key, ours, pan) == pin
    assert decipher_pinblock_iso_4(key, psec.pinblock.encipher_pinblock_iso_4(key, pin, pan),
                                   pan) == pin


@given(pin=pins, pan=pans, fmt=st.sampled_from(["01", "05", "47", "48"]))
def test_encipher_decipher_round_trip(pin: str, pan: str, fmt: str) -> None:
    key = AES_KEY if fmt == "48" else TDES_KEY
    assert decipher_pinblock(key, encipher_pinblock(key, pin, pan, fmt), pan, fmt) == pin


@given(block=st.binary(min_size=8, max_size=8), fmt=st.sampled_from(["01", "05", "47"]))
def test_decipher_raises_only_crypto_error(block: bytes, fmt: str) -> None:
    with contextlib.suppress(CryptoError):
        decipher_pinblock(TDES_KEY, block, PAN, fmt)
