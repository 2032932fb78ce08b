"""Framing and splitting of magstripe reader output (a pure codec, no I/O).

Keyboard-wedge and serial ASCII magstripe readers send one line per swipe, tracks written with
their sentinels and without LRC (the reader checks it): ``%B...^...^...?;...=...?`` followed by
CR and/or LF. A track the head could not read is sent as ``%E?`` or ``;E?``.

Examples
--------
>>> f = SwipeFramer()
>>> f.receive_data(b"%B4761739001010010^DOE/JOHN^2512201?;4761739001010010=2512")
>>> f.next_line() is None
True
>>> f.receive_data(b"2011234?\\r\\n")
>>> swipe = parse_swipe(f.next_line() or "")
>>> swipe.track2
<redacted>
>>> swipe.track1_error, swipe.track2_error
(False, False)
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sst.common.redact import Secret

__all__ = ["SwipeData", "SwipeFramer", "parse_swipe"]

_SEGMENT = re.compile(r"([%;+])([^%;+?]*)\?")
_MAX_LINE = 512


@dataclass(frozen=True, kw_only=True)
class SwipeData:
    """The tracks of one swipe, kept secret. ``*_error`` is set when the reader flagged a track."""

    track1: Secret[str] | None = None
    track2: Secret[str] | None = None
    track1_error: bool = False
    track2_error: bool = False


def parse_swipe(line: str) -> SwipeData:
    """Split one reader line into tracks; never raises (validation is the track parsers' job)."""
    t1: str | None = None
    t2: str | None = None
    e1 = e2 = False
    for m in _SEGMENT.finditer(line):
        sentinel, body = m.group(1), m.group(2)
        is_error = body in {"E", "e"}
        if sentinel == "%":
            if is_error:
                e1 = True
            elif t1 is None:
                t1 = m.group(0)
        elif sentinel == ";":
            if is_error:
                e2 = True
            elif t2 is None:
                t2 = m.group(0)
    return SwipeData(
        track1=Secret(t1) if t1 is not None else None,
        track2=Secret(t2) if t2 is not None else None,
        track1_error=e1,
        track2_error=e2,
    )


class SwipeFramer:
    """Accumulates bytes and yields complete lines (CR or LF terminated), never one read = one line.

    Over-long garbage without a terminator is dropped so the buffer stays bounded.
    """

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._lines: list[str] = []

    def receive_data(self, data: bytes) -> None:
        """Feed bytes from the transport."""
        self._buffer += data
        while True:
            idx = next((i for i, b in enumerate(self._buffer) if b in (0x0A, 0x0D)), -1)
            if idx < 0:
                break
            raw = bytes(self._buffer[:idx])
            del self._buffer[: idx + 1]
            text = raw.decode("ascii", errors="replace").strip()
            if text:
                self._lines.append(text)
        if len(self._buffer) > _MAX_LINE:
            self._buffer.clear()

    def next_line(self) -> str | None:
        """The next complete line, or None when more data is needed."""
        return self._lines.pop(0) if self._lines else None

    def clear(self) -> None:
        """Drop buffered data and lines (stale swipes)."""
        self._buffer.clear()
        self._lines.clear()
