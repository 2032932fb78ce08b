"""TDES and AES DUKPT against the X9.24 vectors."""

from __future__ import annotations

from typing import Any

import pytest

from hsm_sim.crypto import CryptoError, KeyLengthError, kcv_tdes, tdes_encrypt_ecb
from hsm_sim.crypto import _primitives as _p
from hsm_sim.crypto.dukpt_aes import (
    AesDukptKeyType,
    AesDukptKeyUsage,
    derive_initial_key_aes,
    derive_transaction_key_aes,
    derive_working_key_aes,
)
from hsm_sim.crypto.dukpt_tdes import (
    TdesDukptKeyUsage,
    derive_ipek_tdes,
    derive_transaction_key_tdes,
    derive_working_key_tdes,
)
from hsm_sim.crypto.mac import mac_iso9797_alg3

Vectors = dict[str, list[dict[str, Any]]]

COUNTS = {
    "dukpt_tdes_ipek": 1,
    "dukpt_tdes_transaction": 17,
    "dukpt_tdes_data_encryption": 7,
    "dukpt_aes_ik": 1,
    "dukpt_aes_transaction": 15,
}


def h(s: str) -> bytes:
    return bytes.fromhex(s)


def test_vector_counts(vectors: Vectors) -> None:
    assert {k: len(vectors[k]) for k in COUNTS} == COUNTS


@pytest.mark.parametrize("i", range(COUNTS["dukpt_tdes_ipek"]))
def test_dukpt_tdes_ipek(vectors: Vectors, i: int) -> None:
    v = vectors["dukpt_tdes_ipek"][i]
    ipek = derive_ipek_tdes(h(v["inputs"]["bdk"]), h(v["inputs"]["ksn"]))
    assert ipek.hex().upper() == v["expected"]["ipek"]
    assert kcv_tdes(ipek).hex().upper() == "AF8C07"


def _encrypt_data(key: bytes, plain: bytes) -> bytes:
    return _p.tdes_encrypt_cbc(key, bytes(8), plain)


@pytest.mark.parametrize("i", range(COUNTS["dukpt_tdes_transaction"]))
def test_dukpt_tdes_transaction(vectors: Vectors, i: int) -> None:
    v = vectors["dukpt_tdes_transaction"][i]
    inp, exp = v["inputs"], v["expected"]
    tk = derive_transaction_key_tdes(h(inp["bdk"]), h(inp["ksn"]))
    assert tk.hex().upper() == exp["transaction_key"]
    pin_key = derive_working_key_tdes(tk, TdesDukptKeyUsage.PIN)
    assert tdes_encrypt_ecb(pin_key, h(inp["clear_pinblock"])).hex().upper() == exp[
        "encrypted_pinblock"
    ]
    data = inp["mac_data_ascii"].encode("ascii")
    for usage, name in ((TdesDukptKeyUsage.MAC_REQUEST, "mac_request"),
                        (TdesDukptKeyUsage.MAC_RESPONSE, "mac_response")):
        mac = mac_iso9797_alg3(derive_working_key_tdes(tk, usage), data, padding=1)
        assert mac[:4].hex().upper() == exp[name]
    if "encrypted_request_data" in exp:
        key = derive_working_key_tdes(tk, TdesDukptKeyUsage.DATA_REQUEST)
        enc = _encrypt_data(key, h(inp["data_plain_hex"]))
        assert enc.hex().upper() == exp["encrypted_request_data"]


@pytest.mark.parametrize("i", range(COUNTS["dukpt_tdes_data_encryption"]))
def test_dukpt_tdes_data_encryption(vectors: Vectors, i: int) -> None:
    v = vectors["dukpt_tdes_data_encryption"][i]
    inp = v["inputs"]
    tk = derive_transaction_key_tdes(h(inp["bdk"]), h(inp["ksn"]))
    key = derive_working_key_tdes(tk, TdesDukptKeyUsage.DATA_REQUEST)
    enc = _p.tdes_encrypt_cbc(key, h(inp["iv"]), h(inp["data_plain_hex"]))
    assert enc.hex().upper() == v["expected"]["encrypted_request_data"]


def test_data_key_without_owf_is_plain_variant() -> None:
    tk = h("042666B49184CFA368DE9628D0397BC9")
    plain = derive_working_key_tdes(tk, TdesDukptKeyUsage.DATA_RESPONSE, data_key_owf=False)
    assert plain == _p.xor(tk, h(TdesDukptKeyUsage.DATA_RESPONSE.value))
    assert plain != derive_working_key_tdes(tk, TdesDukptKeyUsage.DATA_RESPONSE)


