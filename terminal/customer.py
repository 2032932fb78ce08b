"""A scripted customer: drives the terminal like a person would, through the same devices.

It inserts an emulated magstripe card, presses the PIN on the EPP's keypad (the digits go to
the EPP, never to the terminal), picks menu options on the screen and waits for the outcome.
QA scenarios and the headless demo use it.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

from screens.model import UiEvent, UiEventKind
from sst.common.redact import mask_pan
from terminal.app import TerminalModel

__all__ = ["CardSpec", "ScriptedCustomer", "Visit", "VisitResult"]

_LOG = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True)
class CardSpec:
    pan: str
    expiry: str
    service_code: str
    discretionary: str = ""

    def __repr__(self) -> str:
        return f"CardSpec(pan={mask_pan(self.pan)!r})"


@dataclass(frozen=True, kw_only=True)
class Visit:
    label: str
    card: CardSpec
    pin: str
    action: str  # "withdrawal" | "balance"
    amount: int = 0
    #: the card's chip personalisation (a profile id); "" for a magstripe-only visit
    chip_profile: str = ""

    def __repr__(self) -> str:
        return f"Visit(label={self.label!r}, action={self.action!r}, amount={self.amount})"


@dataclass(frozen=True, kw_only=True)
class VisitResult:
    label: str
    response_code: str
    states: tuple[str, ...]
    balance: int | None = None
    notes: tuple[tuple[int, int], ...] = ()


class ScriptedCustomer:
    """``chip_slot(visit)`` (optional) puts the chip of the visit's card in the chip reader
    (an in-process slot, or a virtual card connecting to vpcd) and returns a callable that
    takes it out again when the card is handed back."""

    def __init__(self, model: TerminalModel, reader: Any, keypad: Any, *,
                 step_timeout: float = 30.0, card_factory: Any, chip_slot: Any = None,
                 otp_source: Any = None) -> None:
        self._chip_slot = chip_slot
        #: ``await otp_source(visit, challenge_id) -> str``: reads the SMS the host "sent"
        self._otp_source = otp_source
        self._m = model
        self._reader = reader
        self._keypad = keypad
        self._timeout = step_timeout
        self._card_factory = card_factory
        self._states: asyncio.Queue[str] = asyncio.Queue()
        model.state_listeners.append(self._states.put_nowait)

    async def _wait(self, *wanted: str) -> str:
        async def until() -> str:
            while True:
                if self._m.state in wanted and self._states.empty():
                    return self._m.state
                s = await self._states.get()
                self._seen.append(s)
                if s in wanted:
                    return s
        return await asyncio.wait_for(until(), self._timeout)

    async def visit(self, v: Visit) -> VisitResult:
        self._seen: list[str] = []
        while not self._states.empty():
            self._states.get_nowait()
        await self._wait("idle")
        _LOG.info("customer arrives", extra={"visit": v.label, "pan": mask_pan(v.card.pan)})
        take_chip = None
        if self._chip_slot is not None and v.chip_profile:
            take_chip = await self._chip_slot(v)
        try:
            return await self._session(v)
        finally:
            if take_chip is not None:
                await take_chip()

    async def _session(self, v: Visit) -> VisitResult:
        self._reader.insert(self._card_factory(v.card))
        got = await self._wait("pin", "eject")
        if got == "eject":
            await self._wait("idle")
            return VisitResult(label=v.label, response_code="--", states=tuple(self._seen))
        await self._keypad.press(v.pin)
        await self._keypad.press("ENTER")
        await self._wait("menu")
        self._m.post_ui(UiEvent(kind=UiEventKind.OPTION, value=v.action))
        if v.action == "withdrawal":
            await self._wait("amount")
            if v.amount in self._m.cfg.amounts:
                self._m.post_ui(UiEvent(kind=UiEventKind.OPTION, value=f"amount:{v.amount}"))
            else:
                for d in str(v.amount // 10**self._m.cfg.currency_exponent):
                    self._m.post_ui(UiEvent(kind=UiEventKind.KEY, value=d))
                self._m.post_ui(UiEvent(kind=UiEventKind.KEY, value="ENTER"))
        outcome = await self._wait("dispense", "balance", "declined", "stepup")
        if outcome == "stepup":
            if self._otp_source is None or self._m.txn.stepup_factor != "OTP":
                self._m.post_ui(UiEvent(kind=UiEventKind.KEY, value="CANCEL"))
                await self._wait("idle")
                return VisitResult(label=v.label, response_code="1A", states=tuple(self._seen))
            code = await self._otp_source(v, self._m.txn.stepup_challenge)
            for d in code:
                self._m.post_ui(UiEvent(kind=UiEventKind.KEY, value=d))
            self._m.post_ui(UiEvent(kind=UiEventKind.KEY, value="ENTER"))
            outcome = await self._wait("dispense", "balance", "declined")
        resp = self._m.txn.response
        rc = resp.response_code if resp else "--"
        balance = resp.available_balance() if resp else None
        if outcome in {"balance", "declined"}:
            self._m.post_ui(UiEvent(kind=UiEventKind.OPTION, value="ok"))
        await self._wait("eject")
        notes = tuple(sorted(self._m.txn.notes.items()))
        await self._wait("idle")
        return VisitResult(label=v.label, response_code=rc, states=tuple(self._seen),
                           balance=balance, notes=notes)
