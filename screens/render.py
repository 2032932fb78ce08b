"""Draw a :class:`~screens.model.ScreenModel` onto a pygame surface, ATM style.

The layout (at the reference size 800x600, scaled to other sizes):

* a header bar with the bank name and a severity-coloured accent strip;
* the title, centred;
* up to eight option buttons beside the function-display keys, F1-F4 down the left edge
  and F5-F8 down the right edge;
* the body lines in the middle column (wrapped; Chinese wraps per character);
* the entry field (shown verbatim: the model already carries the mask) and the hint;
* a footer with the terminal id and the language.

Only the renderer draws; it keeps no state between renders except the button rectangles
of the last render, which :meth:`ScreenRenderer.option_at` uses for mouse hit-testing.
"""

from __future__ import annotations

import logging
import os as _os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

_os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")  # no banner on stdout

import pygame
import pygame.freetype

from screens.model import (
    FDK_SLOTS,
    ScreenId,
    ScreenModel,
    Severity,
    assign_slots,
    t,
)

__all__ = ["FontChoice", "ScreenRenderer", "find_cjk_font"]

_LOGGER = logging.getLogger(__name__)
_LOGGER.addHandler(logging.NullHandler())

_CJK_FAMILY = "Noto Sans CJK SC"
# Well-known locations, tried when fontconfig is missing or answers with a non-CJK font.
# (path, face index): the Noto .ttc collections hold JP, KR, SC, TC, HK; SC is face 2.
_KNOWN_CJK_FONTS: tuple[tuple[str, int], ...] = (
    ("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc", 2),
    ("/usr/share/fonts/noto-cjk/NotoSansCJK-Regular.ttc", 2),
    ("/usr/share/fonts/google-noto-cjk/NotoSansCJK-Regular.ttc", 2),
    ("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc", 0),
    ("/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf", 0),
)

# Reference geometry (800x600); everything is scaled by min(w/800, h/600).
_REF_W, _REF_H = 800, 600
_HEADER_H = 56
_ACCENT_H = 6
_FOOTER_H = 40
_TITLE_BASELINE = 112
_BUTTON_W, _BUTTON_H, _BUTTON_GAP, _BUTTON_TOP, _BUTTON_MARGIN = 214, 62, 18, 160, 10
_BODY_TOP = 168
_ENTRY_TOP, _ENTRY_W, _ENTRY_H = 392, 320, 58
_HINT_BASELINE = 492

_BG = (244, 246, 249)
_HEADER_BG = (16, 48, 92)
_HEADER_FG = (255, 255, 255)
_TEXT = (28, 34, 44)
_MUTED = (96, 106, 122)
_FOOTER_BG = (222, 227, 235)
_BUTTON_BG = (255, 255, 255)
_BUTTON_BORDER = (16, 48, 92)
_ENTRY_BG = (255, 255, 255)
_SEVERITY_COLOUR: dict[Severity, tuple[int, int, int]] = {
    Severity.INFO: (0, 122, 204),
    Severity.WARN: (224, 146, 0),
    Severity.ERROR: (200, 36, 36),
}
_TITLE_COLOUR: dict[Severity, tuple[int, int, int]] = {
    Severity.INFO: (16, 48, 92),
    Severity.WARN: (150, 92, 0),
    Severity.ERROR: (176, 24, 24),
}
# Screens that show the entry box even while it is still empty.
_ENTRY_SCREENS = frozenset({ScreenId.PIN, ScreenId.AMOUNT})

# One token: a run of whitespace, one CJK character (or full-width punctuation), or a run of
# anything else. Lines break between tokens, so Chinese wraps per character.
_CJK = "\u2e80-\u9fff\uf900-\ufaff\uff00-\uffef\u3000-\u303f"
_TOKEN = re.compile(rf"\s+|[{_CJK}]|[^\s{_CJK}]+")