@pytest.mark.parametrize("i", range(COUNTS["dukpt_aes_ik"]))
def test_dukpt_aes_ik(vectors: Vectors, i: int) -> None:
    v = vectors["dukpt_aes_ik"][i]
    ik = derive_initial_key_aes(h(v["inputs"]["bdk"]), h(v["inputs"]["initial_key_id"]))
    assert ik.hex().upper() == v["expected"]["initial_key"]


_WORKING = {
    "pin_key": AesDukptKeyUsage.PIN_ENCRYPTION,
    "mac_gen_key": AesDukptKeyUsage.MAC_GENERATION,
    "data_encrypt_key": AesDukptKeyUsage.DATA_ENCRYPTION_ENCRYPT,
}
_TYPES = {"aes128": AesDukptKeyType.AES128, "aes256": AesDukptKeyType.AES256}


@pytest.mark.parametrize("i", range(COUNTS["dukpt_aes_transaction"]))
def test_dukpt_aes_transaction(vectors: Vectors, i: int) -> None:
    v = vectors["dukpt_aes_transaction"][i]
    inp, exp = v["inputs"], v["expected"]
    ksn = h(inp["ksn"])
    tk = derive_transaction_key_aes(h(inp["bdk"]), ksn)
    assert tk.hex().upper() == exp["transaction_key"]
    for name, value in exp.items():
        prefix, _, alg = name.rpartition("_")
        if prefix in _WORKING:
            key = derive_working_key_aes(tk, ksn, _WORKING[prefix], _TYPES[alg])
            assert key.hex().upper() == value, name
    if "encrypted_pinblock" in exp:
        pin_key = derive_working_key_aes(tk, ksn, AesDukptKeyUsage.PIN_ENCRYPTION,
                                         AesDukptKeyType.AES128)
        inner = _p.aes_encrypt_ecb(pin_key, h(inp["pin_field"]))
        block = _p.aes_encrypt_ecb(pin_key, _p.xor(inner, h(inp["pan_field"])))
        assert block.hex().upper() == exp["encrypted_pinblock"]


def test_aes_working_key_types() -> None:
    bdk = h("FEDCBA9876543210F1F1F1F1F1F1F1F1FEDCBA9876543210F1F1F1F1F1F1F1F1")
    ksn = h("123456789012345600000002")
    tk = derive_transaction_key_aes(bdk, ksn)
    sizes = {t: len(derive_working_key_aes(tk, ksn, AesDukptKeyUsage.DATA_ENCRYPTION_BOTH_WAYS, t))
             for t in AesDukptKeyType}
    assert sizes == {AesDukptKeyType.TDEA2: 16, AesDukptKeyType.TDEA3: 24,
                     AesDukptKeyType.AES128: 16, AesDukptKeyType.AES192: 24,
                     AesDukptKeyType.AES256: 32}


# fmt: off
DUKPT_EXCEPTION_CASES: list[tuple[Any, type[Exception], str]] = [
    (lambda: derive_ipek_tdes(bytes(8), bytes(10)), KeyLengthError, "BDK must be 16 bytes"),
    (lambda: derive_ipek_tdes(bytes(16), bytes(8)), CryptoError, "KSN must be 10 bytes"),
    (lambda: derive_initial_key_aes(bytes(8), bytes(8)), KeyLengthError,
     "BDK must be 16, 24 or 32 bytes"),
    (lambda: derive_initial_key_aes(bytes(16), bytes(4)), CryptoError,
     "initial key ID must be 8 bytes"),
    (lambda: derive_transaction_key_aes(bytes(16), bytes(10)), CryptoError,
     "KSN must be 12 bytes"),
    (lambda: derive_working_key_aes(bytes(16), bytes(12), AesDukptKeyUsage.PIN_ENCRYPTION,
                                    AesDukptKeyType.AES256), KeyLengthError,
     "working key is longer than the transaction key"),
]
# fmt: on


@pytest.mark.parametrize(("call", "error", "message"), DUKPT_EXCEPTION_CASES)
def test_dukpt_exception(call: Any, error: type[Exception], message: str) -> None:
    with pytest.raises(error) as e:
        call()
    assert str(e.value) == message
