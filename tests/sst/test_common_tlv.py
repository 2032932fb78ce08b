"""sst.common.tlv: BER-TLV vectors, nesting, errors, round-trip and fuzzing."""

from __future__ import annotations

import pickle

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sst.common.tlv import Tlv, TlvError, decode_tlv, encode_tlv, find, tag_bytes, to_dict


# fmt: off
@pytest.mark.parametrize(("hex_in", "tag", "value"), [
    ("9F02060000000100 00", 0x9F02, "000000010000"),
    ("5A084761739001010010", 0x5A, "4761739001010010"),
    ("5F2A020156", 0x5F2A, "0156"),
    ("9F1F00", 0x9F1F, ""),
    ("DF810102ABCD", 0xDF8101, "ABCD"),  # three-byte tag
])
def test_primitive_vectors(hex_in: str, tag: int, value: str) -> None:
    raw = bytes.fromhex(hex_in.replace(" ", ""))
    (t,) = decode_tlv(raw)
    assert (t.tag, t.value.hex().upper(), t.children) == (tag, value, None)
    assert encode_tlv([t]) == raw
# fmt: on


def test_long_form_lengths() -> None:
    value = bytes(range(200))
    raw = encode_tlv([Tlv(0x9F10, value)])
    assert raw[:4] == bytes.fromhex("9F1081C8")
    assert decode_tlv(raw)[0].value == value
    big = encode_tlv([Tlv(0x71, children=(Tlv(0x86, bytes(300)),))])
    assert big[:8] == bytes.fromhex("71820130" "8682012C")  # 0x130 = 304 = 4-byte header + 300
    assert decode_tlv(bytes.fromhex("5F2081034142 43".replace(" ", "")))[0].value == b"ABC"


def test_nested_templates_find_and_to_dict() -> None:
    raw = bytes.fromhex("7011" "5A084761739001010010" "A105" "9F36020001")
    (outer,) = decode_tlv(raw)
    assert outer.tag == 0x70 and outer.children is not None
    assert [c.tag for c in outer.children] == [0x5A, 0xA1]
    assert find([outer], 0x9F36) == Tlv(0x9F36, b"\x00\x01")
    assert to_dict([outer]) == {0x5A: bytes.fromhex("4761739001010010"), 0x9F36: b"\x00\x01"}
    assert encode_tlv([outer]) == raw
    assert Tlv(0x70, children=outer.children) == outer
    assert find([outer], 0x9F27) is None


def test_repr_hides_values() -> None:
    t = decode_tlv(bytes.fromhex("5A084761739001010010"))
    assert "4761739001010010" not in repr(t)
    assert repr(t) == "[Tlv(tag=0x5A, len=8)]"


def test_padding_zero_bytes_are_skipped() -> None:
    assert decode_tlv(bytes.fromhex("00 9F36020001 0000".replace(" ", ""))) == [
        Tlv(0x9F36, b"\0\1")]


def test_mapping_input() -> None:
    assert encode_tlv({0x9F36: b"\x00\x01", 0x95: bytes(5)}) == bytes.fromhex(
        "9F3602000195050000000000")


# fmt: off
@pytest.mark.parametrize(("hex_in", "reason", "offset", "tag"), [
    ("9F", "tag runs past the end of data", 0, 0x9F),
    ("9F02", "length missing", 2, 0x9F02),
    ("9F020600", "value runs past the end of data", 0, 0x9F02),
    ("5A80", "indefinite length is not allowed", 1, 0x5A),
    ("5A85", "length field longer than 4 bytes", 1, 0x5A),
    ("5A8201", "length runs past the end of data", 1, 0x5A),
    ("9F8181818101", "tag longer than 4 bytes", 0, 0x9F818181),
    ("7003 9F3601", "value runs past the end of data", 2, 0x9F36),  # inside a template
])
def test_decode_errors_exception(hex_in: str, reason: str, offset: int, tag: int) -> None:
    with pytest.raises(TlvError) as e:
        decode_tlv(bytes.fromhex(hex_in.replace(" ", "")))
    assert (e.value.reason, e.value.offset, e.value.tag) == (reason, offset, tag)
    back = pickle.loads(pickle.dumps(e.value))
    assert (back.reason, back.offset, back.tag) == (reason, offset, tag)
# fmt: on


# fmt: off
@pytest.mark.parametrize(("tag", "reason"), [
    (0x9F, "tag 9F announces more tag bytes"),
    (0x5A5A, "tag 5A5A has extra bytes after a one-byte tag"),
    (0x9F0181, "tag 9F0181 has a bad continuation bit"),
    (0, "tag out of range"),
])
def test_bad_tags_exception(tag: int, reason: str) -> None:
    with pytest.raises(TlvError) as e:
        tag_bytes(tag)
    assert e.value.reason == reason
# fmt: on


def test_children_on_primitive_tag_exception() -> None:
    with pytest.raises(TlvError, match="children given for a primitive tag"):
        Tlv(0x5A, children=())


_PRIM_TAGS = st.sampled_from(
    [0x5A, 0x82, 0x95, 0x9A, 0x9C, 0x5F2A, 0x9F02, 0x9F10, 0x9F36, 0xDF8101])
_CONS_TAGS = st.sampled_from([0x70, 0x77, 0xA5, 0xBF0C, 0xE1])
_prim = st.builds(Tlv, _PRIM_TAGS, st.binary(max_size=300))
_tlv = st.recursive(
    _prim,
    lambda kids: st.builds(lambda t, c: Tlv(t, children=tuple(c)), _CONS_TAGS,
                           st.lists(kids, max_size=4)),
    max_leaves=12,
)


@settings(max_examples=200, deadline=None)
@given(st.lists(_tlv, max_size=5))
def test_round_trip_property(tlvs: list[Tlv]) -> None:
    raw = encode_tlv(tlvs)
    assert decode_tlv(raw) == tlvs
    assert encode_tlv(decode_tlv(raw)) == raw


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=200))
def test_arbitrary_bytes_raise_only_tlv_error(data: bytes) -> None:
    try:
        tlvs = decode_tlv(data)
    except TlvError:
        return
    encode_tlv(tlvs)  # whatever decodes re-encodes
