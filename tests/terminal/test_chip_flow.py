"""The terminal's chip path with the in-process chip slot and virtual EMV cards.

The host here is a fake that checks the ARQC and computes the ARPC with the issuer oracle of
the EMV tests (hsm_sim.crypto); the real host's check through the HSM is tested end to end
elsewhere. What this covers: entry mode 051 and field 55 go online, the card accepts the ARPC
(second GENERATE AC TC), a card pulled during the second GENERATE AC reverses an approval,
and a chip that fails falls back to the magstripe (entry mode 801).
"""

from __future__ import annotations

import asyncio
import importlib.util
import sys
from pathlib import Path
from typing import Any

import pytest

from devices.cardreader.emulated import EmulatedCardReader, EmulatedMagstripeCard
from devices.profiles.model import load_card_profiles
from devices.vcard.card import VirtualEmvCard
from devices.vcard.reader import EmulatedChipReader
from screens.model import UiEvent, UiEventKind
from sst.common.tlv import Tlv, encode_tlv
from terminal.app import Devices, TerminalModel, build_machine
from terminal.config import DevicesConfig, TerminalConfig
from terminal.journal import ElectronicJournal
from terminal.stan import StanCounter


def _load(name: str, path: Path) -> Any:
    """Load a helper module of another test folder (tests are not a package)."""
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    return mod


oracle = _load("sst_tests_issuer_oracle",
               Path(__file__).parents[1] / "devices" / "emv" / "issuer_oracle.py")
ta = _load("sst_tests_terminal_app", Path(__file__).parent / "test_app.py")

PROFILES = {p.id: p for p in load_card_profiles()}
CHIP = ["visa-cvn10", "visa-cvn18", "mastercard-cvn16", "unionpay-pboc"]



class ChipHost:
    def __init__(self, profile: Any) -> None:
        self.profile, self.requests = profile, []

    async def request(self, fields: dict[str, str], *,
                      timeout: float | None = None) -> dict[str, str]:
        self.requests.append(fields)
        out = {"t": "0210", "11": fields["11"], "41": fields["41"], "39": "00", "38": "123456",
               "54": "0002156C000000100000"}
        if fields["t"] == "0420":
            return {"t": "0430", "11": fields["11"], "41": fields["41"], "39": "00"}
        if "55" not in fields:  # magstripe (fallback): nothing to check here
            return out
        auth = oracle.authorise(self.profile, bytes.fromhex(fields["55"]))
        if not auth.arqc_ok:
            out["39"] = "05"
        out["55"] = encode_tlv([Tlv(0x91, auth.issuer_auth_data)]).hex().upper()
        return out


class Saf:
    def __init__(self) -> None:
        self.advices: list[dict[str, str]] = []

    def enqueue(self, fields: dict[str, str]) -> None:
        self.advices.append(fields)


async def run_visit(tmp: Path, profile_id: str, *, faults: tuple[str, ...] | None = None,
                    pull_during_second_ac: bool = False) -> tuple[list[str], ChipHost, Saf, Any]:
    p = PROFILES[profile_id]
    host = ChipHost(p)
    saf = Saf()
    reader, chip = EmulatedCardReader(auto_take=True), EmulatedChipReader()
    cfg = TerminalConfig(data_dir=str(tmp), devices=DevicesConfig(chip_reader="emulated://"))
    model = TerminalModel(
        cfg=cfg, devices=Devices(reader=reader, epp=ta.FakeEpp(), dispenser=ta.FakeDispenser(),
                                 printer=ta.FakePrinter(), chip=chip),
        host=host, screen=ta.Screen(),  # type: ignore[arg-type]
        journal=ElectronicJournal(tmp / "j.jsonl", terminal_id=cfg.terminal_id),
        stan=StanCounter(tmp / "stan.json"), saf=saf)
    build_machine(model)
    states: list[str] = []
    model.state_listeners.append(states.append)
    stop = asyncio.Event()
    task = asyncio.create_task(model.run(stop))
    card = VirtualEmvCard(p, faults=faults)
    if pull_during_second_ac:
        original = card.process_apdu
        count = {"gen_ac": 0}

        def process(capdu: bytes) -> bytes | None:
            if capdu[1] == 0xAE:
                count["gen_ac"] += 1
                if count["gen_ac"] == 2:
                    chip.remove()
            return original(capdu)
        card.process_apdu = process  # type: ignore[method-assign]
    chip.insert(card)
    t2 = p.track2
    reader.insert(EmulatedMagstripeCard(t2.pan, t2.expiry, t2.service_code, t2.discretionary))

    async def until(state: str) -> None:
        while model.state != state:
            await asyncio.sleep(0.005)
    await asyncio.wait_for(until("menu"), 10)
    model.post_ui(UiEvent(kind=UiEventKind.OPTION, value="withdrawal"))
    await asyncio.wait_for(until("amount"), 10)
    model.post_ui(UiEvent(kind=UiEventKind.OPTION, value="amount:50000"))

    async def done() -> None:
        while states[-1:] != ["idle"]:
            await asyncio.sleep(0.005)
    await asyncio.wait_for(done(), 20)
    stop.set()
    await task
    return states, host, saf, model


@pytest.mark.asyncio
@pytest.mark.parametrize("profile_id", CHIP)
async def test_chip_withdrawal_goes_online_with_field_55(tmp_path: Path, profile_id: str) -> None:
    states, host, saf, model = await run_visit(tmp_path, profile_id)
    assert states == ["card", "pin", "menu", "amount", "authorising", "dispense", "eject", "idle"]
    req = host.requests[0]
    assert req["22"] == "051" and "55" in req and req["2"] == PROFILES[profile_id].pan
    events = {e["event"]: e for e in model.journal.read()}
    assert events["chip_first_ac"]["outcome"] == "onlineRequest"
    assert events["chip_second_ac"]["outcome"] == "approved"
    assert saf.advices == []


@pytest.mark.asyncio
async def test_card_pulled_during_second_generate_ac_reverses(tmp_path: Path) -> None:
    states, host, saf, _model = await run_visit(tmp_path, "visa-cvn10", pull_during_second_ac=True)
    assert "dispense" not in states and "declined" in states
    [adv] = saf.advices
    assert adv["t"] == "0420" and adv["90"][4:10] == host.requests[0]["11"]


@pytest.mark.asyncio
async def test_mute_chip_falls_back_to_magstripe(tmp_path: Path) -> None:
    _states, host, _saf, _model = await run_visit(tmp_path, "chip-fails-fallback")
    req = host.requests[0]
    assert req["22"] == "801" and "55" not in req
