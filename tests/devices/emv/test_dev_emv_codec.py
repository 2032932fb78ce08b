"""APDU, DOL, ATR codecs and hypothesis fuzzing: bad card data is a typed error, never a crash."""

from __future__ import annotations

import asyncio
import contextlib
import pickle
from datetime import date

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from devices.cardreader.chip import ChipIoResult, ChipOutcome, ChipPowerAction, ChipPowerResult
from devices.emv.apdu import (
    AcType,
    ResponseApdu,
    decode_command,
    decode_response,
    generate_ac_command,
)
from devices.emv.atr import atr_protocols
from devices.emv.dol import DolEntry, build_dol_data, parse_dol, split_dol_data
from devices.emv.errors import ApduError, CardDataError, EmvError
from devices.emv.kernel import EmvKernel, KernelOutcome, TerminalConfig, TransactionRequest
from devices.emv.tags import trace_tlv
from devices.profiles import load_card_profiles
from devices.vcard.card import VirtualEmvCard


@pytest.mark.parametrize(("raw", "cla", "ins", "data", "le"), [
    ("00A4040007A000000003101000", 0x00, 0xA4, "A0000000031010", 0),
    ("80CA9F3600", 0x80, 0xCA, "", 0),
    ("0020008008241234FFFFFFFFFF", 0x00, 0x20, "241234FFFFFFFFFF", None),
    ("00840000", 0x00, 0x84, "", None),
])
def test_decode_command(raw: str, cla: int, ins: int, data: str, le: int | None) -> None:
    c = decode_command(bytes.fromhex(raw))
    assert (c.cla, c.ins, c.data.hex().upper(), c.le) == (cla, ins, data, le)
    assert c.encode().hex().upper() == raw


@pytest.mark.parametrize(("raw", "msg"), [("00A4", "command APDU shorter than 4 bytes"),
                                          ("00A4040005A000", "command APDU length mismatch")])
def test_decode_command_exception(raw: str, msg: str) -> None:
    with pytest.raises(ApduError) as e:
        decode_command(bytes.fromhex(raw))
    assert str(e.value) == msg


def test_decode_response_exception() -> None:
    with pytest.raises(ApduError, match="response APDU shorter than 2 bytes"):
        decode_response(b"\x90")


def test_errors_pickle() -> None:
    e = pickle.loads(pickle.dumps(CardDataError("bad", tag=0x9F26)))
    assert (type(e), e.message, e.tag) == (CardDataError, "bad", 0x9F26)


def test_dol_roundtrip() -> None:
    dol = parse_dol(bytes.fromhex("9F02069F1A0295059F3704"))
    assert dol[-1] == DolEntry(0x9F37, 4) and len(dol) == 4
    data = build_dol_data(dol, {0x9F1A: b"\x08\x40", 0x9F02: b"\x01"})
    assert split_dol_data(dol, data)[0x9F02] == bytes.fromhex("000000000001")


@given(st.binary(max_size=64))
def test_fuzz_parse_dol(data: bytes) -> None:
    try:
        dol = parse_dol(data)
    except CardDataError:
        return
    values = build_dol_data(dol, {})
    assert split_dol_data(dol, values).keys() == {e.tag for e in dol}


@given(st.binary(max_size=40))
def test_fuzz_atr(data: bytes) -> None:
    with contextlib.suppress(ApduError):
        atr_protocols(data)


@given(st.binary(max_size=300))
def test_fuzz_decode_command_and_response(data: bytes) -> None:
    for fn in (decode_command, decode_response):
        with contextlib.suppress(ApduError):
            fn(data)


@given(st.binary(max_size=200))
def test_fuzz_trace_never_raises(data: bytes) -> None:
    assert isinstance(trace_tlv(data), list)


class _FuzzReader:
    """A reader whose card answers one chosen command with fuzzed bytes."""

    def __init__(self, card: VirtualEmvCard, victim: int, payload: bytes) -> None:
        self.card, self.victim, self.payload, self.n = card, victim, payload, 0

    async def chip_power(self, action: ChipPowerAction) -> ChipPowerResult:
        self.card.power_on()
        return ChipPowerResult(outcome=ChipOutcome.OK, atr=self.card.atr)

    async def chip_io(self, capdu: bytes) -> ChipIoResult:
        self.n += 1
        r = self.card.process_apdu(capdu)
        if self.n == self.victim:
            r = self.payload
        return ChipIoResult(outcome=ChipOutcome.OK, response=r or b"")


class _Cardholder:
    async def choose_application(self, candidates: object) -> int | None:
        return 0

    async def online_pin(self) -> bool:
        return True

    async def offline_pin(self, present: object, tries_left: object) -> object:
        raise AssertionError

    async def signature(self) -> bool:
        return True


PROFILE = next(p for p in load_card_profiles() if p.id == "visa-cvn18")


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(victim=st.integers(1, 12),
       body=st.one_of(st.binary(max_size=80),
                      st.builds(lambda b, t: bytes([t]) + bytes([len(b)]) + b,
                                st.binary(max_size=60), st.sampled_from([0x6F, 0x70, 0x77, 0x80]))),
       sw=st.sampled_from([b"\x90\x00", b"\x6a\x83", b"\x62\x83", b"\x61\x00", b""]))
def test_fuzz_kernel_card_responses(victim: int, body: bytes, sw: bytes) -> None:
    """Any card answer at any step ends in a KernelOutcome (typed), never an exception."""
    reader = _FuzzReader(VirtualEmvCard(PROFILE), victim, body + sw)
    k = EmvKernel(reader, TerminalConfig(), _Cardholder())  # type: ignore[arg-type]
    first = asyncio.run(k.start(TransactionRequest(amount=100, when=date(2026, 1, 1))))
    assert isinstance(first.outcome, KernelOutcome)


def test_generate_ac_command_bytes() -> None:
    assert generate_ac_command(AcType.ARQC, b"\x01").encode().hex() == "80ae8000010100"
    assert isinstance(ResponseApdu(data=b"", sw1=0x90, sw2=0).ok, bool)
    assert issubclass(ApduError, EmvError)
