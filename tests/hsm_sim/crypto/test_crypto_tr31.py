"""TR-31 / X9.143 key blocks: the vectors, round trips for A/B/C/D, psec as oracle, negatives."""

from __future__ import annotations

from typing import Any

import psec.tr31
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hsm_sim.crypto import KeyBlockError, MacVerificationError
from hsm_sim.crypto.tr31 import (
    KeyBlockVersion,
    Tr31Header,
    parse_tr31_header,
    unwrap_tr31,
    wrap_tr31,
)

Vectors = dict[str, list[dict[str, Any]]]

# psec is a test-only oracle on cryptography's deprecated TripleDES.
pytestmark = pytest.mark.filterwarnings("ignore:.*TripleDES")

COUNT = 6


def h(s: str) -> bytes:
    return bytes.fromhex(s)


def test_vector_count(vectors: Vectors) -> None:
    assert len(vectors["tr31_unwrap"]) == COUNT


@pytest.mark.parametrize("i", range(COUNT))
def test_unwrap_vector(vectors: Vectors, i: int) -> None:
    v = vectors["tr31_unwrap"][i]
    kbpk, block = h(v["inputs"]["kbpk"]), v["inputs"]["key_block"]
    header, key = unwrap_tr31(kbpk, block)
    assert key.hex().upper() == v["expected"]["key"]
    assert header.version == block[0]
    assert header.key_usage == block[5:7]
    # the header renders back to the same text (length field and padding block included)
    _, header_len = parse_tr31_header(block)
    assert header.render(key_data_chars=len(block) - header_len - 2 * {"D": 16, "B": 8}.get(
        block[0], 4)) == block[:header_len]
    # psec agrees
    assert psec.tr31.unwrap(kbpk, block)[1] == key


@pytest.mark.parametrize("i", range(COUNT))
def test_tampered_vector_fails_mac(vectors: Vectors, i: int) -> None:
    v = vectors["tr31_unwrap"][i]
    kbpk, block = h(v["inputs"]["kbpk"]), v["inputs"]["key_block"]
    flipped = block[:-1] + ("0" if block[-1] != "0" else "1")
    with pytest.raises(MacVerificationError) as e:
        unwrap_tr31(kbpk, flipped)
    assert str(e.value) == "key block MAC verification failed"
    assert e.value.thales_error_code == "A4"
    assert isinstance(e.value, KeyBlockError)
    # a changed header byte is caught too (mode of use E -> D etc.)
    mode = block[8]
    other = "N" if mode != "N" else "E"
    with pytest.raises(MacVerificationError):
        unwrap_tr31(kbpk, block[:8] + other + block[9:])


def test_wrap_reproduces_vector_with_fixed_pad(vectors: Vectors) -> None:
    v = vectors["tr31_unwrap"][0]
    kbpk, block = h(v["inputs"]["kbpk"]), v["inputs"]["key_block"]
    key = h(v["expected"]["key"])
    # pad recovered from the vector in the tr31 module doctest
    assert wrap_tr31(kbpk, block[:16], key, random_pad=h("720DF563BB07")) == block


# --- round trips -------------------------------------------------------------------------

tdes_keys = st.sampled_from([16, 24]).flatmap(lambda n: st.binary(min_size=n, max_size=n))
aes_keys = st.sampled_from([16, 24, 32]).flatmap(lambda n: st.binary(min_size=n, max_size=n))
block_ids = st.text("ABCDEFGHIJKLMNOQRSTUVWXYZ0123456789", min_size=2, max_size=2)
block_data = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=40)
opt_blocks = st.lists(st.tuples(block_ids, block_data), max_size=3).map(tuple)


def kbpks(version: str) -> st.SearchStrategy[bytes]:
    sizes = {"A": [8, 16, 24], "B": [16, 24], "C": [8, 16, 24], "D": [16, 24, 32]}[version]
    return st.sampled_from(sizes).flatmap(lambda n: st.binary(min_size=n, max_size=n))


@st.composite
def cases(draw: st.DrawFn) -> tuple[bytes, Tr31Header, bytes, int | None]:
    version = draw(st.sampled_from("ABCD"))
    kbpk = draw(kbpks(version))
    algorithm = draw(st.sampled_from("AT")) if version == "D" else "T"
    key = draw(aes_keys if algorithm == "A" else tdes_keys)
    header = Tr31Header(
        version=version,
        key_usage=draw(st.sampled_from(["P0", "K0", "B0", "D0", "M3", "V2", "C0", "12"])),
        algorithm=algorithm,
        mode_of_use=draw(st.sampled_from("BDENXCGV")),
        key_version=draw(st.sampled_from(["00", "01", "c1", "99"])),
        exportability=draw(st.sampled_from("ENS")),
        optional_blocks=draw(opt_blocks),
    )
    masked = draw(st.none() | st.integers(min_value=0, max_value=40))
    return kbpk, header, key, masked


@settings(max_examples=60, deadline=None)
@given(case=cases())
def test_round_trip_and_psec(case: tuple[bytes, Tr31Header, bytes, int | None]) -> None:
    kbpk, header, key, masked = case
    block = wrap_tr31(kbpk, header, key, masked_key_length=masked)
    size = 16 if header.version == "D" else 8
    assert len(block) % size == 0
    assert int(block[1:5]) == len(block)
    got_header, got_key = unwrap_tr31(kbpk, block)
    assert got_key == key
    assert got_header == header
    # differential: psec unwraps ours, we unwrap psec's
    assert psec.tr31.unwrap(kbpk, block)[1] == key
    header_text = block[: parse_tr31_header(block)[1]]
    theirs = psec.tr31.wrap(kbpk, header_text, key,
                            masked_key_len=masked if masked is not None else len(key))
    assert unwrap_tr31(kbpk, theirs)[1] == key


