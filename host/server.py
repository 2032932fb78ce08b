"""Asyncio ISO 8583 server: framing, decoding, dispatch by MTI, never crashing on bad input.

A frame that does not decode gets a response with field 39 = 30 when its MTI can be read, and
the connection is closed cleanly when not even that can be read. The server keeps serving every
other connection either way.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable

from host.auth.pipeline import Authoriser
from host.iso8583 import codec
from host.iso8583.errors import FramingError, Iso8583Error, MessageError
from host.iso8583.framing import TwoByteLengthFramer
from host.iso8583.messages import FinancialRequest, response_mti

__all__ = ["HostServer"]

_LOG = logging.getLogger(__name__)
Fields = dict[str, str]


class HostServer:
    """Serves 0200 (withdrawal, balance) and 0800 (sign-on, echo) over 2-byte-length TCP."""

    def __init__(self, authoriser: Authoriser) -> None:
        self._auth = authoriser
        self._server: asyncio.Server | None = None
        self._handlers: dict[str, Callable[[Fields], Awaitable[Fields]]] = {
            "0200": self._financial,
            "0800": self._network,
        }
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
                    reply = await self.handle_frame(frame)
                    if reply is None:
                        _LOG.warning("unreadable message; closing connection", extra={"peer": str(peer)})
                        return
                    writer.write(TwoByteLengthFramer.frame(reply))
                await writer.drain()
        except FramingError as e:
            _LOG.warning("framing error; closing connection", extra={"peer": str(peer), "error": str(e)})
        except (ConnectionError, OSError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(OSError, ConnectionError):
                await writer.wait_closed()

    async def handle_frame(self, frame: bytes) -> bytes | None:
        """One message in, one message out (``None``: not even an MTI could be read)."""
        start = time.monotonic()
        try:
            fields = codec.decode(frame)
        except Iso8583Error as e:
            return self._format_error_reply(frame, str(e), start)
        mti = fields.get("t", "")
        handler = self._handlers.get(mti)
        try:
            if handler is None:
                resp = _reply_to(fields, "12" if mti[:1] == "0" and mti[2:3] in "0246" else "30")
            else:
                resp = await handler(fields)
        except MessageError as e:
            _LOG.info("format error", extra={"mti": mti, "stan": fields.get("11"),
                                             "terminal_id": fields.get("41"), "rc": "30",
                                             "error": str(e)})
            resp = _reply_to(fields, "30")
        except Exception:  # a bug must not kill the server: answer 96 and log it
            _LOG.exception("internal error", extra={"mti": mti, "stan": fields.get("11")})
            resp = _reply_to(fields, "96")
        try:
            return codec.encode(resp)
        except Iso8583Error:
            # An echoed field was itself malformed: answer with the bare minimum.
            _LOG.info("reply reduced to MTI and field 39", extra={"mti": mti})
            minimal = {"t": resp.get("t", "0210"), "39": resp.get("39", "30")}
            return codec.encode(minimal)

    def _format_error_reply(self, frame: bytes, error: str, start: float) -> bytes | None:
        head = frame[:4].decode("ascii", "replace")
        if not (head.isdigit() and head[2] in "0246"):
            return None
        _LOG.info("undecodable message", extra={"mti": head, "rc": "30", "error": error,
                                                "elapsed_ms": round((time.monotonic() - start) * 1000, 2)})
        return codec.encode({"t": response_mti(head), "39": "30"})

    async def _financial(self, fields: Fields) -> Fields:
        req = FinancialRequest.from_fields(fields)
        resp = await self._auth.authorise(req)
        return resp.to_fields()

    async def _network(self, fields: Fields) -> Fields:
        code = fields.get("70", "")
        rc = "00" if code in {"001", "002", "301"} else "30"
        out = _reply_to(fields, rc)
        for k in ("7", "70"):
            if k in fields:
                out[k] = fields[k]
        return out


def _reply_to(fields: Fields, rc: str) -> Fields:
    mti = fields.get("t", "0200")
    try:
        rmti = response_mti(mti)
    except MessageError:
        rmti = "0210"
    out: Fields = {"t": rmti, "39": rc}
    for k in ("3", "4", "11", "37", "41", "49"):
        v = fields.get(k)
        if v is not None:
            out[k] = v
    return out
