"""The pygame user interface of the SST terminal.

``screens.model`` is the view-model API (pure values, no pygame): the terminal builds
:class:`ScreenModel` values and receives :class:`UiEvent` values. ``screens.render`` and
``screens.display`` hold everything that touches pygame; this package imports no other
project package except the ``sst.common`` leaf utilities.
"""

from __future__ import annotations

from screens.model import (
    MenuOption,
    PadKey,
    ScreenId,
    ScreenModel,
    ScreenModelError,
    ScreensError,
    Severity,
    UiEvent,
    UiEventKind,
    bilingual,
    screen_title,
    t,
)

__all__ = [
    "MenuOption",
    "PadKey",
    "ScreenId",
    "ScreenModel",
    "ScreenModelError",
    "ScreensError",
    "Severity",
    "UiEvent",
    "UiEventKind",
    "bilingual",
    "screen_title",
    "t",
]
