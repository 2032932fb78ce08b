"""Iso8583Client over real loopback TCP against a tiny scripted responder."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
import pytest_asyncio

from host.iso8583 import codec
from host.iso8583.errors import SignOnError
from host.iso8583.framing import make_framer
from host.iso8583.mux import Iso8583Client, LateResponse, response_mti

Fields = dict[str, str]
Behaviour = Callable[[Fields], Awaitable[list[Fields] | None]]
DEADLINE = 5.0


def reply(fields: Fields, rc: str = "00", **extra: str) -> Fields:
    out = {k: v for k, v in fields.items() if k in ("2", "3", "4", "7", "11", "37", "41", "70")}
    return out | {"t": response_mti(fields["t"]), "39": rc} | extra


async def approve(fields: Fields) -> list[Fields] | None:
    return [reply(fields)]


class Responder:
    """Accepts connections; for each message, ``behaviour`` returns replies (None: hang up)."""

    def __init__(self, *, framing: str = "binary2", spec: str = "ascii") -> None:
        self.framing, self.spec = framing, spec
        self.behaviour: Behaviour = approve
        self.received: list[Fields] = []
        self.connections = 0
        self._server: asyncio.Server | None = None
        self.port = 0

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = int(self._server.sockets[0].getsockname()[1])

    async def close(self) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        framer = make_framer(self.framing)
        try:
            while data := await reader.read(4096):
                framer.receive_data(data)
                while (frame := framer.next_frame()) is not None:
                    fields = codec.decode(frame, self.spec)
                    self.received.append(fields)
                    replies = await self.behaviour(fields)
                    if replies is None:
                        return
                    for r in replies:
                        writer.write(framer.frame(codec.encode(r, self.spec)))
                    await writer.drain()
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()

    def count(self, mti: str, code: str | None = None) -> int:
        return sum(1 for f in self.received
                   if f["t"] == mti and (code is None or f.get("70") == code))


async def until(cond: Callable[[], bool]) -> None:
    loop = asyncio.get_running_loop()
    end = loop.time() + DEADLINE
    while not cond():
        assert loop.time() < end, "condition not reached before the deadline"
        await asyncio.sleep(0.005)


@pytest_asyncio.fixture
async def responder() -> AsyncIterator[Responder]:
    r = Responder()
    await r.start()
    try:
        yield r
    finally:
        await r.close()


def req(stan: str, terminal_id: str = "ATM00001") -> Fields:
    return {"t": "0200", "2": "4761739001010010", "3": "310000", "4": "000000000000",
            "7": "1129120000", "11": stan, "41": terminal_id}


def client(port: int, **kw: object) -> Iso8583Client:
    kw.setdefault("clock", lambda: dt.datetime(2026, 11, 29, 12, 0, 0))
    return Iso8583Client("127.0.0.1", port, timeout=2.0, **kw)  # type: ignore[arg-type]


@pytest.mark.asyncio
async def test_request_response_and_concurrent_mux(responder: Responder) -> None:
    held: list[Fields] = []

    async def reverse_order(fields: Fields) -> list[Fields] | None:
        if fields["11"] == "000001":  # answer the first only after the second
            held.append(fields)
            return []
        return [reply(fields, rc="51"), *(reply(f) for f in held)]

    responder.behaviour = reverse_order
    c = client(responder.port)
    try:
        r1, r2 = await asyncio.gather(c.request(req("000001")), c.request(req("000002")))
    finally:
        await c.close()
    assert (r1["11"], r1["39"], r2["11"], r2["39"]) == ("000001", "00", "000002", "51")
    assert c.unmatched == []


@pytest.mark.asyncio
async def test_timeout_then_late_response_is_queued_masked(responder: Responder) -> None:
    release = asyncio.Event()

    async def late(fields: Fields) -> list[Fields] | None:
        await release.wait()
        return [reply(fields, **{"38": "123456"})]

    responder.behaviour = late
    c = client(responder.port)
    try:
        with pytest.raises(TimeoutError):
            await c.request(req("000007"), timeout=0.05)
        release.set()
        got = await asyncio.wait_for(c.late_responses.get(), DEADLINE)
    finally:
        await c.close()
    assert isinstance(got, LateResponse)
    assert got.key == ("0210", "ATM00001", "000007") and got.response_code == "00"
    assert got.fields["2"] == "476173******0010" and got.fields["38"] == "123456"
    assert c.unmatched == []


@pytest.mark.asyncio
async def test_late_queue_is_bounded_oldest_dropped(responder: Responder) -> None:
    release = asyncio.Event()

    # the responder answers in order, so holding the third holds the first two behind it
    order: list[Fields] = []

    async def queued(fields: Fields) -> list[Fields] | None:
        order.append(fields)
        if len(order) < 3:
            return []
        await release.wait()
        return [reply(f) for f in order]

    responder.behaviour = queued
    c = client(responder.port, late_queue_size=2)
    try:
        for stan in ("000001", "000002", "000003"):
            with pytest.raises(TimeoutError):
                await c.request(req(stan), timeout=0.02)
        release.set()
        await until(lambda: c.late_responses.qsize() == 2 and responder.count("0200") == 3)
        await until(lambda: not c._expired)  # all three processed
    finally:
        await c.close()
    got = [c.late_responses.get_nowait().key[2] for _ in range(2)]
    assert got == ["000002", "000003"]


@pytest.mark.asyncio
async def test_unmatched_response_is_logged_and_kept_masked(responder: Responder) -> None:
    async def noise_first(fields: Fields) -> list[Fields] | None:
        stray = reply(fields) | {"11": "999999"}
        other_terminal = reply(fields) | {"41": "ATM00009"}
        return [stray, other_terminal, reply(fields)]

    responder.behaviour = noise_first
    c = client(responder.port)
    try:
        resp = await c.request(req("000010"))
    finally:
        await c.close()
    assert resp["11"] == "000010"
    assert [u["11"] for u in c.unmatched] == ["999999", "000010"]
    assert c.unmatched[1]["41"] == "ATM00009"
    assert all(u["2"] == "476173******0010" for u in c.unmatched)
    assert c.late_responses.empty()


@pytest.mark.asyncio
async def test_timeout_when_host_never_answers(responder: Responder) -> None:
    async def silent(fields: Fields) -> list[Fields] | None:
        return []

    responder.behaviour = silent
    c = client(responder.port)
    try:
        with pytest.raises(TimeoutError):
            await c.request(req("000011"), timeout=0.05)
        assert c.connected  # a timeout does not drop the connection
    finally:
        await c.close()


@pytest.mark.asyncio
async def test_reconnect_on_next_request_after_host_hangs_up(responder: Responder) -> None:
    async def hang_up_once(fields: Fields) -> list[Fields] | None:
        return None if responder.connections == 1 else [reply(fields)]

    responder.behaviour = hang_up_once
    c = client(responder.port)
    try:
        with pytest.raises(ConnectionError):
            await c.request(req("000012"))
        await until(lambda: not c.connected)
        resp = await c.request(req("000013"))
    finally:
        await c.close()
    assert resp["39"] == "00"
    assert responder.connections == 2 and c.connections == 2


@pytest.mark.asyncio
async def test_keepalive_sends_echo_when_idle(responder: Responder) -> None:
    c = client(responder.port, echo_interval=0.02, terminal_id="ATM00001")
    try:
        await c.connect()
        await until(lambda: responder.count("0800", "301") >= 2)
    finally:
        await c.close()
    echo = next(f for f in responder.received if f.get("70") == "301")
    assert echo["41"] == "ATM00001" and echo["7"] == "1129120000" and len(echo["11"]) == 6


@pytest.mark.asyncio
async def test_failed_echo_drops_the_connection_and_next_request_reconnects(
        responder: Responder) -> None:
    async def ignore_echo(fields: Fields) -> list[Fields] | None:
        return [] if fields.get("70") == "301" else [reply(fields)]

    responder.behaviour = ignore_echo
    c = Iso8583Client("127.0.0.1", responder.port, timeout=0.05, echo_interval=0.02)
    try:
        await c.connect()
        await until(lambda: c.connections == 1 and not c.connected)
        resp = await c.request(req("000014"), timeout=2.0)
    finally:
        await c.close()
    assert resp["39"] == "00" and c.connections == 2


@pytest.mark.asyncio
async def test_sign_on_before_first_request_and_sign_off_on_close(responder: Responder) -> None:
    c = client(responder.port, sign_on=True, terminal_id="ATM00001")
    await c.request(req("000020"))
    await c.close()
    assert [(f["t"], f.get("70")) for f in responder.received] == [
        ("0800", "001"), ("0200", None), ("0800", "002")]


@pytest.mark.asyncio
async def test_sign_on_refused_exception(responder: Responder) -> None:
    async def refuse(fields: Fields) -> list[Fields] | None:
        return [reply(fields, rc="91")]

    responder.behaviour = refuse
    c = client(responder.port, sign_on=True, terminal_id="ATM00001")
    with pytest.raises(SignOnError) as e:
        await c.request(req("000021"))
    await c.close()
    assert e.value.response_code == "91" and not c.connected
    assert responder.count("0200") == 0


@pytest.mark.asyncio
@pytest.mark.parametrize(("framing", "spec"), [("bcd2+tpdu", "bcd"), ("ascii4", "ascii"),
                                               ("nac", "bcd")])
async def test_configurable_framing_and_spec(framing: str, spec: str) -> None:
    r = Responder(framing=framing, spec=spec)
    await r.start()
    c = client(r.port, framing=framing, spec=spec)
    try:
        resp = await c.request(req("000030"))
    finally:
        await c.close()
        await r.close()
    assert (resp["11"] == "000030" and resp["39"] == "00"
            and r.received[0]["2"] == "4761739001010010")


@pytest.mark.asyncio
async def test_default_is_the_skeleton_wire(responder: Responder) -> None:
    """No sign-on, no echo, 2-byte binary length, ASCII spec: exactly one frame on the wire."""
    c = Iso8583Client("127.0.0.1", responder.port)
    try:
        await c.request(req("000040"))
    finally:
        await c.close()
    assert [f["t"] for f in responder.received] == ["0200"]
