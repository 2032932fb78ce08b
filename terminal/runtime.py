"""Wiring a terminal from its configuration (used by ``terminal.__main__`` and ``sst demo``).

This is composition-root code: it picks concrete devices from the configured URLs, opens
them, loads the EPP's keys and runs the model. Nothing below it reads configuration.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from devices.cardreader.emulated import EmulatedCardReader, EmulatedMagstripeCard
from devices.epp.control import KeypadControl
from devices.epp.driver import EppDriver
from host.iso8583.mux import Iso8583Client
from screens.display import Display, ScreenshotRecorder
from screens.model import UiEvent, UiEventKind
from screens.render import ScreenRenderer
from terminal.app import Devices, TerminalModel, build_machine
from terminal.config import TerminalConfig
from terminal.customer import CardSpec, ScriptedCustomer, Visit, VisitResult
from terminal.journal import ElectronicJournal
from terminal.saf import ReversalQueue
from terminal.stan import StanCounter

__all__ = ["TerminalRuntime", "card_from_spec", "load_epp_keys"]

_LOG = logging.getLogger(__name__)

class KeyLoadError(RuntimeError):
    """The EPP refused a key (wrong KCV, tamper) -- the terminal cannot take PINs."""


def card_from_spec(spec: CardSpec) -> EmulatedMagstripeCard:
    return EmulatedMagstripeCard(spec.pan, spec.expiry, spec.service_code, spec.discretionary)


async def load_epp_keys(epp: EppDriver, cfg: TerminalConfig) -> None:
    """Load the TMK from its components and the TPK under it, checking both KCVs.

    Skipped when the EPP already holds a TPK with the expected KCV.
    """
    k = cfg.keys
    if not k.tmk_components:
        return
    for info in await epp.list_keys():
        if info.name == "TPK" and info.kcv.upper().startswith(k.tpk_kcv.upper()):
            _LOG.info("EPP already holds the TPK", extra={"kcv": info.kcv})
            return
    res = await epp.load_tmk_components([bytes.fromhex(c) for c in k.tmk_components], kcv=k.tmk_kcv)
    if not res.ok:
        raise KeyLoadError(f"EPP refused the TMK: {res.code.value}")
    res = await epp.load_key_under("TPK", under="TMK", encrypted_key=bytes.fromhex(k.tpk_under_tmk),
                                   kcv=k.tpk_kcv)
    if not res.ok:
        raise KeyLoadError(f"EPP refused the TPK: {res.code.value}")
    _LOG.info("EPP keys loaded", extra={"tmk_kcv": k.tmk_kcv, "tpk_kcv": k.tpk_kcv})


async def _open_chip_reader(url: str) -> Any:
    """``""`` none, ``emulated://`` an in-process slot, ``pcsc://<reader name>`` PC/SC."""
    if not url:
        return None
    if url.startswith("emulated://"):
        from devices.vcard.reader import EmulatedChipReader

        chip: Any = EmulatedChipReader()
    elif url.startswith("pcsc://"):
        from devices.cardreader.pcsc import PcscChipReader

        chip = PcscChipReader(reader=url[len("pcsc://"):] or None)
    else:
        raise ValueError(f"unknown chip reader URL {url!r} (emulated:// or pcsc://<reader>)")
    await chip.open()
    return chip


