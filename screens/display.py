"""The pygame display: shows screen models and turns input into :class:`UiEvent` values.

The terminal owns the state machine and calls :meth:`Display.show` with a new
:class:`~screens.model.ScreenModel` whenever its state changes. :meth:`Display.run` is an
asyncio task that polls ``pygame.event.get()`` about every 30 ms and hands each user action to
the injected ``post_event`` callback (typically ``queue.put_nowait`` on the terminal's event
queue), so UI events reach the machine through the same queue as device events (SM-4).

Input mapping
-------------
* digits (main row and keypad) -> ``KEY '0'..'9'``
* Enter / keypad Enter -> ``KEY ENTER``; Escape -> ``KEY CANCEL``;
  Backspace / Delete -> ``KEY CLEAR``
* F1-F8 -> ``OPTION <key>`` of the option on that function-display key (ignored if none)
* left mouse click on an option button -> ``OPTION <key>``
* window close -> ``QUIT``
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable
from pathlib import Path
from types import TracebackType

os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")  # no banner on stdout

import pygame

from screens.model import (
    FDK_SLOTS,
    PadKey,
    ScreenModel,
    ScreensError,
    UiEvent,
    UiEventKind,
    assign_slots,
)
from screens.render import ScreenRenderer

__all__ = ["Display", "DisplayError", "ScreenshotRecorder"]

_LOGGER = logging.getLogger(__name__)
_LOGGER.addHandler(logging.NullHandler())

_PAD_KEYS: dict[int, str] = {
    pygame.K_RETURN: PadKey.ENTER.value,
    pygame.K_KP_ENTER: PadKey.ENTER.value,
    pygame.K_ESCAPE: PadKey.CANCEL.value,
    pygame.K_BACKSPACE: PadKey.CLEAR.value,
    pygame.K_DELETE: PadKey.CLEAR.value,
}
_DIGIT_KEYS: dict[int, str] = {
    **{getattr(pygame, f"K_{d}"): str(d) for d in range(10)},
    **{getattr(pygame, f"K_KP{d}"): str(d) for d in range(10)},
}
_FDK_KEYS: dict[int, int] = {getattr(pygame, f"K_F{n}"): n for n in range(1, FDK_SLOTS + 1)}


class DisplayError(ScreensError, RuntimeError):
    """The display cannot do what was asked (no video device, nothing shown yet, closed)."""


class ScreenshotRecorder:
    """Save one PNG per screen shown, as ``NN-<screen>.png`` in order.

    Parameters
    ----------
    directory
        Folder for the files; created if missing. Numbering starts at ``01`` for each
        recorder, so files of an earlier run with the same names are overwritten.
    """

    def __init__(self, directory: str | Path) -> None:
        self._directory = Path(directory)
        self._directory.mkdir(parents=True, exist_ok=True)
        self._count = 0

    @property
    def directory(self) -> Path:
        """Folder the screenshots go to."""
        return self._directory

    @property
    def count(self) -> int:
        """How many screenshots were saved."""
        return self._count

    def record(self, model: ScreenModel, surface: pygame.Surface) -> Path:
        """Save ``surface`` as the next numbered screenshot of ``model``; returns its path."""
        self._count += 1
        path = self._directory / f"{self._count:02d}-{model.screen.value}.png"
        pygame.image.save(surface, str(path))
        return path


class Display:
    """Show screen models in a pygame window (or off-screen) and post UI events.

    Parameters
    ----------
    renderer
        Draws the models.
    post_event
        Called with each :class:`UiEvent`, on the event-loop thread, from :meth:`run`.
    headless
        ``True``: no window. SDL's ``dummy`` video driver is selected (if the video system is
        not up yet), frames are rendered off-screen and can still be saved; the event queue
        works, so synthetic events are mapped as usual.
    recorder
        When given, every :meth:`show` also saves a numbered screenshot through it.
    poll_interval
        Seconds between two polls of the pygame event queue in :meth:`run`.
    caption
        Window title.

    Raises
    ------
    DisplayError
        If the video system or the window cannot be opened.
    """

    def __init__(
        self,
        renderer: ScreenRenderer,
        post_event: Callable[[UiEvent], None],
        *,
        headless: bool,
        recorder: ScreenshotRecorder | None = None,
        poll_interval: float = 0.03,
        caption: str = "SST",
    ) -> None:
        self._renderer = renderer
        self._post_event = post_event
        self._headless = headless
        self._recorder = recorder
        self._poll_interval = poll_interval
        self._model: ScreenModel | None = None
        self._frame: pygame.Surface | None = None
        self._closed = False
        if headless and not pygame.display.get_init():
            # SDL picks its video driver from the environment at init time; there is no
            # other switch. Only set when the caller explicitly asked for no window.
            os.environ["SDL_VIDEODRIVER"] = "dummy"
        try:
            pygame.display.init()
            self._window: pygame.Surface | None = None
            if not headless:
                self._window = pygame.display.set_mode(renderer.size)
                pygame.display.set_caption(caption)
        except pygame.error as e:
            raise DisplayError(f"cannot open the display: {e}") from e
        _LOGGER.info(
            "display opened",
            extra={
                "headless": headless,
                "driver": pygame.display.get_driver(),
                "size": list(renderer.size),
                "font": renderer.font.path,
            },
        )

    # ------------------------------------------------------------------ showing

    @property
    def model(self) -> ScreenModel | None:
        """The model shown last (``None`` before the first :meth:`show`)."""
        return self._model

    @property
    def headless(self) -> bool:
        """True when no window is used."""
        return self._headless

    def show(self, model: ScreenModel) -> None:
        """Remember ``model``, draw it, and save a screenshot if a recorder is set."""
        self._check_open()
        self._model = model
        self._frame = self._renderer.render(model)
        self._present()
        if self._recorder is not None:
            path = self._recorder.record(model, self._frame)
            _LOGGER.debug("screenshot saved", extra={"path": str(path)})
        _LOGGER.debug(
            "screen shown", extra={"screen": model.screen.value, "language": model.language}
        )

    def screenshot(self, path: str | Path) -> Path:
        """Save the current frame as a PNG file; returns the path written."""
        if self._frame is None:
            raise DisplayError("nothing shown yet")
        out = Path(path)
        out.parent.mkdir(parents=True, exist_ok=True)
        pygame.image.save(self._frame, str(out))
        return out

    def _present(self) -> None:
        if self._window is not None and self._frame is not None:
            self._window.blit(self._frame, (0, 0))
            pygame.display.flip()

    # ------------------------------------------------------------------ input

    def map_event(self, event: pygame.event.Event) -> UiEvent | None:
        """Translate one pygame event into a :class:`UiEvent` (``None``: not ours)."""
        if event.type == pygame.QUIT:
            return UiEvent(kind=UiEventKind.QUIT)
        if event.type == pygame.KEYDOWN:
            return self._map_key(int(event.key))
        if event.type == pygame.MOUSEBUTTONDOWN and event.button == 1:
            return self._map_click((int(event.pos[0]), int(event.pos[1])))
        if event.type in (pygame.VIDEOEXPOSE, pygame.WINDOWEXPOSED):
            self._present()
        return None

    def _map_click(self, pos: tuple[int, int]) -> UiEvent | None:
        # Hit-test against the model on screen, not whatever the renderer drew last.
        if self._model is None:
            return None
        for fdk, option in assign_slots(self._model.options).items():
            if self._renderer.fdk_rect(fdk).collidepoint(pos):
                return UiEvent(kind=UiEventKind.OPTION, value=option.key)
        return None

    def _map_key(self, key: int) -> UiEvent | None:
        value = _DIGIT_KEYS.get(key) or _PAD_KEYS.get(key)
        if value is not None:
            return UiEvent(kind=UiEventKind.KEY, value=value)
        fdk = _FDK_KEYS.get(key)
        if fdk is None or self._model is None:
            return None
        option = assign_slots(self._model.options).get(fdk)
        return None if option is None else UiEvent(kind=UiEventKind.OPTION, value=option.key)

    def poll(self) -> int:
        """Drain the pygame event queue once, posting mapped events; returns how many."""
        self._check_open()
        posted = 0
        for event in pygame.event.get():
            ui = self.map_event(event)
            if ui is None:
                continue
            # The kind only: a digit may be part of a PIN typed on the emulated keypad.
            _LOGGER.debug("ui event", extra={"kind": ui.kind.value})
            self._post_event(ui)
            posted += 1
        return posted

    async def run(self) -> None:
        """Poll the event queue every ``poll_interval`` seconds until closed or cancelled."""
        while not self._closed:
            self.poll()
            await asyncio.sleep(self._poll_interval)

    # ------------------------------------------------------------------ lifetime

    def _check_open(self) -> None:
        if self._closed:
            raise DisplayError("display is closed")

    @property
    def closed(self) -> bool:
        """True after :meth:`close`."""
        return self._closed

    def close(self) -> None:
        """Close the window and stop :meth:`run` (idempotent)."""
        if self._closed:
            return
        self._closed = True
        self._window = None
        pygame.display.quit()
        _LOGGER.info("display closed")

    def __enter__(self) -> Display:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
