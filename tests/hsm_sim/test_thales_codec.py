"""Sans-io codec: framing, layouts, round trips and fuzzing (arbitrary bytes -> typed errors)."""

from __future__ import annotations

import itertools
import pickle
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hsm_sim.crypto.lmk import VariantLmk
from hsm_sim.soft_hsm import SoftHsm
from hsm_sim.thales import codec as c


def test_thales_frame_vector(hsm_vectors: Any) -> None:
    v = hsm_vectors("thales_frame")[0]
    req = bytes.fromhex(v["inputs"]["request_hex"])
    resp = bytes.fromhex(v["inputs"]["response_hex"])
    f = c.Framer(header_length=len(v["inputs"]["header"]))
    f.receive_data(req + resp)  # two frames in one read
    a, b = f.next_frame(), f.next_frame()
    assert f.next_frame() is None
    assert a == c.Frame(header=b"SSSS", body=b"NC")
    assert b is not None and b.body[:4] == b"ND00"
    assert int.from_bytes(resp[:2], "big") == v["expected"]["response_len"]
    assert c.encode_frame(a.header, a.body) == req
    response, trailer = c.decode_response(b.body, command="NC")
    assert response.error_code == v["expected"]["error_code"] and trailer is None
    assert len(response.lmk_check) == 16 and len(response.firmware) == 9


def test_framer_byte_by_byte() -> None:
    data = c.encode_frame(b"HEAD", b"NC") + c.encode_frame(b"HEAD", b"B20003abc")
    f = c.Framer()
    frames = []
    for i in range(len(data)):
        f.receive_data(data[i : i + 1])
        while (x := f.next_frame()) is not None:
            frames.append(x)
    assert [x.body for x in frames] == [b"NC", b"B20003abc"]
    assert f.buffered == 0


def test_framer_short_frame_and_zero_header() -> None:
    f = c.Framer(header_length=4)
    f.receive_data(b"\x00\x02AB")
    assert f.next_frame() == c.Frame(header=b"AB", body=b"")
    f0 = c.Framer(header_length=0)
    f0.receive_data(b"\x00\x02NC")
    assert f0.next_frame() == c.Frame(header=b"", body=b"NC")
    with pytest.raises(ValueError, match="header_length must be 0 to 255"):
        c.Framer(header_length=-1)


def test_response_code_rule() -> None:
    for code in c.KNOWN_COMMANDS:
        rc = c.response_code(code)
        assert rc[0] == code[0]
        assert ord(rc[1]) == ord(code[1]) + 1
    assert c.response_code("NO") == "NP"


def test_layouts_match_dataclasses() -> None:
    for code, layout in c.LAYOUTS.items():
        assert code == layout.request_cls.CODE
        assert c.response_code(code) == layout.response_cls.CODE


