"""The terminal application: one model class driven by the flow in ``terminal.flow``.

Device events, UI events and host responses all arrive on one asyncio queue, read by one task
that fires the triggers (SM-4). Entering a state starts that state's work as a task (reading a
card, PIN entry, the host exchange, dispensing); the task's outcome comes back through the queue
as a trigger. Each event carries the state epoch it was produced in, so an outcome that arrives
after the customer cancelled (or after a timeout) is dropped instead of firing a stale trigger.
Any exception in a callback sends the machine to ``out_of_service`` (SM-2).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as _dt
import logging
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any, Protocol

from transitions import MachineError
from transitions.extensions.asyncio import HierarchicalAsyncMachine, NestedAsyncState

from devices.cardreader.track import Track2, TrackError, parse_track2
from devices.epp.base import (
    KeyEvent,
    PinEntryOutcome,
    PinEntryRequest,
)
from host.iso8583.messages import FinancialRequest, FinancialResponse, ReversalRequest
from host.iso8583.mux import Iso8583Client
from screens.model import MenuOption, PadKey, ScreenId, ScreenModel, Severity, UiEvent, UiEventKind
from sst.common.redact import mask_pan
from terminal import flow
from terminal.config import TerminalConfig
from terminal.journal import ElectronicJournal
from terminal.stan import StanCounter

__all__ = ["Devices", "TerminalEvent", "TerminalModel", "build_machine"]

_LOG = logging.getLogger(__name__)

#: Customer wording per field 39 (operators see the code in the journal).
DECLINE_TEXT = {
    "51": "Insufficient funds",
    "55": "Incorrect PIN",
    "75": "PIN tries exceeded - please contact your bank",
    "14": "Card not recognised",
    "91": "Service temporarily unavailable",
    "96": "Service temporarily unavailable",
}


class ScreenSink(Protocol):
    def show(self, model: ScreenModel) -> None: ...


class ReversalSink(Protocol):
    """Where reversal advices go (``terminal.saf.ReversalQueue``: persisted, then sent)."""

    def enqueue(self, fields: dict[str, str]) -> None: ...


class KeypadPort(Protocol):
    async def press(self, keys: str) -> object: ...


@dataclass(kw_only=True)
class Devices:
    """The device objects the terminal drives (built by the composition root)."""

    reader: Any
    epp: Any
    dispenser: Any
    printer: Any
    keypad: KeypadPort | None = None
    #: the chip contacts of the reader (``devices.cardreader.chip.ChipCardReader``), if any
    chip: Any | None = None


@dataclass(frozen=True, kw_only=True)
class TerminalEvent:
    trigger: str
    epoch: int
    kwargs: dict[str, Any] = field(default_factory=dict)


@dataclass(kw_only=True)
class Transaction:
    """What the terminal knows about the customer session in progress (no secrets)."""

    track2: Track2 | None = None
    kind: str = ""
    amount: int = 0
    stan: str = ""
    rrn: str = ""
    response: FinancialResponse | None = None
    amount_entry: str = ""
    notes: dict[int, int] = field(default_factory=dict)
    request: FinancialRequest | None = field(default=None, repr=False)
    reversed: bool = False
    #: "magstripe", "chip" or "fallback" (chip card whose chip failed: entry mode 80x)
    entry: str = "magstripe"
    chip_outcome: str = ""
    #: step-up asked by the host (1A): factor ("OTP", "FP", "VID") and challenge id
    stepup_factor: str = ""
    stepup_challenge: str = ""
    stepup_entry: str = field(default="", repr=False)
    evidence: str = field(default="", repr=False)


class TerminalModel:
    """The terminal's model: state, trigger stubs, conditions and callbacks (SM-2, SM-3)."""

    state: str

    # Trigger stubs (model_override=True binds the machine's triggers onto these names).
    async def card_read(self, **kw: Any) -> bool: raise NotImplementedError
    async def card_ok(self, **kw: Any) -> bool: raise NotImplementedError
    async def card_bad(self, **kw: Any) -> bool: raise NotImplementedError
    async def pin_done(self, **kw: Any) -> bool: raise NotImplementedError
    async def choose_withdrawal(self, **kw: Any) -> bool: raise NotImplementedError
    async def choose_balance(self, **kw: Any) -> bool: raise NotImplementedError
    async def amount_done(self, **kw: Any) -> bool: raise NotImplementedError
    async def approved(self, **kw: Any) -> bool: raise NotImplementedError
    async def stepup_required(self, **kw: Any) -> bool: raise NotImplementedError
    async def evidence_ready(self, **kw: Any) -> bool: raise NotImplementedError
    async def declined(self, **kw: Any) -> bool: raise NotImplementedError
    async def dispensed(self, **kw: Any) -> bool: raise NotImplementedError
    async def acknowledged(self, **kw: Any) -> bool: raise NotImplementedError
    async def cancel(self, **kw: Any) -> bool: raise NotImplementedError
    async def timeout(self, **kw: Any) -> bool: raise NotImplementedError
    async def card_taken(self, **kw: Any) -> bool: raise NotImplementedError
    async def fault(self, **kw: Any) -> bool: raise NotImplementedError
    async def reset(self, **kw: Any) -> bool: raise NotImplementedError

    def __init__(
        self,
        *,
        cfg: TerminalConfig,
        devices: Devices,
        host: Iso8583Client,
        screen: ScreenSink,
        journal: ElectronicJournal,
        stan: StanCounter,
        saf: ReversalSink | None = None,
        now: Callable[[], _dt.datetime] = lambda: _dt.datetime.now(),  # noqa: PLW0108 - looks datetime.now up per call, not at import
    ) -> None:
        self.cfg = cfg
        self.dev = devices
        self.host = host
        self.screen = screen
        self.journal = journal
        self.stan = stan
        self.saf = saf
        self.now = now
        self.queue: asyncio.Queue[TerminalEvent] = asyncio.Queue()
        self.epoch = 0
        self.txn = Transaction()
        self.pin_digits = 0
        self.fault_reason = ""
        self.pending_fault = ""
        self.state_listeners: list[Callable[[str], None]] = []
        #: Extra buttons on the idle screen (demo: "insert this test card"): key -> (label, action)
        self.idle_actions: dict[str, tuple[str, Callable[[], None]]] = {}
        self._task: asyncio.Task[None] | None = None
        self._timer: asyncio.TimerHandle | None = None

    # -- the event queue -----------------------------------------------------------------------
    def post(self, trigger: str, epoch: int | None = None, **kwargs: Any) -> None:
        self.queue.put_nowait(TerminalEvent(trigger=trigger, epoch=self.epoch if epoch is None
                                            else epoch, kwargs=kwargs))

    def post_ui(self, ev: UiEvent) -> None:
        """Called by the display (and by scripted customers) for every UI event."""
        self.queue.put_nowait(TerminalEvent(trigger="ui", epoch=self.epoch, kwargs={"ui": ev}))

    async def run(self, stop: asyncio.Event) -> None:
        """Read the queue and fire triggers until ``stop`` is set."""
        await self._enter_current()
        while not stop.is_set():
            getter = asyncio.ensure_future(self.queue.get())
            stopper = asyncio.ensure_future(stop.wait())
            done, _ = await asyncio.wait({getter, stopper}, return_when=asyncio.FIRST_COMPLETED)
            if getter not in done:
                getter.cancel()
                stopper.cancel()
                break
            stopper.cancel()
            await self.dispatch(getter.result())
        self._leave()

    async def dispatch(self, ev: TerminalEvent) -> None:
        if ev.trigger == "ui":
            await self._on_ui(ev.kwargs["ui"])
            return
        if ev.epoch != self.epoch and ev.trigger not in {"fault", "reset"}:
            _LOG.debug("stale event dropped", extra={"trigger": ev.trigger, "state": self.state})
            return
        if not self.may_fire(ev.trigger):
            _LOG.info("event not valid in this state",
                      extra={"trigger": ev.trigger, "state": self.state})
            return
        await self._fire(ev.trigger, **ev.kwargs)

    async def _fire(self, trigger: str, **kwargs: Any) -> None:
        await getattr(self, trigger)(**kwargs)

    def may_fire(self, trigger: str) -> bool:
        return any(trigger == t["trigger"] and (t["source"] == self.state or
                   (isinstance(t["source"], list) and self.state in t["source"]))
                   for t in flow.TRANSITIONS)

    async def _enter_current(self) -> None:
        handler = getattr(self, f"on_enter_{self.state}", None)
        if handler is not None:
            await handler(None)

    # -- machine-wide callbacks ----------------------------------------------------------------
    def _leave(self, event: Any = None) -> None:
        """Before every state change: stop the old state's work and timer."""
        self.epoch += 1
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._task is not None and not self._task.done():
            self._task.cancel()
        self._task = None

    def _entered(self, event: Any) -> None:
        _LOG.info("state", extra={"state": self.state, "trigger": event.event.name,
                                  "terminal_id": self.cfg.terminal_id})
        for cb in self.state_listeners:
            cb(self.state)

    def _on_exception(self, event: Any) -> None:
        err = event.error
        if isinstance(err, MachineError):
            raise err
        _LOG.error("fault in state callback", exc_info=err, extra={"state": self.state})
        self.fault_reason = type(err).__name__
        self.post("fault", reason=str(err))

    # -- conditions (pure) ---------------------------------------------------------------------
    def is_withdrawal(self, event: Any) -> bool:
        return self.txn.kind == "withdrawal"

    # -- helpers -------------------------------------------------------------------------------
    def _start(self, coro: Coroutine[Any, Any, None]) -> None:
        epoch = self.epoch

        async def guarded() -> None:
            try:
                await coro
            except asyncio.CancelledError:
                raise
            except Exception as e:  # a broken device is a fault, never a crash
                _LOG.exception("device task failed", extra={"state": self.state})
                self.post("fault", epoch, reason=f"{type(e).__name__}: {e}")

        self._task = asyncio.create_task(guarded())

    def _arm_timeout(self, seconds: float) -> None:
        epoch = self.epoch
        self._timer = asyncio.get_running_loop().call_later(
            seconds, lambda: self.post("timeout", epoch))

    def _show(self, screen: ScreenId, title: str, *, lines: tuple[str, ...] = (),
              options: tuple[MenuOption, ...] = (), entry: str = "", hint: str = "",
              severity: str = "info") -> None:
        self.screen.show(ScreenModel(screen=screen, title=title, lines=lines, options=options,
                                     entry=entry, hint=hint, language=self.cfg.language,
                                     terminal_id=self.cfg.terminal_id,
                                     severity=Severity(severity)))

    def _money(self, minor: int) -> str:
        e = self.cfg.currency_exponent
        return f"{minor / 10**e:,.{e}f}"

    # -- states ----------------------------------------------------------------------------------
    async def on_enter_idle(self, event: Any) -> None:
        self.txn = Transaction()
        self.pin_digits = 0
        if self.pending_fault:
            # A device failed during the last customer's session (jammed dispenser...): the
            # customer got their card back first; now the terminal takes itself out of service.
            reason, self.pending_fault = self.pending_fault, ""
            self.post("fault", reason=reason)
            return
        self._show_idle()
        self._start(self._wait_for_card())

    def _show_idle(self) -> None:
        opts = tuple(MenuOption(key=k, label=label) for k, (label, _) in self.idle_actions.items())
        self._show(ScreenId.IDLE, "Welcome", lines=("Please insert your card",), options=opts[:8])

    def refresh(self) -> None:
        """Redraw the current screen (after idle actions changed)."""
        if self.state == "idle":
            self._show_idle()

    async def _wait_for_card(self) -> None:
        from devices.cardreader.base import AcceptCardRequest, CardOutcome

        while True:
            res = await self.dev.reader.accept_card(AcceptCardRequest(timeout=None), lambda e: None)
            if res.outcome is CardOutcome.OK and res.track2 is not None:
                self.post("card_read", track2=res.track2)
                return
            if res.outcome is CardOutcome.INVALID_MEDIA:
                self.journal.write("card_unreadable")
                await self.dev.reader.eject(lambda e: None)
            elif res.outcome not in {CardOutcome.TIMEOUT, CardOutcome.NO_MEDIA}:
                self.post("fault", reason=f"card reader: {res.outcome.key}")
                return

    async def on_enter_card(self, event: Any) -> None:
        t2 = event.kwargs.get("track2")
        if isinstance(t2, str):
            try:
                t2 = parse_track2(t2)
            except TrackError:
                t2 = None
        self.txn.track2 = t2
        if t2 is None:
            self.journal.write("card_bad", reason="unreadable track 2")
            self._show(ScreenId.MESSAGE, "Card cannot be read", severity="warn")
            self.post("card_bad")
            return
        self.journal.write("card_read", pan=t2.pan, service_code=t2.service_code)
        if t2.expiry < self.now().strftime("%y%m"):
            self.journal.write("card_bad", pan=t2.pan, reason="expired")
            self._show(ScreenId.MESSAGE, "Card expired", severity="warn")
            self.post("card_bad")
            return
        if self.dev.chip is not None and t2.service_code[:1] in ("2", "6"):
            self._start(self._detect_chip())
            return
        self.post("card_ok")

    async def _detect_chip(self) -> None:
        """A chip card: the chip must be used; without a working chip, fall back or refuse."""
        from devices.cardreader.chip import ChipOutcome

        chip = self.dev.chip
        assert chip is not None
        res = await chip.wait_for_card(lambda e: None, timeout=self.cfg.devices.chip_detect_s)
        if res.outcome is ChipOutcome.OK:
            self.txn.entry = "chip"
        elif self.cfg.devices.chip_fallback:
            self.txn.entry = "fallback"
        else:
            self.journal.write("card_bad", reason=f"chip not usable: {res.outcome.key}")
            self._show(ScreenId.MESSAGE, "Card cannot be read", severity="warn")
            self.post("card_bad")
            return
        self.journal.write("card_entry", entry=self.txn.entry, chip=res.outcome.key)
        self.post("card_ok")

    async def on_enter_pin(self, event: Any) -> None:
        self.pin_digits = 0
        self._show_pin()
        t = self.cfg.timeouts
        self._arm_timeout(t.pin_total_s + 5.0)
        self._start(self._collect_pin())

    def _show_pin(self) -> None:
        self._show(ScreenId.PIN, "Enter your PIN", entry="*" * self.pin_digits,
                   hint="Press ENTER when done, CANCEL to stop")

    def _on_pin_key(self, ev: KeyEvent) -> None:
        self.pin_digits = ev.digits
        with contextlib.suppress(Exception):
            self._show_pin()

    async def _collect_pin(self) -> None:
        t = self.cfg.timeouts
        req = PinEntryRequest(min_length=4, max_length=12, inter_key_timeout_s=t.pin_inter_key_s,
                              total_timeout_s=t.pin_total_s)
        res = await self.dev.epp.enter_pin(req, self._on_pin_key)
        self.journal.write("pin_entry", outcome=res.outcome.value, digits=res.digits)
        if res.outcome is PinEntryOutcome.OK:
            self.post("pin_done")
        elif res.outcome is PinEntryOutcome.CANCELLED:
            self.post("cancel")
        elif res.outcome is PinEntryOutcome.TIMEOUT:
            self.post("timeout")
        else:
            self.post("fault", reason=f"EPP error {res.error}")

    async def on_enter_menu(self, event: Any) -> None:
        self._show(ScreenId.MENU, "Choose a service", options=(
            MenuOption(key="withdrawal", label="Cash withdrawal", fdk=5),
            MenuOption(key="balance", label="Balance inquiry", fdk=6),
            MenuOption(key="cancel", label="Cancel", fdk=8)))
        self._arm_timeout(self.cfg.timeouts.menu_s)

    async def on_enter_amount(self, event: Any) -> None:
        self.txn.kind = "withdrawal"
        self.txn.amount_entry = ""
        self._show_amount()
        self._arm_timeout(self.cfg.timeouts.amount_s)

    def _show_amount(self) -> None:
        opts = tuple(MenuOption(key=f"amount:{a}", label=self._money(a), fdk=i + 1)
                     for i, a in enumerate(self.cfg.amounts[:4]))
        entry = self._money(int(self.txn.amount_entry) * 10**self.cfg.currency_exponent) \
            if self.txn.amount_entry else ""
        self._show(ScreenId.AMOUNT, "Choose an amount",
                   options=(*opts, MenuOption(key="cancel", label="Cancel", fdk=8)),
                   entry=entry, hint="Or type an amount in whole units and press ENTER")

    async def on_enter_authorising(self, event: Any) -> None:
        if not self.txn.kind:
            self.txn.kind = "balance"
        self._show(ScreenId.AUTHORISING, "Please wait", lines=("Your request is being processed",))
        self._start(self._authorise())

    async def _authorise(self) -> None:
        t2 = self.txn.track2
        assert t2 is not None
        now = self.now()
        stan = self.stan.next()
        amount = self.txn.amount if self.txn.kind == "withdrawal" else 0
        kernel = None
        icc_data: str | None = None
        pan, track2, entry_mode = t2.pan, t2.encode(), "021"
        if self.txn.entry == "fallback":
            entry_mode = "801"
        elif self.txn.entry == "chip":
            kernel, first = await self._chip_first_ac(amount, now, stan)
            if first is None:
                return  # the chip path already posted the outcome
            if kernel is None:  # the chip failed during the transaction: magstripe fallback
                entry_mode = "801"
            else:
                pan, track2, entry_mode = first.pan, first.track2_equivalent, "051"
                icc_data = first.field55.hex().upper()
        pin_block = await self.dev.epp.get_pin_block(key_name="TPK", fmt="01", pan=pan)
        self.txn.stan = stan
        self.txn.rrn = now.strftime("%y%j%H") + stan[-5:]  # YYDDDhh + 5 STAN digits = 12
        req = FinancialRequest(
            pan=pan, processing_code="010000" if self.txn.kind == "withdrawal" else "310000",
            amount=amount, transmission_datetime=now.strftime("%m%d%H%M%S"), stan=stan,
            local_time=now.strftime("%H%M%S"), local_date=now.strftime("%m%d"), expiry=t2.expiry,
            pos_entry_mode=entry_mode, track2=track2, rrn=self.txn.rrn,
            terminal_id=self.cfg.terminal_id, merchant_id=self.cfg.merchant_id,
            currency=self.cfg.currency, pin_block=pin_block.hex().upper(), icc_data=icc_data,
            additional_data=self.txn.evidence or None)
        self.txn.evidence = ""
        self.txn.request = req
        try:
            fields = await self.host.request(req.to_fields(), timeout=self.cfg.host.timeout_s)
            resp = FinancialResponse.from_fields(fields)
        except (TimeoutError, OSError, ConnectionError) as e:
            self.journal.write("host_unavailable", pan=t2.pan, stan=stan, error=type(e).__name__)
            resp = FinancialResponse(stan=stan, terminal_id=self.cfg.terminal_id,
                                     response_code="91")
            if self.txn.kind == "withdrawal":
                # The host may have approved and debited: reverse it (reason 68: no response).
                self._reverse(actual_amount=None, reason="68")
        if kernel is not None:
            resp = await self._chip_complete(kernel, resp)
        self.txn.response = resp
        self.journal.write("authorisation", pan=pan, stan=stan, rrn=self.txn.rrn,
                           kind=self.txn.kind, amount=amount, rc=resp.response_code,
                           auth_code=resp.auth_code or "", entry=self.txn.entry)
        notice = resp.additional_response or ""
        if resp.response_code == "1A" and notice.startswith("SU") and ":" in notice:
            factor, challenge = notice[2:].split(":", 1)
            self.txn.stepup_factor, self.txn.stepup_challenge = factor, challenge
            self.journal.write("stepup_required", stan=stan, factor=factor)
            self.post("stepup_required")
            return
        if notice.startswith("IDEXPIRED"):
            self.journal.write("id_expiry_notice", stan=stan)
        self.post("approved" if resp.approved else "declined")

    # -- the chip (EMV) path ---------------------------------------------------------------------
    def _emv_config(self) -> Any:
        from devices.emv.kernel import FallbackPolicy
        from devices.emv.kernel import TerminalConfig as EmvTerminalConfig

        return EmvTerminalConfig(  # 9F1A / 5F2A are n3 in two BCD bytes: "156" -> 01 56
            country=bytes.fromhex(self.cfg.country.zfill(4)),
            currency=bytes.fromhex(self.cfg.currency.zfill(4)),
            ifd_serial=self.cfg.terminal_id.encode()[:8].ljust(8, b"0"),
            fallback=FallbackPolicy(allow_fallback=self.cfg.devices.chip_fallback))

    async def _chip_first_ac(self, amount: int, now: _dt.datetime, stan: str) -> tuple[Any, Any]:
        from devices.emv.kernel import EmvKernel, KernelOutcome, TransactionRequest

        assert self.dev.chip is not None
        kernel = EmvKernel(self.dev.chip, self._emv_config(), _AtmCardholder(self))
        first = await kernel.start(TransactionRequest(
            amount=amount, when=now.date(), transaction_type=0x01 if self.txn.kind == "withdrawal"
            else 0x31, sequence_counter=int(stan)))
        self.txn.chip_outcome = first.outcome.value
        self.journal.write("chip_first_ac", outcome=first.outcome.value, reason=first.reason,
                           tvr=first.tvr.hex().upper())
        if first.outcome is KernelOutcome.ONLINE_REQUEST:
            return kernel, first
        if first.outcome is KernelOutcome.FALLBACK:
            self.txn.entry = "fallback"
            return None, _Fallback(self.txn)
        if first.outcome in {KernelOutcome.CARD_REMOVED, KernelOutcome.CANCELED}:
            # Nothing went to the host: end the session as not completed (06) and eject.
            self.txn.response = FinancialResponse(stan=stan, terminal_id=self.cfg.terminal_id,
                                                  response_code="06")
            self.post("declined")
            return None, None
        # Declined offline by the card, application blocked, or a technical end.
        self.txn.response = FinancialResponse(stan=stan, terminal_id=self.cfg.terminal_id,
                                              response_code="57" if first.outcome is
                                              KernelOutcome.NOT_ACCEPTED else "06")
        self.post("declined")
        return None, None

    async def _chip_complete(self, kernel: Any, resp: FinancialResponse) -> FinancialResponse:
        from devices.emv.kernel import HostResponse, SecondOutcome
        from sst.common.tlv import decode_tlv, to_dict

        host: HostResponse | None
        if resp.response_code == "91" and not resp.approved:
            host = None  # no answer: the card decides (normally AAC)
        else:
            issuer: bytes | None = None
            scripts = b""
            if resp.icc_data:
                tlvs = decode_tlv(bytes.fromhex(resp.icc_data))
                issuer = to_dict(tlvs).get(0x91)
                scripts = b"".join(_raw(t) for t in tlvs if t.tag in (0x71, 0x72))
            host = HostResponse(approved=resp.approved, arc=resp.response_code.encode(),
                                issuer_auth_data=issuer, scripts=scripts)
        second = await kernel.complete(host)
        self.journal.write("chip_second_ac", outcome=second.outcome.value, reason=second.reason,
                           reversal=second.reversal_required)
        if resp.approved and second.outcome is not SecondOutcome.APPROVED:
            if second.reversal_required:
                self._reverse(actual_amount=None, reason="06" if second.outcome is
                              SecondOutcome.DECLINED else "17")
            return resp.with_code("06")  # the card refused the host's approval: not completed
        return resp

    async def on_enter_stepup(self, event: Any) -> None:
        self.txn.stepup_entry = ""
        if self.txn.stepup_factor != "OTP":
            # Fingerprint and video step-up need the capture devices wired to the host's
            # matcher; this terminal offers the SMS code only and says so.
            self.journal.write("stepup_unavailable", factor=self.txn.stepup_factor)
            self.txn.response = FinancialResponse(stan=self.txn.stan,
                                                  terminal_id=self.cfg.terminal_id,
                                                  response_code="1A")
            self._show(ScreenId.MESSAGE, "Extra verification needed",
                       lines=("This verification is not available here.",
                              "Please visit a branch counter."), severity="warn")
            self._arm_timeout(self.cfg.timeouts.message_s)
            return
        self._show_stepup()
        self._arm_timeout(self.cfg.timeouts.amount_s)

    def _show_stepup(self) -> None:
        self._show(ScreenId.MESSAGE, "Extra verification",
                   lines=("We have sent a verification code to your phone.",
                          "Type it and press ENTER."),
                   entry=self.txn.stepup_entry, hint="CANCEL to stop",
                   options=(MenuOption(key="cancel", label="Cancel", fdk=8),))

    async def _stepup_ui(self, ui: UiEvent) -> None:
        if self.txn.stepup_factor != "OTP" or ui.kind is not UiEventKind.KEY:
            return
        if ui.value.isdigit() and len(self.txn.stepup_entry) < 8:
            self.txn.stepup_entry += ui.value
        elif ui.value == PadKey.CLEAR:
            self.txn.stepup_entry = ""
        elif ui.value == PadKey.ENTER and self.txn.stepup_entry:
            self.txn.evidence = f"SUOTP:{self.txn.stepup_challenge}:{self.txn.stepup_entry}"
            self.txn.stepup_entry = ""
            self.journal.write("stepup_evidence", factor="OTP")
            await self._fire("evidence_ready")
            return
        self._show_stepup()

    async def on_enter_dispense(self, event: Any) -> None:
        self._show(ScreenId.DISPENSE, "Please take your cash",
                   lines=(f"Amount: {self._money(self.txn.amount)}",))
        self._start(self._dispense())

    async def _dispense(self) -> None:
        from devices.cdm.base import DispenseOutcome, DispenseRequest, PresentOutcome

        res = await self.dev.dispenser.dispense(
            DispenseRequest(amount=self.txn.amount, currency=self.cfg.currency_alpha),
            lambda e: None)
        self.txn.notes = dict(res.notes)
        self.journal.write("dispense", stan=self.txn.stan, amount=self.txn.amount,
                           dispensed=res.amount_dispensed, outcome=res.outcome.key,
                           notes={str(k): v for k, v in res.notes.items()})
        given = res.amount_dispensed
        if res.outcome in {DispenseOutcome.JAMMED, DispenseOutcome.PARTIAL,
                           DispenseOutcome.DEVICE_NOT_READY, DispenseOutcome.CASH_UNIT_ERROR}:
            self.pending_fault = f"dispenser: {res.outcome.key}"
        if res.outcome is DispenseOutcome.OK or given > 0:
            pres = await self.dev.dispenser.present(lambda e: None)
            if pres.outcome is not PresentOutcome.TAKEN:
                # Notes retracted, or never reached the customer: nothing was given.
                self.journal.write("present_failed", stan=self.txn.stan, outcome=pres.outcome.key)
                given = 0
        if given < self.txn.amount:
            # Partial or failed dispense: reverse exactly what the customer did not get.
            self._reverse(actual_amount=given if given > 0 else None, reason="22")
        await self._print_receipt("CASH WITHDRAWAL", (
            f"AMOUNT   {self._money(given)}",
            *(() if given == self.txn.amount else
              (f"REQUESTED {self._money(self.txn.amount)}", "THE DIFFERENCE WILL NOT BE CHARGED"))))
        self.post("dispensed")

    def _reverse(self, *, actual_amount: int | None, reason: str) -> None:
        """Queue a reversal advice of the current request (full, or partial with field 95)."""
        req = self.txn.request
        if req is None or self.txn.reversed:
            return
        if self.saf is None:
            self.journal.write("reversal_not_possible", stan=req.stan, reason="no SAF queue")
            return
        rev = ReversalRequest.for_original(req, stan=self.stan.next(), actual_amount=actual_amount,
                                           reason_code=reason)
        self.saf.enqueue(rev.to_fields())
        self.txn.reversed = True
        self.journal.write("reversal_queued", pan=req.pan, original_stan=req.stan, stan=rev.stan,
                           amount=req.amount, actual_amount=actual_amount or 0, reason=reason)

    async def on_enter_balance(self, event: Any) -> None:
        resp = self.txn.response
        bal = resp.available_balance() if resp else None
        text = self._money(bal) if bal is not None else "n/a"
        self._show(ScreenId.BALANCE, "Your balance", lines=(f"Available: {text}",),
                   options=(MenuOption(key="ok", label="OK", fdk=8),))
        self.journal.write("balance_shown", stan=self.txn.stan)
        self._arm_timeout(self.cfg.timeouts.message_s)
        self._start(self._print_receipt("BALANCE INQUIRY", (f"AVAILABLE {text}",)))

    async def on_enter_declined(self, event: Any) -> None:
        rc = self.txn.response.response_code if self.txn.response else "96"
        self._show(ScreenId.DECLINED, "Transaction declined",
                   lines=(DECLINE_TEXT.get(rc, "Transaction cannot be completed"), f"Code {rc}"),
                   options=(MenuOption(key="ok", label="OK", fdk=8),), severity="error")
        self._arm_timeout(self.cfg.timeouts.message_s)

    async def on_enter_eject(self, event: Any) -> None:
        self._show(ScreenId.EJECT, "Please take your card")
        self._arm_timeout(self.cfg.timeouts.eject_s + 5.0)
        self._start(self._eject())

    async def _eject(self) -> None:
        from devices.cardreader.base import EjectOutcome, EjectRequest

        if self.dev.chip is not None and self.txn.entry == "chip":
            from devices.cardreader.chip import ChipPowerAction

            with contextlib.suppress(Exception):
                await self.dev.chip.chip_power(ChipPowerAction.OFF)

        res = await self.dev.reader.eject(
            lambda e: None, EjectRequest(taken_timeout=self.cfg.timeouts.eject_s,
                                         retain_if_not_taken=True))
        self.journal.write("card_ejected", outcome=res.outcome.key)
        if res.outcome in {EjectOutcome.TAKEN, EjectOutcome.RETAINED, EjectOutcome.NO_MEDIA}:
            self.post("card_taken")
        else:
            self.post("fault", reason=f"card reader: {res.outcome.key}")

    async def on_enter_out_of_service(self, event: Any) -> None:
        reason = event.kwargs.get("reason", self.fault_reason) if event is not None else ""
        self.journal.write("out_of_service", reason=str(reason))
        self._show(ScreenId.OUT_OF_SERVICE, "Out of service",
                   lines=("Sorry for the inconvenience",), severity="error")

    async def _print_receipt(self, title: str, lines: tuple[str, ...]) -> None:
        from devices.printer.base import Receipt

        t2 = self.txn.track2
        resp = self.txn.response
        body = (f"TERMINAL {self.cfg.terminal_id}", f"DATE     {self.now():%Y-%m-%d %H:%M:%S}",
                f"CARD     {mask_pan(t2.pan) if t2 else ''}", f"STAN     {self.txn.stan}",
                f"RRN      {self.txn.rrn}", f"AUTH     {resp.auth_code if resp else ''}", *lines)
        await self.dev.printer.print_receipt(
            Receipt(title=title, lines=body,
                    name=f"receipt-{self.cfg.terminal_id}-{self.txn.stan}"),
            lambda e: None)

    # -- UI events -------------------------------------------------------------------------------
    async def _on_ui(self, ui: UiEvent) -> None:
        state = self.state
        if ui.kind is UiEventKind.QUIT:
            return
        if state == "idle" and ui.kind is UiEventKind.OPTION and ui.value in self.idle_actions:
            self.idle_actions[ui.value][1]()
            return
        is_cancel = (ui.kind is UiEventKind.KEY and ui.value == PadKey.CANCEL) or \
                    (ui.kind is UiEventKind.OPTION and ui.value == "cancel")
        if state == "pin":
            # On emulated hardware the screen's keys drive the EPP's keypad; the digits go to
            # the EPP and never pass through the terminal's own state.
            if ui.kind is UiEventKind.KEY and self.dev.keypad is not None:
                await self.dev.keypad.press(ui.value)
            elif is_cancel and self.dev.keypad is not None:
                await self.dev.keypad.press("CANCEL")
            return
        if is_cancel and self.may_fire("cancel"):
            await self._fire("cancel")
            return
        if state == "menu" and ui.kind is UiEventKind.OPTION:
            if ui.value == "withdrawal":
                await self._fire("choose_withdrawal")
            elif ui.value == "balance":
                await self._fire("choose_balance")
        elif state == "amount":
            await self._amount_ui(ui)
        elif state == "stepup":
            await self._stepup_ui(ui)
        elif state in {"balance", "declined"} and (
                ui.kind is UiEventKind.OPTION
                or (ui.kind is UiEventKind.KEY and ui.value == PadKey.ENTER)):
            await self._fire("acknowledged")

    async def _amount_ui(self, ui: UiEvent) -> None:
        if ui.kind is UiEventKind.OPTION and ui.value.startswith("amount:"):
            self.txn.amount = int(ui.value.split(":", 1)[1])
            await self._fire("amount_done")
        elif ui.kind is UiEventKind.KEY:
            if ui.value.isdigit() and len(self.txn.amount_entry) < 7:
                self.txn.amount_entry += ui.value
            elif ui.value == PadKey.CLEAR:
                self.txn.amount_entry = ""
            elif (ui.value == PadKey.ENTER and self.txn.amount_entry
                  and int(self.txn.amount_entry) > 0):
                self.txn.amount = int(self.txn.amount_entry) * 10**self.cfg.currency_exponent
                await self._fire("amount_done")
                return
            self._show_amount()


