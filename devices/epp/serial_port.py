"""The only module that imports pyserial (STYLE LAY-5): URL parsing and a thin blocking port.

Accepted URLs
-------------
``/dev/pts/N`` or ``/dev/ttyS0``
    a device path (a pty from ``sst epp serve --pty``, or real hardware).
``pty:///dev/pts/N``
    the same, spelled as a URL.
``serial:///dev/ttyUSB0?baud=9600&parity=E``
    a device path with line settings (``baud`` or ``baudrate``; parity N/E/O).
``tcp://127.0.0.1:PORT``
    an emulator on TCP (pyserial ``socket://``).
``loop://``, ``socket://…``, ``rfc2217://…``
    passed to :func:`serial.serial_for_url` unchanged.
``spy://<any of the above>``
    the inner URL with our own frame trace switched on. pyserial's ``spy://`` is deliberately
    not used: it would hexdump clear TMK components; our trace redacts them (see
    :func:`devices.epp.messages.redact_frame`).

Blocking calls here run on the driver's reader thread or writer executor, never on the loop.
"""

from __future__ import annotations

import contextlib
import socket
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

import serial

from devices.epp.errors import EppLinkError

__all__ = ["PortSpec", "SerialPort", "parse_port_url"]

_PARITIES = {"N": serial.PARITY_NONE, "E": serial.PARITY_EVEN, "O": serial.PARITY_ODD}


@dataclass(frozen=True, kw_only=True)
class PortSpec:
    """What to open: a pyserial URL or path plus line settings."""

    target: str
    baudrate: int = 9600
    parity: str = "N"
    trace: bool = False


def parse_port_url(url: str, *, baudrate: int = 9600, parity: str = "N") -> PortSpec:
    """Map our endpoint URLs to a pyserial target.

    Examples
    --------
    >>> parse_port_url("serial:///dev/ttyUSB0?baud=19200&parity=E")
    PortSpec(target='/dev/ttyUSB0', baudrate=19200, parity='E', trace=False)
    >>> parse_port_url("spy://tcp://127.0.0.1:9100").target
    'socket://127.0.0.1:9100'
    >>> parse_port_url("pty:///dev/pts/7").target
    '/dev/pts/7'
    """
    trace = False
    while url.startswith("spy://"):
        trace, url = True, url[len("spy://") :]
    if url.startswith("/"):
        return PortSpec(target=url, baudrate=baudrate, parity=parity, trace=trace)
    parts = urlsplit(url)
    if parts.scheme in ("pty", "serial"):
        query = parse_qs(parts.query)
        baud = query.get("baud", query.get("baudrate", [str(baudrate)]))[0]
        par = query.get("parity", [parity])[0].upper()
        if not baud.isdigit() or par not in _PARITIES:
            raise ValueError("bad serial URL settings")
        return PortSpec(target=parts.path, baudrate=int(baud), parity=par, trace=trace)
    if parts.scheme == "tcp":
        return PortSpec(target=f"socket://{parts.netloc}", trace=trace)
    return PortSpec(target=url, baudrate=baudrate, parity=parity, trace=trace)


class SerialPort:
    """A pyserial port with the few operations the driver needs (all blocking)."""

    def __init__(self, spec: PortSpec, *, read_timeout: float = 0.05) -> None:
        try:
            self._s = serial.serial_for_url(
                spec.target,
                baudrate=spec.baudrate,
                parity=_PARITIES[spec.parity],
                timeout=read_timeout,
                write_timeout=2.0,
            )
        except (serial.SerialException, OSError, ValueError) as e:
            raise EppLinkError(f"cannot open port: {type(e).__name__}") from e
        sock = getattr(self._s, "_socket", None)  # socket://: small frames must not wait
        if isinstance(sock, socket.socket):  # for Nagle + delayed ACK (40 ms per round trip)
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def read(self) -> bytes:
        """Whatever is available (waits at most the read timeout)."""
        try:
            n = self._s.in_waiting
            return bytes(self._s.read(n if n > 0 else 1))
        except (serial.SerialException, OSError, TypeError, AttributeError) as e:
            raise EppLinkError(f"read failed: {type(e).__name__}") from e

    def write(self, data: bytes) -> None:
        try:
            self._s.write(data)
            self._s.flush()
        except (serial.SerialException, OSError) as e:
            raise EppLinkError(f"write failed: {type(e).__name__}") from e

    def reset_input(self) -> None:
        with contextlib.suppress(serial.SerialException, OSError):
            self._s.reset_input_buffer()

    def dsr(self) -> bool | None:
        """DSR line, or ``None`` where the port has no modem lines (ptys)."""
        try:
            return bool(self._s.dsr)
        except (serial.SerialException, OSError):
            return None

    def cancel_read(self) -> None:
        cancel = getattr(self._s, "cancel_read", None)
        if cancel is not None:
            with contextlib.suppress(serial.SerialException, OSError):
                cancel()

    def close(self) -> None:
        with contextlib.suppress(serial.SerialException, OSError):
            self._s.close()