@pytest.mark.parametrize("version", "ABCD")
def test_masked_length_hides_key_length(version: str) -> None:
    masked = 32
    kbpk = bytes(range(1, 33))[: 32 if version == "D" else 16]
    key = bytes(range(16))
    plain = wrap_tr31(kbpk, f"{version}0000P0TE00N0000", key)
    hidden = wrap_tr31(kbpk, f"{version}0000P0TE00N0000", key, masked_key_length=masked)
    assert len(hidden) > len(plain)
    assert unwrap_tr31(kbpk, hidden)[1] == key


def test_extended_length_optional_block() -> None:
    data = "X" * 300
    header = Tr31Header(version=KeyBlockVersion.D, key_usage="P0", algorithm="A",
                        mode_of_use="E", exportability="N", optional_blocks=(("HM", data),))
    kbpk = bytes(range(32))
    block = wrap_tr31(kbpk, header, bytes(range(16)))
    assert block[16:26] == "HM00020136"
    got, _ = unwrap_tr31(kbpk, block)
    assert got.optional_blocks == (("HM", data),)
    assert psec.tr31.unwrap(kbpk, block)[0].blocks["HM"] == data


def test_padding_block_added_and_hidden() -> None:
    header = Tr31Header(version="B", key_usage="B0", algorithm="T", mode_of_use="X",
                        exportability="S", optional_blocks=(("KS", "00604B120F929280"),))
    block = wrap_tr31(bytes(range(16)), header, bytes(range(16)))
    assert block[12:14] == "02"
    assert "PB" in block[16:48]
    assert unwrap_tr31(bytes(range(16)), block)[0] == header


# --- negatives ---------------------------------------------------------------------------

KBPK16 = bytes(range(16))
GOOD = wrap_tr31(KBPK16, "B0000P0TE00N0000", bytes(range(16)))

# fmt: off
NEGATIVE_CASES: list[tuple[Any, str]] = [
    (lambda: unwrap_tr31(KBPK16, "B0096P0TE"), "key block header must be at least 16 printable "
     "ASCII characters"),
    (lambda: unwrap_tr31(KBPK16, "X" + GOOD[1:]), "unsupported key block version"),
    (lambda: unwrap_tr31(KBPK16, GOOD[:1] + "0099" + GOOD[5:]),
     "key block length field does not match the data length"),
    (lambda: unwrap_tr31(KBPK16, GOOD[:-8]), "key block length field does not match the data "
     "length"),
    (lambda: unwrap_tr31(KBPK16, GOOD[:12] + "0A" + GOOD[14:]), "invalid number of optional "
     "blocks"),
    (lambda: unwrap_tr31(KBPK16, "B0022P0TE00N0100KSFF00"), "malformed optional block"),
    (lambda: unwrap_tr31(KBPK16, "B0022P0TE00N0100KS0000"), "malformed optional block"),
    (lambda: unwrap_tr31(KBPK16, GOOD[:-2] + "ZZ"), "key data and MAC must be hexadecimal"),
    (lambda: unwrap_tr31(KBPK16, "B0024P0TE00N000012345678"), "invalid key block length"),
    (lambda: unwrap_tr31(bytes(32), GOOD), "KBPK must be 16, 24 bytes for key block version B"),
    (lambda: unwrap_tr31(bytes(8), "D" + GOOD[1:]),
     "KBPK must be 16, 24, 32 bytes for key block version D"),
    (lambda: wrap_tr31(bytes(8), "D0000P0AE00N0000", bytes(16)),
     "KBPK must be 16, 24, 32 bytes for key block version D"),
    (lambda: wrap_tr31(KBPK16, "B0000P0TE00N0000", bytes(10)),
     "key length does not match the algorithm"),
    (lambda: wrap_tr31(KBPK16, "B0000P0TE00N0000", bytes(16), random_pad=bytes(3)),
     "padding must be 6 bytes"),
    (lambda: wrap_tr31(KBPK16, "B0000P TE00N0000", bytes(16)), "invalid key usage"),
    (lambda: Tr31Header(version="B", key_usage="P0", algorithm="T", mode_of_use="E",
                        exportability="N", optional_blocks=(("PB", "00"),)),
     "invalid optional block ID"),
    (lambda: Tr31Header(version="B", key_usage="P0", algorithm="T", mode_of_use="E",
                        exportability="N", optional_blocks=(("KS", "\x01"),)),
     "optional block data must be printable ASCII"),
]
# fmt: on


@pytest.mark.parametrize(("call", "message"), NEGATIVE_CASES)
def test_negative(call: Any, message: str) -> None:
    with pytest.raises(KeyBlockError) as e:
        call()
    assert str(e.value) == message
    assert e.value.thales_error_code == "83"


def test_wrong_kbpk_is_a_mac_failure() -> None:
    with pytest.raises(MacVerificationError):
        unwrap_tr31(bytes(range(1, 17)), GOOD)


def test_header_repr_and_errors_hold_no_key() -> None:
    key = bytes.fromhex("0123456789ABCDEFFEDCBA9876543210")
    block = wrap_tr31(KBPK16, "B0000P0TE00N0000", key)
    header, _ = unwrap_tr31(KBPK16, block)
    assert key.hex().upper() not in repr(header)
    with pytest.raises(MacVerificationError) as e:
        unwrap_tr31(bytes(range(2, 18)), block)
    assert block[16:] not in str(e.value)
