"""The BCD dialect: golden bytes against pyiso8583, field 55 helpers, spec catalogue data."""

from __future__ import annotations

import contextlib

import iso8583
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from iso8583.specs import default

from host.iso8583 import codec
from host.iso8583.errors import DecodeError, EncodeError
from host.iso8583.spec import (
    BCD_SPEC,
    DEFAULT_SPEC,
    FIELDS,
    RESPONSE_CODES,
    SPECS,
    TRANSACTIONS,
    Presence,
    spec_name,
)
from sst.common.tlv import Tlv, decode_tlv

ICC = "9F02060000000500009F360200015F2A020156"
REQ = {
    "t": "0200", "2": "4761739001010010", "3": "010000", "4": "000000050000",
    "7": "1129120000", "11": "000042", "12": "120000", "13": "1129", "14": "3012",
    "22": "051", "23": "001", "35": "4761739001010010=30121011123456700000", "37": "333412000042",
    "41": "ATM00001", "42": "SSTBANK00000001", "49": "156", "52": "0123456789ABCDEF", "55": ICC,
}
GOLDEN = (
    "0200" "723C060028C09200"            # binary MTI and primary bitmap
    "16" "4761739001010010"              # BCD LLVAR PAN
    "010000" "000000050000" "1129120000" "000042" "120000" "1129" "3012"
    "0051" "0001"                        # n3 fields left-padded
    "37" "4761739001010010D30121011123456700000F"  # track 2, D separator, F pad
    + b"333412000042".hex() + b"ATM00001".hex()
    + b"SSTBANK00000001".hex() + "0156" + "0123456789ABCDEF"
    + "0019" + ICC                       # BCD LLL length, 19 binary bytes
)


def test_bcd_request_golden_bytes_match_pyiso8583() -> None:
    ours = codec.encode(REQ, "bcd")
    doc = dict(REQ) | {"35": REQ["35"].replace("=", "D")}
    theirs, _ = iso8583.encode(doc, BCD_SPEC)
    assert ours == bytes(theirs)
    assert ours.hex().upper() == GOLDEN.upper()
    assert codec.decode(ours, "bcd") == REQ


def test_bcd_spec_is_default_with_overrides() -> None:
    assert BCD_SPEC is not default and BCD_SPEC["p"] == default["p"]
    assert BCD_SPEC["64"] == default["64"]  # binary MAC untouched
    assert BCD_SPEC["41"]["data_enc"] == "ascii"
    assert BCD_SPEC["52"] == default["52"] | {"data_enc": "b", "max_len": 8, "len_type": 0}
    assert BCD_SPEC["55"]["len_enc"] == "bcd" and BCD_SPEC["55"]["len_type"] == 2
    assert SPECS["ascii"] is DEFAULT_SPEC and SPECS["bcd"] is BCD_SPEC
    assert spec_name(DEFAULT_SPEC) == "ascii" and spec_name({}) == "custom"


def test_network_message_both_dialects() -> None:
    f = {"t": "0800", "7": "1129120000", "11": "000001", "41": "ATM00001", "70": "301"}
    assert codec.decode(codec.encode(f, "ascii"), "ascii") == f
    assert codec.decode(codec.encode(f, BCD_SPEC), BCD_SPEC) == f
    assert codec.encode(f, "bcd")[:2] == b"\x08\x00"


def test_field_55_helpers_both_dialects() -> None:
    tlvs = decode_tlv(bytes.fromhex(ICC))
    assert codec.encode_field_55(tlvs) == ICC
    assert codec.decode_field_55(ICC, "ascii") == tlvs
    assert codec.decode_field_55(ICC, "bcd") == tlvs
    assert codec.decode_field_55(ICC.encode(), "ascii") == tlvs
    assert codec.decode_field_55(bytes.fromhex(ICC), "bcd") == tlvs
    for name in SPECS:
        wire = codec.encode({"t": "0200", "11": "000001", "55": codec.encode_field_55(tlvs)}, name)
        assert codec.decode_field_55(codec.decode(wire, name)["55"], name) == tlvs


# fmt: off
@pytest.mark.parametrize(("value", "spec", "reason"), [
    ("9F36", "ascii", "bad ICC data: length missing"),
    ("XYZ", "ascii", "field 55 is not hex text"),
    (b"\xff\xfe", "ascii", "field 55 is not hex text"),
    (bytes.fromhex("5A80"), "bcd", "bad ICC data: indefinite length is not allowed"),
    ("9F36020001", "ebcdic", "unknown spec 'ebcdic'"),
])
def test_field_55_errors_exception(value: str | bytes, spec: str, reason: str) -> None:
    with pytest.raises(DecodeError) as e:
        codec.decode_field_55(value, spec)
    assert e.value.reason == reason and e.value.field == "55"
# fmt: on


def test_unknown_spec_and_bad_values_exception() -> None:
    with pytest.raises(EncodeError, match="unknown spec 'x'"):
        codec.encode({"t": "0800"}, "x")
    with pytest.raises(EncodeError) as e:
        codec.encode({"t": "0800", "11": "00000X"}, "bcd")
    assert e.value.field == "11"


def test_masked_dump_omits_secrets_and_key_material() -> None:
    shown = codec.masked_dump(REQ | {"53": "FEDCBA9876543210"})
    assert shown["2"] == "476173******0010"
    assert not {"35", "52", "53", "55"} & set(shown)
    key_change = {"t": "0810", "11": "1", "39": "00", "48": "ABCDEF0123456789KCV123", "70": "161"}
    assert "48" not in codec.masked_dump(key_change)


def test_catalogue_covers_the_interface() -> None:
    assert set(TRANSACTIONS) == {"01", "31", "40", "92", "38", "21", "00", "20"}
    assert {"00", "03", "05", "12", "13", "14", "30", "51", "52", "53", "55", "57", "59", "61",
            "62", "63", "65", "75", "91", "94", "96", "1A"} == set(RESPONSE_CODES)
    for t in TRANSACTIONS.values():
        for f in t.request_fields:
            assert f in FIELDS and FIELDS[f].usage.get(t.mti) is not None, (t.code, f)
    for info in FIELDS.values():
        assert info.number in DEFAULT_SPEC and info.number in BCD_SPEC
        assert all(isinstance(p, Presence) for p in info.usage.values())


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=200))
def test_bcd_decode_arbitrary_bytes_raises_only_decode_error(data: bytes) -> None:
    with contextlib.suppress(DecodeError):
        codec.decode(data, "bcd")


@settings(max_examples=100, deadline=None)
@given(
    pan=st.from_regex(r"\A[0-9]{13,19}\Z"),
    amount=st.integers(min_value=0, max_value=10**12 - 1),
    stan=st.from_regex(r"\A[0-9]{6}\Z"),
    icc=st.lists(st.builds(Tlv, st.sampled_from([0x9F02, 0x9F36, 0x95, 0x5F2A]),
                           st.binary(max_size=20)), max_size=5),
)
def test_bcd_round_trip_property(pan: str, amount: int, stan: str, icc: list[Tlv]) -> None:
    f = REQ | {"2": pan, "4": f"{amount:012d}", "11": stan, "35": pan + "=3012101",
               "55": codec.encode_field_55(icc)}
    if not f["55"]:
        del f["55"]
    for name in SPECS:
        assert codec.decode(codec.encode(f, name), name) == f
