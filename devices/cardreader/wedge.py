"""Keyboard-wedge / tty magstripe reader driver: track lines read from a device path.

A keyboard-wedge reader "types" each swipe as a line (``%...?;...?`` + Enter). This driver reads
those lines from a configurable path: a tty the reader is attached to (a pty in tests), a FIFO
fed by a key-event translator, or a plain file being appended to. Raw evdev
``/dev/input/event*`` key events need a translator in front (not provided here).
"""

from __future__ import annotations

import os
import select
import time
from collections.abc import Callable
from pathlib import Path

from devices.cardreader.stream import StreamCardReader
from devices.common.codes import DeviceError
from devices.common.events import EventBus

__all__ = ["WedgeCardReader"]


class WedgeCardReader(StreamCardReader):
    """Swipe reader reading text lines from ``path``.

    Parameters
    ----------
    path:
        tty, FIFO or file to read; opened non-blocking when the reader opens.
    poll_interval:
        Seconds between reads when the source is at end of file, and the stop-check period.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        name: str = "idc",
        bus: EventBus | None = None,
        poll_interval: float = 0.05,
        command_timeout: float | None = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(name=name, bus=bus, command_timeout=command_timeout, clock=clock)
        self._path = Path(path)
        self._poll = poll_interval
        self._fd: int | None = None

    def _open_source(self) -> None:
        try:
            self._fd = os.open(self._path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY)
        except OSError as e:
            raise DeviceError(self.name, "cannot open the wedge device") from e

    def _read_chunk(self) -> bytes:
        fd = self._fd
        if fd is None:
            return b""
        readable, _, _ = select.select([fd], [], [], self._poll)
        if not readable:
            return b""
        try:
            data = os.read(fd, 4096)
        except BlockingIOError:
            return b""
        if not data:  # end of file, or a FIFO without writer: wait for more
            self._stop.wait(self._poll)
        return data

    def _close_source(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)
