"""An in-process emulated chip reader holding a :class:`~devices.vcard.card.VirtualEmvCard`.

It implements :class:`devices.cardreader.chip.ChipCardReader` without PC/SC, for fast unit
tests: the same card application answers as through vpcd.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Callable

from devices.cardreader.base import MediaInsertedEvent, MediaRemovedEvent, MediaStatus
from devices.cardreader.chip import (
    ChipIoResult,
    ChipOutcome,
    ChipPower,
    ChipPowerAction,
    ChipPowerResult,
    ChipProtocol,
    ChipReaderCapabilities,
    ChipReaderStatus,
    WaitCardResult,
)
from devices.common.codes import CompletionCode
from devices.common.events import EventBus, EventSink
from devices.common.service import DeviceService
from devices.emv.atr import atr_protocols
from devices.emv.errors import ApduError
from devices.vcard.card import CardPulledError, VirtualEmvCard

__all__ = ["EmulatedChipReader"]


class EmulatedChipReader(DeviceService[ChipReaderStatus]):
    """Dip reader with a virtual card slot; :meth:`insert` / :meth:`remove` drive it."""

    def __init__(
        self, *, name: str = "chip", bus: EventBus | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:  # fmt: skip
        super().__init__(name=name, status=ChipReaderStatus(), bus=bus, command_timeout=30.0,
                         clock=clock)  # fmt: skip
        self._card: VirtualEmvCard | None = None
        self._arrived = asyncio.Event()
        self._capabilities = ChipReaderCapabilities()

    @property
    def capabilities(self) -> ChipReaderCapabilities:
        """Reader capabilities."""
        return self._capabilities

    @property
    def card(self) -> VirtualEmvCard | None:
        """The card in the slot."""
        return self._card

    def insert(self, card: VirtualEmvCard) -> None:
        """The customer dips ``card``."""
        if self._card is not None:
            raise RuntimeError("a card is already in the reader")
        self._card = card
        self._set(media=MediaStatus.PRESENT, chip_power=ChipPower.POWERED_OFF)
        self._publish(MediaInsertedEvent(device=self.name))
        self._arrived.set()

    def remove(self) -> None:
        """The customer pulls the card."""
        if self._card is None:
            return
        self._card.reset()
        self._card = None
        self._arrived.clear()
        self._set(media=MediaStatus.NOT_PRESENT, chip_power=ChipPower.NO_CARD)
        self._publish(MediaRemovedEvent(device=self.name))

    def _set(self, **changes: object) -> None:
        self._set_status(dataclasses.replace(self.status, **changes))  # type: ignore[arg-type]

    async def open(self) -> None:
        """Nothing to open."""

    async def close(self) -> None:
        """Nothing to close."""

    async def wait_for_card(self, events: EventSink, *, timeout: float | None) -> WaitCardResult:  # noqa: ASYNC109
        """Wait for :meth:`insert`."""

        async def op() -> WaitCardResult:
            while self._card is None:
                await self._arrived.wait()
            events(MediaInsertedEvent(device=self.name))
            return WaitCardResult(outcome=ChipOutcome.OK)

        return await self._execute(
            "wait_for_card", op, timeout=timeout,
            aborted=lambda c: WaitCardResult(outcome=ChipOutcome.TIMEOUT
                                             if c is CompletionCode.TIMEOUT
                                             else ChipOutcome.CANCELED),
        )  # fmt: skip

    async def chip_power(self, action: ChipPowerAction) -> ChipPowerResult:
        """Power the card: the ATR is checked like a real reader does."""

        async def op() -> ChipPowerResult:
            card = self._card
            if card is None:
                return ChipPowerResult(outcome=ChipOutcome.NO_MEDIA)
            if action is ChipPowerAction.OFF:
                card.reset()
                self._set(chip_power=ChipPower.POWERED_OFF)
                return ChipPowerResult(outcome=ChipOutcome.OK)
            card.reset()
            try:
                protos = atr_protocols(card.atr)
            except ApduError:
                self._set(chip_power=ChipPower.HARDWARE_ERROR)
                return ChipPowerResult(outcome=ChipOutcome.ATR_NOT_OBTAINED)
            card.power_on()
            self._set(chip_power=ChipPower.ONLINE)
            proto = ChipProtocol.T1 if 1 in protos else ChipProtocol.T0
            return ChipPowerResult(outcome=ChipOutcome.OK, atr=card.atr, protocol=proto)

        return await self._execute(
            "chip_power", op, timeout=self._command_timeout,
            aborted=lambda c: ChipPowerResult(outcome=ChipOutcome.TIMEOUT
                                              if c is CompletionCode.TIMEOUT
                                              else ChipOutcome.CANCELED),
        )  # fmt: skip

    async def chip_io(self, capdu: bytes) -> ChipIoResult:
        """One APDU exchange with the card application."""

        async def op() -> ChipIoResult:
            card = self._card
            if card is None:
                return ChipIoResult(outcome=ChipOutcome.NO_MEDIA)
            if not card.powered:
                return ChipIoResult(outcome=ChipOutcome.SEQUENCE_ERROR)
            try:
                r = card.process_apdu(capdu)
            except CardPulledError:
                self.remove()
                return ChipIoResult(outcome=ChipOutcome.CARD_REMOVED)
            if r is None:
                return ChipIoResult(outcome=ChipOutcome.NO_RESPONSE)
            return ChipIoResult(outcome=ChipOutcome.OK, response=r)

        return await self._execute(
            "chip_io", op, timeout=self._command_timeout,
            aborted=lambda c: ChipIoResult(outcome=ChipOutcome.TIMEOUT
                                           if c is CompletionCode.TIMEOUT
                                           else ChipOutcome.CANCELED),
        )  # fmt: skip
