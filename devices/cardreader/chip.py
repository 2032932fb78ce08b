"""Chip-card reader interface (XFS4IoT ``ChipPower``/``ChipIO``): requests, results, status.

A chip reader powers the contacts (``chip_power``) and exchanges APDUs (``chip_io``). Expected
outcomes (no card, card removed, no ATR, mute card) are :class:`ChipOutcome` values; exceptions
mean a bug or a broken PC/SC service. Both the PC/SC driver (:mod:`devices.cardreader.pcsc`) and
the in-process emulated reader (:mod:`devices.vcard.reader`) implement :class:`ChipCardReader`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol, runtime_checkable

from devices.cardreader.base import MediaInsertedEvent, MediaRemovedEvent, MediaStatus
from devices.common.codes import CompletionCode, DeviceState, Outcome
from devices.common.events import EventSink

__all__ = [
    "ChipCardReader",
    "ChipIo",
    "ChipIoResult",
    "ChipOutcome",
    "ChipPower",
    "ChipPowerAction",
    "ChipPowerResult",
    "ChipProtocol",
    "ChipReaderCapabilities",
    "ChipReaderStatus",
    "MediaInsertedEvent",
    "MediaRemovedEvent",
    "MediaStatus",
    "WaitCardResult",
]


class ChipPowerAction(StrEnum):
    """``ChipPower`` actions."""

    COLD = "cold"
    WARM = "warm"
    OFF = "off"


class ChipPower(StrEnum):
    """XFS4IoT ``CardReader.Status.chipPower``."""

    UNKNOWN = "unknown"
    ONLINE = "online"
    BUSY = "busy"
    POWERED_OFF = "poweredOff"
    NO_DEVICE = "noDevice"
    HARDWARE_ERROR = "hardwareError"
    NO_CARD = "noCard"


class ChipProtocol(StrEnum):
    """Negotiated transmission protocol."""

    T0 = "chipT0"
    T1 = "chipT1"


class ChipOutcome(Outcome):
    """How ``chip_power`` / ``chip_io`` / ``wait_for_card`` ended."""

    OK = ("ok", CompletionCode.SUCCESS, None)
    NO_MEDIA = ("noMedia", CompletionCode.COMMAND_ERROR_CODE, "noMedia")
    CARD_REMOVED = ("cardRemoved", CompletionCode.COMMAND_ERROR_CODE, "noMedia")
    ATR_NOT_OBTAINED = ("atrNotObtained", CompletionCode.COMMAND_ERROR_CODE, "atrNotObtained")
    INVALID_MEDIA = ("invalidMedia", CompletionCode.COMMAND_ERROR_CODE, "invalidMedia")
    NO_RESPONSE = ("noResponse", CompletionCode.HARDWARE_ERROR, None)  # mute card
    PROTOCOL_NOT_SUPPORTED = (
        "protocolNotSupported", CompletionCode.COMMAND_ERROR_CODE, "protocolNotSupported")
    SEQUENCE_ERROR = ("sequenceError", CompletionCode.SEQUENCE_ERROR, None)  # I/O before power
    TIMEOUT = ("timeout", CompletionCode.TIMEOUT, None)
    CANCELED = ("canceled", CompletionCode.CANCELED, None)
    HARDWARE_ERROR = ("hardwareError", CompletionCode.HARDWARE_ERROR, None)


@dataclass(frozen=True, kw_only=True)
class ChipPowerResult:
    """Result of ``chip_power``: the ATR after a cold or warm reset."""

    outcome: ChipOutcome
    atr: bytes = b""
    protocol: ChipProtocol | None = None

    @property
    def completion(self) -> CompletionCode:
        """XFS completion code."""
        return self.outcome.completion


@dataclass(frozen=True, kw_only=True)
class ChipIoResult:
    """Result of ``chip_io``: the R-APDU (data || SW1 SW2) when OK."""

    outcome: ChipOutcome
    response: bytes = field(default=b"", repr=False)

    @property
    def completion(self) -> CompletionCode:
        """XFS completion code."""
        return self.outcome.completion


@dataclass(frozen=True, kw_only=True)
class WaitCardResult:
    """Result of ``wait_for_card``."""

    outcome: ChipOutcome

    @property
    def completion(self) -> CompletionCode:
        """XFS completion code."""
        return self.outcome.completion


@dataclass(frozen=True, kw_only=True)
class ChipReaderStatus:
    """Status snapshot: device, media and chip power."""

    device: DeviceState = DeviceState.ONLINE
    media: MediaStatus = MediaStatus.NOT_PRESENT
    chip_power: ChipPower = ChipPower.NO_CARD


@dataclass(frozen=True, kw_only=True)
class ChipReaderCapabilities:
    """Read once, branch on it."""

    chip_protocols: frozenset[ChipProtocol] = frozenset({ChipProtocol.T0, ChipProtocol.T1})
    removal_events: bool = True


class ChipIo(Protocol):
    """What the EMV kernel needs: one APDU exchange."""

    async def chip_io(self, capdu: bytes) -> ChipIoResult:
        """Send a C-APDU, return the R-APDU."""


@runtime_checkable
class ChipCardReader(Protocol):
    """A contact chip reader (dip or motor). Events: MediaInserted/MediaRemoved on its bus."""

    @property
    def name(self) -> str: ...

    @property
    def status(self) -> ChipReaderStatus: ...

    @property
    def capabilities(self) -> ChipReaderCapabilities: ...

    async def open(self) -> None:
        """Start the card monitor; idempotent."""

    async def close(self) -> None:
        """Stop the monitor, release the card; idempotent."""

    async def wait_for_card(self, events: EventSink, *, timeout: float | None) -> WaitCardResult:  # noqa: ASYNC109
        """Wait until a card is present (``MediaInsertedEvent``)."""

    async def chip_power(self, action: ChipPowerAction) -> ChipPowerResult:
        """Power the contacts (cold/warm reset returns the ATR) or power off."""

    async def chip_io(self, capdu: bytes) -> ChipIoResult:
        """Exchange one APDU with the powered card."""
