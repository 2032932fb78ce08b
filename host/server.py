"""Asyncio ISO 8583 server: framing and connections only; messages go to a ``MessageHandler``.

A frame that does not decode gets a response with field 39 = 30 when its MTI can be read, and
the connection is closed cleanly when not even that can be read. The server keeps serving every
other connection either way. Requests on one connection are answered in order.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from host.auth.dispatch import MessageHandler
from host.iso8583.errors import FramingError
from host.iso8583.framing import TwoByteLengthFramer

__all__ = ["HostServer"]

_LOG = logging.getLogger(__name__)


class HostServer:
    """Serves ISO 8583 over 2-byte-length TCP."""

    def __init__(self, handler: MessageHandler) -> None:
        self._handler = handler
        self._server: asyncio.Server | None = None
        self.connections = 0

    async def start(self, host: str, port: int) -> int:
        self._server = await asyncio.start_server(self._serve, host, port)
        return int(self._server.sockets[0].getsockname()[1])

    async def close(self) -> None:
        if self._server:
            self._server.close()
            await self._server.wait_closed()

    async def serve_forever(self) -> None:
        assert self._server is not None
        async with self._server:
            await self._server.serve_forever()

    async def handle_frame(self, frame: bytes) -> bytes | None:
        """One message in, one message out (``None``: not even an MTI could be read)."""
        return await self._handler.handle(frame)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        framer = TwoByteLengthFramer()
        peer = writer.get_extra_info("peername")
        try:
            while True:
                data = await reader.read(65536)
                if not data:
                    break
                framer.receive_data(data)
                while (frame := framer.next_frame()) is not None:
                    reply = await self._handler.handle(frame)
                    if reply is None:
                        _LOG.warning(
                            "unreadable message; closing connection", extra={"peer": str(peer)}
                        )
                        return
                    writer.write(TwoByteLengthFramer.frame(reply))
                await writer.drain()
        except FramingError as e:
            _LOG.warning(
                "framing error; closing connection", extra={"peer": str(peer), "error": str(e)}
            )
        except (ConnectionError, OSError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(OSError, ConnectionError):
                await writer.wait_closed()