# fmt: off
ROUND_TRIPS = [
    c.NcRequest(),
    c.NoRequest(mode="00"),
    c.B2Request(data=b"\x00\x19binary;%"),
    c.A0Request(mode="0", key_type="002", key_scheme_lmk="U"),
    c.A0Request(mode="1", key_type="001", key_scheme_lmk="U", zmk_flag="0", zmk="U" + "1" * 32,
                key_scheme_zmk="X"),
    c.A6Request(key_type="001", zmk="U" + "A" * 32, key_zmk="X" + "B" * 32, key_scheme_lmk="U"),
    c.A8Request(key_type="001", zmk="U" + "A" * 32, key_lmk="U" + "B" * 32, key_scheme_zmk="X"),
    c.BuRequest(key_type_code="FF", key_length_flag="1", key="U" + "C" * 32, key_type="402",
                reserved_1="0", reserved_2="0", kcv_type="1"),
    c.FaRequest(zmk="U" + "1" * 32, zpk_zmk="X" + "2" * 32, reserved="0", key_scheme_lmk="U",
                kcv_type="1"),
    c.GcRequest(zmk="U" + "1" * 32, zpk_lmk="0123456789ABCDEF"),
    c.HcRequest(current_key="U" + "1" * 32, key_scheme_tmk="X", key_scheme_lmk="U", reserved="0"),
    c.IaRequest(zmk="U" + "1" * 32, key_scheme_zmk="X", key_scheme_lmk="U", kcv_type="1"),
    c.CaRequest(tpk="U" + "1" * 32, zpk="0123456789ABCDEF", max_pin_length="12",
                pin_block="0" * 16, source_format="01", destination_format="01",
                account="401234567890"),
    c.CcRequest(source_zpk="T" + "1" * 48, destination_zpk="U" + "2" * 32, max_pin_length="12",
                pin_block="0" * 16, source_format="01", destination_format="47",
                account="401234567890"),
    c.CiRequest(bdk="U" + "1" * 32, zpk="U" + "2" * 32, ksn_descriptor="A05",
                ksn="FFFF9876543210E00001", pin_block="1" * 16, destination_format="01",
                account="401234567890"),
    c.JcRequest(tpk="U" + "1" * 32, pin_block="1" * 16, format="01", account="401234567890"),
    c.JgRequest(zpk="U" + "1" * 32, format="01", account="401234567890", pin_lmk="12345"),
    c.DaRequest(tpk="U" + "1" * 32, pvk="U" + "2" * 32, max_pin_length="12", pin_block="1" * 16,
                format="01", check_length="04", account="401234567890",
                decimalization_table="0123456789012345", pin_validation_data="12345678901N",
                offset="1234FFFFFFFF"),
    c.DcRequest(tpk="U" + "1" * 32, pvk="2" * 32, pin_block="1" * 16, format="01",
                account="401234567890", pvki="1", pvv="1234"),
    c.DeRequest(pvk="U" + "1" * 32, pin_lmk="123456", check_length="04", account="401234567890",
                decimalization_table="0123456789012345", pin_validation_data="12345678901N"),
    c.DgRequest(pvk="U" + "1" * 32, pin_lmk="1234567", account="401234567890", pvki="1"),
    c.CwRequest(cvk="U" + "1" * 32, pan="4123456789012345", expiry="8701", service_code="101"),
    c.CyRequest(cvk="1" * 32, cvv="561", pan="4123456789012", expiry="8701", service_code="101"),
    c.M6Request(mode="0", input_format="0", mac_size="0", mac_algorithm="3", padding="1",
                key_type="003", key="U" + "1" * 32, message=b"\x19;\x00"),
    c.M8Request(mode="2", input_format="0", mac_size="1", mac_algorithm="3", padding="1",
                key_type="003", key="U" + "1" * 32, iv="0" * 16, message=b"abc", mac="A" * 16),
    c.KqRequest(mode="1", scheme="0", mk_ac="U" + "1" * 32, pan_psn=b"\x19" * 8, atc=b";;",
                un=b"\x00\x19;%", data=b"\x19;", arqc=b"\x00" * 8, arc=b"00"),
]
# fmt: on


@pytest.mark.parametrize("command", ROUND_TRIPS, ids=lambda x: type(x).CODE)
def test_request_round_trip(command: Any) -> None:
    body = c.encode_request(command, b"TR")
    decoded = c.decode_request(body)
    assert decoded.command == command
    assert decoded.trailer == b"TR"
    assert c.decode_request(c.encode_request(command) + b"%01").command == command


@pytest.mark.parametrize(
    "response",
    [
        c.NcResponse(lmk_check="0" * 16, firmware="0007-E000"),
        c.A0Response(key_lmk="U" + "1" * 32, kcv="ABCDEF"),
        c.A0Response(key_lmk="U" + "1" * 32, key_zmk="X" + "2" * 32, kcv="ABCDEF"),
        c.CaResponse(pin_length="04", pin_block="A" * 16, destination_format="01"),
        c.FaResponse(zpk_lmk="0123456789ABCDEF", kcv="0" * 16),
        c.IaResponse(zpk_zmk="X" + "1" * 32, zpk_lmk="U" + "2" * 32, kcv="123456"),
        c.JcResponse(pin_lmk="12345"),
        c.DcResponse(error_code="01"),
        c.CwResponse(cvv="561"),
        c.KqResponse(arpc=b"\x19" * 8),
        c.A6Response(error_code="01", key_lmk="U" + "1" * 32, kcv="ABCDEF"),
        c.CaResponse(error_code="24"),
    ],
    ids=lambda x: type(x).CODE + x.error_code,
)
def test_response_round_trip(response: Any) -> None:
    code = {c.response_code(k): k for k in c.LAYOUTS}[type(response).CODE]
    decoded, _ = c.decode_response(c.encode_response(response), command=code)
    assert decoded == response


