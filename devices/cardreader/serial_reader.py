"""Serial ASCII magstripe reader driver (pyserial through :mod:`devices.cardreader.serial_port`).

The reader sends one CR/LF-terminated line per swipe (``%...?;...?``, ``;E?`` for an unreadable
track). The port is any ``serial_for_url`` URL: a real ``/dev/ttyUSB0``, a pty, ``loop://``.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from devices.cardreader.serial_port import ByteStream, open_serial
from devices.cardreader.stream import StreamCardReader
from devices.common.events import EventBus

__all__ = ["SerialCardReader"]


class SerialCardReader(StreamCardReader):
    """Swipe reader on a serial port.

    Parameters
    ----------
    port:
        An already opened byte stream (see :func:`open_serial`); its reads must time out
        (pyserial ``timeout``) so the reader thread can stop.
    """

    def __init__(
        self,
        port: ByteStream,
        *,
        name: str = "idc",
        bus: EventBus | None = None,
        command_timeout: float | None = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(name=name, bus=bus, command_timeout=command_timeout, clock=clock)
        self._port = port

    @classmethod
    def from_url(
        cls, url: str, *, baudrate: int = 9600, name: str = "idc", bus: EventBus | None = None
    ) -> SerialCardReader:
        """Open ``url`` with pyserial and wrap it."""
        return cls(open_serial(url, baudrate=baudrate), name=name, bus=bus)

    def _open_source(self) -> None:
        pass

    def _read_chunk(self) -> bytes:
        waiting = self._port.in_waiting
        return self._port.read(max(1, waiting))

    def _close_source(self) -> None:
        self._port.close()
