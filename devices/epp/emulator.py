"""Run :class:`~devices.epp.firmware.EppFirmware` behind a real pty or a TCP port (asyncio).

Pty: ``os.openpty()``; both ends are set raw (otherwise ETX could become ^C before the driver
sets raw), the emulator serves the master fd and the driver opens ``os.ttyname(slave)``. The
emulator keeps its own slave fd open so the master never sees EIO when a driver closes and
reopens the port. Ptys have no modem lines: the driver must not need DSR/CTS.

Control socket (TCP, 127.0.0.1 only), one command per line, one reply line each:

``press 1234`` / ``press ENTER`` / ``press 12 CLEAR 34 ENTER`` / ``press F1``
    key presses (digits, ENTER, CANCEL, CLEAR, function keys F1..F8); reply
    ``ok <accepted count>``.
``await-entry [seconds]``
    wait until a PIN or amount entry is active; ``ok`` or ``error timeout``.
``tamper``
    fire the tamper sensor; ``ok``.
``fault nak-storm|silent|garbled|none``
    inject a link fault; ``ok``.
``status``
    ``ok entry=0|1 tampered=0|1 fault=<name> keys=<n> backlight=0|1 beeps=<n>``.

Anything else gets ``error <reason>``. Clear key values never appear on this socket.
"""

from __future__ import annotations

import asyncio
import logging
import os
import tty

from devices.epp.firmware import NAMED_KEYS, EppFirmware, Fault

__all__ = ["EppEmulator", "parse_keys"]

_LOGGER = logging.getLogger(__name__)
_LOGGER.addHandler(logging.NullHandler())


def parse_keys(text: str) -> list[str]:
    """Split a ``press`` argument into single keys.

    Examples
    --------
    >>> parse_keys("12 enter")
    ['1', '2', 'ENTER']
    >>> parse_keys("f1 F8")
    ['F1', 'F8']
    >>> parse_keys("x")
    Traceback (most recent call last):
    ...
    ValueError: bad key token
    """
    keys: list[str] = []
    for token in text.split():
        if token.upper() in NAMED_KEYS:
            keys.append(token.upper())
        elif token.isdigit() and token.isascii():
            keys.extend(token)
        else:
            raise ValueError("bad key token")
    return keys


