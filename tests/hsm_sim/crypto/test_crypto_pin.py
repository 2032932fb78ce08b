"""Visa PVV, IBM 3624 and CVV against the vectors and psec."""

from __future__ import annotations

from typing import Any

import psec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from hsm_sim.crypto import (
    CryptoError,
    KeyLengthError,
    PinLengthError,
    derive_ibm3624_pin,
    generate_cvv,
    generate_ibm3624_natural_pin,
    generate_ibm3624_offset,
    generate_visa_pvv,
    verify_cvv,
    verify_ibm3624_offset,
    verify_visa_pvv,
)

Vectors = dict[str, list[dict[str, Any]]]

# psec is a test-only oracle on cryptography's deprecated TripleDES.
pytestmark = pytest.mark.filterwarnings("ignore:.*TripleDES")

COUNTS = {"visa_pvv": 1, "ibm3624_offset": 1, "visa_cvv": 2}


def test_vector_counts(vectors: Vectors) -> None:
    assert {k: len(vectors[k]) for k in COUNTS} == COUNTS


@pytest.mark.parametrize("i", range(COUNTS["visa_pvv"]))
def test_visa_pvv(vectors: Vectors, i: int) -> None:
    inp, exp = vectors["visa_pvv"][i]["inputs"], vectors["visa_pvv"][i]["expected"]
    pvk = bytes.fromhex(inp["pvk"])
    assert generate_visa_pvv(pvk, inp["pan"], int(inp["pvki"]), inp["pin"]) == exp["pvv"]
    assert verify_visa_pvv(pvk, inp["pan"], int(inp["pvki"]), inp["pin"], exp["pvv"])


@pytest.mark.parametrize("i", range(COUNTS["ibm3624_offset"]))
def test_ibm3624_offset(vectors: Vectors, i: int) -> None:
    inp, exp = vectors["ibm3624_offset"][i]["inputs"], vectors["ibm3624_offset"][i]["expected"]
    pvk, table, vd, pin = (
        bytes.fromhex(inp["pvk"]), inp["decimalization_table"], inp["validation_data"], inp["pin"]
    )
    n = len(pin)
    assert generate_ibm3624_natural_pin(pvk, vd, table, n) == exp["natural_pin"]
    assert generate_ibm3624_offset(pvk, pin, vd, table, n) == exp["offset"]
    assert verify_ibm3624_offset(pvk, pin, vd, table, exp["offset"])
    assert derive_ibm3624_pin(pvk, vd, table, exp["offset"]) == pin


@pytest.mark.parametrize("i", range(COUNTS["visa_cvv"]))
def test_visa_cvv(vectors: Vectors, i: int) -> None:
    inp, exp = vectors["visa_cvv"][i]["inputs"], vectors["visa_cvv"][i]["expected"]
    cvk = bytes.fromhex(inp["cvk_a"] + inp["cvk_b"])
    assert generate_cvv(cvk, inp["pan"], inp["expiry"], inp["service_code"]) == exp["cvv"]
    assert verify_cvv(cvk, inp["pan"], inp["expiry"], inp["service_code"], exp["cvv"])


PVK = bytes.fromhex("0123456789ABCDEFFEDCBA9876543210")
PAN = "1122334455667788"
VD = "1122334455667788"
TABLE = "1234567890123456"


