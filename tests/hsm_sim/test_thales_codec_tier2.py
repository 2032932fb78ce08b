"""Codec round trips for the layouts added with A0 modes A/B, M0/M2, KW, AES G0 and S keys."""

from __future__ import annotations

import contextlib
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hsm_sim.thales import codec as c

S_AES = "S10096D0AB00S0000" + "0" * 80  # an AES key-block key field (header algorithm A)

# fmt: off
ROUND_TRIPS = [
    c.A0Request(mode="A", key_type="302", key_scheme_lmk="U", derive_mode="0", bdk_type="1",
                bdk="U" + "1" * 32, ksn="FFFF9876543210E00000"),
    c.A0Request(mode="B", key_type="302", key_scheme_lmk="U", derive_mode="0", bdk_type="4",
                bdk=S_AES, ksn="1" * 24, zmk_flag="0", zmk="U" + "2" * 32, key_scheme_zmk="X"),
    c.A0Request(mode="0", key_type="FFF", key_scheme_lmk="S", kb_usage="D0", kb_algorithm="A1",
                kb_mode_of_use="N", kb_version="00", kb_exportability="E",
                kb_optional_blocks="00"),
    c.G0Request(bdk=S_AES, zpk="U" + "2" * 32, ksn_descriptor="A05", ksn="1" * 24,
                pin_block="A" * 32, source_format="48", destination_format="01",
                account="4111111111111111"),
    c.M0Request(mode="01", input_format="0", output_format="0", key_type="00B",
                key="U" + "1" * 32, iv="0" * 16, message=b"\x19;%\x00" * 2),
    c.M2Request(mode="01", input_format="1", output_format="1", key_type="FFF", key=S_AES,
                iv="0" * 32, message=b"00" * 16),
    c.M2Request(mode="00", input_format="0", output_format="0", key_type="009",
                key="U" + "1" * 32, ksn_descriptor="A05", ksn="F" * 20, message=b"x" * 8),
    c.KwRequest(mode="1", scheme="0", mk_ac="U" + "1" * 32, pan_psn=b"\x19;" * 4, atc=b";;",
                data=b"\x19;", arqc=b"\x00" * 8, arc=b"00"),
    c.KwRequest(mode="3", scheme="1", mk_ac="U" + "1" * 32, pan_psn=b"\x12" * 9, atc=b"\x00\x01",
                un=b"\x19;%#", data=b"d" * 40, arqc=b"\x00" * 8, csu=b"\x00" * 4,
                prop_data=b"\x01\x02"),
]
# fmt: on


@pytest.mark.parametrize("command", ROUND_TRIPS, ids=lambda x: type(x).CODE)
def test_request_round_trip(command: Any) -> None:
    decoded = c.decode_request(c.encode_request(command, b"TR"))
    assert decoded.command == command
    assert decoded.trailer == b"TR"


@pytest.mark.parametrize(
    ("response", "command"),
    [
        (c.M0Response(iv="A" * 16, message=b"\x19" * 8), "M0"),
        (c.M0Response(message=b"12345678"), "M0"),
        (c.M2Response(iv="B" * 32, message=b"x" * 16), "M2"),
        (c.KwResponse(arpc=b"\x19\x00;%"), "KW"),
        (c.G0Response(pin_length="04", pin_block="C" * 32, destination_format="48"), "G0"),
        (c.G0Response(pin_length="04", pin_block="C" * 16, destination_format="01"), "G0"),
        (c.A0Response(key_lmk=S_AES, kcv="ABCDEF"), "A0"),
    ],
    ids=lambda x: getattr(x, "error_code", x),
)
def test_response_round_trip(response: Any, command: str) -> None:
    decoded, _ = c.decode_response(c.encode_response(response), command=command)
    assert decoded == response


def test_aes_key_field_detection() -> None:
    assert c.is_aes_key_field(S_AES)
    assert not c.is_aes_key_field("S10096D0TB00S0000" + "0" * 80)
    assert not c.is_aes_key_field(None)


def test_decode_request_exception() -> None:
    with pytest.raises(c.DecodeError, match="pan_psn: invalid length") as e:
        c.decode_request(b"KW00U" + b"1" * 32 + b"AB")
    assert e.value.error_code == "15"
    with pytest.raises(c.DecodeError, match="message: shorter than its declared length") as e:
        c.decode_request(b"M00000" + b"00BU" + b"1" * 32 + b"0010abc")
    assert e.value.error_code == "06"


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(["M0", "M2", "KW", "A0", "G0"]), st.binary(max_size=120))
def test_fuzz_new_layouts_raise_only_typed_errors(code: str, tail: bytes) -> None:
    with contextlib.suppress(c.ThalesError):
        c.decode_request(code.encode() + tail)
