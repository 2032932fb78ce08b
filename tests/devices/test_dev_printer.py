"""Emulated receipt and journal printers."""

from __future__ import annotations

from pathlib import Path

import pytest

from devices.common.codes import CompletionCode
from devices.common.events import DeviceEvent
from devices.printer.base import (
    JournalPrinter,
    MediaPresentedEvent,
    PaperStatus,
    PrintOutcome,
    Receipt,
    ReceiptPrinter,
    UnmaskedPanError,
    render_lines,
)
from devices.printer.emulated import EmulatedJournalPrinter, EmulatedReceiptPrinter, PrinterFault
from sst.common.redact import mask_pan

PAN = "4761739001010010"


class Rec(list[DeviceEvent]):
    def __call__(self, e: DeviceEvent) -> None:
        self.append(e)


def _receipt(*lines: str, name: str = "receipt-T0000001-000123") -> Receipt:
    return Receipt(name=name, title="取款凭条 WITHDRAWAL", lines=lines, qr="T0000001/000123")


@pytest.mark.asyncio
async def test_print_receipt_writes_utf8_file(tmp_path: Path) -> None:
    p = EmulatedReceiptPrinter(tmp_path)
    assert isinstance(p, ReceiptPrinter)
    rec = Rec()
    r = await p.print_receipt(_receipt(f"卡号 CARD {mask_pan(PAN)}", "金额 CNY 100.00"), rec)
    assert r.outcome is PrintOutcome.OK and r.completion is CompletionCode.SUCCESS
    assert r.path == tmp_path / "receipt-T0000001-000123.txt"
    text = r.path.read_text(encoding="utf-8")
    assert "476173******0010" in text and "金额 CNY 100.00" in text and PAN not in text
    assert text.splitlines() == render_lines(
        _receipt(f"卡号 CARD {mask_pan(PAN)}", "金额 CNY 100.00"))
    assert any(isinstance(e, MediaPresentedEvent) for e in rec)


# fmt: off
@pytest.mark.parametrize("line", [
    f"CARD {PAN}",
    "CARD 4761 7390 0101 0010",
    "PAN:6212345678901234567",
])
@pytest.mark.asyncio
async def test_full_pan_is_refused_exception(tmp_path: Path, line: str) -> None:
    p = EmulatedReceiptPrinter(tmp_path)
    with pytest.raises(UnmaskedPanError) as ei:
        await p.print_receipt(_receipt(line), Rec())
    assert PAN not in str(ei.value)
    assert not list(tmp_path.iterdir())  # noqa: ASYNC240 - a check of tmp_path between awaits
    j = EmulatedJournalPrinter(tmp_path / "ej.log")
    with pytest.raises(UnmaskedPanError):
        await j.print_journal([line], Rec())
# fmt: on


@pytest.mark.asyncio
async def test_paper_low_out_and_jam(tmp_path: Path) -> None:
    p = EmulatedReceiptPrinter(tmp_path, paper_lines=100, low_threshold=20)
    p.inject_fault(PrinterFault.PAPER_LOW)
    assert p.status.paper is PaperStatus.LOW
    assert (await p.print_receipt(_receipt("x"), Rec())).outcome is PrintOutcome.OK
    p.inject_fault(PrinterFault.PAPER_OUT)
    r = await p.print_receipt(_receipt("x"), Rec())
    assert (r.outcome, r.outcome.error_code) == (PrintOutcome.PAPER_OUT, "paperOut")
    assert p.status.paper is PaperStatus.OUT
    p.replenish_paper()
    p.inject_fault(PrinterFault.JAM)
    r = await p.print_receipt(_receipt("x", name="r2"), Rec())
    assert r.outcome is PrintOutcome.JAMMED and r.path is None
    assert (await p.print_receipt(_receipt("x", name="r3"), Rec())).outcome is PrintOutcome.JAMMED
    await p.reset()
    assert (await p.print_receipt(_receipt("x", name="r4"), Rec())).outcome is PrintOutcome.OK


@pytest.mark.asyncio
async def test_journal_appends(tmp_path: Path) -> None:
    j = EmulatedJournalPrinter(tmp_path / "ej" / "journal.txt")
    assert isinstance(j, JournalPrinter)
    await j.print_journal(["T0000001 000123 WITHDRAWAL 取款 CNY 100.00"], Rec())
    await j.print_journal([f"CARD {mask_pan(PAN)}", "RC 00"], Rec())
    assert j.path.read_text(encoding="utf-8").splitlines() == [
        "T0000001 000123 WITHDRAWAL 取款 CNY 100.00", "CARD 476173******0010", "RC 00",
    ]


def test_receipt_name_must_be_a_file_stem() -> None:
    with pytest.raises(ValueError, match="plain file stem"):
        Receipt(name="../etc/passwd", title="x")
