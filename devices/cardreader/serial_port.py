"""The only module of the card reader that imports pyserial (LAY-5)."""

from __future__ import annotations

from typing import Protocol

import serial

__all__ = ["ByteStream", "open_serial"]


class ByteStream(Protocol):
    """The part of a pyserial port the magstripe driver uses."""

    def read(self, size: int = 1) -> bytes: ...

    def write(self, data: bytes) -> int | None: ...

    def close(self) -> None: ...

    @property
    def in_waiting(self) -> int: ...


def open_serial(url: str, *, baudrate: int = 9600, timeout: float = 0.1) -> ByteStream:
    """Open ``url`` with ``serial.serial_for_url`` (``/dev/ttyUSB0``, ``loop://``, ``spy://...``).

    ``timeout`` bounds each blocking read so the reader thread can notice a stop request.

    Raises
    ------
    serial.SerialException
        An ``OSError`` when the port cannot be opened.
    """
    port: ByteStream = serial.serial_for_url(url, baudrate=baudrate, timeout=timeout)
    return port
