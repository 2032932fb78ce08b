"""Asyncio client for the emulated EPP's control socket (scripted customers, screens, tests).

Each call opens a short TCP connection to 127.0.0.1, sends one line and reads one reply line
(see :mod:`devices.epp.emulator` for the line protocol).
"""

from __future__ import annotations

import asyncio

from devices.epp.errors import EppError

__all__ = ["ControlError", "KeypadControl"]


class ControlError(EppError, RuntimeError):
    """The emulator refused a control line (the reply's reason is the message)."""


class KeypadControl:
    """Press keys on, tamper with, or inject faults into an emulated EPP.

    Parameters
    ----------
    port
        The control port the emulator printed in its ``listening`` line.
    host
        Always loopback in this project.
    timeout
        Seconds to wait for each reply.
    """

    def __init__(self, port: int, *, host: str = "127.0.0.1", timeout: float = 10.0) -> None:
        self.port = port
        self.host = host
        self.timeout = timeout

    async def _call(self, line: str, *, wait_s: float | None = None) -> str:
        reader, writer = await asyncio.open_connection(self.host, self.port)
        try:
            writer.write(line.encode("ascii") + b"\n")
            await writer.drain()
            reply = await asyncio.wait_for(reader.readline(), wait_s or self.timeout)
        finally:
            writer.close()
            await writer.wait_closed()
        text = reply.decode("ascii", "replace").strip()
        if not text.startswith("ok"):
            raise ControlError(text.removeprefix("error ").strip() or "no reply")
        return text

    async def wait_entry(self, wait_s: float = 5.0) -> None:
        """Wait until the EPP is in PIN entry."""
        await self._call(f"await-entry {wait_s}", wait_s=wait_s + self.timeout)

    async def press(self, keys: str, *, wait_entry_s: float | None = 5.0) -> int:
        """Press keys, e.g. ``"1234"``, ``"ENTER"`` or ``"12 CLEAR 34 ENTER"``.

        By default waits (up to ``wait_entry_s``) for a PIN entry to be active first, so a
        script does not race the terminal; pass ``None`` to press at once. Returns how many
        presses the EPP accepted.
        """
        if wait_entry_s is not None:
            await self.wait_entry(wait_entry_s)
        reply = await self._call(f"press {keys}")
        return int(reply.split()[1])

    async def tamper(self) -> None:
        """Fire the tamper sensor (the EPP zeroises its keys)."""
        await self._call("tamper")

    async def fault(self, name: str) -> None:
        """Inject a link fault: ``nak-storm``, ``silent``, ``garbled`` or ``none``."""
        await self._call(f"fault {name}")

    async def status(self) -> dict[str, str]:
        """The emulator's view: entry, tampered, fault, keys."""
        reply = await self._call("status")
        return dict(item.split("=", 1) for item in reply.split()[1:])
