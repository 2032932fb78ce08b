"""ScreenRenderer: every screen renders to a valid PNG, CJK glyphs, hit-testing, entry."""

from __future__ import annotations

import logging
import struct
from pathlib import Path

import pygame
import pytest

from screens import render as render_mod
from screens.model import LANGUAGES, MenuOption, ScreenId, ScreenModel
from screens.preview import main as preview_main
from screens.preview import sample_models
from screens.render import ScreenRenderer, find_cjk_font

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(autouse=True)
def _dummy_sdl(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SDL_VIDEODRIVER", "dummy")
    monkeypatch.setenv("SDL_AUDIODRIVER", "dummy")


@pytest.fixture(scope="module")
def renderer() -> ScreenRenderer:
    return ScreenRenderer()


def png_size(path: Path) -> tuple[int, int]:
    """Width and height from the IHDR chunk (independent of pygame)."""
    data = path.read_bytes()
    assert data[:8] == PNG_SIGNATURE
    assert data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


class RecordingRenderer(ScreenRenderer):
    """Records every text string drawn."""

    def __init__(self) -> None:
        super().__init__()
        self.drawn: list[str] = []

    def _text(self, surface: pygame.Surface, text: str, **kwargs: object) -> None:
        self.drawn.append(text)
        super()._text(surface, text, **kwargs)  # type: ignore[arg-type]


def test_sample_models_cover_every_screen() -> None:
    for lang in LANGUAGES:
        assert [m.screen for m in sample_models(lang)] == list(ScreenId)


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_screen_renders_to_png(
    renderer: ScreenRenderer, tmp_path: Path, language: str
) -> None:
    for model in sample_models(language):
        path = renderer.save_png(model, tmp_path / f"{model.screen.value}-{language}.png")
        assert png_size(path) == (800, 600)
        loaded = pygame.image.load(str(path))
        assert loaded.get_size() == (800, 600)


def test_other_size(tmp_path: Path) -> None:
    small = ScreenRenderer(size=(640, 480))
    model = sample_models("zh")[3]
    assert png_size(small.save_png(model, tmp_path / "s.png")) == (640, 480)
    assert small.render(model).get_size() == (640, 480)


def _ink(surface: pygame.Surface, rect: pygame.Rect) -> int:
    """Number of pixels in ``rect`` that differ from the background colour."""
    bg = surface.get_at((rect.left, rect.top))
    return sum(
        1
        for x in range(rect.left, rect.right)
        for y in range(rect.top, rect.bottom)
        if surface.get_at((x, y)) != bg
    )


def test_cjk_label_renders_glyphs(renderer: ScreenRenderer) -> None:
    if find_cjk_font() is None:
        pytest.skip("no CJK font installed (fonts-noto-cjk)")
    assert renderer.font.has_cjk
    title_area = pygame.Rect(0, 70, 800, 60)

    def title(text: str) -> pygame.Surface:
        return renderer.render(ScreenModel(screen=ScreenId.MESSAGE, title=text, language="zh"))

    blank = _ink(title(""), title_area)
    bank = title("银行卡")
    assert _ink(bank, title_area) > blank + 200
    # Real glyphs, not tofu: two different words of the same length draw differently.
    other = title("密码错")
    assert pygame.image.tobytes(bank, "RGB") != pygame.image.tobytes(other, "RGB")


def test_option_hit_testing(renderer: ScreenRenderer) -> None:
    model = ScreenModel(
        screen=ScreenId.MENU,
        title="Menu",
        options=(
            MenuOption(key="withdrawal", label="Cash"),
            MenuOption(key="balance", label="Balance"),
            MenuOption(key="cancel", label="取消", fdk=8),
        ),
    )
    renderer.render(model)
    assert renderer.option_at(renderer.fdk_rect(1).center) == "withdrawal"
    assert renderer.option_at(renderer.fdk_rect(2).center) == "balance"
    assert renderer.option_at(renderer.fdk_rect(8).center) == "cancel"
    assert renderer.option_at(renderer.fdk_rect(5).center) is None  # empty slot
    assert renderer.option_at((400, 300)) is None  # middle of the screen
    left, right = renderer.fdk_rect(1), renderer.fdk_rect(5)
    assert left.right < 400 < right.left and left.top == right.top
    # A new model without options forgets the old buttons.
    renderer.render(ScreenModel(screen=ScreenId.IDLE, title="Idle"))
    assert renderer.option_at(renderer.fdk_rect(1).center) is None


def test_fdk_rect_exception(renderer: ScreenRenderer) -> None:
    with pytest.raises(ValueError, match=r"^fdk must be 1\.\.8$"):
        renderer.fdk_rect(0)


def test_pin_entry_is_drawn_verbatim_and_never_as_digits() -> None:
    rr = RecordingRenderer()
    rr.render(ScreenModel(screen=ScreenId.PIN, title="PIN", entry="****", terminal_id="T1"))
    assert "****" in rr.drawn
    # Nothing drawn on a PIN screen carries a digit except the footer's terminal id.
    assert [s for s in rr.drawn if any(c.isdigit() for c in s)] == ["Terminal: T1"]

    rr.drawn.clear()
    rr.render(ScreenModel(screen=ScreenId.AMOUNT, title="Amount", entry="1,250.00"))
    assert "1,250.00" in rr.drawn  # verbatim: no reformatting, no masking of its own

    rr.drawn.clear()
    rr.render(ScreenModel(screen=ScreenId.PIN, title="PIN", entry=""))
    assert [s for s in rr.drawn if s] == ["SST Bank", "PIN", "English"]  # an empty box


def test_entry_box_shows_the_entry(renderer: ScreenRenderer) -> None:
    box = pygame.Rect(250, 400, 300, 42)

    def pin(entry: str) -> int:
        return _ink(renderer.render(ScreenModel(screen=ScreenId.PIN, title="x", entry=entry)), box)

    assert pin("") < pin("*") < pin("****")


def test_long_text_wraps_without_error(renderer: ScreenRenderer) -> None:
    long_en = "word " * 80
    long_zh = "请插入您的银行卡" * 20
    for lang, text in (("en", long_en), ("zh", long_zh)):
        surface = renderer.render(
            ScreenModel(
                screen=ScreenId.MESSAGE,
                title=text,
                lines=(text, text),
                hint=text,
                options=(MenuOption(key="a", label=text),),
                language=lang,
            )
        )
        assert surface.get_size() == (800, 600)


def test_fallback_font_logs_a_warning(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(render_mod, "find_cjk_font", lambda: None)
    with caplog.at_level(logging.WARNING, logger="screens.render"):
        fallback = ScreenRenderer()
    assert fallback.font.path is None and not fallback.font.has_cjk
    assert any("no CJK font found" in r.getMessage() for r in caplog.records)
    assert fallback.render(sample_models("en")[0]).get_size() == (800, 600)


def test_explicit_font_path_picks_the_sc_face() -> None:
    found = find_cjk_font()
    if found is None or found.path is None or not found.path.endswith(".ttc"):
        pytest.skip("no Noto CJK collection installed")
    explicit = ScreenRenderer(font_path=found.path)
    assert explicit.font.path == found.path
    assert explicit.font.index == (2 if "CJK" in Path(found.path).name else 0)


def test_preview_main_writes_every_screen(tmp_path: Path) -> None:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    try:
        assert preview_main([str(tmp_path), "--log-level", "WARNING"]) == 0
    finally:
        for h in list(root.handlers):
            root.removeHandler(h)
        for h in handlers:
            root.addHandler(h)
        root.setLevel(level)
    files = sorted(p.name for p in tmp_path.glob("*.png"))
    assert len(files) == len(ScreenId) * len(LANGUAGES)
    assert "out_of_service-zh.png" in files
    assert all(png_size(tmp_path / f) == (800, 600) for f in files)