def _raw(t: Any) -> bytes:
    from sst.common.tlv import encode_tlv

    return encode_tlv([t])


class _Fallback:
    """Stand-in first-AC result for a chip failure that falls back to the magstripe."""

    def __init__(self, txn: Transaction) -> None:
        t2 = txn.track2
        assert t2 is not None
        self.pan, self.track2_equivalent, self.field55 = t2.pan, t2.encode(), b""


class _AtmCardholder:
    """The EMV kernel's cardholder callbacks at an ATM: online PIN only (already entered)."""

    def __init__(self, model: TerminalModel) -> None:
        self._m = model

    async def choose_application(self, candidates: Any) -> int | None:
        return 0  # the highest-priority application (candidates come sorted)

    async def online_pin(self) -> bool:
        return self._m.pin_digits > 0  # the PIN is in the EPP; the block is formed later

    async def offline_pin(self, present: Any, tries_left: int | None) -> Any:
        from devices.emv.kernel import OfflinePinResult

        return OfflinePinResult.BYPASSED  # no offline PIN at an ATM

    async def signature(self) -> bool:
        return False


def _trigger_query(name: str) -> Callable[[TerminalModel], bool]:
    def query(self: TerminalModel) -> bool:
        return self.may_fire(name)
    return query


# ``may_<trigger>`` queries are declared on the model too: with model_override the machine binds
# only names the model declares. (``is_<state>`` cannot be declared: the hierarchical machine
# needs its own wrapper there; the model uses ``state`` directly.)
for _trigger in flow.TRIGGERS:
    setattr(TerminalModel, f"may_{_trigger}", _trigger_query(_trigger))


class _State(NestedAsyncState):
    """Nested states separated by '.', so state names may contain '_' (out_of_service)."""

    separator = "."


class _Machine(HierarchicalAsyncMachine):
    state_cls = _State


def build_machine(model: TerminalModel) -> HierarchicalAsyncMachine:
    """Bind the flow tables to a model (one machine per model)."""
    # With the '.' separator the machine does not pick up on_enter_<state> by name: declare them.
    states = [{"name": s,
               **({"on_enter": f"on_enter_{s}"} if hasattr(model, f"on_enter_{s}") else {})}
              for s in flow.STATES]
    return _Machine(
        model=model, states=states, transitions=flow.TRANSITIONS, initial=flow.INITIAL,
        send_event=True, queued=True, model_override=True, auto_transitions=False,
        before_state_change="_leave", after_state_change="_entered",
        on_exception="_on_exception")