@dataclass(frozen=True, kw_only=True)
class FontChoice:
    """The font file the renderer uses (``path=None`` is pygame's default font)."""

    path: str | None
    index: int = 0

    @property
    def has_cjk(self) -> bool:
        """True when the font is expected to carry CJK glyphs."""
        return self.path is not None


def _fc_match(family: str) -> FontChoice | None:
    exe = shutil.which("fc-match")
    if exe is None:
        return None
    try:
        out = subprocess.run(  # noqa: S603 - fixed argv, absolute path from shutil.which
            [exe, "-f", "%{file}\n%{index}\n%{family}", family],
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    parts = out.split("\n")
    if len(parts) < 3:
        return None
    path, index, families = parts[0], parts[1], parts[2]
    if "CJK" not in families or not Path(path).is_file():
        return None  # fontconfig fell back to a Latin-only font
    return FontChoice(path=path, index=int(index) if index.isdigit() else 0)


def find_cjk_font() -> FontChoice | None:
    """Locate a font with Simplified Chinese glyphs (Noto Sans CJK SC preferred).

    Asks fontconfig first, then tries well-known install paths; returns ``None`` when
    nothing is found.
    """
    found = _fc_match(_CJK_FAMILY)
    if found is not None:
        return found
    for path, index in _KNOWN_CJK_FONTS:
        if Path(path).is_file():
            return FontChoice(path=path, index=index)
    return None


def _choose_font(font_path: str | None, font_index: int | None) -> FontChoice:
    if font_path is not None:
        if font_index is None:
            # The Noto CJK collections list JP first; SC (face 2) is the one we want.
            name = Path(font_path).name
            font_index = 2 if "CJK" in name and name.lower().endswith(".ttc") else 0
        return FontChoice(path=font_path, index=font_index)
    found = find_cjk_font()
    if found is None:
        _LOGGER.warning(
            "no CJK font found (install fonts-noto-cjk); Chinese text will not render",
            extra={"font_family": _CJK_FAMILY},
        )
        return FontChoice(path=None)
    return found


class ScreenRenderer:
    """Render screen models to pygame surfaces.

    Parameters
    ----------
    size
        Surface size in pixels; the layout scales from its 800x600 reference.
    font_path
        A font file with CJK glyphs. ``None`` looks for Noto Sans CJK SC (fontconfig, then
        well-known paths) and falls back to pygame's default font with a warning.
    font_index
        Face index inside a font collection (``.ttc``); by default face 2 (SC) for the Noto
        CJK collections and 0 otherwise.
    bank_name
        Text of the header bar; by default the standard bilingual bank name in the
        screen's language.

    Notes
    -----
    Needs no display: surfaces are plain off-screen surfaces. Only ``pygame.freetype`` is
    initialised here.
    """

    def __init__(
        self,
        *,
        size: tuple[int, int] = (800, 600),
        font_path: str | None = None,
        font_index: int | None = None,
        bank_name: str | None = None,
    ) -> None:
        width, height = size
        if width < 160 or height < 120:
            raise ValueError("screen size must be at least 160x120")
        self._size = (int(width), int(height))
        self._scale = min(width / _REF_W, height / _REF_H)
        # Centre the reference layout when the aspect ratio differs.
        self._dx = (width - _REF_W * self._scale) / 2
        self._dy = (height - _REF_H * self._scale) / 2
        self._bank_name = bank_name
        self._font_choice = _choose_font(font_path, font_index)
        pygame.freetype.init()
        self._font = pygame.freetype.Font(
            self._font_choice.path, 24, font_index=self._font_choice.index
        )
        self._font.origin = True  # render_to positions are baselines
        self._font.pad = False
        self._buttons: tuple[tuple[pygame.Rect, str], ...] = ()

    # ------------------------------------------------------------------ public API

    @property
    def size(self) -> tuple[int, int]:
        """Surface size in pixels."""
        return self._size

    @property
    def font(self) -> FontChoice:
        """The font file in use."""
        return self._font_choice

    def render(self, model: ScreenModel) -> pygame.Surface:
        """Draw ``model`` on a new surface and remember its button rectangles."""
        surface = pygame.Surface(self._size)
        surface.fill(_BG)
        self._draw_header(surface, model)
        self._draw_title(surface, model)
        buttons = self._draw_options(surface, model)
        self._draw_body(surface, model)
        self._draw_entry(surface, model)
        self._draw_hint(surface, model)
        self._draw_footer(surface, model)
        self._buttons = buttons
        return surface

    def save_png(self, model: ScreenModel, path: str | Path) -> Path:
        """Render ``model`` and write it as a PNG file; returns the path written."""
        out = Path(path)
        out.parent.mkdir(parents=True, exist_ok=True)
        pygame.image.save(self.render(model), str(out))
        return out

    def option_at(self, pos: tuple[int, int]) -> str | None:
        """Return the key of the option button under ``pos`` in the last render, if any."""
        for rect, key in self._buttons:
            if rect.collidepoint(pos):
                return key
        return None

    def fdk_rect(self, fdk: int) -> pygame.Rect:
        """Screen rectangle of the button beside function-display key ``fdk`` (1-8)."""
        if not 1 <= fdk <= FDK_SLOTS:
            raise ValueError(f"fdk must be 1..{FDK_SLOTS}")
        half = FDK_SLOTS // 2
        row = (fdk - 1) % half
        left = fdk <= half
        x = _BUTTON_MARGIN if left else _REF_W - _BUTTON_MARGIN - _BUTTON_W
        y = _BUTTON_TOP + row * (_BUTTON_H + _BUTTON_GAP)
        return self._rect(x, y, _BUTTON_W, _BUTTON_H)

    # ------------------------------------------------------------------ geometry

    def _px(self, v: float) -> int:
        return round(v * self._scale)

    def _x(self, v: float) -> int:
        return round(self._dx + v * self._scale)

    def _y(self, v: float) -> int:
        return round(self._dy + v * self._scale)

    def _rect(self, x: float, y: float, w: float, h: float) -> pygame.Rect:
        return pygame.Rect(self._x(x), self._y(y), self._px(w), self._px(h))

    # ------------------------------------------------------------------ text helpers

    def _width(self, text: str, size: int, *, strong: bool = False) -> int:
        style = pygame.freetype.STYLE_STRONG if strong else pygame.freetype.STYLE_DEFAULT
        return int(self._font.get_rect(text, size=size, style=style).width)

    def _fit(self, text: str, size: int, max_width: int, *, strong: bool = False) -> int:
        """Largest size <= ``size`` (but at least 60% of it) at which ``text`` fits."""
        floor = max(8, int(size * 0.6))
        while size > floor and self._width(text, size, strong=strong) > max_width:
            size -= 1
        return size

    def _ellipsize(self, text: str, size: int, max_width: int, *, strong: bool = False) -> str:
        """``text`` cut and ended with an ellipsis so that it fits ``max_width``."""
        if self._width(text, size, strong=strong) <= max_width:
            return text
        lo, hi = 0, len(text)  # binary search for the longest prefix that fits
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if self._width(text[:mid] + "\u2026", size, strong=strong) <= max_width:
                lo = mid
            else:
                hi = mid - 1
        return text[:lo].rstrip() + "\u2026"

    def _wrap(self, text: str, size: int, max_width: int) -> list[str]:
        lines: list[str] = []
        line = ""
        for token in _TOKEN.findall(text):
            candidate = line + token
            if not line or self._width(candidate.rstrip(), size) <= max_width:
                line = candidate if line or not token.isspace() else ""
                continue
            lines.append(line.rstrip())
            line = "" if token.isspace() else token
        if line.strip():
            lines.append(line.rstrip())
        return lines or [""]

    def _text(
        self,
        surface: pygame.Surface,
        text: str,
        *,
        x: int,
        baseline: int,
        size: int,
        colour: tuple[int, int, int],
        align: str = "left",
        strong: bool = False,
    ) -> None:
        if not text:
            return
        style = pygame.freetype.STYLE_STRONG if strong else pygame.freetype.STYLE_DEFAULT
        width = self._width(text, size, strong=strong)
        if align == "centre":
            x -= width // 2
        elif align == "right":
            x -= width
        self._font.render_to(surface, (x, baseline), text, colour, size=size, style=style)

    def _baseline_in(self, rect: pygame.Rect, size: int) -> int:
        """Baseline that centres a line of ``size`` vertically in ``rect``."""
        asc = self._font.get_sized_ascender(size)
        desc = self._font.get_sized_descender(size)  # negative
        return int(rect.centery + (asc + desc) / 2)

    # ------------------------------------------------------------------ parts

    def _draw_header(self, surface: pygame.Surface, model: ScreenModel) -> None:
        w = self._size[0]
        bar = pygame.Rect(0, 0, w, self._y(_HEADER_H))
        surface.fill(_HEADER_BG, bar)
        accent = pygame.Rect(0, bar.bottom, w, self._px(_ACCENT_H))
        surface.fill(_SEVERITY_COLOUR[model.severity], accent)
        name = self._bank_name if self._bank_name is not None else t("bank_name", model.language)
        size = self._px(26)
        self._text(
            surface,
            name,
            x=self._x(20),
            baseline=self._baseline_in(bar, size),
            size=size,
            colour=_HEADER_FG,
            strong=True,
        )

    def _draw_title(self, surface: pygame.Surface, model: ScreenModel) -> None:
        max_w = self._px(_REF_W - 40)
        size = self._fit(model.title, self._px(36), max_w, strong=True)
        title = self._ellipsize(model.title, size, max_w, strong=True)
        self._text(
            surface,
            title,
            x=self._x(_REF_W / 2),
            baseline=self._y(_TITLE_BASELINE),
            size=size,
            colour=_TITLE_COLOUR[model.severity],
            align="centre",
            strong=True,
        )

    def _draw_options(
        self, surface: pygame.Surface, model: ScreenModel
    ) -> tuple[tuple[pygame.Rect, str], ...]:
        buttons: list[tuple[pygame.Rect, str]] = []
        radius = self._px(10)
        half = FDK_SLOTS // 2
        for fdk, opt in sorted(assign_slots(model.options).items()):
            rect = self.fdk_rect(fdk)
            left = fdk <= half
            pygame.draw.rect(surface, _BUTTON_BG, rect, border_radius=radius)
            pygame.draw.rect(
                surface, _BUTTON_BORDER, rect, width=max(1, self._px(2)), border_radius=radius
            )
            # A pointer towards the physical key on the screen edge.
            tip_x = 0 if left else self._size[0] - 1
            base_x = rect.left if left else rect.right
            pygame.draw.polygon(
                surface,
                _BUTTON_BORDER,
                [
                    (tip_x, rect.centery),
                    (base_x, rect.centery - self._px(8)),
                    (base_x, rect.centery + self._px(8)),
                ],
            )
            tag_size = self._px(13)
            tag_x = rect.left + self._px(10) if left else rect.right - self._px(10)
            self._text(
                surface,
                f"F{fdk}",
                x=tag_x,
                baseline=rect.top + self._px(17),
                size=tag_size,
                colour=_MUTED,
                align="left" if left else "right",
            )
            label_w = rect.width - self._px(44)
            size = self._fit(opt.label, self._px(24), label_w)
            self._text(
                surface,
                self._ellipsize(opt.label, size, label_w),
                x=rect.centerx,
                baseline=self._baseline_in(rect, size),
                size=size,
                colour=_TEXT,
                align="centre",
            )
            buttons.append((rect, opt.key))
        return tuple(buttons)

    def _body_column(self, model: ScreenModel) -> tuple[int, int]:
        """Left x and width of the body column (narrower when buttons flank it)."""
        if model.options:
            inner = _BUTTON_MARGIN + _BUTTON_W + 16
            return self._x(inner), self._px(_REF_W - 2 * inner)
        return self._x(60), self._px(_REF_W - 120)

    def _draw_body(self, surface: pygame.Surface, model: ScreenModel) -> None:
        if not model.lines:
            return
        left, width = self._body_column(model)
        size = self._px(24)
        step = self._px(36)
        has_entry = bool(model.entry) or model.screen in _ENTRY_SCREENS
        bottom = self._y(_ENTRY_TOP - 8 if has_entry else _HINT_BASELINE - 34)
        top = self._y(_BODY_TOP)
        wrapped = [part for line in model.lines for part in self._wrap(line, size, width)]
        if not model.options and not has_entry:
            # A plain message: centre the block in the free space above the hint.
            top = max(top, (top + bottom - len(wrapped) * step) // 2)
        baseline = top + self._font.get_sized_ascender(size)
        for i, part in enumerate(wrapped):
            if baseline > bottom:
                _LOGGER.debug(
                    "body text truncated",
                    extra={"screen": model.screen.value, "lines_dropped": len(wrapped) - i},
                )
                break
            self._text(
                surface,
                part,
                x=left + width // 2,
                baseline=baseline,
                size=size,
                colour=_TEXT,
                align="centre",
            )
            baseline += step

    def _draw_entry(self, surface: pygame.Surface, model: ScreenModel) -> None:
        if not model.entry and model.screen not in _ENTRY_SCREENS:
            return
        rect = self._rect((_REF_W - _ENTRY_W) / 2, _ENTRY_TOP, _ENTRY_W, _ENTRY_H)
        pygame.draw.rect(surface, _ENTRY_BG, rect, border_radius=self._px(6))
        pygame.draw.rect(
            surface,
            _SEVERITY_COLOUR[model.severity],
            rect,
            width=max(1, self._px(3)),
            border_radius=self._px(6),
        )
        size = self._fit(model.entry, self._px(34), rect.width - self._px(24), strong=True)
        # Shown verbatim: the model carries the mask ('****'), never clear PIN digits.
        ink = self._font.get_rect(model.entry, size=size, style=pygame.freetype.STYLE_STRONG)
        # Centre the ink, not the line box, so a row of '*' sits in the middle of the field.
        baseline = int(rect.centery + ink.y - ink.height / 2) if model.entry else rect.centery
        self._text(
            surface,
            model.entry,
            x=rect.centerx,
            baseline=baseline,
            size=size,
            colour=_TEXT,
            align="centre",
            strong=True,
        )

    def _draw_hint(self, surface: pygame.Surface, model: ScreenModel) -> None:
        if not model.hint:
            return
        size = self._px(20)
        width = self._px(_REF_W - 80)
        baseline = self._y(_HINT_BASELINE)
        for part in self._wrap(model.hint, size, width)[:2]:
            self._text(
                surface,
                part,
                x=self._x(_REF_W / 2),
                baseline=baseline,
                size=size,
                colour=_MUTED,
                align="centre",
            )
            baseline += self._px(28)

    def _draw_footer(self, surface: pygame.Surface, model: ScreenModel) -> None:
        w, h = self._size
        top = self._y(_REF_H - _FOOTER_H)
        bar = pygame.Rect(0, top, w, h - top)
        surface.fill(_FOOTER_BG, bar)
        size = self._px(18)
        baseline = self._baseline_in(bar, size)
        if model.terminal_id:
            label = f"{t('terminal', model.language)}: {model.terminal_id}"
            self._text(surface, label, x=self._x(20), baseline=baseline, size=size, colour=_MUTED)
        self._text(
            surface,
            t("language_name", model.language),
            x=self._x(_REF_W - 20),
            baseline=baseline,
            size=size,
            colour=_MUTED,
            align="right",
        )
