"""Receipt and journal printer interfaces, receipt model and text rendering (pure parts).

Printers refuse (raise :class:`UnmaskedPanError`) any text holding a PAN-like run of 13 to 19
digits: PANs must be masked by the caller with ``mask_pan`` before printing. That is a bug in
the caller, hence an exception rather than an outcome.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Protocol, runtime_checkable

from devices.common.codes import CompletionCode, DeviceState, Outcome
from devices.common.events import DeviceEvent, EventSink
from devices.common.storage import StorageUnit

__all__ = [
    "JournalPrinter",
    "MediaPresentedEvent",
    "PaperStatus",
    "PrintOutcome",
    "PrintResult",
    "PrinterCapabilities",
    "PrinterStatus",
    "Receipt",
    "ReceiptPrinter",
    "UnmaskedPanError",
    "check_no_pan",
    "display_width",
    "render_lines",
]

_PAN_RUN = re.compile(
    r"(?<![0-9])[0-9]{13,19}(?![0-9])"  # contiguous digits
    r"|(?<![0-9])[0-9]{4}([ -])[0-9]{4}\1[0-9]{4}\1[0-9]{1,7}(?![0-9])"  # grouped 4-4-4-n
)
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")


class UnmaskedPanError(ValueError):
    """Text to print contains a full PAN-like digit run; the text itself is never included."""

    def __init__(self, where: str) -> None:
        super().__init__(f"refusing to print an unmasked PAN ({where})")
        self.where = where

    def __reduce__(self) -> tuple[type[UnmaskedPanError], tuple[str]]:
        return (type(self), (self.where,))


def check_no_pan(text: str, where: str = "line") -> None:
    """Raise :class:`UnmaskedPanError` when ``text`` holds 13-19 consecutive digits.

    Examples
    --------
    >>> check_no_pan("CARD 476173******0010")
    >>> check_no_pan("CARD 4761739001010010")  # doctest: +IGNORE_EXCEPTION_DETAIL
    Traceback (most recent call last):
    ...
    devices.printer.base.UnmaskedPanError: refusing to print an unmasked PAN (line)
    """
    if _PAN_RUN.search(text):
        raise UnmaskedPanError(where)


def display_width(text: str) -> int:
    """Columns used on a fixed-pitch printer: CJK wide and fullwidth characters count 2.

    Examples
    --------
    >>> display_width("取款 CNY")
    8
    """
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


@dataclass(frozen=True, kw_only=True)
class Receipt:
    """A receipt: title, body lines and an optional QR payload.

    Parameters
    ----------
    name:
        Deterministic file stem chosen by the caller, e.g. ``receipt-T0000001-000123``
        (letters, digits, ``.``, ``_``, ``-``).
    """

    name: str
    title: str
    lines: tuple[str, ...] = ()
    qr: str | None = None

    def __post_init__(self) -> None:
        if _NAME.fullmatch(self.name) is None:
            raise ValueError("receipt name must be a plain file stem")


def render_lines(receipt: Receipt, width: int = 40) -> list[str]:
    """The receipt as printed text lines (title centred; CJK-aware); screens may render these.

    Examples
    --------
    >>> render_lines(Receipt(name="r", title="取款凭条", lines=("AMOUNT CNY 100.00",)), width=20)
    ['      取款凭条', '====================', 'AMOUNT CNY 100.00', '====================']
    """
    pad = max(0, (width - display_width(receipt.title)) // 2)
    out = [" " * pad + receipt.title, "=" * width, *receipt.lines]
    if receipt.qr is not None:
        out.append(f"[QR] {receipt.qr}")
    out.append("=" * width)
    return out


class PrintOutcome(Outcome):
    """How a print ended."""

    OK = ("ok", CompletionCode.SUCCESS, None)
    PAPER_OUT = ("paperOut", CompletionCode.COMMAND_ERROR_CODE, "paperOut")
    JAMMED = ("jammed", CompletionCode.COMMAND_ERROR_CODE, "mediaJammed")
    TIMEOUT = ("timeout", CompletionCode.TIMEOUT, None)
    CANCELED = ("canceled", CompletionCode.CANCELED, None)


@dataclass(frozen=True, kw_only=True)
class PrintResult:
    """``path`` is the file written (emulated printers), when the print succeeded;
    ``png_path`` the raster image, when the printer renders PNG too."""

    outcome: PrintOutcome
    path: Path | None = None
    png_path: Path | None = None

    @property
    def completion(self) -> CompletionCode:
        """XFS completion code."""
        return self.outcome.completion


class PaperStatus(StrEnum):
    """Paper supply (XFS4IoT ``Printer.Status.paper``)."""

    FULL = "full"
    LOW = "low"
    OUT = "out"
    JAMMED = "jammed"


@dataclass(frozen=True, kw_only=True)
class PrinterStatus:
    """Immutable status snapshot; ``paper_unit`` counts printable lines left."""

    device: DeviceState = DeviceState.ONLINE
    paper: PaperStatus = PaperStatus.FULL
    paper_unit: StorageUnit | None = None


@dataclass(frozen=True, kw_only=True)
class PrinterCapabilities:
    """What the printer can do."""

    width: int = 40
    qr: bool = False
    png: bool = False


@dataclass(frozen=True, kw_only=True)
class MediaPresentedEvent(DeviceEvent):
    """The receipt is at the exit."""


@runtime_checkable
class ReceiptPrinter(Protocol):
    """A customer receipt printer."""

    @property
    def name(self) -> str: ...

    @property
    def status(self) -> PrinterStatus: ...

    @property
    def capabilities(self) -> PrinterCapabilities: ...

    async def print_receipt(self, receipt: Receipt, events: EventSink) -> PrintResult:
        """Print one receipt (raises :class:`UnmaskedPanError` on a full PAN)."""

    def cancel(self) -> bool:
        """Cancel the running command."""


@runtime_checkable
class JournalPrinter(Protocol):
    """The (electronic) journal printer."""

    @property
    def name(self) -> str: ...

    async def print_journal(self, lines: Sequence[str], events: EventSink) -> PrintResult:
        """Append lines to the journal (raises :class:`UnmaskedPanError` on a full PAN)."""
