"""The card reader interface (magstripe part): Protocol, requests, results, status, events.

Modelled on XFS4IoT ``CardReader`` (``ICardReaderDevice.AcceptCardAsync`` and friends): long
operations are ``async``, take a typed request and an event sink and return a typed result whose
outcome enum maps to an XFS completion code. Exceptions mean a broken transport or a bug.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol, runtime_checkable

from devices.cardreader.track import Track2, TrackErrorReason
from devices.common.codes import CompletionCode, DeviceState, Outcome
from devices.common.events import DeviceEvent, EventSink
from devices.common.storage import StorageUnit
from sst.common.redact import Secret

__all__ = [
    "AcceptCardRequest",
    "AcceptCardResult",
    "CardAction",
    "CardActionEvent",
    "CardOutcome",
    "CardReader",
    "CardReaderCapabilities",
    "CardReaderStatus",
    "EjectOutcome",
    "EjectRequest",
    "EjectResult",
    "InsertCardEvent",
    "InvalidMediaEvent",
    "MediaInsertedEvent",
    "MediaRemovedEvent",
    "MediaStatus",
    "ReaderType",
    "ResetResult",
    "RetainOutcome",
    "RetainResult",
    "TrackId",
]


class MediaStatus(StrEnum):
    """Where the card is (XFS4IoT ``CardReader.Status.media``)."""

    UNKNOWN = "unknown"
    PRESENT = "present"
    NOT_PRESENT = "notPresent"
    JAMMED = "jammed"
    ENTERING = "entering"  # at the entry/exit slot: inserting, or ejected and not yet taken
    LATCHED = "latched"
    NOT_SUPPORTED = "notSupported"  # swipe readers never hold the card


class ReaderType(StrEnum):
    """Reader mechanics (XFS4IoT ``CardReader.Capabilities.type``)."""

    MOTOR = "motor"
    SWIPE = "swipe"
    DIP = "dip"
    LATCHED_DIP = "latchedDip"


class TrackId(StrEnum):
    """Readable magnetic tracks."""

    TRACK1 = "track1"
    TRACK2 = "track2"
    TRACK3 = "track3"


class CardOutcome(Outcome):
    """How ``accept_card`` ended."""

    OK = ("ok", CompletionCode.SUCCESS, None)
    TIMEOUT = ("timeout", CompletionCode.TIMEOUT, None)
    CANCELED = ("canceled", CompletionCode.CANCELED, None)
    INVALID_MEDIA = ("invalidMedia", CompletionCode.COMMAND_ERROR_CODE, "invalidMedia")
    JAMMED = ("jammed", CompletionCode.COMMAND_ERROR_CODE, "mediaJam")
    NO_MEDIA = ("noMedia", CompletionCode.COMMAND_ERROR_CODE, "noMedia")
    HARDWARE_ERROR = ("hardwareError", CompletionCode.HARDWARE_ERROR, None)


class EjectOutcome(Outcome):
    """How ``eject`` ended."""

    TAKEN = ("taken", CompletionCode.SUCCESS, None)
    NOT_TAKEN = ("notTaken", CompletionCode.SUCCESS, None)  # left at the exit, no retain asked
    RETAINED = ("retained", CompletionCode.SUCCESS, None)  # not taken in time, so retained
    NO_MEDIA = ("noMedia", CompletionCode.COMMAND_ERROR_CODE, "noMedia")
    JAMMED = ("jammed", CompletionCode.COMMAND_ERROR_CODE, "mediaJam")
    RETAIN_BIN_FULL = ("retainBinFull", CompletionCode.COMMAND_ERROR_CODE, "retainBinFull")
    TIMEOUT = ("timeout", CompletionCode.TIMEOUT, None)
    CANCELED = ("canceled", CompletionCode.CANCELED, None)


class RetainOutcome(Outcome):
    """How ``retain`` ended."""

    RETAINED = ("retained", CompletionCode.SUCCESS, None)
    NO_MEDIA = ("noMedia", CompletionCode.COMMAND_ERROR_CODE, "noMedia")
    JAMMED = ("jammed", CompletionCode.COMMAND_ERROR_CODE, "mediaJam")
    RETAIN_BIN_FULL = ("retainBinFull", CompletionCode.COMMAND_ERROR_CODE, "retainBinFull")
    UNSUPPORTED = ("unsupported", CompletionCode.UNSUPPORTED, None)
    TIMEOUT = ("timeout", CompletionCode.TIMEOUT, None)
    CANCELED = ("canceled", CompletionCode.CANCELED, None)


class CardAction(StrEnum):
    """What the reader did with the card on its own (``CardActionEvent``)."""

    EJECTED = "ejected"
    RETAINED = "retained"


@dataclass(frozen=True, kw_only=True)
class AcceptCardRequest:
    """Wait for a card and read its tracks.

    Parameters
    ----------
    timeout:
        Seconds to wait for the card; None waits until cancelled.
    tracks:
        Tracks to read; track 2 is needed for a successful outcome.
    """

    timeout: float | None = 30.0
    tracks: frozenset[TrackId] = frozenset({TrackId.TRACK1, TrackId.TRACK2})


@dataclass(frozen=True, kw_only=True)
class AcceptCardResult:
    """Result of ``accept_card``. Track data is masked in ``repr``.

    ``track2`` is set when the outcome is OK; ``track1`` is the raw track 1 (sentinels, no LRC)
    wrapped in a :class:`Secret` when it was read. ``track2_error`` says why track 2 was refused
    when the outcome is INVALID_MEDIA (None: unreadable or absent).
    """

    outcome: CardOutcome
    track2: Track2 | None = None
    track1: Secret[str] | None = None
    track2_error: TrackErrorReason | None = None

    @property
    def completion(self) -> CompletionCode:
        """XFS completion code."""
        return self.outcome.completion


@dataclass(frozen=True, kw_only=True)
class EjectRequest:
    """Eject the card and wait until it is taken.

    Parameters
    ----------
    taken_timeout:
        Seconds to wait for the customer to take the card; None waits until cancelled.
    retain_if_not_taken:
        Retain the card when it is not taken in time (the usual ATM policy).
    """

    taken_timeout: float | None = 30.0
    retain_if_not_taken: bool = True


@dataclass(frozen=True, kw_only=True)
class EjectResult:
    """Result of ``eject``."""

    outcome: EjectOutcome

    @property
    def completion(self) -> CompletionCode:
        """XFS completion code."""
        return self.outcome.completion


@dataclass(frozen=True, kw_only=True)
class RetainResult:
    """Result of ``retain``; ``retained_count`` is the retain bin count afterwards."""

    outcome: RetainOutcome
    retained_count: int = 0

    @property
    def completion(self) -> CompletionCode:
        """XFS completion code."""
        return self.outcome.completion


@dataclass(frozen=True, kw_only=True)
class ResetResult:
    """Result of ``reset``."""

    completion: CompletionCode


@dataclass(frozen=True, kw_only=True)
class CardReaderStatus:
    """Immutable status snapshot."""

    device: DeviceState = DeviceState.ONLINE
    media: MediaStatus = MediaStatus.NOT_PRESENT
    retain_bin: StorageUnit | None = None


@dataclass(frozen=True, kw_only=True)
class CardReaderCapabilities:
    """What the reader can do; read once, branch on it."""

    type: ReaderType
    read_tracks: frozenset[TrackId] = frozenset({TrackId.TRACK1, TrackId.TRACK2})
    chip: bool = False
    can_retain: bool = False
    can_eject: bool = False
    items_taken_sensor: bool = False
    retain_bin_capacity: int = 0


@dataclass(frozen=True, kw_only=True)
class InsertCardEvent(DeviceEvent):
    """The reader is ready: prompt the customer to insert or swipe (``InsertCardEvent``)."""


@dataclass(frozen=True, kw_only=True)
class MediaInsertedEvent(DeviceEvent):
    """A card entered the reader or was swiped (``MediaInsertedEvent``)."""


@dataclass(frozen=True, kw_only=True)
class InvalidMediaEvent(DeviceEvent):
    """The card could not be read (``InvalidMediaEvent``)."""

    reason: TrackErrorReason | None = field(default=None)


@dataclass(frozen=True, kw_only=True)
class MediaRemovedEvent(DeviceEvent):
    """The customer took the card (``MediaRemovedEvent``)."""


@dataclass(frozen=True, kw_only=True)
class CardActionEvent(DeviceEvent):
    """The reader ejected or retained a card on its own (``CardActionEvent``)."""

    action: CardAction


@runtime_checkable
class CardReader(Protocol):
    """A magstripe card reader (motor, dip or swipe)."""

    @property
    def name(self) -> str: ...

    @property
    def status(self) -> CardReaderStatus: ...

    @property
    def capabilities(self) -> CardReaderCapabilities: ...

    async def open(self) -> None:
        """Start the transport (reader thread, port); idempotent."""

    async def close(self) -> None:
        """Stop the transport; idempotent."""

    async def accept_card(self, req: AcceptCardRequest, events: EventSink) -> AcceptCardResult:
        """Wait for a card, read its tracks."""

    async def eject(self, events: EventSink, req: EjectRequest | None = None) -> EjectResult:
        """Return the card and wait until it is taken (or retain it after the timeout)."""

    async def retain(self, events: EventSink) -> RetainResult:
        """Capture the card into the retain bin."""

    async def reset(self) -> ResetResult:
        """Clear a jam (a jammed card is retained) and return to online."""

    def cancel(self) -> bool:
        """Cancel the running command; it completes with CANCELED."""