def test_encode_rejects_illegal_values() -> None:
    with pytest.raises(c.EncodeError, match="account: invalid value") as e:
        c.encode_request(
            c.JcRequest(tpk="U" + "1" * 32, pin_block="1" * 16, format="01", account="12")
        )
    assert e.value.command == "JC"
    with pytest.raises(c.EncodeError, match="not a command or response dataclass"):
        c.encode_request(object())


@pytest.mark.parametrize(
    ("body", "error_type", "error_code", "message"),
    [
        (b"N", c.FrameError, "15", "frame too short for a command code"),
        (b"QQ", c.UnknownCommandError, "15", "unknown command code"),
        (b"A2", c.UnimplementedCommandError, "68", "command not implemented"),
        (b"B2000", c.DecodeError, "15", "data: message too short"),
        (b"B20009abc", c.DecodeError, "80", "data: shorter than its declared length"),
        (b"CWU1234;", c.DecodeError, "15", "cvk: message too short"),
        (b"NCxx", c.DecodeError, "15", "unexpected data after the last field"),
        (b"CA" + b"G" * 16, c.DecodeError, "15", "tpk: invalid characters"),
    ],
)
def test_decode_request_exception(
    body: bytes, error_type: type[c.ThalesError], error_code: str, message: str
) -> None:
    with pytest.raises(error_type) as e:
        c.decode_request(body)
    assert str(e.value) == message
    assert e.value.error_code == error_code
    clone = pickle.loads(pickle.dumps(e.value))
    assert type(clone) is error_type and clone.error_code == error_code and str(clone) == message


def test_error_response_body() -> None:
    assert c.error_response_body("CA", "15") == b"CB15"
    assert c.error_response_body("CA", "10", b"T") == b"CB10\x19T"
    assert c.error_response_body("XQ", "15") == b"ZZ15"
    assert c.error_response_body("A2", "68") == b"A368"


def test_decode_response_exception() -> None:
    with pytest.raises(c.DecodeError, match="unexpected response code 'ZZ'"):
        c.decode_response(b"ZZ15", command="CA")
    with pytest.raises(c.DecodeError, match="response too short"):
        c.decode_response(b"CB", command="CA")


# ------------------------------------------------------------------ fuzzing

_CODES = [*sorted(c.KNOWN_COMMANDS), "XQ", "ZZ"]


@st.composite
def request_bodies(draw: st.DrawFn) -> bytes:
    code = draw(st.sampled_from(_CODES)).encode()
    rest = draw(
        st.one_of(
            st.binary(max_size=120),
            st.text(alphabet="0123456789ABCDEFUXTYZS;%#!&\x19N", max_size=120).map(str.encode),
        )
    )
    return draw(st.sampled_from([code + rest, rest, code]))


@settings(max_examples=400, deadline=None)
@given(body=request_bodies())
def test_fuzz_decode_raises_only_typed_errors(body: bytes) -> None:
    try:
        decoded = c.decode_request(body)
    except c.ThalesError as e:
        assert len(e.error_code) == 2
    else:
        assert decoded.code == body[:2].decode()


_HSM = SoftHsm(VariantLmk.test())


@settings(max_examples=300, deadline=None)
@given(body=request_bodies())
def test_fuzz_soft_hsm_always_answers(body: bytes) -> None:
    out = _HSM.handle(body)
    code = body[:2].decode("ascii", "replace")
    rc = c.response_code(code) if code in c.KNOWN_COMMANDS else "ZZ"
    assert out[:2].decode() == rc
    assert out[2:4].isalnum()


@settings(max_examples=200, deadline=None)
@given(stream=st.binary(max_size=400), cuts=st.lists(st.integers(0, 400), max_size=10))
def test_fuzz_framer_any_split(stream: bytes, cuts: list[int]) -> None:
    whole = c.Framer()
    whole.receive_data(stream)
    expected = list(iter(whole.next_frame, None))
    pieces = sorted({0, len(stream), *[x for x in cuts if x <= len(stream)]})
    split = c.Framer()
    got: list[c.Frame] = []
    for a, b in itertools.pairwise(pieces):
        split.receive_data(stream[a:b])
        got += list(iter(split.next_frame, None))
    assert got == expected
