"""Receipt raster rendering: PNG with CJK glyphs and an optional QR code.

The only module that imports Pillow (``PIL``) and segno (STYLE LAY-5); both are optional
dependencies: :func:`png_available` tells whether they are installed, and printers report
``PrinterCapabilities.png`` accordingly. pygame is never used here (it belongs to
``screens/``).

The layout is a thermal-receipt look: a white strip ``width`` characters wide, black text in a
CJK-capable font (Noto Sans CJK SC when found), one row per line of
:func:`~devices.printer.base.render_lines` (the QR line replaced by the code itself). The text
is checked with :func:`~devices.printer.base.check_no_pan` here too, so a PNG can never hold an
unmasked PAN even when called directly.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from devices.printer.base import Receipt, check_no_pan, display_width, render_lines

__all__ = [
    "KNOWN_CJK_FONTS",
    "FontSpec",
    "RasterError",
    "find_cjk_font",
    "png_available",
    "qr_matrix",
    "render_receipt_png",
]

# (path, face index): the Noto .ttc collections hold JP, KR, SC, TC, HK; SC is face 2.
KNOWN_CJK_FONTS: tuple[tuple[str, int], ...] = (
    ("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc", 2),
    ("/usr/share/fonts/noto-cjk/NotoSansCJK-Regular.ttc", 2),
    ("/usr/share/fonts/google-noto-cjk/NotoSansCJK-Regular.ttc", 2),
    ("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc", 0),
    ("/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf", 0),
)
_QR_PREFIX = "[QR] "


class RasterError(RuntimeError):
    """PNG rendering is impossible here (Pillow/segno missing, or no usable font)."""


@dataclass(frozen=True, kw_only=True)
class FontSpec:
    """A font file and face index inside a collection."""

    path: str
    index: int = 0


def png_available() -> bool:
    """True when Pillow and segno can be imported."""
    try:
        import PIL.Image  # noqa: F401, PLC0415 - optional dependency probe
        import segno  # noqa: F401, PLC0415
    except ImportError:
        return False
    return True


def find_cjk_font(candidates: tuple[tuple[str, int], ...] = KNOWN_CJK_FONTS) -> FontSpec | None:
    """The first existing font among ``candidates`` (None when none is installed)."""
    for path, index in candidates:
        if os.path.exists(path):
            return FontSpec(path=path, index=index)
    return None


def qr_matrix(payload: str) -> list[list[bool]]:
    """The QR code for ``payload`` as rows of dark (True) modules, without quiet zone.

    Examples
    --------
    >>> m = qr_matrix("T0000001/000123")  # doctest: +SKIP
    >>> len(m) == len(m[0])  # doctest: +SKIP
    True
    """
    try:
        import segno  # noqa: PLC0415 - optional dependency
    except ImportError as e:
        raise RasterError("segno is not installed") from e
    code = segno.make(payload, error="m", micro=False)
    return [[bool(v) for v in row] for row in code.matrix]


def render_receipt_png(
    receipt: Receipt,
    path: Path,
    *,
    width: int = 40,
    font: FontSpec | None = None,
    font_px: int = 20,
    qr_module_px: int = 4,
) -> Path:
    """Write ``receipt`` as a PNG at ``path`` and return the path.

    Parameters
    ----------
    receipt
        The receipt; its text must already be PAN-masked (checked again here).
    width
        Characters per line (a CJK character takes two).
    font
        Font to use; default :func:`find_cjk_font`. Without one, :class:`RasterError`.
    font_px
        Font size in pixels; a half-width character cell is ``font_px // 2 + 1`` wide.
    qr_module_px
        Pixels per QR module (the quiet zone is 4 modules).
    """
    for i, t in enumerate([receipt.title, *receipt.lines, receipt.qr or ""]):
        check_no_pan(t, f"line {i}")
    try:
        from PIL import Image, ImageDraw, ImageFont  # noqa: PLC0415 - optional dependency
    except ImportError as e:
        raise RasterError("Pillow is not installed") from e
    spec = font if font is not None else find_cjk_font()
    if spec is None:
        raise RasterError("no CJK font found")
    face = ImageFont.truetype(spec.path, font_px, index=spec.index)
    cell = font_px // 2 + 1
    line_h = font_px + font_px // 3
    margin = font_px
    lines = [x for x in render_lines(receipt, width) if not x.startswith(_QR_PREFIX)]
    matrix = qr_matrix(receipt.qr) if receipt.qr is not None else None
    qr_px = (len(matrix) + 8) * qr_module_px if matrix is not None else 0
    img_w = max(width * cell, qr_px) + 2 * margin
    img_h = 2 * margin + line_h * len(lines) + qr_px
    img = Image.new("L", (img_w, img_h), 255)
    draw = ImageDraw.Draw(img)
    y = margin
    for i, text in enumerate(lines):
        if i == len(lines) - 1 and matrix is not None:  # the code goes above the closing rule
            _draw_qr(draw, matrix, x=(img_w - qr_px) // 2, y=y, module=qr_module_px)
            y += qr_px
        if text and set(text) == {"="}:
            draw.line([(margin, y + line_h // 2), (img_w - margin, y + line_h // 2)], fill=0)
        else:
            _draw_text(draw, face, text, x=margin, y=y, cell=cell)
        y += line_h
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path, format="PNG", optimize=True)
    return path


def _draw_text(draw: object, face: object, text: str, *, x: int, y: int, cell: int) -> None:
    """Draw ``text`` on a fixed grid: each character at its column (CJK takes two)."""
    col = 0
    for ch in text:
        w = display_width(ch)
        if not ch.isspace():
            draw.text((x + col * cell, y), ch, font=face, fill=0)  # type: ignore[attr-defined]
        col += w


def _draw_qr(draw: object, matrix: list[list[bool]], *, x: int, y: int, module: int) -> None:
    quiet = 4 * module
    for r, row in enumerate(matrix):
        for c, dark in enumerate(row):
            if dark:
                x0, y0 = x + quiet + c * module, y + quiet + r * module
                draw.rectangle(  # type: ignore[attr-defined]
                    [x0, y0, x0 + module - 1, y0 + module - 1], fill=0
                )
