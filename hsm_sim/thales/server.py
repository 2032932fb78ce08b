"""Asyncio TCP server for the Thales host-command protocol.

The transport only moves bytes: it feeds a :class:`~hsm_sim.thales.codec.Framer` per connection
and hands each frame body to a ``handler(body) -> body`` callable (``SoftHsm.handle``).

* many connections are served concurrently; one connection may pipeline requests and gets its
  answers in request order;
* ``latency_ms`` delays every answer (QA: timeouts, pipelining) without blocking the loop;
* the fault switch (``fail_with`` + optional ``fail_commands``) answers every command, or only
  the listed ones, with a chosen error code (QA: host decline paths);
* malformed frames are answered (``15`` / ``ZZ15``), never crash the server; a connection that
  stalls in the middle of a frame for ``partial_frame_timeout`` seconds is closed cleanly.

Examples
--------
>>> cfg = ServerConfig(port=0, latency_ms=5, fail_with="68", fail_commands=("DC",))
>>> cfg.fault_for("DC"), cfg.fault_for("CA")
('68', None)
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Coroutine
from dataclasses import dataclass

from hsm_sim.thales import codec as _c

__all__ = ["Handler", "HsmServer", "ServerConfig"]

_LOG = logging.getLogger(__name__)
_LOG.addHandler(logging.NullHandler())

Handler = Callable[[bytes], bytes]
"""Request body (command code onwards) -> response body."""


@dataclass(frozen=True, kw_only=True)
class ServerConfig:
    """Server options (all keyword-only).

    Parameters
    ----------
    host, port
        Listen address; port ``0`` picks an ephemeral port (see :attr:`HsmServer.port`).
    header_length
        Thales message header length, echoed back (default 4).
    latency_ms
        Artificial delay added to every answer.
    fail_with
        If set, a 2-character error code returned instead of executing commands.
    fail_commands
        Restrict ``fail_with`` to these command codes (empty = every known command).
    max_pipeline
        Requests in flight per connection before the server stops reading from it.
    partial_frame_timeout
        Seconds a connection may sit on an incomplete frame before it is closed.
    """

    host: str = "127.0.0.1"
    port: int = 1500
    header_length: int = 4
    latency_ms: float = 0.0
    fail_with: str | None = None
    fail_commands: tuple[str, ...] = ()
    max_pipeline: int = 64
    partial_frame_timeout: float = 30.0

    def __post_init__(self) -> None:
        if self.fail_with is not None and (
            len(self.fail_with) != 2 or not self.fail_with.isalnum()
        ):
            raise ValueError("fail_with must be a 2-character error code")
        if self.latency_ms < 0:
            raise ValueError("latency_ms must be >= 0")
        if not 0 <= self.header_length <= 255:
            raise ValueError("header_length must be 0 to 255")
        if self.max_pipeline < 1:
            raise ValueError("max_pipeline must be >= 1")

    def fault_for(self, command: str) -> str | None:
        """The injected error code for ``command``, or ``None`` to execute it."""
        if self.fail_with is None or command not in _c.KNOWN_COMMANDS:
            return None
        if self.fail_commands and command not in self.fail_commands:
            return None
        return self.fail_with


class HsmServer:
    """Serve ``handler`` over TCP with Thales framing.

    Use ``async with HsmServer(handler, config) as server:`` then ``server.port``; or
    :meth:`start` / :meth:`close`.
    """

    def __init__(self, handler: Handler, config: ServerConfig) -> None:
        self._handler = handler
        self._config = config
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.Task[None]] = set()

    @property
    def config(self) -> ServerConfig:
        return self._config

    @property
    def port(self) -> int:
        """The bound port (the real one when configured with port 0)."""
        if self._server is None or not self._server.sockets:
            raise RuntimeError("server not started")
        return int(self._server.sockets[0].getsockname()[1])

    @property
    def host(self) -> str:
        if self._server is None or not self._server.sockets:
            raise RuntimeError("server not started")
        return str(self._server.sockets[0].getsockname()[0])

    async def start(self) -> None:
        """Bind and start accepting connections."""
        self._server = await asyncio.start_server(
            self._on_connect, self._config.host, self._config.port
        )
        _LOG.info("hsm listening", extra={"host": self.host, "port": self.port})

    async def serve_forever(self) -> None:
        if self._server is None:
            await self.start()
        assert self._server is not None
        await self._server.serve_forever()

    async def close(self) -> None:
        """Stop accepting, close every connection and wait for them."""
        if self._server is not None:
            self._server.close()
        for t in list(self._connections):
            t.cancel()
        if self._connections:
            await asyncio.gather(*self._connections, return_exceptions=True)
        if self._server is not None:
            with contextlib.suppress(Exception):
                await self._server.wait_closed()
            self._server = None

    async def __aenter__(self) -> HsmServer:
        await self.start()
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.close()

    # ---------------------------------------------------------------- per connection

    async def _on_connect(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        try:
            await self._serve(reader, writer)
        finally:
            self._connections.discard(task)

    async def _serve(  # noqa: PLR0912 - the read loop with its fast and queued paths
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        cfg = self._config
        framer = _c.Framer(header_length=cfg.header_length)
        pending: asyncio.Queue[asyncio.Task[bytes] | None] = asyncio.Queue(cfg.max_pipeline)
        write_task = asyncio.create_task(self._write_loop(pending, writer))
        peer = writer.get_extra_info("peername")
        try:
            while not write_task.done():
                if framer.buffered:
                    try:
                        data = await asyncio.wait_for(reader.read(65536), cfg.partial_frame_timeout)
                    except TimeoutError:
                        _LOG.warning(
                            "incomplete frame timed out; closing", extra={"peer": str(peer)}
                        )
                        break
                else:
                    data = await reader.read(65536)
                if not data:
                    break
                framer.receive_data(data)
                if not cfg.latency_ms and pending.empty() and not write_task.done():
                    # fast path: nothing in flight, no injected delay -> answer the whole batch
                    # in order right here, one write and one drain per read
                    out = bytearray()
                    while (frame := framer.next_frame()) is not None:
                        out += self._answer_now(frame)
                    if out:
                        writer.write(out)
                        await writer.drain()
                    continue
                while (frame := framer.next_frame()) is not None:
                    if not await self._enqueue(pending, write_task, self._answer(frame)):
                        break
        except (ConnectionError, OSError):
            pass
        except asyncio.CancelledError:  # server shutting down: drop unanswered requests
            write_task.cancel()
            raise
        finally:
            try:
                await self._finish(pending, write_task)
            finally:
                writer.close()
                with contextlib.suppress(Exception):
                    await writer.wait_closed()

    @staticmethod
    async def _enqueue(
        pending: asyncio.Queue[asyncio.Task[bytes] | None],
        write_task: asyncio.Task[None],
        answer: Coroutine[None, None, bytes],
    ) -> bool:
        """Queue one answer in order; wait while the pipeline is full. False if the writer died."""
        task = asyncio.create_task(answer)
        put = asyncio.ensure_future(pending.put(task))
        await asyncio.wait({put, write_task}, return_when=asyncio.FIRST_COMPLETED)
        if put.done():
            return True
        put.cancel()
        task.cancel()
        return False

    @staticmethod
    async def _finish(
        pending: asyncio.Queue[asyncio.Task[bytes] | None], write_task: asyncio.Task[None]
    ) -> None:
        """Let the writer send the answers already queued, then stop it."""
        try:
            if not write_task.done():
                await HsmServer._enqueue_end(pending, write_task)
                await write_task
        except asyncio.CancelledError:
            if not write_task.cancelled():
                write_task.cancel()
                raise
        except (ConnectionError, OSError):
            pass
        finally:
            while not pending.empty():
                item = pending.get_nowait()
                if item is not None:
                    item.cancel()
            if write_task.done() and not write_task.cancelled():
                write_task.exception()  # retrieved: a broken peer is not an error

    @staticmethod
    async def _enqueue_end(
        pending: asyncio.Queue[asyncio.Task[bytes] | None], write_task: asyncio.Task[None]
    ) -> None:
        put = asyncio.ensure_future(pending.put(None))
        await asyncio.wait({put, write_task}, return_when=asyncio.FIRST_COMPLETED)
        if not put.done():
            put.cancel()

    async def _write_loop(
        self, pending: asyncio.Queue[asyncio.Task[bytes] | None], writer: asyncio.StreamWriter
    ) -> None:
        while (task := await pending.get()) is not None:
            try:
                out = await task
            except asyncio.CancelledError:
                task.cancel()
                raise
            writer.write(out)
            await writer.drain()

    async def _answer(self, frame: _c.Frame) -> bytes:
        cfg = self._config
        if cfg.latency_ms:
            await asyncio.sleep(cfg.latency_ms / 1000)
        return self._answer_now(frame)

    def _answer_now(self, frame: _c.Frame) -> bytes:
        """The framed answer to one request (fault switch, handler, error fallbacks)."""
        cfg = self._config
        code = frame.body[:2].decode("ascii", "replace")
        fault = cfg.fault_for(code)
        if fault is not None:
            body = _c.error_response_body(code, fault, _c.best_effort_trailer(frame.body))
            _LOG.info(
                "hsm command",
                extra={"command": code, "error_code": fault, "elapsed_ms": 0.0, "fault": True},
            )
        else:
            try:
                body = self._handler(frame.body)
            except Exception:  # a handler bug must not take the connection down
                _LOG.exception("hsm handler failed", extra={"command": code})
                body = _c.error_response_body(code, "41")
        try:
            return _c.encode_frame(frame.header, body)
        except _c.EncodeError:  # an echo longer than a frame can hold
            return _c.encode_frame(frame.header, _c.error_response_body(code, "15"))
