"""ISO 8583 wire layer: golden bytes, pyiso8583's own spec, typed views and fuzzing."""

from __future__ import annotations

import contextlib
from dataclasses import replace

import iso8583
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from iso8583.specs import default_ascii

from host.iso8583 import codec
from host.iso8583.errors import DecodeError, FramingError, MessageError
from host.iso8583.framing import TwoByteLengthFramer
from host.iso8583.messages import Balance, FinancialRequest, FinancialResponse, format_balances
from host.iso8583.spec import DEFAULT_SPEC

REQ = FinancialRequest(
    pan="4761739001010010", processing_code="010000", amount=50000,
    transmission_datetime="1129120000", stan="000042", local_time="120000", local_date="1129",
    expiry="3012", pos_entry_mode="021", track2="4761739001010010=30121011123456700000",
    rrn="333412000042", terminal_id="ATM00001", merchant_id="SSTBANK00000001", currency="156",
    pin_block="0123456789ABCDEF")

def test_default_spec_is_pyiso8583_default_ascii() -> None:
    assert DEFAULT_SPEC == default_ascii  # noqa: SIM300 - both are names; ours reads first
    assert DEFAULT_SPEC is not default_ascii  # a copy: dialects override the copy


def test_request_encodes_exactly_like_pyiso8583() -> None:
    fields = REQ.to_fields()
    ours = codec.encode(fields)
    theirs, _ = iso8583.encode(dict(fields), default_ascii)
    assert ours == bytes(theirs)


def test_request_golden_bytes() -> None:
    raw = codec.encode(REQ.to_fields())
    assert raw[:4] == b"0200"
    bitmap = int(raw[4:20], 16)
    present = {i for i in range(1, 65) if bitmap & (1 << (64 - i))}
    assert present == {2, 3, 4, 7, 11, 12, 13, 14, 22, 35, 37, 41, 42, 49, 52}
    assert raw[20:38] == b"164761739001010010"  # LLVAR PAN
    assert raw.endswith(b"SSTBANK000000011560123456789ABCDEF")
    assert raw == (
        b"0200723C040028C09000" b"164761739001010010" b"010000" b"000000050000" b"1129120000"
        b"000042" b"120000" b"1129" b"3012" b"021" b"374761739001010010=30121011123456700000"
        b"333412000042" b"ATM00001" b"SSTBANK00000001" b"156" b"0123456789ABCDEF")


def test_typed_round_trip() -> None:
    assert FinancialRequest.from_fields(codec.decode(codec.encode(REQ.to_fields()))) == REQ
    resp = FinancialResponse.for_request(REQ, response_code="00", auth_code="123456",
                                         balances=(Balance(amount_type="02", amount=950000),))
    back = FinancialResponse.from_fields(codec.decode(codec.encode(resp.to_fields())))
    assert back.available_balance() == 950000 and back.approved and back.auth_code == "123456"


def test_repr_and_masked_dump_hide_secrets() -> None:
    text = repr(REQ) + repr(codec.masked_dump(REQ.to_fields()))
    assert "4761739001010010" not in text
    assert "0123456789ABCDEF" not in text
    assert "=3012" not in text
    assert "476173******0010" in text


# fmt: off
@pytest.mark.parametrize(("mutation", "field"), [
    ({"4": "00000000001X"}, "4"),
    ({"52": "XYZ"}, "52"),
    ({"41": "SHORT"}, "41"),
    ({"3": "01"}, "3"),
])
def test_typed_view_rejects_bad_fields_exception(mutation: dict[str, str], field: str) -> None:
    with pytest.raises(MessageError) as e:
        FinancialRequest.from_fields(REQ.to_fields() | mutation)
    assert e.value.field == field
# fmt: on


def test_missing_mandatory_field_exception() -> None:
    fields = REQ.to_fields()
    del fields["52"]
    with pytest.raises(MessageError, match="mandatory field missing"):
        FinancialRequest.from_fields(fields)


def test_balances_format() -> None:
    assert format_balances((Balance(amount=-5),)) == "0002156D000000000005"


def test_framer_drains_several_frames_from_one_read_and_waits_for_partial() -> None:
    f = TwoByteLengthFramer()
    f.receive_data(TwoByteLengthFramer.frame(b"AAAA") + TwoByteLengthFramer.frame(b"BB")[:3])
    assert f.next_frame() == b"AAAA"
    assert f.next_frame() is None
    f.receive_data(b"B")
    assert f.next_frame() == b"BB"


def test_framer_rejects_impossible_length_exception() -> None:
    f = TwoByteLengthFramer(max_length=100)
    f.receive_data(b"\xff\xff")
    with pytest.raises(FramingError):
        f.next_frame()


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_decode_arbitrary_bytes_raises_only_decode_error(data: bytes) -> None:
    with contextlib.suppress(DecodeError):
        codec.decode(data)


@settings(max_examples=100, deadline=None)
@given(
    pan=st.from_regex(r"\A[0-9]{13,19}\Z"),
    amount=st.integers(min_value=0, max_value=10**12 - 1),
    stan=st.from_regex(r"\A[0-9]{6}\Z"),
    pin_block=st.from_regex(r"\A[0-9A-F]{16}\Z"),
)
def test_request_round_trip_property(pan: str, amount: int, stan: str, pin_block: str) -> None:
    req = replace(REQ, pan=pan, amount=amount, stan=stan, pin_block=pin_block,
                  track2=pan + "=3012101")
    assert FinancialRequest.from_fields(codec.decode(codec.encode(req.to_fields()))) == req
