"""Asyncio client channel with a MUX (matching on MTI class + field 41 + field 11).

Several requests may be in flight on one connection. Each response is matched to its request by
the response MTI (the request's 0200 matches a 0210, 0421 matches 0430), terminal id (41) and
STAN (11). A request that gets no answer in time raises ``TimeoutError``.

Lifecycle options, all off by default (the skeleton's behaviour):

* ``framing`` / ``spec``: any catalogue framing (``host.iso8583.framing.FRAMINGS``) and dialect.
* ``late_responses``: a response that arrives after its request timed out is logged (masked) and
  kept in this bounded queue (oldest dropped when full), so the terminal can see a late approval
  for a transaction it is reversing. Responses nobody asked for go to ``unmatched`` (masked).
* ``sign_on=True``: every new connection sends 0800/001 and is ready only when 0810 says 00
  (else ``SignOnError``); ``close`` then sends 0800/002.
* ``echo_interval=N``: after N seconds without traffic, send 0800/301; a failed echo drops the
  connection.
* A dropped connection is reopened by the next ``request``.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import datetime as dt
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from host.iso8583 import codec
from host.iso8583.errors import EncodeError, Iso8583Error, MessageError, SignOnError
from host.iso8583.framing import FRAMING_ALIASES, Framer, make_framer

__all__ = ["Iso8583Client", "LateResponse", "mux_key", "response_mti"]

_LOG = logging.getLogger(__name__)
_LOG.addHandler(logging.NullHandler())
Fields = dict[str, str]
MuxKey = tuple[str, str, str]

SIGN_ON, SIGN_OFF, ECHO = "001", "002", "301"


def response_mti(mti: str) -> str:
    """The response MTI of a request MTI (function digit + 1; a repeat answers as the original).

    >>> response_mti("0200"), response_mti("0421"), response_mti("0800")
    ('0210', '0430', '0810')
    """
    if len(mti) != 4 or not mti.isdigit() or int(mti[2]) % 2:
        raise MessageError(f"bad request MTI {mti!r}", field="t")
    origin = mti[3] if mti[3] in "02468" else str(int(mti[3]) - 1)
    return mti[:2] + str(int(mti[2]) + 1) + origin


def mux_key(fields: Mapping[str, str], *, expect_response: bool) -> MuxKey:
    """The key a response must share with its request.

    >>> mux_key({"t": "0200", "41": "ATM00001", "11": "000042"}, expect_response=True)
    ('0210', 'ATM00001', '000042')
    """
    mti = fields.get("t", "")
    if expect_response:
        mti = response_mti(mti)
    return (mti, fields.get("41", ""), fields.get("11", ""))


@dataclass(frozen=True, kw_only=True)
class LateResponse:
    """A response that arrived after its request had timed out (fields masked)."""

    key: MuxKey
    response_code: str | None
    fields: dict[str, str] = field(repr=False)


class _StanCounter:
    def __init__(self) -> None:
        self._n = 0

    def __call__(self) -> str:
        self._n = self._n % 999999 + 1
        return f"{self._n:06d}"


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class Iso8583Client:
    """One TCP connection to an ISO 8583 host with a request/response MUX."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        timeout: float = 10.0,
        framing: str = "binary2",
        framing_options: Mapping[str, Any] | None = None,
        spec: codec.SpecLike = None,
        late_queue_size: int = 64,
        echo_interval: float | None = None,
        sign_on: bool = False,
        terminal_id: str = "",
        stan_source: Callable[[], str] | None = None,
        clock: Callable[[], dt.datetime] | None = None,
    ) -> None:
        self._host, self._port, self._timeout = host, port, timeout
        self._framing = FRAMING_ALIASES.get(framing, framing)
        self._framing_options = dict(framing_options or {})
        if self._framing.endswith("+tpdu"):
            self._framing_options.setdefault("swap_on_reply", False)
        make_framer(self._framing, **self._framing_options)  # fail fast on a bad name
        self._spec = codec.resolve_spec(spec)
        self._echo_interval = echo_interval
        self._sign_on = sign_on
        self._terminal_id = terminal_id
        self._stan = stan_source or _StanCounter()
        self._clock = clock or _utcnow
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._framer: Framer | None = None
        self._pending: dict[MuxKey, asyncio.Future[Fields]] = {}
        self._expired: collections.OrderedDict[MuxKey, None] = collections.OrderedDict()
        self._rx_task: asyncio.Task[None] | None = None
        self._echo_task: asyncio.Task[None] | None = None
        self._connect_lock = asyncio.Lock()
        self._last_activity = 0.0
        self._ready = False
        self.unmatched: list[Fields] = []
        self.late_responses: asyncio.Queue[LateResponse] = asyncio.Queue(maxsize=late_queue_size)
        self.connections = 0
        self.echoes_sent = 0

    @property
    def connected(self) -> bool:
        return self._writer is not None and not self._writer.is_closing()

    async def connect(self) -> None:
        """Open the connection (and sign on when enabled); a no-op when already ready."""
        async with self._connect_lock:
            if self._ready and self.connected:
                return
            if self._writer is not None:
                await self._drop("reconnecting")
            self._reader, self._writer = await asyncio.open_connection(self._host, self._port)
            self._framer = make_framer(self._framing, **self._framing_options)
            self.connections += 1
            self._touch()
            self._rx_task = asyncio.create_task(self._receive_loop(self._reader),
                                                name="iso8583-rx")
            if self._sign_on:
                try:
                    resp = await self.network_request(SIGN_ON)
                except BaseException:
                    await self._drop("sign-on failed")
                    raise
                if resp.get("39") != "00":
                    await self._drop("sign-on refused")
                    raise SignOnError(resp.get("39", "--"))
            self._ready = True
            if self._echo_interval:
                self._echo_task = asyncio.create_task(self._keepalive(), name="iso8583-echo")

    async def close(self) -> None:
        """Sign off when enabled, then close the connection and fail pending requests."""
        if self._sign_on and self.connected:
            with contextlib.suppress(TimeoutError, OSError, Iso8583Error):
                await self.network_request(SIGN_OFF, timeout=min(self._timeout, 2.0))
        await self._drop("channel closed")

    async def request(self, fields: Fields, *, timeout: float | None = None) -> Fields:
        """Send a request and wait for its matched response (reconnecting if needed)."""
        if not (self._ready and self.connected):
            await self.connect()
        return await self._exchange(fields, timeout or self._timeout)

    async def network_request(self, code: str, *, timeout: float | None = None) -> Fields:
        """Send an 0800 with field 70 = ``code`` (001 sign-on, 002 sign-off, 301 echo)."""
        fields = {"t": "0800", "7": self._clock().strftime("%m%d%H%M%S"), "11": self._stan(),
                  "70": code}
        if self._terminal_id:
            fields["41"] = self._terminal_id
        return await self._exchange(fields, timeout or self._timeout)

    async def echo(self) -> Fields:
        """One 0800/301 echo test now."""
        if not (self._ready and self.connected):
            await self.connect()
        self.echoes_sent += 1
        return await self.network_request(ECHO)

    # -- internals -------------------------------------------------------------------------

    def _touch(self) -> None:
        self._last_activity = time.monotonic()

    async def _exchange(self, fields: Fields, timeout: float) -> Fields:
        writer = self._writer
        if writer is None or self._framer is None or writer.is_closing():
            raise ConnectionError("channel not connected")
        key = mux_key(fields, expect_response=True)
        if key in self._pending:
            raise EncodeError("a request with the same MTI, terminal id and STAN is in flight",
                              field="11")
        body = codec.encode(fields, self._spec)
        fut: asyncio.Future[Fields] = asyncio.get_running_loop().create_future()
        self._pending[key] = fut
        start = time.monotonic()
        rc = "--"
        try:
            writer.write(self._framer.frame(body))
            self._touch()
            await writer.drain()
            try:
                resp = await asyncio.wait_for(fut, timeout)
            except TimeoutError:
                rc = "timeout"
                self._expired[key] = None
                while len(self._expired) > 256:
                    self._expired.popitem(last=False)
                raise
            rc = resp.get("39", "--")
            return resp
        finally:
            self._pending.pop(key, None)
            _LOG.info("iso8583 exchange", extra={
                "mti": fields.get("t"), "stan": fields.get("11"), "terminal_id": fields.get("41"),
                "rc": rc, "elapsed_ms": round((time.monotonic() - start) * 1000, 2)})

    async def _receive_loop(self, reader: asyncio.StreamReader) -> None:
        framer = self._framer
        assert framer is not None
        try:
            while True:
                data = await reader.read(4096)
                if not data:
                    break
                self._touch()
                framer.receive_data(data)
                while (frame := framer.next_frame()) is not None:
                    self._dispatch(frame)
        except (Iso8583Error, OSError) as e:
            _LOG.warning("iso8583 channel receive failed", extra={"error": str(e)})
        finally:
            if asyncio.current_task() is self._rx_task:
                self._ready = False
                self._fail_pending("host closed the connection")
                if self._writer is not None:
                    self._writer.close()

    def _fail_pending(self, reason: str) -> None:
        for fut in self._pending.values():
            if not fut.done():
                fut.set_exception(ConnectionError(reason))

    def _dispatch(self, frame: bytes) -> None:
        try:
            fields = codec.decode(frame, self._spec)
        except Iso8583Error as e:
            _LOG.warning("undecodable response dropped", extra={"error": str(e)})
            return
        key = mux_key(fields, expect_response=False)
        fut = self._pending.get(key)
        if fut is not None and not fut.done():
            fut.set_result(fields)
            return
        masked = codec.masked_dump(fields)
        log = {"mti": fields.get("t"), "stan": fields.get("11"), "terminal_id": fields.get("41"),
               "rc": fields.get("39"), "fields": masked}
        if key in self._expired:
            del self._expired[key]
            _LOG.warning("late response", extra=log)
            if self.late_responses.full():
                self.late_responses.get_nowait()
                _LOG.warning("late-response queue full; oldest dropped")
            self.late_responses.put_nowait(
                LateResponse(key=key, response_code=fields.get("39"), fields=masked))
            return
        _LOG.warning("unmatched response dropped", extra=log)
        self.unmatched.append(masked)
        del self.unmatched[:-256]

    async def _keepalive(self) -> None:
        assert self._echo_interval
        interval = self._echo_interval
        while self.connected:
            idle = time.monotonic() - self._last_activity
            if idle < interval:
                await asyncio.sleep(interval - idle)
                continue
            try:
                self.echoes_sent += 1
                await self.network_request(ECHO)
            except (TimeoutError, OSError, Iso8583Error) as e:
                _LOG.warning("echo failed; dropping the connection", extra={"error": str(e)})
                await self._drop("echo failed")
                return

    async def _drop(self, reason: str) -> None:
        me = asyncio.current_task()
        for task in (self._echo_task, self._rx_task):
            if task is not None and task is not me and not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self._echo_task = self._rx_task = None
        self._ready = False
        writer, self._writer, self._reader = self._writer, None, None
        if writer is not None:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
        self._fail_pending(reason)
        self._pending.clear()
