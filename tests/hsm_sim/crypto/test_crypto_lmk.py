"""The Thales variant LMK against the test-LMK vectors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hsm_sim.crypto import (
    CryptoError,
    KeyLengthError,
    KeyScheme,
    KeySchemeError,
    KeyTypeError,
    LmkError,
    PinLengthError,
    PinUnderLmkError,
    VariantLmk,
    kcv_tdes,
    parse_key_type,
)

Vectors = dict[str, list[dict[str, Any]]]

COUNTS = {"thales_test_lmk_key": 5}
LMK = VariantLmk.test()


def test_vector_counts(vectors: Vectors) -> None:
    assert {k: len(vectors[k]) for k in COUNTS} == COUNTS


@pytest.mark.parametrize("i", range(COUNTS["thales_test_lmk_key"]))
def test_thales_test_lmk_key(vectors: Vectors, i: int) -> None:
    v = vectors["thales_test_lmk_key"][i]
    inp, exp = v["inputs"], v["expected"]
    kt = parse_key_type(inp["key_type"])
    assert kt.lmk_pair == inp["lmk_pair"]
    field = inp["key_under_lmk"]
    clear = LMK.decrypt_key(inp["key_type"], field)
    assert clear.hex().upper() == exp["clear_key"]
    scheme = field[0] if len(field) % 16 else "Z"
    assert LMK.encrypt_key(inp["key_type"], clear, scheme) == field


def test_repr_hides_lmk() -> None:
    assert repr(LMK) == "VariantLmk()"


def test_from_file_toml_and_json(tmp_path: Path) -> None:
    pairs = [p.hex().upper() for p in LMK.pairs]
    names = [f"{2 * i:02d}-{2 * i + 1:02d}" for i in range(20)]
    toml = tmp_path / "lmk.toml"
    lines = "".join(f'"{n}" = "{p}"\n' for n, p in zip(names, pairs, strict=True))
    toml.write_text("[pairs]\n" + lines)
    js = tmp_path / "lmk.json"
    js.write_text(json.dumps({"pairs": pairs}))
    assert VariantLmk.from_file(toml) == LMK == VariantLmk.from_file(js)
    assert VariantLmk.from_file(js).check_value() == LMK.check_value()


@given(key=st.binary(min_size=16, max_size=16),
       kt=st.sampled_from(["000", "001", "002", "003", "008", "009", "00A", "00B", "402",
                           "109", "209", "309", "70D", "80E"]),
       scheme=st.sampled_from(["U", "X"]))
def test_key_round_trip(key: bytes, kt: str, scheme: str) -> None:
    field = LMK.encrypt_key(kt, key, scheme)
    assert field[0] == scheme and len(field) == 33
    assert LMK.decrypt_key(kt, field) == key


def test_schemes_and_variants_differ() -> None:
    key = bytes.fromhex("0123456789ABCDEFFEDCBA9876543210")
    fields = {LMK.encrypt_key(kt, key, s)[1:] for kt in ("002", "402") for s in ("U", "X")}
    assert len(fields) == 4
    triple = key + key[:8]
    assert LMK.decrypt_key("001", LMK.encrypt_key("001", triple, KeyScheme.TRIPLE_X917)) == triple
    assert LMK.decrypt_key("001", LMK.encrypt_key("001", key, "X")[1:]) == key  # unprefixed 32H
    assert kcv_tdes(LMK.decrypt_key("001", LMK.encrypt_key("001", triple, "T"))) == kcv_tdes(triple)


@given(pin=st.text("0123456789", min_size=4, max_size=12),
       account=st.text("0123456789", min_size=12, max_size=12))
def test_pin_under_lmk_round_trip(pin: str, account: str) -> None:
    enc = LMK.encrypt_pin(pin, account)
    assert len(enc) == len(pin) + 1 and enc.isdigit()
    assert LMK.decrypt_pin(enc, account) == pin


def test_pin_under_lmk_detects_wrong_account() -> None:
    enc = LMK.encrypt_pin("1234", "401234567890")
    wrong = sum(1 for a in range(100) if _fails(enc, f"4012345678{a:02d}"))
    assert wrong >= 80  # the keyed check digit catches ~90% of mismatches


def _fails(enc: str, account: str) -> bool:
    try:
        LMK.decrypt_pin(enc, account)
    except PinUnderLmkError:
        return True
    return False


KEY = bytes(16)


# fmt: off
LMK_EXCEPTION_CASES: list[tuple[Any, type[Exception], str]] = [
    (lambda: parse_key_type("0F1"), KeyTypeError, "invalid key type code"),
    (lambda: parse_key_type("A01"), KeyTypeError, "invalid key type code"),
    (lambda: parse_key_type("0001"), KeyTypeError, "invalid key type code"),
    (lambda: LMK.encrypt_key("001", KEY, "S"), KeySchemeError, "invalid key scheme"),
    (lambda: LMK.encrypt_key("001", KEY, "T"), KeyLengthError,
     "key length does not match the key scheme"),
    (lambda: LMK.decrypt_key("001", "S1234"), KeySchemeError,
     "key block keys need a key-block LMK"),
    (lambda: LMK.decrypt_key("001", "Q" + "0" * 32), KeySchemeError, "invalid key scheme"),
    (lambda: LMK.decrypt_key("001", "U" + "0" * 31), CryptoError, "invalid key field"),
    (lambda: LMK.decrypt_key("001", "0" * 20), CryptoError, "invalid key field"),
    (lambda: LMK.encrypt_pin("123", "401234567890"), PinLengthError,
     "PIN must be 4 to 12 digits"),
    (lambda: LMK.decrypt_pin("1234", "401234567890"), PinUnderLmkError,
     "invalid PIN under LMK"),
    (lambda: VariantLmk(pairs=(KEY,) * 19), LmkError, "an LMK set needs 20 pairs of 16 bytes"),
    (lambda: VariantLmk.from_hex(["00"] * 20), LmkError, "an LMK set needs 20 pairs of 16 bytes"),
    (lambda: VariantLmk.from_file("/nonexistent/lmk.toml"), LmkError,
     "cannot read the LMK file"),
]
# fmt: on


@pytest.mark.parametrize(("call", "error", "message"), LMK_EXCEPTION_CASES)
def test_lmk_exception(call: Any, error: type[Exception], message: str) -> None:
    with pytest.raises(error) as e:
        call()
    assert str(e.value) == message
