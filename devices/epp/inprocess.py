"""The emulated EPP firmware behind an in-process port: no pty, no socket, no subprocess.

:class:`FirmwarePort` has the blocking ``read``/``write`` surface of
:class:`devices.epp.serial_port.SerialPort`, so :class:`devices.epp.driver.EppDriver` runs
unchanged on top of it (``EppDriver("emuepp://", port=FirmwarePort(fw))``); this is the
``emuepp://`` transport of docs/devices.md, in the spirit of pyserial's ``loop://``. Bytes the
driver writes go straight into :meth:`EppFirmware.receive_data`; each ``read`` first applies due
timeouts (:meth:`EppFirmware.tick`), then returns what the firmware sent. The driver calls
``read`` from its reader thread and ``write`` from its writer thread, so every firmware access
holds one lock; :class:`InProcessKeypad` presses keys under the same lock.

The clock is the firmware's (``time.monotonic`` when built by :func:`in_process_epp`); the
timeout granularity is the driver's read poll (50 ms).
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable

from devices.epp.emulator import parse_keys
from devices.epp.errors import EppLinkError
from devices.epp.firmware import EppFirmware, Fault, KeyStore, MemoryKeyStore

__all__ = ["FirmwarePort", "InProcessKeypad", "in_process_epp"]


class FirmwarePort:
    """A port whose far end is an in-process :class:`EppFirmware` (thread-safe)."""

    def __init__(self, firmware: EppFirmware, *, read_timeout: float = 0.05) -> None:
        self.firmware = firmware
        self._cond = threading.Condition()
        self._rx = bytearray()  # firmware -> driver
        self._read_timeout = read_timeout
        self._closed = False
        self._cancelled = False

    # ------------------------------------------------------------- the SerialPort surface
    def read(self) -> bytes:
        """Whatever the firmware sent (waits at most the read timeout)."""
        with self._cond:
            if self._closed:
                raise EppLinkError("read failed: port closed")
            self._pump()
            if not self._rx and not self._cancelled:
                self._cond.wait(self._read_timeout)
                self._pump()
            self._cancelled = False
            data = bytes(self._rx)
            self._rx.clear()
            return data

    def write(self, data: bytes) -> None:
        with self._cond:
            if self._closed:
                raise EppLinkError("write failed: port closed")
            self.firmware.receive_data(data)
            self._pump()

    def reset_input(self) -> None:
        with self._cond:
            self._rx.clear()

    def dsr(self) -> bool | None:
        return True  # like loop://: the emulated device is always present

    def cancel_read(self) -> None:
        with self._cond:
            self._cancelled = True
            self._cond.notify_all()

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    # ------------------------------------------------------------- the customer's side
    def act(self, action: Callable[[EppFirmware], object]) -> object:
        """Run ``action(firmware)`` under the port lock and deliver what it sent."""
        with self._cond:
            result = action(self.firmware)
            self._pump()
            return result

    def _pump(self) -> None:
        """Apply due timeouts and move firmware output to the read buffer (lock held)."""
        self.firmware.tick()
        out = self.firmware.data_to_send()
        if out:
            self._rx += out
            self._cond.notify_all()


class InProcessKeypad:
    """The async keypad/tamper/fault surface of :class:`devices.epp.control.KeypadControl`,
    acting directly on a :class:`FirmwarePort`'s firmware."""

    def __init__(self, port: FirmwarePort, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._port = port
        self._clock = clock

    async def wait_entry(self, wait_s: float = 5.0) -> None:
        """Wait until an entry (PIN or amount) is active; polls with a deadline."""
        deadline = self._clock() + wait_s
        while not self._port.act(lambda fw: fw.entry_active):
            if self._clock() >= deadline:
                raise TimeoutError("no entry became active")
            await asyncio.sleep(0.01)

    async def press(self, keys: str, *, wait_entry_s: float | None = 5.0) -> int:
        """Press keys (``"1234"``, ``"ENTER"``, ``"F1"``); returns how many were accepted."""
        if wait_entry_s is not None:
            await self.wait_entry(wait_entry_s)
        names = parse_keys(keys)
        return int(str(self._port.act(lambda fw: sum(1 for k in names if fw.press(k)))))

    async def tamper(self) -> None:
        """Fire the tamper sensor."""
        self._port.act(lambda fw: fw.tamper())

    async def fault(self, name: str) -> None:
        """Inject a link fault: ``nak-storm``, ``silent``, ``garbled`` or ``none``."""
        fault = Fault(name)
        self._port.act(lambda fw: fw.set_fault(fault))

    async def status(self) -> dict[str, str]:
        """The same fields as the control socket's ``status`` reply."""

        def snap(fw: EppFirmware) -> dict[str, str]:
            return {
                "entry": str(int(fw.entry_active)),
                "tampered": str(int(fw.tampered)),
                "fault": fw.fault.value,
                "keys": str(len(fw.key_infos())),
                "backlight": str(int(fw.backlight)),
                "beeps": str(fw.beeps),
            }

        result = self._port.act(snap)
        assert isinstance(result, dict)
        return result


def in_process_epp(
    *, keystore: KeyStore | None = None, serial_number: str = "EMU00001"
) -> tuple[FirmwarePort, InProcessKeypad]:
    """A fresh firmware (memory key store, monotonic clock) behind a port, and its keypad."""
    firmware = EppFirmware(
        keystore=keystore if keystore is not None else MemoryKeyStore(),
        clock=time.monotonic,
        serial_number=serial_number,
    )
    port = FirmwarePort(firmware)
    return port, InProcessKeypad(port)
