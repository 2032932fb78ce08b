"""The terminal model with in-process fakes: paths that are awkward over real parts
(cancel, timeouts, host down, device exceptions, stale events)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from devices.cardreader.emulated import EmulatedCardReader, EmulatedMagstripeCard
from devices.cdm.base import DispenseOutcome, DispenseResult, PresentOutcome, PresentResult
from devices.epp.base import KeyEvent, KeyKind, PinEntryOutcome, PinEntryResult
from screens.model import ScreenModel, UiEvent, UiEventKind
from terminal.app import Devices, TerminalModel, build_machine
from terminal.config import TerminalConfig, TimeoutsConfig
from terminal.journal import ElectronicJournal
from terminal.stan import StanCounter

PAN = "4761739001010010"


class FakeEpp:
    def __init__(self, outcome: PinEntryOutcome = PinEntryOutcome.OK, *,
                 fail_block: bool = False) -> None:
        self.outcome = outcome
        self.fail_block = fail_block

    async def enter_pin(self, req: Any, on_key: Any) -> PinEntryResult:
        for i in range(4):
            on_key(KeyEvent(kind=KeyKind.DIGIT, digits=i + 1, display="*"))
        return PinEntryResult(outcome=self.outcome, digits=4)

    async def get_pin_block(self, *, key_name: str, fmt: str, pan: str) -> bytes:
        if self.fail_block:
            raise OSError("EPP link lost")
        return bytes(8)


class FakeHost:
    def __init__(self, rc: str = "00", *, down: bool = False) -> None:
        self.rc, self.down, self.requests = rc, down, []

    async def request(self, fields: dict[str, str], *,
                      timeout: float | None = None) -> dict[str, str]:
        self.requests.append(fields)
        if self.down:
            raise ConnectionRefusedError("host down")
        out = {"t": "0210", "11": fields["11"], "41": fields["41"], "39": self.rc}
        if self.rc == "00":
            out |= {"38": "123456", "54": "0002156C000000100000"}
        return out


class FakeDispenser:
    def __init__(self, *, partial: bool = False, taken: bool = True) -> None:
        self.partial, self.taken = partial, taken

    async def dispense(self, req: Any, events: Any) -> DispenseResult:
        if self.partial:
            return DispenseResult(outcome=DispenseOutcome.PARTIAL, notes={10000: 2},
                                  amount_dispensed=20000)
        return DispenseResult(outcome=DispenseOutcome.OK, notes={10000: req.amount // 10000},
                              amount_dispensed=req.amount)

    async def present(self, events: Any, req: Any = None) -> PresentResult:
        return PresentResult(
            outcome=PresentOutcome.TAKEN if self.taken else PresentOutcome.RETRACTED)


class Saf:
    def __init__(self) -> None:
        self.advices: list[dict[str, str]] = []

    def enqueue(self, fields: dict[str, str]) -> None:
        self.advices.append(fields)


class FakePrinter:
    def __init__(self) -> None:
        self.receipts: list[Any] = []

    async def print_receipt(self, receipt: Any, events: Any) -> None:
        self.receipts.append(receipt)


class Screen:
    def __init__(self) -> None:
        self.models: list[ScreenModel] = []

    def show(self, model: ScreenModel) -> None:
        self.models.append(model)


class Rig:
    def __init__(self, tmp: Path, *, epp: FakeEpp | None = None, host: FakeHost | None = None,
                 timeouts: TimeoutsConfig | None = None,
                 dispenser: FakeDispenser | None = None) -> None:
        self.saf = Saf()
        self.reader = EmulatedCardReader(auto_take=True)
        self.host = host or FakeHost()
        self.printer = FakePrinter()
        self.screen = Screen()
        cfg = TerminalConfig(data_dir=str(tmp), timeouts=timeouts or TimeoutsConfig())
        self.model = TerminalModel(
            cfg=cfg, devices=Devices(reader=self.reader, epp=epp or FakeEpp(),
                                     dispenser=dispenser or FakeDispenser(), printer=self.printer),
            host=self.host, screen=self.screen,  # type: ignore[arg-type]
            journal=ElectronicJournal(tmp / "j.jsonl", terminal_id=cfg.terminal_id),
            stan=StanCounter(tmp / "stan.json"), saf=self.saf)
        build_machine(self.model)
        self.states: list[str] = []
        self.model.state_listeners.append(self.states.append)
        self.stop = asyncio.Event()
        self.task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Rig:
        self.task = asyncio.create_task(self.model.run(self.stop))
        await asyncio.sleep(0)
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.stop.set()
        assert self.task is not None
        await asyncio.wait_for(self.task, 5)

    async def until_states(self, expected: list[str], timeout: float = 5.0) -> None:
        async def wait() -> None:
            while self.states != expected:
                await asyncio.sleep(0.005)
        try:
            await asyncio.wait_for(wait(), timeout)
        except TimeoutError:
            raise AssertionError(f"states {self.states} != {expected}") from None

    async def until(self, state: str, timeout: float = 5.0) -> None:
        async def wait() -> None:
            while self.model.state != state:
                await asyncio.sleep(0.005)
        await asyncio.wait_for(wait(), timeout)

    def insert(self, expiry: str = "3012") -> None:
        self.reader.insert(EmulatedMagstripeCard(PAN, expiry, "101", "1234500000"))

    def ui(self, kind: UiEventKind, value: str) -> None:
        self.model.post_ui(UiEvent(kind=kind, value=value))


@pytest.mark.asyncio
async def test_withdrawal_happy_path(tmp_path: Path) -> None:
    async with Rig(tmp_path) as rig:
        rig.insert()
        await rig.until("menu")
        rig.ui(UiEventKind.OPTION, "withdrawal")
        await rig.until("amount")
        rig.ui(UiEventKind.KEY, "5")
        rig.ui(UiEventKind.KEY, "0")
        rig.ui(UiEventKind.KEY, "0")
        rig.ui(UiEventKind.KEY, "ENTER")
        await rig.until_states(["card", "pin", "menu", "amount", "authorising", "dispense",
                                "eject", "idle"])
    sent = rig.host.requests[0]
    assert sent["3"] == "010000" and sent["4"] == "000000050000" and sent["2"] == PAN
    assert any(m.entry == "****" for m in rig.screen.models)
    assert rig.printer.receipts and "476173******0010" in "\n".join(rig.printer.receipts[0].lines)


@pytest.mark.asyncio
async def test_cancel_in_menu_ejects(tmp_path: Path) -> None:
    async with Rig(tmp_path) as rig:
        rig.insert()
        await rig.until("menu")
        rig.ui(UiEventKind.KEY, "CANCEL")
        await rig.until_states(["card", "pin", "menu", "eject", "idle"])
    assert rig.host.requests == []


@pytest.mark.asyncio
async def test_amount_timeout_ejects(tmp_path: Path) -> None:
    async with Rig(tmp_path, timeouts=TimeoutsConfig(amount_s=0.05)) as rig:
        rig.insert()
        await rig.until("menu")
        rig.ui(UiEventKind.OPTION, "withdrawal")
        await rig.until_states(["card", "pin", "menu", "amount", "eject", "idle"])


@pytest.mark.asyncio
async def test_pin_cancel_on_the_epp_ejects(tmp_path: Path) -> None:
    async with Rig(tmp_path, epp=FakeEpp(PinEntryOutcome.CANCELLED)) as rig:
        rig.insert()
        await rig.until_states(["card", "pin", "eject", "idle"])


@pytest.mark.asyncio
async def test_expired_card_is_ejected_without_pin(tmp_path: Path) -> None:
    async with Rig(tmp_path) as rig:
        rig.insert(expiry="2001")
        await rig.until_states(["card", "eject", "idle"])


@pytest.mark.asyncio
async def test_host_down_is_declined_91(tmp_path: Path) -> None:
    async with Rig(tmp_path, host=FakeHost(down=True)) as rig:
        rig.insert()
        await rig.until("menu")
        rig.ui(UiEventKind.OPTION, "balance")
        await rig.until("declined")
        assert rig.model.txn.response is not None and rig.model.txn.response.response_code == "91"
        rig.ui(UiEventKind.OPTION, "ok")
        await rig.until_states(["card", "pin", "menu", "authorising", "declined", "eject", "idle"])


@pytest.mark.asyncio
async def test_device_exception_goes_out_of_service(tmp_path: Path) -> None:
    async with Rig(tmp_path, epp=FakeEpp(fail_block=True)) as rig:
        rig.insert()
        await rig.until("menu")
        rig.ui(UiEventKind.OPTION, "balance")
        await rig.until("out_of_service")
    journal = (tmp_path / "j.jsonl").read_text()
    assert "out_of_service" in journal and "EPP link lost" in journal


@pytest.mark.asyncio
async def test_stale_event_is_dropped(tmp_path: Path) -> None:
    async with Rig(tmp_path) as rig:
        rig.insert()
        await rig.until("menu")
        old = rig.model.epoch - 1
        rig.model.post("pin_done", old)
        rig.model.post("approved", old)
        await asyncio.sleep(0.05)
        assert rig.model.state == "menu"


async def withdraw(rig: Rig, whole_units: str = "500") -> None:
    rig.insert()
    await rig.until("menu")
    rig.ui(UiEventKind.OPTION, "withdrawal")
    await rig.until("amount")
    for d in whole_units:
        rig.ui(UiEventKind.KEY, d)
    rig.ui(UiEventKind.KEY, "ENTER")


@pytest.mark.asyncio
async def test_partial_dispense_queues_a_partial_reversal(tmp_path: Path) -> None:
    async with Rig(tmp_path, dispenser=FakeDispenser(partial=True)) as rig:
        await withdraw(rig)
        # The customer gets the card back first; then the jammed dispenser takes the terminal
        # out of service.
        await rig.until_states(["card", "pin", "menu", "amount", "authorising", "dispense",
                                "eject", "idle", "out_of_service"])
    [adv] = rig.saf.advices
    original = rig.host.requests[0]
    assert adv["t"] == "0420" and adv["4"] == "000000050000" and adv["95"][:12] == "000000020000"
    assert adv["90"][:4] == "0200" and adv["90"][4:10] == original["11"]
    assert "52" not in adv and "35" not in adv
    receipt = "\n".join(rig.printer.receipts[0].lines)
    assert "200.00" in receipt and "WILL NOT BE CHARGED" in receipt


@pytest.mark.asyncio
async def test_notes_retracted_reverses_in_full(tmp_path: Path) -> None:
    async with Rig(tmp_path, dispenser=FakeDispenser(taken=False)) as rig:
        await withdraw(rig)
        await rig.until_states(["card", "pin", "menu", "amount", "authorising", "dispense",
                                "eject", "idle"])
    [adv] = rig.saf.advices
    assert "95" not in adv and adv["4"] == "000000050000"


@pytest.mark.asyncio
async def test_no_host_answer_to_a_withdrawal_reverses_it(tmp_path: Path) -> None:
    async with Rig(tmp_path, host=FakeHost(down=True)) as rig:
        await withdraw(rig)
        await rig.until("declined")
    [adv] = rig.saf.advices
    assert adv["t"] == "0420" and adv["4"] == "000000050000" and "95" not in adv
