"""Key-block LMK (payShield 10K ``S`` keys): round trips, header fields, negatives."""

from __future__ import annotations

import psec.tr31
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hsm_sim.crypto import KeyBlockError, LmkError, MacVerificationError
from hsm_sim.crypto.keyblock_lmk import KeyBlockLmk
from hsm_sim.crypto.tr31 import unwrap_tr31

pytestmark = pytest.mark.filterwarnings("ignore:.*TripleDES")

TDES_KEY = bytes.fromhex("0123456789ABCDEFFEDCBA9876543210")
AES_KEY = bytes.fromhex("3F419E1CB7079442AA37474C2EFBF8B8")


def test_test_lmks_are_fixed() -> None:
    assert KeyBlockLmk.test() == KeyBlockLmk.test("1")
    assert KeyBlockLmk.test().version == "1"
    assert KeyBlockLmk.test("0").version == "0"
    assert len(KeyBlockLmk.test().kbpk) == 32
    assert KeyBlockLmk.test("0").check_value() == KeyBlockLmk.test("0").check_value()
    assert "kbpk" not in repr(KeyBlockLmk.test())
    with pytest.raises(LmkError):
        KeyBlockLmk.test("2")
    with pytest.raises(LmkError):
        KeyBlockLmk(kbpk=bytes(8))


@pytest.mark.parametrize(("version", "key", "algorithm"),
                         [("1", TDES_KEY, "T"), ("1", AES_KEY, "A"), ("0", TDES_KEY, "T")])
def test_wrap_unwrap(version: str, key: bytes, algorithm: str) -> None:
    lmk = KeyBlockLmk.test(version)
    field = lmk.wrap(key, usage="K0", algorithm=algorithm, mode_of_use="B", version="01",
                     exportability="E", optional_blocks=(("KV", "00604B120F9292800000"),))
    assert field[0] == "S"
    assert field[1] == version
    assert int(field[2:6]) == len(field) - 1
    header, got = lmk.unwrap(field)
    assert got == key
    assert (header.key_usage, header.algorithm, header.mode_of_use, header.key_version,
            header.exportability) == ("K0", algorithm, "B", "01", "E")
    assert header.optional_blocks == (("KV", "00604B120F9292800000"),)
    # the S prefix is optional on input
    assert lmk.unwrap(field[1:])[1] == key


def test_no_length_obfuscation() -> None:
    lmk = KeyBlockLmk.test()
    # 2 + 16 bytes of key data -> 32 bytes encrypted (64H), header 16, MAC 32H
    assert len(lmk.wrap(TDES_KEY, usage="P0", algorithm="T", mode_of_use="B")) == 1 + 16 + 64 + 32


def test_structure_is_tr31_b_and_d() -> None:
    """Version 0/1 blocks use the TR-31 B/D binding (psec as oracle for that binding)."""
    for version, tr31_version in (("0", "B"), ("1", "D")):
        lmk = KeyBlockLmk.test(version)
        block = lmk.wrap(TDES_KEY, usage="P0", algorithm="T", mode_of_use="B")[1:]
        # the version ID is MACed: relabelled as B/D the block must not verify
        with pytest.raises(psec.tr31.KeyBlockError):
            psec.tr31.unwrap(lmk.kbpk, tr31_version + block[1:])
        # the B/D binding itself matches psec
        kb = psec.tr31.wrap(lmk.kbpk, tr31_version + "0000P0TB00S0000", TDES_KEY,
                            masked_key_len=16)
        assert unwrap_tr31(lmk.kbpk, kb)[1] == TDES_KEY


@settings(max_examples=30, deadline=None)
@given(version=st.sampled_from("01"), key=st.sampled_from([16, 24]).flatmap(
    lambda n: st.binary(min_size=n, max_size=n)), usage=st.sampled_from(["P0", "K0", "B0", "M3"]))
def test_round_trip(version: str, key: bytes, usage: str) -> None:
    lmk = KeyBlockLmk.test(version)
    field = lmk.wrap(key, usage=usage, algorithm="T", mode_of_use="N")
    assert lmk.unwrap(field)[1] == key


def test_negatives() -> None:
    aes, tdes = KeyBlockLmk.test("1"), KeyBlockLmk.test("0")
    field = aes.wrap(TDES_KEY, usage="P0", algorithm="T", mode_of_use="B")
    with pytest.raises(KeyBlockError, match=r"^key block version does not match the LMK$"):
        tdes.unwrap(field)
    with pytest.raises(MacVerificationError) as e:
        KeyBlockLmk(kbpk=bytes(32)).unwrap(field)
    assert e.value.thales_error_code == "A4"
    tampered = field[:9] + ("E" if field[9] != "E" else "D") + field[10:]
    with pytest.raises(MacVerificationError):
        aes.unwrap(tampered)
    with pytest.raises(KeyBlockError, match=r"^an AES key needs an AES key-block LMK$"):
        tdes.wrap(AES_KEY, usage="P0", algorithm="A", mode_of_use="B")
    with pytest.raises(KeyBlockError, match=r"^invalid key usage$"):
        aes.wrap(TDES_KEY, usage="P", algorithm="T", mode_of_use="B")
    with pytest.raises(KeyBlockError, match=r"^key length does not match the algorithm$"):
        aes.wrap(bytes(8), usage="P0", algorithm="T", mode_of_use="B")
