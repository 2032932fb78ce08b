"""Live asyncio server on an ephemeral loopback port (in-process)."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest

from hsm_sim.crypto.lmk import VariantLmk
from hsm_sim.soft_hsm import SoftHsm
from hsm_sim.thales.codec import Framer, encode_frame
from hsm_sim.thales.server import HsmServer, ServerConfig

LMK = VariantLmk.test()
NC_ANSWER = b"ND00" + LMK.check_value().encode() + b"0007-E000"


@asynccontextmanager
async def running(**kw: object) -> AsyncIterator[HsmServer]:
    server = HsmServer(SoftHsm(LMK).handle, ServerConfig(port=0, **kw))  # type: ignore[arg-type]
    async with server:
        yield server


class Peer:
    """A raw test connection speaking Thales frames."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, hl: int) -> None:
        self.reader, self.writer = reader, writer
        self.framer = Framer(header_length=hl)

    @classmethod
    async def open(cls, port: int, header_length: int = 4) -> Peer:
        r, w = await asyncio.open_connection("127.0.0.1", port)
        return cls(r, w, header_length)

    async def frame(self) -> tuple[bytes, bytes]:
        while (f := self.framer.next_frame()) is None:
            data = await asyncio.wait_for(self.reader.read(65536), 5)
            if not data:
                raise ConnectionError("closed")
            self.framer.receive_data(data)
        return f.header, f.body

    async def ask(self, body: bytes, header: bytes = b"HEAD") -> bytes:
        self.writer.write(encode_frame(header, body))
        h, b = await self.frame()
        assert h == header
        return b

    async def close(self) -> None:
        self.writer.close()
        await self.writer.wait_closed()


@pytest.mark.asyncio
async def test_nc_over_tcp() -> None:
    async with running() as server:
        peer = await Peer.open(server.port)
        assert await peer.ask(b"NC") == NC_ANSWER
        assert await peer.ask(b"NC\x19trailer") == NC_ANSWER + b"\x19trailer"
        await peer.close()


@pytest.mark.asyncio
async def test_pipelining_answers_in_order() -> None:
    async with running(latency_ms=1) as server:
        peer = await Peer.open(server.port)
        bodies = [f"B2{len(str(i)):04X}{i}".encode() for i in range(60)]
        peer.writer.write(
            b"".join(encode_frame(f"{i:04d}".encode(), b) for i, b in enumerate(bodies))
        )
        for i in range(60):
            header, body = await peer.frame()
            assert header == f"{i:04d}".encode()
            assert body == b"B300" + str(i).encode()
        await peer.close()


@pytest.mark.asyncio
async def test_garbage_connection_does_not_disturb_others() -> None:
    async with running(partial_frame_timeout=0.5) as server:
        good = await Peer.open(server.port)
        bad = await Peer.open(server.port)
        bad.writer.write(encode_frame(b"XXXX", os.urandom(50)))
        bad.writer.write(b"\x00\x01Z")  # shorter than a header
        bad.writer.write(encode_frame(b"HEAD", b"CA" + b"U1234"))  # truncated fields
        assert await good.ask(b"NC") == NC_ANSWER
        h1, b1 = await bad.frame()
        assert h1 == b"XXXX"
        assert b1[:4] == b"ZZ15" or b1[2:4] in (b"15", b"68", b"80")
        # the 1-byte header is echoed as received: the answer frame is 00 05 'Z' 'ZZ15'
        assert await bad.frame() == (b"ZZZ1", b"5")
        assert await bad.frame() == (b"HEAD", b"CB15")
        bad.writer.write(b"\x00\xff\x00")  # incomplete frame: closed after the timeout
        assert await bad.reader.read() == b""
        assert await good.ask(b"NO00") == b"NP0021640007-E000"
        await good.close()
        await bad.close()


@pytest.mark.asyncio
async def test_fault_switch() -> None:
    async with running(fail_with="68", fail_commands=("DC", "NC")) as server:
        peer = await Peer.open(server.port)
        assert await peer.ask(b"NC") == b"ND68"
        assert await peer.ask(b"DCwhatever\x19T") == b"DD68\x19T"
        assert await peer.ask(b"B20001x") == b"B300x"
        assert await peer.ask(b"QQ") == b"ZZ15"
        await peer.close()
    async with running(fail_with="41") as server:
        peer = await Peer.open(server.port)
        assert await peer.ask(b"B20001x") == b"B341"
        await peer.close()


@pytest.mark.asyncio
async def test_header_length_configurable() -> None:
    async with running(header_length=2) as server:
        peer = await Peer.open(server.port, header_length=2)
        assert await peer.ask(b"B20002ok", header=b"H1") == b"B300ok"
        await peer.close()


@pytest.mark.asyncio
async def test_close_with_connections_open() -> None:
    server = HsmServer(SoftHsm(LMK).handle, ServerConfig(port=0, latency_ms=50))
    await server.start()
    peer = await Peer.open(server.port)
    peer.writer.write(encode_frame(b"HEAD", b"NC"))
    await peer.writer.drain()
    await server.close()
    data = await asyncio.wait_for(peer.reader.read(), 5)
    assert data in (b"", encode_frame(b"HEAD", NC_ANSWER))
    await peer.close()


def test_server_config_exception() -> None:
    with pytest.raises(ValueError, match="fail_with must be a 2-character error code"):
        ServerConfig(fail_with="1")
    with pytest.raises(ValueError, match="latency_ms must be >= 0"):
        ServerConfig(latency_ms=-1)