# fmt: off
PIN_EXCEPTION_CASES: list[tuple[Any, type[Exception], str]] = [
    (lambda: generate_visa_pvv(PVK[:7], PAN, 1, "1234"), KeyLengthError,
     "PVK must be 8, 16 or 24 bytes"),
    (lambda: generate_visa_pvv(PVK, PAN, 10, "1234"), CryptoError, "PVKI must be 0 to 9"),
    (lambda: generate_visa_pvv(PVK, PAN, 1, "123"), PinLengthError, "PIN must be 4 to 12 digits"),
    (lambda: generate_visa_pvv(PVK, "12345", 1, "1234"), CryptoError,
     "PAN must be 12 to 19 digits"),
    (lambda: verify_visa_pvv(PVK, PAN, 1, "1234", "12"), CryptoError, "PVV must be 4 digits"),
    (lambda: generate_ibm3624_natural_pin(PVK, "11223344", TABLE, 4), CryptoError,
     "validation data must be 16 hexadecimal characters"),
    (lambda: generate_ibm3624_natural_pin(PVK, VD, "123456789012345A", 4), CryptoError,
     "decimalisation table must be 16 digits"),
    (lambda: generate_ibm3624_natural_pin(PVK, VD, TABLE, 3), CryptoError,
     "check length must be 4 to 12"),
    (lambda: generate_ibm3624_offset(PVK, "12345", VD, TABLE, 6), CryptoError,
     "PIN is shorter than the check length"),
    (lambda: verify_ibm3624_offset(PVK, "1234", VD, TABLE, "12a4"), CryptoError,
     "offset must be 4 to 12 digits"),
    (lambda: generate_cvv(PVK[:8], PAN, "2512", "101"), KeyLengthError, "CVK must be 16 bytes"),
    (lambda: generate_cvv(PVK, PAN, "251", "101"), CryptoError, "expiry must be 4 digits"),
    (lambda: generate_cvv(PVK, PAN, "2512", "1010"), CryptoError,
     "service code must be 3 digits"),
    (lambda: verify_cvv(PVK, PAN, "2512", "101", "1234"), CryptoError, "CVV must be 3 digits"),
]
# fmt: on


@pytest.mark.parametrize(("call", "error", "message"), PIN_EXCEPTION_CASES)
def test_pin_exception(call: Any, error: type[Exception], message: str) -> None:
    with pytest.raises(error) as e:
        call()
    assert str(e.value) == message


digits = st.text("0123456789", min_size=1, max_size=1)
keys16 = st.binary(min_size=16, max_size=16).filter(lambda k: k[:8] != k[8:])


@given(pvk=keys16, pan=st.text("0123456789", min_size=13, max_size=19),
       pvki=st.integers(0, 9), pin=st.text("0123456789", min_size=4, max_size=4))
def test_pvv_matches_psec(pvk: bytes, pan: str, pvki: int, pin: str) -> None:
    assert generate_visa_pvv(pvk, pan, pvki, pin) == psec.pin.generate_visa_pvv(
        pvk, str(pvki), pin, pan
    )


@given(pvk=keys16, vd=st.text("0123456789", min_size=16, max_size=16),  # psec: digits only
       table=st.text("0123456789", min_size=16, max_size=16),
       pin=st.text("0123456789", min_size=4, max_size=12))
def test_ibm3624_matches_psec(pvk: bytes, vd: str, table: str, pin: str) -> None:
    offset = generate_ibm3624_offset(pvk, pin, vd, table, len(pin))
    assert offset == psec.pin.generate_ibm3624_offset(pvk, table, pin, vd, 0, 16, "F")
    assert derive_ibm3624_pin(pvk, vd, table, offset) == pin
    natural = generate_ibm3624_natural_pin(pvk, vd, table, len(pin))
    assert natural == psec.pin.generate_ibm3624_pin(pvk, table, "0" * len(pin), vd, 0, 16, "F")


@given(cvk=keys16, pan=st.text("0123456789", min_size=12, max_size=19),
       expiry=st.text("0123456789", min_size=4, max_size=4),
       sc=st.text("0123456789", min_size=3, max_size=3))
def test_cvv_matches_psec(cvk: bytes, pan: str, expiry: str, sc: str) -> None:
    ours = generate_cvv(cvk, pan, expiry, sc)
    theirs = psec.cvv.generate_cvv(cvk, pan, expiry, sc)
    # psec only takes decimal nibbles; the letter fallback (A-F minus 10) is rarely needed
    assert ours == theirs or len(theirs) < 3
