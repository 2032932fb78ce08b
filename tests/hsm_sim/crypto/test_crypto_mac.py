"""ISO 9797-1 MACs and CMACs against the vectors and psec / pyemv."""

from __future__ import annotations

from typing import Any

import psec
import pyemv
import pytest
from hypothesis import given
from hypothesis import strategies as st

from hsm_sim.crypto import CryptoError, KeyLengthError, kcv_tdes
from hsm_sim.crypto.mac import (
    generate_retail_mac,
    mac_aes_cmac,
    mac_iso9797_alg1,
    mac_iso9797_alg3,
    mac_tdes_cmac,
    pad_iso9797,
)

Vectors = dict[str, list[dict[str, Any]]]

# psec / pyemv are test-only oracles on cryptography's deprecated TripleDES.
pytestmark = pytest.mark.filterwarnings("ignore:.*TripleDES")

COUNTS = {
    "mac_iso9797_alg1_des": 1,
    "mac_iso9797_alg1_tdes": 1,
    "mac_iso9797_alg3": 1,
    "mac_psec_retail_generalized": 1,
    "mac_aes_cmac": 2,
    "mac_tdes_cmac": 2,
}


def _padding(text: str) -> int:
    return 2 if "method 2" in text else 1


def _data(inp: dict[str, str]) -> bytes:
    if "data_ascii" in inp:
        return inp["data_ascii"].encode("ascii")
    return bytes.fromhex(inp.get("data", inp.get("message", "")))


def test_vector_counts(vectors: Vectors) -> None:
    assert {k: len(vectors[k]) for k in COUNTS} == COUNTS


@pytest.mark.parametrize("i", range(COUNTS["mac_iso9797_alg1_des"]))
def test_mac_iso9797_alg1_des(vectors: Vectors, i: int) -> None:
    v = vectors["mac_iso9797_alg1_des"][i]
    inp, exp = v["inputs"], v["expected"]
    mac = mac_iso9797_alg1(bytes.fromhex(inp["key"]), _data(inp), padding=_padding(inp["padding"]))
    assert mac.hex().upper() == exp["mac"]


@pytest.mark.parametrize("i", range(COUNTS["mac_iso9797_alg1_tdes"]))
def test_mac_iso9797_alg1_tdes(vectors: Vectors, i: int) -> None:
    v = vectors["mac_iso9797_alg1_tdes"][i]
    inp = v["inputs"]
    mac = mac_iso9797_alg1(bytes.fromhex(inp["key"]), _data(inp), padding=_padding(inp["padding"]))
    assert mac.hex().upper() == v["expected"]["mac"]


@pytest.mark.parametrize("i", range(COUNTS["mac_iso9797_alg3"]))
def test_mac_iso9797_alg3(vectors: Vectors, i: int) -> None:
    v = vectors["mac_iso9797_alg3"][i]
    inp = v["inputs"]
    mac = mac_iso9797_alg3(bytes.fromhex(inp["key"]), _data(inp), padding=_padding(inp["padding"]))
    assert mac[:4].hex().upper() == v["expected"]["mac_left4"]


@pytest.mark.parametrize("i", range(COUNTS["mac_psec_retail_generalized"]))
def test_mac_psec_retail_generalized(vectors: Vectors, i: int) -> None:
    v = vectors["mac_psec_retail_generalized"][i]
    inp = v["inputs"]
    mac = generate_retail_mac(bytes.fromhex(inp["key1"]), bytes.fromhex(inp["key2"]), _data(inp),
                              padding=_padding(inp["padding"]))
    assert mac.hex().upper() == v["expected"]["mac"]


@pytest.mark.parametrize("i", range(COUNTS["mac_aes_cmac"]))
def test_mac_aes_cmac(vectors: Vectors, i: int) -> None:
    v = vectors["mac_aes_cmac"][i]
    mac = mac_aes_cmac(bytes.fromhex(v["inputs"]["key"]), _data(v["inputs"]))
    assert mac.hex().upper() == v["expected"]["mac"]


@pytest.mark.parametrize("i", range(COUNTS["mac_tdes_cmac"]))
def test_mac_tdes_cmac(vectors: Vectors, i: int) -> None:
    v = vectors["mac_tdes_cmac"][i]
    mac = mac_tdes_cmac(bytes.fromhex(v["inputs"]["key"]), _data(v["inputs"]))
    assert mac.hex().upper() == v["expected"]["mac"]


# fmt: off
MAC_EXCEPTION_CASES: list[tuple[Any, type[Exception], str]] = [
    (lambda: pad_iso9797(b"", 3), CryptoError, "padding method must be 1 or 2"),
    (lambda: mac_iso9797_alg1(bytes(7), b""), KeyLengthError, "MAC key must be 8, 16 or 24 bytes"),
    (lambda: mac_iso9797_alg3(bytes(8), b""), KeyLengthError, "MAC key must be 16 bytes"),
    (lambda: mac_aes_cmac(bytes(8), b""), KeyLengthError, "AES key must be 16, 24 or 32 bytes"),
    (lambda: mac_tdes_cmac(bytes(9), b""), KeyLengthError, "TDES key must be 8, 16 or 24 bytes"),
]
# fmt: on


@pytest.mark.parametrize(("call", "error", "message"), MAC_EXCEPTION_CASES)
def test_mac_exception(call: Any, error: type[Exception], message: str) -> None:
    with pytest.raises(error) as e:
        call()
    assert str(e.value) == message


keys16 = st.binary(min_size=16, max_size=16).filter(lambda k: k[:8] != k[8:])
data = st.binary(max_size=40)
padding = st.sampled_from([1, 2])


@given(key=keys16, data=data, padding=padding)
def test_alg1_matches_psec(key: bytes, data: bytes, padding: int) -> None:
    expected = psec.mac.generate_cbc_mac(key, data, padding)
    assert mac_iso9797_alg1(key, data, padding=padding) == expected


@given(key=keys16, data=data, padding=padding)
def test_alg3_matches_psec_and_pyemv(key: bytes, data: bytes, padding: int) -> None:
    assert kcv_tdes(key)  # the key is usable
    ours = mac_iso9797_alg3(key, data, padding=padding)
    assert ours == psec.mac.generate_retail_mac(key[:8], key[8:], data, padding)
    assert ours == pyemv.mac.mac_iso9797_3(key[:8], key[8:], data, padding)
