"""An in-process emulated motor card reader with a magnetic stripe head.

A test or scenario inserts an :class:`EmulatedMagstripeCard`; the reader "reads" the stripe
(real ISO 7813 tracks with LRC, checked by the head), keeps the card, ejects it and waits for the
customer to take it, or retains it into its retain bin. Faults are one-shot and injected with
:meth:`EmulatedCardReader.inject_fault`.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum

from devices.cardreader.base import (
    AcceptCardRequest,
    AcceptCardResult,
    CardAction,
    CardActionEvent,
    CardOutcome,
    CardReaderCapabilities,
    CardReaderStatus,
    EjectOutcome,
    EjectRequest,
    EjectResult,
    InsertCardEvent,
    InvalidMediaEvent,
    MediaInsertedEvent,
    MediaRemovedEvent,
    MediaStatus,
    ReaderType,
    ResetResult,
    RetainOutcome,
    RetainResult,
    TrackId,
)
from devices.cardreader.track import (
    Track1,
    Track2,
    TrackError,
    build_track1,
    build_track2,
    parse_track2,
)
from devices.common.codes import CompletionCode, DeviceState
from devices.common.events import EventBus, EventSink
from devices.common.service import DeviceService
from devices.common.storage import StorageKind, StorageUnit
from sst.common.redact import Secret, mask_pan

__all__ = ["CardReaderFault", "EmulatedCardReader", "EmulatedMagstripeCard"]


class CardReaderFault(StrEnum):
    """One-shot faults for the emulated reader."""

    JAM = "jam"  # the next inserted card jams in the transport
    UNREADABLE_TRACK1 = "unreadableTrack1"
    UNREADABLE_TRACK2 = "unreadableTrack2"  # the next card's track 2 cannot be read
    CARD_NOT_TAKEN = "cardNotTaken"  # the next ejected card is not taken (even with auto_take)


@dataclass(frozen=True)
class EmulatedMagstripeCard:
    """A plastic card with an ISO 7813 stripe. ``repr`` masks the PAN and hides the rest.

    Track 1 is written only when ``name`` is given (2 to 26 track 1 characters, ``DOE/JOHN``).

    Examples
    --------
    >>> card = EmulatedMagstripeCard("4761739001010010", "2512", "201", "1234567890")
    >>> card
    EmulatedMagstripeCard(pan='476173******0010')
    >>> card.track2_raw
    ';4761739001010010=25122011234567890?7'
    >>> card.swipe_text()
    ';4761739001010010=25122011234567890?'
    """

    pan: str
    expiry: str
    service_code: str
    discretionary: str = field(default="", repr=False)
    name: str = field(default="", repr=False)

    def __post_init__(self) -> None:
        self.track2  # noqa: B018 -- validates now (raises TrackError)
        self.track1  # noqa: B018

    def __repr__(self) -> str:
        return f"EmulatedMagstripeCard(pan={mask_pan(self.pan)!r})"

    @property
    def track2(self) -> Track2:
        """Track 2 as encoded on the stripe."""
        return build_track2(self.pan, self.expiry, self.service_code, self.discretionary)

    @property
    def track1(self) -> Track1 | None:
        """Track 1, when the card carries a name."""
        if not self.name:
            return None
        return build_track1(self.pan, self.name, self.expiry, self.service_code, self.discretionary)

    @property
    def track2_raw(self) -> str:
        """Track 2 on the stripe: sentinels and LRC."""
        return self.track2.raw()

    @property
    def track1_raw(self) -> str | None:
        """Track 1 on the stripe: sentinels and LRC."""
        t1 = self.track1
        return t1.raw() if t1 is not None else None

    def swipe_text(self, *, track1_error: bool = False, track2_error: bool = False) -> str:
        """What an ASCII reader sends for this card: tracks with sentinels, no LRC, no newline.

        An unreadable track is sent as ``%E?`` / ``;E?``.
        """
        t1 = self.track1
        out = ""
        if t1 is not None:
            out += "%E?" if track1_error else t1.raw(lrc=False)
        out += ";E?" if track2_error else self.track2.raw(lrc=False)
        return out


def _head_read(raw: str | None) -> str | None:
    """A reading head delivers the track without its LRC (None if unreadable)."""
    if raw is None:
        return None
    return raw[:-1]


class EmulatedCardReader(DeviceService[CardReaderStatus]):
    """In-process emulated motor magstripe reader.

    Parameters
    ----------
    name:
        Logical device name.
    bus:
        Event bus for unsolicited events.
    auto_take:
        Ejected cards are taken at once (demos); otherwise call :meth:`take`.
    retain_capacity, retain_threshold:
        Retain bin capacity and high threshold.
    command_timeout:
        Timeout for commands without their own (eject, retain, reset).
    clock:
        Monotonic clock for trace records.
    """

    def __init__(
        self,
        *,
        name: str = "idc",
        bus: EventBus | None = None,
        auto_take: bool = False,
        retain_capacity: int = 50,
        retain_threshold: int = 40,
        command_timeout: float | None = 120.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        bin_ = StorageUnit(
            unit_id="RETAIN",
            kind=StorageKind.RETAIN_BIN,
            count=0,
            capacity=retain_capacity,
            high_threshold=retain_threshold,
        )
        super().__init__(
            name=name,
            status=CardReaderStatus(retain_bin=bin_),
            bus=bus,
            command_timeout=command_timeout,
            clock=clock,
        )
        self._auto_take = auto_take
        self._pending: EmulatedMagstripeCard | None = None
        self._card: EmulatedMagstripeCard | None = None
        self._arrived = asyncio.Event()
        self._taken = asyncio.Event()
        self._faults: set[CardReaderFault] = set()
        self._capabilities = CardReaderCapabilities(
            type=ReaderType.MOTOR,
            can_retain=True,
            can_eject=True,
            items_taken_sensor=True,
            retain_bin_capacity=retain_capacity,
        )

    # ---- scenario side -------------------------------------------------------------------

    @property
    def capabilities(self) -> CardReaderCapabilities:
        """Reader capabilities."""
        return self._capabilities

    @property
    def retain_bin(self) -> StorageUnit:
        """The retain bin snapshot."""
        bin_ = self.status.retain_bin
        assert bin_ is not None
        return bin_

    def insert(self, card: EmulatedMagstripeCard) -> None:
        """The customer inserts ``card``; it is read by the current or next ``accept_card``.

        Raises
        ------
        RuntimeError
            When a card is already in or at the reader (a scenario bug).
        """
        if self._pending is not None or self._card is not None:
            raise RuntimeError("a card is already in the reader")
        self._pending = card
        self._arrived.set()

    def take(self) -> bool:
        """The customer takes the ejected card; False when no card waits at the exit."""
        if self._card is None or self.status.media is not MediaStatus.ENTERING:
            return False
        self._card = None
        self._set_media(MediaStatus.NOT_PRESENT)
        self._publish(MediaRemovedEvent(device=self.name))
        self._taken.set()
        return True

    def inject_fault(self, fault: CardReaderFault) -> None:
        """Arm a one-shot fault."""
        self._faults.add(fault)

    def clear_faults(self) -> None:
        """Disarm every fault."""
        self._faults.clear()

    def empty_retain_bin(self) -> None:
        """Supervisor empties the retain bin."""
        self._set_bin(self.retain_bin.replenished(0))

    def _consume(self, fault: CardReaderFault) -> bool:
        if fault in self._faults:
            self._faults.discard(fault)
            return True
        return False

    def _set_media(self, media: MediaStatus, device: DeviceState | None = None) -> None:
        self._set_status(
            dataclasses.replace(
                self.status, media=media, device=device if device else self.status.device
            )
        )

    def _set_bin(self, new: StorageUnit) -> None:
        old = self.retain_bin
        self._set_status(dataclasses.replace(self.status, retain_bin=new))
        self._storage_changed(old, new)

    # ---- Protocol ------------------------------------------------------------------------

    async def open(self) -> None:
        """Nothing to open."""

    async def close(self) -> None:
        """Nothing to close."""

    async def accept_card(self, req: AcceptCardRequest, events: EventSink) -> AcceptCardResult:
        """Wait for :meth:`insert`, then read the stripe."""
        return await self._execute(
            "accept_card",
            lambda: self._do_accept_card(req, events),
            aborted=lambda c: AcceptCardResult(
                outcome=CardOutcome.TIMEOUT
                if c is CompletionCode.TIMEOUT
                else CardOutcome.CANCELED
            ),
            timeout=req.timeout,
        )

    async def eject(self, events: EventSink, req: EjectRequest | None = None) -> EjectResult:
        """Move the card to the exit and wait until it is taken."""
        r = req if req is not None else EjectRequest()
        return await self._execute(
            "eject",
            lambda: self._do_eject(r, events),
            aborted=lambda c: EjectResult(
                outcome=EjectOutcome.TIMEOUT
                if c is CompletionCode.TIMEOUT
                else EjectOutcome.CANCELED
            ),
            timeout=self._command_timeout,
        )

    async def retain(self, events: EventSink) -> RetainResult:
        """Capture the card into the retain bin."""
        return await self._execute(
            "retain",
            lambda: self._do_retain(events),
            aborted=lambda c: RetainResult(
                outcome=RetainOutcome.TIMEOUT
                if c is CompletionCode.TIMEOUT
                else RetainOutcome.CANCELED,
                retained_count=self.retain_bin.count,
            ),
            timeout=self._command_timeout,
        )

    async def reset(self) -> ResetResult:
        """Clear a jam (the jammed card is retained) and go back online."""
        return await self._execute(
            "reset",
            self._do_reset,
            aborted=lambda c: ResetResult(completion=c),
            timeout=self._command_timeout,
        )

    # ---- hooks ---------------------------------------------------------------------------

    async def _do_accept_card(self, req: AcceptCardRequest, events: EventSink) -> AcceptCardResult:
        if self.status.media is MediaStatus.JAMMED:
            return AcceptCardResult(outcome=CardOutcome.JAMMED)
        if self._card is None:
            events(InsertCardEvent(device=self.name))
            while self._pending is None:
                self._arrived.clear()
                await self._arrived.wait()
            self._card, self._pending = self._pending, None
            self._arrived.clear()
            if self._consume(CardReaderFault.JAM):
                self._set_media(MediaStatus.JAMMED, DeviceState.HARDWARE_ERROR)
                return AcceptCardResult(outcome=CardOutcome.JAMMED)
            self._set_media(MediaStatus.PRESENT)
            events(MediaInsertedEvent(device=self.name))
        card = self._card
        t2_raw = None if self._consume(CardReaderFault.UNREADABLE_TRACK2) else card.track2_raw
        t1_raw = None if self._consume(CardReaderFault.UNREADABLE_TRACK1) else card.track1_raw
        track1 = None
        if TrackId.TRACK1 in req.tracks:
            t1 = _head_read(t1_raw)
            track1 = Secret(t1) if t1 is not None else None
        if t2_raw is None:
            events(InvalidMediaEvent(device=self.name))
            return AcceptCardResult(outcome=CardOutcome.INVALID_MEDIA, track1=track1)
        try:
            track2 = parse_track2(t2_raw)  # the head checks sentinels and LRC
        except TrackError as e:
            events(InvalidMediaEvent(device=self.name, reason=e.reason))
            return AcceptCardResult(
                outcome=CardOutcome.INVALID_MEDIA, track1=track1, track2_error=e.reason
            )
        return AcceptCardResult(outcome=CardOutcome.OK, track2=track2, track1=track1)

    async def _do_eject(self, req: EjectRequest, events: EventSink) -> EjectResult:  # noqa: PLR0911 -- one early return per XFS outcome
        if self.status.media is MediaStatus.JAMMED:
            return EjectResult(outcome=EjectOutcome.JAMMED)
        if self._card is None:
            return EjectResult(outcome=EjectOutcome.NO_MEDIA)
        self._taken.clear()
        self._set_media(MediaStatus.ENTERING)
        not_taken = self._consume(CardReaderFault.CARD_NOT_TAKEN)
        if self._auto_take and not not_taken:
            self.take()
            return EjectResult(outcome=EjectOutcome.TAKEN)
        try:
            await asyncio.wait_for(self._taken.wait(), req.taken_timeout)
        except TimeoutError:
            if not req.retain_if_not_taken:
                return EjectResult(outcome=EjectOutcome.NOT_TAKEN)
            if self.retain_bin.space == 0:
                return EjectResult(outcome=EjectOutcome.RETAIN_BIN_FULL)
            self._retain_card()
            events(CardActionEvent(device=self.name, action=CardAction.RETAINED))
            return EjectResult(outcome=EjectOutcome.RETAINED)
        return EjectResult(outcome=EjectOutcome.TAKEN)

    def _retain_card(self) -> None:
        self._card = None
        self._set_media(MediaStatus.NOT_PRESENT, DeviceState.ONLINE)
        self._set_bin(self.retain_bin.add(1))

    async def _do_retain(self, events: EventSink) -> RetainResult:
        del events
        if self.status.media is MediaStatus.JAMMED:
            return RetainResult(outcome=RetainOutcome.JAMMED, retained_count=self.retain_bin.count)
        if self._card is None:
            return RetainResult(
                outcome=RetainOutcome.NO_MEDIA, retained_count=self.retain_bin.count
            )
        if self.retain_bin.space == 0:
            return RetainResult(
                outcome=RetainOutcome.RETAIN_BIN_FULL, retained_count=self.retain_bin.count
            )
        self._retain_card()
        return RetainResult(outcome=RetainOutcome.RETAINED, retained_count=self.retain_bin.count)

    async def _do_reset(self) -> ResetResult:
        if self.status.media is MediaStatus.JAMMED:
            if self.retain_bin.space > 0:
                self._retain_card()
                self._publish(CardActionEvent(device=self.name, action=CardAction.RETAINED))
            else:
                self._card = None
        elif self._card is not None and self.status.media is MediaStatus.PRESENT:
            self._set_media(MediaStatus.ENTERING)
            self._publish(CardActionEvent(device=self.name, action=CardAction.EJECTED))
        self._set_status(dataclasses.replace(self.status, device=DeviceState.ONLINE))
        return ResetResult(completion=CompletionCode.SUCCESS)