class EppEmulator:
    """The firmware plus its transports (pty or TCP) and the control socket."""

    def __init__(self, firmware: EppFirmware) -> None:
        self.firmware = firmware
        self._master: int | None = None
        self._slave: int | None = None
        self._tcp_server: asyncio.Server | None = None
        self._tcp_writer: asyncio.StreamWriter | None = None
        self._control: asyncio.Server | None = None
        self._pending_out = bytearray()
        self._timer: asyncio.TimerHandle | None = None
        self._entry_changed = asyncio.Condition()
        self._tasks: set[asyncio.Task[None]] = set()

    # ----------------------------------------------------------------- transports
    async def serve_pty(self) -> str:
        """Open a pty pair, serve the master; return the slave path for the driver."""
        master, slave = os.openpty()
        tty.setraw(master)
        tty.setraw(slave)
        os.set_blocking(master, False)
        self._master, self._slave = master, slave
        asyncio.get_running_loop().add_reader(master, self._on_pty_readable)
        return os.ttyname(slave)

    async def serve_tcp(self, port: int = 0) -> int:
        """Listen on 127.0.0.1:port (one host at a time); return the bound port."""
        self._tcp_server = await asyncio.start_server(self._on_tcp_client, "127.0.0.1", port)
        return int(self._tcp_server.sockets[0].getsockname()[1])

    async def serve_control(self, port: int = 0) -> int:
        """Listen for control lines on 127.0.0.1:port; return the bound port."""
        self._control = await asyncio.start_server(self._on_control_client, "127.0.0.1", port)
        return int(self._control.sockets[0].getsockname()[1])

    async def aclose(self) -> None:
        """Stop serving and close only what this object opened."""
        loop = asyncio.get_running_loop()
        if self._timer is not None:
            self._timer.cancel()
        for server in (self._control, self._tcp_server):
            if server is not None:
                server.close()
        for task in list(self._tasks):
            task.cancel()
        if self._tcp_writer is not None:
            self._tcp_writer.close()
        if self._master is not None:
            loop.remove_reader(self._master)
            loop.remove_writer(self._master)
            os.close(self._master)
            self._master = None
        if self._slave is not None:
            os.close(self._slave)
            self._slave = None

    def _on_pty_readable(self) -> None:
        assert self._master is not None
        try:
            data = os.read(self._master, 4096)
        except BlockingIOError:
            return
        except OSError:  # EIO: no slave open (cannot happen while we hold ours)
            return
        if data:
            self._feed(data)

    async def _on_tcp_client(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        if self._tcp_writer is not None:
            self._tcp_writer.close()
        self._tcp_writer = writer
        self.firmware.link_reset()
        try:
            while data := await reader.read(4096):
                self._feed(data)
        except ConnectionError:
            pass
        finally:
            if self._tcp_writer is writer:
                self._tcp_writer = None
            writer.close()

    # ----------------------------------------------------------------- firmware glue
    def _feed(self, data: bytes) -> None:
        self.firmware.receive_data(data)
        self._flush()

    def _flush(self) -> None:
        """Send what the firmware produced, re-arm the timeout timer, wake entry waiters."""
        out = self.firmware.data_to_send()
        if out:
            self._send(out)
        loop = asyncio.get_running_loop()
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        deadline = self.firmware.next_deadline()
        if deadline is not None:
            self._timer = loop.call_at(deadline + 0.001, self._on_timer)
        task = loop.create_task(self._notify())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _notify(self) -> None:
        async with self._entry_changed:
            self._entry_changed.notify_all()

    def _on_timer(self) -> None:
        self._timer = None
        self.firmware.tick()
        self._flush()

    def _send(self, data: bytes) -> None:
        if self._tcp_writer is not None:
            self._tcp_writer.write(data)
            return
        if self._master is None:
            return
        self._pending_out += data
        self._drain_pty()

    def _drain_pty(self) -> None:
        assert self._master is not None
        loop = asyncio.get_running_loop()
        try:
            while self._pending_out:
                n = os.write(self._master, self._pending_out)
                del self._pending_out[:n]
        except BlockingIOError:
            loop.add_writer(self._master, self._drain_pty)
            return
        except OSError:
            self._pending_out.clear()
        loop.remove_writer(self._master)

    # ----------------------------------------------------------------- control socket
    async def _on_control_client(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        try:
            while line := await reader.readline():
                reply = await self.control(line.decode("ascii", "replace").strip())
                writer.write(reply.encode() + b"\n")
                await writer.drain()
        except ConnectionError:
            pass
        finally:
            writer.close()

    async def control(self, line: str) -> str:  # noqa: PLR0911 - one return per verb
        """Execute one control line and return the reply line."""
        verb, _, arg = line.partition(" ")
        fw = self.firmware
        if verb == "press":
            try:
                keys = parse_keys(arg)
            except ValueError as e:
                return f"error {e}"
            accepted = sum(1 for k in keys if fw.press(k))
            self._flush()
            _LOGGER.info("keys pressed", extra={"count": len(keys), "accepted": accepted})
            return f"ok {accepted}"
        if verb == "await-entry":
            try:
                timeout = float(arg) if arg else 5.0
            except ValueError:
                return "error bad timeout"
            try:
                async with self._entry_changed:
                    await asyncio.wait_for(
                        self._entry_changed.wait_for(lambda: fw.entry_active), timeout
                    )
            except TimeoutError:
                return "error timeout"
            return "ok"
        if verb == "tamper":
            fw.tamper()
            self._flush()
            return "ok"
        if verb == "fault":
            try:
                fw.set_fault(Fault(arg.strip()))
            except ValueError:
                return "error unknown fault"
            _LOGGER.info("fault injected", extra={"fault": arg.strip()})
            return "ok"
        if verb == "status":
            return (
                f"ok entry={int(fw.entry_active)} tampered={int(fw.tampered)} "
                f"fault={fw.fault.value} keys={len(fw.key_infos())} "
                f"backlight={int(fw.backlight)} beeps={fw.beeps}"
            )
        return "error unknown command"
