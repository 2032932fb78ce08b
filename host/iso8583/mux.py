"""Asyncio client channel with a MUX (matching on MTI class + field 41 + field 11).

Several requests may be in flight on one connection. Each response is matched to its request
by the MTI's message class (the request's 0200 matches a 0210), terminal id (41) and STAN (11).
A request that gets no answer in time raises ``asyncio.TimeoutError``; a late or unmatched
response is logged and dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from host.iso8583 import codec
from host.iso8583.errors import Iso8583Error
from host.iso8583.framing import TwoByteLengthFramer
from host.iso8583.messages import response_mti

__all__ = ["Iso8583Client", "mux_key"]

_LOG = logging.getLogger(__name__)
Fields = dict[str, str]


def mux_key(fields: Fields, *, expect_response: bool) -> tuple[str, str, str]:
    """The key a response must share with its request.

    >>> mux_key({"t": "0200", "41": "ATM00001", "11": "000042"}, expect_response=True)
    ('0210', 'ATM00001', '000042')
    """
    mti = fields.get("t", "")
    if expect_response:
        mti = response_mti(mti)
    return (mti, fields.get("41", ""), fields.get("11", ""))


class Iso8583Client:
    """One TCP connection to an ISO 8583 host with a request/response MUX."""

    def __init__(self, host: str, port: int, *, timeout: float = 10.0) -> None:
        self._host, self._port, self._timeout = host, port, timeout
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._pending: dict[tuple[str, str, str], asyncio.Future[Fields]] = {}
        self._rx_task: asyncio.Task[None] | None = None
        self.unmatched: list[Fields] = []

    @property
    def connected(self) -> bool:
        return self._writer is not None and not self._writer.is_closing()

    async def connect(self) -> None:
        self._reader, self._writer = await asyncio.open_connection(self._host, self._port)
        self._rx_task = asyncio.create_task(self._receive_loop(), name="iso8583-rx")

    async def close(self) -> None:
        if self._rx_task:
            self._rx_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._rx_task
        if self._writer:
            self._writer.close()
            with contextlib.suppress(OSError):
                await self._writer.wait_closed()
        self._writer = None
        for fut in self._pending.values():
            if not fut.done():
                fut.set_exception(ConnectionError("channel closed"))
        self._pending.clear()

    async def request(self, fields: Fields, *, timeout: float | None = None) -> Fields:
        """Send a request and wait for its matched response."""
        if not self.connected:
            await self.connect()
        assert self._writer is not None
        key = mux_key(fields, expect_response=True)
        fut: asyncio.Future[Fields] = asyncio.get_running_loop().create_future()
        self._pending[key] = fut
        start = time.monotonic()
        rc = "--"
        try:
            self._writer.write(TwoByteLengthFramer.frame(codec.encode(fields)))
            await self._writer.drain()
            resp = await asyncio.wait_for(fut, timeout or self._timeout)
            rc = resp.get("39", "--")
            return resp
        finally:
            self._pending.pop(key, None)
            _LOG.info("iso8583 exchange", extra={
                "mti": fields.get("t"), "stan": fields.get("11"), "terminal_id": fields.get("41"),
                "rc": rc, "elapsed_ms": round((time.monotonic() - start) * 1000, 2)})

    async def _receive_loop(self) -> None:
        assert self._reader is not None
        framer = TwoByteLengthFramer()
        try:
            while True:
                data = await self._reader.read(4096)
                if not data:
                    break
                framer.receive_data(data)
                while (frame := framer.next_frame()) is not None:
                    self._dispatch(frame)
        except (Iso8583Error, OSError) as e:
            _LOG.warning("iso8583 channel receive failed", extra={"error": str(e)})
        finally:
            for fut in self._pending.values():
                if not fut.done():
                    fut.set_exception(ConnectionError("host closed the connection"))

    def _dispatch(self, frame: bytes) -> None:
        try:
            fields = codec.decode(frame)
        except Iso8583Error as e:
            _LOG.warning("undecodable response dropped", extra={"error": str(e)})
            return
        fut = self._pending.get(mux_key(fields, expect_response=False))
        if fut is None or fut.done():
            _LOG.warning("late or unmatched response dropped", extra={
                "mti": fields.get("t"), "stan": fields.get("11"), "terminal_id": fields.get("41")})
            self.unmatched.append(codec.masked_dump(fields))
            return
        fut.set_result(fields)
