"""Display: headless showing, screenshots, and pygame events mapped to UiEvents."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pygame
import pytest

from screens.display import Display, DisplayError, ScreenshotRecorder
from screens.model import MenuOption, ScreenId, ScreenModel, UiEvent, UiEventKind
from screens.preview import sample_model
from screens.render import ScreenRenderer

MENU = ScreenModel(
    screen=ScreenId.MENU,
    title="Menu",
    options=(
        MenuOption(key="withdrawal", label="Cash"),
        MenuOption(key="balance", label="Balance"),
        MenuOption(key="cancel", label="Cancel", fdk=8),
    ),
)


@pytest.fixture(autouse=True)
def _dummy_sdl(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SDL_VIDEODRIVER", "dummy")
    monkeypatch.setenv("SDL_AUDIODRIVER", "dummy")


@pytest.fixture(scope="module")
def renderer() -> ScreenRenderer:
    return ScreenRenderer()


@pytest.fixture
def posted() -> list[UiEvent]:
    return []


@pytest.fixture
def display(renderer: ScreenRenderer, posted: list[UiEvent]) -> Iterator[Display]:
    d = Display(renderer, posted.append, headless=True)
    pygame.event.clear()  # drop window/start-up events
    yield d
    d.close()


def key(k: int) -> pygame.event.Event:
    return pygame.event.Event(pygame.KEYDOWN, key=k, mod=0, unicode="", scancode=0)


def click(pos: tuple[int, int], button: int = 1) -> pygame.event.Event:
    return pygame.event.Event(pygame.MOUSEBUTTONDOWN, pos=pos, button=button)


def K(value: str) -> UiEvent:
    return UiEvent(kind=UiEventKind.KEY, value=value)


def O(value: str) -> UiEvent:  # noqa: E743 - reads like the event kind
    return UiEvent(kind=UiEventKind.OPTION, value=value)


def test_event_mapping(display: Display, renderer: ScreenRenderer, posted: list[UiEvent]) -> None:
    display.show(MENU)
    # fmt: off
    events = [
        key(pygame.K_5), key(pygame.K_KP7), key(pygame.K_0),
        key(pygame.K_RETURN), key(pygame.K_KP_ENTER), key(pygame.K_ESCAPE),
        key(pygame.K_BACKSPACE), key(pygame.K_DELETE),
        key(pygame.K_F1), key(pygame.K_F2), key(pygame.K_F8),
        key(pygame.K_F3),                       # no option there: ignored
        key(pygame.K_a),                        # not a terminal key: ignored
        click(renderer.fdk_rect(2).center),
        click(renderer.fdk_rect(8).center),
        click(renderer.fdk_rect(8).center, button=3),  # right button: ignored
        click((400, 300)),                      # no button there: ignored
        pygame.event.Event(pygame.QUIT),
    ]
    # fmt: on
    for ev in events:
        pygame.event.post(ev)
    assert display.poll() == 14
    assert posted == [
        K("5"), K("7"), K("0"),
        K("ENTER"), K("ENTER"), K("CANCEL"),
        K("CLEAR"), K("CLEAR"),
        O("withdrawal"), O("balance"), O("cancel"),
        O("balance"), O("cancel"),
        UiEvent(kind=UiEventKind.QUIT),
    ]  # fmt: skip


def test_fdk_without_a_model_is_ignored(display: Display, posted: list[UiEvent]) -> None:
    pygame.event.post(key(pygame.K_F1))
    pygame.event.post(click((100, 200)))
    assert display.poll() == 0
    assert posted == []


@pytest.mark.asyncio
async def test_run_task_polls_and_posts(renderer: ScreenRenderer) -> None:
    posted: list[UiEvent] = []
    got_three = asyncio.Event()

    def post(ev: UiEvent) -> None:
        posted.append(ev)
        if len(posted) == 3:
            got_three.set()

    display = Display(renderer, post, headless=True, poll_interval=0.01)
    try:
        pygame.event.clear()
        display.show(MENU)
        task = asyncio.create_task(display.run())
        pygame.event.post(key(pygame.K_1))
        pygame.event.post(key(pygame.K_F8))
        pygame.event.post(pygame.event.Event(pygame.QUIT))
        await asyncio.wait_for(got_three.wait(), timeout=5.0)
        assert posted == [K("1"), O("cancel"), UiEvent(kind=UiEventKind.QUIT)]
    finally:
        display.close()
    await asyncio.wait_for(task, timeout=5.0)  # run() returns once closed
    assert task.exception() is None


@pytest.mark.asyncio
async def test_run_task_can_be_cancelled(display: Display) -> None:
    task = asyncio.create_task(display.run())
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


def test_screenshot(display: Display, tmp_path: Path) -> None:
    with pytest.raises(DisplayError, match=r"^nothing shown yet$"):
        display.screenshot(tmp_path / "none.png")
    display.show(sample_model(ScreenId.PIN, "zh"))
    assert display.model is not None and display.model.screen is ScreenId.PIN
    out = display.screenshot(tmp_path / "sub" / "pin.png")
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert pygame.image.load(str(out)).get_size() == (800, 600)


def test_recorder_names_files_in_order(
    renderer: ScreenRenderer, posted: list[UiEvent], tmp_path: Path
) -> None:
    recorder = ScreenshotRecorder(tmp_path / "shots")
    with Display(renderer, posted.append, headless=True, recorder=recorder) as display:
        for screen in (ScreenId.IDLE, ScreenId.PIN, ScreenId.MENU, ScreenId.OUT_OF_SERVICE):
            display.show(sample_model(screen, "en"))
    assert display.closed
    assert recorder.count == 4
    names = sorted(p.name for p in (tmp_path / "shots").iterdir())
    assert names == ["01-idle.png", "02-pin.png", "03-menu.png", "04-out_of_service.png"]
    for name in names:
        assert pygame.image.load(str(tmp_path / "shots" / name)).get_size() == (800, 600)


def test_closed_display_refuses_to_show(display: Display) -> None:
    display.close()
    display.close()  # idempotent
    with pytest.raises(DisplayError, match=r"^display is closed$"):
        display.show(MENU)


def test_headless_selects_the_dummy_driver(
    renderer: ScreenRenderer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SDL_VIDEODRIVER", raising=False)
    with Display(renderer, lambda ev: None, headless=True) as display:
        assert display.headless
        assert pygame.display.get_driver() == "dummy"


def test_windowed_mode_draws_into_the_window(renderer: ScreenRenderer, tmp_path: Path) -> None:
    # With the dummy driver a "window" is an off-screen surface; the blit path still runs.
    with Display(renderer, lambda ev: None, headless=False, caption="SST test") as display:
        display.show(sample_model(ScreenId.IDLE, "en"))
        window = pygame.display.get_surface()
        assert window is not None and window.get_size() == (800, 600)
        shot = pygame.image.load(str(display.screenshot(tmp_path / "idle.png")))
        assert pygame.image.tobytes(window, "RGB") == pygame.image.tobytes(shot, "RGB")
        pygame.event.post(pygame.event.Event(pygame.WINDOWEXPOSED))
        assert display.poll() == 0  # a redraw, not a UI event
