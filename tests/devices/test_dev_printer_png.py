"""PNG receipts: CJK glyphs, QR code read back module by module, PAN masking on the raster path."""

from __future__ import annotations

from pathlib import Path

import pytest

from devices.printer.base import PrintOutcome, Receipt, UnmaskedPanError
from devices.printer.emulated import EmulatedReceiptPrinter
from devices.printer.png import find_cjk_font, qr_matrix, render_receipt_png
from sst.common.redact import mask_pan

Image = pytest.importorskip("PIL.Image")
pytest.importorskip("segno")
FONT = find_cjk_font()
pytestmark = pytest.mark.skipif(FONT is None, reason="no CJK font installed")
PAN = "4761739001010010"


def _receipt(qr: str | None = "T0000001/000123") -> Receipt:
    return Receipt(
        name="receipt-T0000001-000123",
        title="取款凭条 WITHDRAWAL",
        lines=(f"卡号 CARD {mask_pan(PAN)}", "金额 AMOUNT  CNY 100.00", "余额 BALANCE CNY 900.00"),
        qr=qr,
    )


def _dark_bbox(img: object, box: tuple[int, int, int, int]) -> tuple[int, int, int, int] | None:
    crop = img.crop(box).point(lambda v: 255 if v < 128 else 0)  # type: ignore[attr-defined]
    return crop.getbbox()  # type: ignore[no-any-return]


def test_png_has_cjk_glyphs_and_readable_qr(tmp_path: Path) -> None:
    path = render_receipt_png(_receipt(), tmp_path / "r.png", font_px=20, qr_module_px=4)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    img = Image.open(path).convert("L")
    # the title's first CJK glyph differs from the font's missing-glyph box
    assert FONT is not None
    solo = render_receipt_png(
        Receipt(name="a", title="取"), tmp_path / "a.png", font_px=20
    )
    tofu = render_receipt_png(
        Receipt(name="b", title="\U000f0000"), tmp_path / "b.png", font_px=20
    )
    assert Image.open(solo).tobytes() != Image.open(tofu).tobytes()
    # the QR code sits above the closing rule: sample every module centre
    matrix = qr_matrix("T0000001/000123")
    n, module = len(matrix), 4
    qr_px = (n + 8) * module
    width, height = img.size
    line_h = 20 + 20 // 3
    top = 20 + line_h * 5  # margin + title, rule, three lines
    left = (width - qr_px) // 2
    for r in range(n):
        for c in range(n):
            x = left + 4 * module + c * module + module // 2
            y = top + 4 * module + r * module + module // 2
            assert (img.getpixel((x, y)) < 128) == matrix[r][c], (r, c)
    assert height == 2 * 20 + line_h * 6 + qr_px


def test_png_without_qr_is_shorter(tmp_path: Path) -> None:
    with_qr = Image.open(render_receipt_png(_receipt(), tmp_path / "q.png"))
    without = Image.open(render_receipt_png(_receipt(None), tmp_path / "n.png"))
    assert without.size[1] < with_qr.size[1]


def test_png_refuses_unmasked_pan_exception(tmp_path: Path) -> None:
    bad = Receipt(name="bad", title="x", lines=(f"CARD {PAN}",))
    with pytest.raises(UnmaskedPanError):
        render_receipt_png(bad, tmp_path / "bad.png")
    with pytest.raises(UnmaskedPanError):
        render_receipt_png(Receipt(name="bad", title="x", qr=PAN), tmp_path / "bad.png")
    assert not (tmp_path / "bad.png").exists()


@pytest.mark.asyncio
async def test_printer_writes_text_and_png(tmp_path: Path) -> None:
    p = EmulatedReceiptPrinter(tmp_path, png=True)
    assert p.capabilities.png and p.capabilities.qr
    r = await p.print_receipt(_receipt(), lambda e: None)
    assert r.outcome is PrintOutcome.OK and r.path is not None and r.png_path is not None
    assert r.png_path == tmp_path / "receipt-T0000001-000123.png"
    assert Image.open(r.png_path).format == "PNG"
    assert not EmulatedReceiptPrinter(tmp_path).capabilities.png
