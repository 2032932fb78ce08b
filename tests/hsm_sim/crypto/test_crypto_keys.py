"""KCV, parity and TDES ECB against the vectors and psec."""

from __future__ import annotations

from typing import Any

import psec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from hsm_sim.crypto import (
    CryptoError,
    KeyLengthError,
    adjust_key_parity,
    kcv_aes_cmac,
    kcv_tdes,
    key_has_odd_parity,
    tdes_decrypt_ecb,
    tdes_encrypt_ecb,
)

Vectors = dict[str, list[dict[str, Any]]]

# psec is a test-only oracle on cryptography's deprecated TripleDES.
pytestmark = pytest.mark.filterwarnings("ignore:.*TripleDES")

# Number of vectors per kind in payment-crypto.json; a new vector makes test_vector_counts fail.
COUNTS = {"kcv_tdes": 3, "kcv_aes_cmac": 1}


def test_vector_counts(vectors: Vectors) -> None:
    assert {k: len(vectors[k]) for k in COUNTS} == COUNTS


@pytest.mark.parametrize("i", range(COUNTS["kcv_tdes"]))
def test_kcv_tdes(vectors: Vectors, i: int) -> None:
    v = vectors["kcv_tdes"][i]
    expected = v["expected"]["kcv"]
    kcv = kcv_tdes(bytes.fromhex(v["inputs"]["key"]), len(expected) // 2)
    assert kcv.hex().upper() == expected


@pytest.mark.parametrize("i", range(COUNTS["kcv_aes_cmac"]))
def test_kcv_aes_cmac(vectors: Vectors, i: int) -> None:
    v = vectors["kcv_aes_cmac"][i]
    expected = v["expected"]["kcv"]
    kcv = kcv_aes_cmac(bytes.fromhex(v["inputs"]["key"]), len(expected) // 2)
    assert kcv.hex().upper() == expected


# fmt: off
KEYS_EXCEPTION_CASES: list[tuple[Any, type[Exception], str]] = [
    (lambda: kcv_tdes(bytes(15)), KeyLengthError, "TDES key must be 8, 16 or 24 bytes"),
    (lambda: kcv_tdes(bytes(16), 9), CryptoError, "KCV length must be 1 to 8 bytes"),
    (lambda: kcv_aes_cmac(bytes(8)), KeyLengthError, "AES key must be 16, 24 or 32 bytes"),
    (lambda: kcv_aes_cmac(bytes(16), 0), CryptoError, "KCV length must be 1 to 16 bytes"),
    (lambda: tdes_encrypt_ecb(bytes(16), bytes(7)), CryptoError,
     "data length must be a multiple of 8 bytes"),
    (lambda: tdes_decrypt_ecb(bytes(17), bytes(8)), KeyLengthError,
     "TDES key must be 8, 16 or 24 bytes"),
]
# fmt: on


@pytest.mark.parametrize(("call", "error", "message"), KEYS_EXCEPTION_CASES)
def test_keys_exception(call: Any, error: type[Exception], message: str) -> None:
    with pytest.raises(error) as e:
        call()
    assert str(e.value) == message


def test_degenerate_keys_work() -> None:
    single = bytes.fromhex("0123456789ABCDEF")
    assert tdes_encrypt_ecb(single * 2, bytes(8)) == tdes_encrypt_ecb(single, bytes(8))
    assert tdes_encrypt_ecb(single * 3, bytes(8)) == tdes_encrypt_ecb(single, bytes(8))


keys = st.sampled_from([8, 16, 24]).flatmap(lambda n: st.binary(min_size=n, max_size=n))


@given(key=keys, data=st.binary(min_size=0, max_size=4).map(lambda b: b * 8))
def test_tdes_matches_psec(key: bytes, data: bytes) -> None:
    key = adjust_key_parity(key)
    enc = tdes_encrypt_ecb(key, data)
    try:
        expected = psec.des.encrypt_tdes_ecb(key, data)
    except ValueError:  # cryptography refuses some degenerate keys
        expected = enc
    assert enc == expected
    assert tdes_decrypt_ecb(key, enc) == data


@given(key=keys)
def test_kcv_and_parity_match_psec(key: bytes) -> None:
    adjusted = adjust_key_parity(key)
    assert adjusted == psec.des.adjust_key_parity(key)
    assert key_has_odd_parity(adjusted)
    assert key_has_odd_parity(key) == (key == adjusted)
    try:
        expected = psec.des.generate_kcv(adjusted, 3)
    except ValueError:
        return
    assert kcv_tdes(adjusted) == expected