@dataclass
class TerminalRuntime:
    """A running terminal: devices, host link, display and the model."""

    cfg: TerminalConfig
    model: TerminalModel = field(init=False)
    display: Display = field(init=False)
    reader: EmulatedCardReader = field(init=False)
    epp: EppDriver = field(init=False)
    keypad: KeypadControl | None = field(init=False, default=None)
    host: Iso8583Client = field(init=False)
    saf: ReversalQueue = field(init=False)
    dispenser: Any = field(init=False)
    chip: Any = field(init=False, default=None)
    _tasks: list[asyncio.Task[Any]] = field(init=False, default_factory=list)
    _stop: asyncio.Event = field(init=False, default_factory=asyncio.Event)

    async def start(self) -> None:
        from devices.cdm.emulated import EmulatedCashDispenser
        from devices.common.storage import StorageKind, StorageUnit
        from devices.printer.emulated import EmulatedReceiptPrinter

        cfg = self.cfg
        data = Path(cfg.data_dir)
        data.mkdir(parents=True, exist_ok=True)  # noqa: ASYNC240 - once at start-up, before any I/O runs
        self.reader = EmulatedCardReader(auto_take=True)
        self.chip = await _open_chip_reader(cfg.devices.chip_reader)
        self.epp = EppDriver(cfg.devices.epp_url)
        await self.epp.open()
        await load_epp_keys(self.epp, cfg)
        if cfg.devices.epp_control:
            u = urlparse(cfg.devices.epp_control)
            self.keypad = KeypadControl(int(u.port or 0), host=u.hostname or "127.0.0.1")
        alpha = cfg.currency_alpha
        units = tuple(
            StorageUnit(unit_id=f"CASS{i}", kind=StorageKind.CASSETTE, count=n,
                        capacity=max(n, 2500), low_threshold=min(100, n), denomination=int(d),
                        currency=alpha)
            for i, (d, n) in enumerate(sorted(cfg.devices.cassettes.items(),
                                              key=lambda kv: -int(kv[0])), start=1))
        dispenser = self.dispenser = EmulatedCashDispenser(cassettes=units, auto_take=True)
        printer = EmulatedReceiptPrinter(directory=data / "receipts")
        self.host = Iso8583Client(cfg.host.host, cfg.host.port, timeout=cfg.host.timeout_s)
        journal = ElectronicJournal(data / f"journal-{cfg.terminal_id}.jsonl",
                                    terminal_id=cfg.terminal_id)

        async def send_reversal(fields: dict[str, str]) -> dict[str, str]:
            return await self.host.request(fields, timeout=cfg.host.timeout_s)

        def reversal_done(sent: dict[str, str], resp: dict[str, str]) -> None:
            journal.write("reversal_acknowledged", stan=sent.get("11", ""), rc=resp.get("39", ""))

        self.saf = ReversalQueue(data / f"saf-{cfg.terminal_id}.jsonl", send_reversal,
                                 on_done=reversal_done)
        recorder = ScreenshotRecorder(cfg.screenshots_dir) if cfg.screenshots_dir else None
        holder: list[TerminalModel] = []

        def post(ev: UiEvent) -> None:
            if ev.kind is UiEventKind.QUIT:
                self._stop.set()
                self.display.close()
            else:
                holder[0].post_ui(ev)

        self.display = Display(ScreenRenderer(), post,
                               headless=cfg.headless, recorder=recorder,
                               caption=f"SST terminal {cfg.terminal_id}")
        self.model = TerminalModel(
            cfg=cfg, devices=Devices(reader=self.reader, epp=self.epp, dispenser=dispenser,
                                     printer=printer, keypad=self.keypad, chip=self.chip),
            host=self.host, screen=self.display, journal=journal,
            stan=StanCounter(data / f"stan-{cfg.terminal_id}.json"), saf=self.saf)
        holder.append(self.model)
        self.saf.start()
        build_machine(self.model)
        self._tasks.append(asyncio.create_task(self.model.run(self._stop), name="terminal-model"))
        self._tasks.append(asyncio.create_task(self._display_loop(), name="display"))

    async def _display_loop(self) -> None:
        await self.display.run()
        self._stop.set()  # the window was closed

    def request_stop(self) -> None:
        self._stop.set()

    async def wait_closed(self) -> None:
        await self._stop.wait()

    async def play(self, visits: Sequence[Visit], *, step_timeout: float = 30.0,
                   otp_source: Any = None, chip_slot: Any = None) -> list[VisitResult]:
        """Run a scripted customer through ``visits``, one after the other."""
        if self.keypad is None:
            raise RuntimeError("a scripted customer needs the emulated EPP's control socket")
        customer = ScriptedCustomer(self.model, self.reader, self.keypad,
                                    step_timeout=step_timeout, card_factory=card_from_spec,
                                    otp_source=otp_source, chip_slot=chip_slot)
        return [await customer.visit(v) for v in visits]

    async def stop(self) -> None:
        self._stop.set()
        with contextlib.suppress(Exception):
            await self.saf.drain(timeout=5.0)
            await self.saf.stop()
        for t in self._tasks:
            t.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t
        with contextlib.suppress(Exception):
            await self.host.close()
        with contextlib.suppress(Exception):
            await self.epp.close()
        if self.chip is not None:
            with contextlib.suppress(Exception):
                await self.chip.close()
        with contextlib.suppress(Exception):
            self.display.close()
