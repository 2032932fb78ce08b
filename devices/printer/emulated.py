"""Emulated receipt printer (text and PNG files) and electronic journal printer (append-only).

PNG receipts (CJK glyphs, optional QR code) come from :mod:`devices.printer.png` (Pillow and
segno, optional dependencies) when ``png=True`` and both are installed; the printer's
capabilities say whether it renders PNG. Every output is checked for unmasked PANs.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Callable, Sequence
from enum import StrEnum
from pathlib import Path

from devices.common.codes import CompletionCode, DeviceState
from devices.common.events import EventBus, EventSink
from devices.common.service import DeviceService
from devices.common.storage import ReplenishmentStatus, StorageKind, StorageUnit
from devices.printer.base import (
    MediaPresentedEvent,
    PaperStatus,
    PrinterCapabilities,
    PrinterStatus,
    PrintOutcome,
    PrintResult,
    Receipt,
    check_no_pan,
    render_lines,
)
from devices.printer.png import FontSpec, find_cjk_font, png_available, render_receipt_png

__all__ = ["EmulatedJournalPrinter", "EmulatedReceiptPrinter", "PrinterFault"]


class PrinterFault(StrEnum):
    """Injectable faults: JAM is one-shot; PAPER_LOW / PAPER_OUT set the paper level now."""

    JAM = "jam"
    PAPER_LOW = "paperLow"
    PAPER_OUT = "paperOut"


def _aborted(c: CompletionCode) -> PrintResult:
    return PrintResult(
        outcome=PrintOutcome.TIMEOUT if c is CompletionCode.TIMEOUT else PrintOutcome.CANCELED
    )


def _check_all(texts: Sequence[str]) -> None:
    for i, t in enumerate(texts):
        check_no_pan(t, f"line {i}")


def _write(path: Path, text: str, *, append: bool) -> None:
    with path.open("a" if append else "w", encoding="utf-8", newline="\n") as f:
        f.write(text)


class EmulatedReceiptPrinter(DeviceService[PrinterStatus]):
    """Writes ``<directory>/<receipt.name>.txt`` (UTF-8) per receipt.

    Parameters
    ----------
    directory:
        Where receipts are written (created if missing).
    paper_lines, low_threshold:
        Paper roll length in printed lines and the low-paper threshold.
    width:
        Characters per line.
    png:
        Also write ``<receipt.name>.png`` (needs Pillow, segno and a CJK font; silently
        text-only otherwise, as ``capabilities.png`` reports).
    font:
        Font for the PNG (default: the first installed CJK font).
    """

    def __init__(
        self,
        directory: str | Path,
        *,
        name: str = "ptr",
        paper_lines: int = 5000,
        low_threshold: int = 500,
        width: int = 40,
        png: bool = False,
        font: FontSpec | None = None,
        bus: EventBus | None = None,
        command_timeout: float | None = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        paper = StorageUnit(
            unit_id="PAPER", kind=StorageKind.PAPER, count=paper_lines, capacity=paper_lines,
            low_threshold=low_threshold,
        )
        super().__init__(
            name=name, status=PrinterStatus(paper_unit=paper), bus=bus,
            command_timeout=command_timeout, clock=clock,
        )
        self._dir = Path(directory)
        self._faults: set[PrinterFault] = set()
        self._font = font if font is not None else (find_cjk_font() if png else None)
        self._png = png and png_available() and self._font is not None
        self._capabilities = PrinterCapabilities(width=width, qr=self._png, png=self._png)

    @property
    def capabilities(self) -> PrinterCapabilities:
        """Printer capabilities."""
        return self._capabilities

    @property
    def paper(self) -> StorageUnit:
        """Paper supply in lines."""
        unit = self.status.paper_unit
        assert unit is not None
        return unit

    def inject_fault(self, fault: PrinterFault) -> None:
        """Arm a fault."""
        if fault is PrinterFault.PAPER_OUT:
            self._set_paper(self.paper.with_count(0))
        elif fault is PrinterFault.PAPER_LOW:
            self._set_paper(self.paper.with_count(min(self.paper.count, self.paper.low_threshold)))
        else:
            self._faults.add(fault)

    def replenish_paper(self) -> None:
        """Supervisor loads a new roll (also clears a jam)."""
        self._set_paper(self.paper.replenished(self.paper.capacity))
        self._set_status(dataclasses.replace(self.status, device=DeviceState.ONLINE))
        self._set_level()

    def _set_paper(self, new: StorageUnit) -> None:
        old = self.paper
        self._set_status(dataclasses.replace(self.status, paper_unit=new))
        self._storage_changed(old, new)
        self._set_level()

    def _set_level(self) -> None:
        if self.status.paper is PaperStatus.JAMMED:
            return
        level = {
            ReplenishmentStatus.EMPTY: PaperStatus.OUT,
            ReplenishmentStatus.LOW: PaperStatus.LOW,
        }.get(self.paper.replenishment, PaperStatus.FULL)
        self._set_status(dataclasses.replace(self.status, paper=level))

    async def print_receipt(self, receipt: Receipt, events: EventSink) -> PrintResult:
        """Print ``receipt`` to its text file."""
        _check_all([receipt.title, *receipt.lines, receipt.qr or ""])
        return await self._execute(
            "print_receipt",
            lambda: self._do_print(receipt, events),
            aborted=_aborted,
            timeout=self._command_timeout,
        )

    async def reset(self) -> PrintOutcome:
        """Clear a jam (the jammed receipt is lost)."""
        self._set_status(
            dataclasses.replace(self.status, device=DeviceState.ONLINE, paper=PaperStatus.FULL)
        )
        self._set_level()
        return PrintOutcome.OK

    async def _do_print(self, receipt: Receipt, events: EventSink) -> PrintResult:
        if self.status.paper is PaperStatus.JAMMED:
            return PrintResult(outcome=PrintOutcome.JAMMED)
        lines = render_lines(receipt, self._capabilities.width)
        if self.paper.count < len(lines):
            self._set_paper(self.paper.with_count(0))
            return PrintResult(outcome=PrintOutcome.PAPER_OUT)
        if PrinterFault.JAM in self._faults:
            self._faults.discard(PrinterFault.JAM)
            self._set_status(
                dataclasses.replace(
                    self.status, paper=PaperStatus.JAMMED, device=DeviceState.HARDWARE_ERROR
                )
            )
            return PrintResult(outcome=PrintOutcome.JAMMED)
        path = self._dir / f"{receipt.name}.txt"
        self._dir.mkdir(parents=True, exist_ok=True)
        await asyncio.to_thread(_write, path, "\n".join(lines) + "\n", append=False)
        png_path = None
        if self._png:
            png_path = await asyncio.to_thread(
                render_receipt_png,
                receipt,
                self._dir / f"{receipt.name}.png",
                width=self._capabilities.width,
                font=self._font,
            )
        self._set_paper(self.paper.take(len(lines)))
        events(MediaPresentedEvent(device=self.name))
        return PrintResult(outcome=PrintOutcome.OK, path=path, png_path=png_path)


class EmulatedJournalPrinter(DeviceService[PrinterStatus]):
    """Appends lines to an electronic journal file (UTF-8, one line per line)."""

    def __init__(
        self,
        path: str | Path,
        *,
        name: str = "jpr",
        bus: EventBus | None = None,
        command_timeout: float | None = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(
            name=name, status=PrinterStatus(), bus=bus, command_timeout=command_timeout,
            clock=clock,
        )
        self._path = Path(path)

    @property
    def path(self) -> Path:
        """The journal file."""
        return self._path

    async def print_journal(self, lines: Sequence[str], events: EventSink) -> PrintResult:
        """Append ``lines`` (each must be free of newlines and full PANs)."""
        del events
        _check_all(lines)
        if any("\n" in line or "\r" in line for line in lines):
            raise ValueError("journal lines must not contain line breaks")
        return await self._execute(
            "print_journal", lambda: self._do_append(lines), aborted=_aborted,
            timeout=self._command_timeout,
        )

    async def _do_append(self, lines: Sequence[str]) -> PrintResult:
        self._path.parent.mkdir(parents=True, exist_ok=True)
        await asyncio.to_thread(_write, self._path, "".join(f"{x}\n" for x in lines), append=True)
        return PrintResult(outcome=PrintOutcome.OK, path=self._path)
