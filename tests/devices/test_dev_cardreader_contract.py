"""One contract suite over every magstripe reader: emulated, serial (loop:// and pty), wedge."""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Protocol

import pytest
import pytest_asyncio

from devices.cardreader.base import (
    AcceptCardRequest,
    CardOutcome,
    CardReader,
    EjectOutcome,
    EjectRequest,
    InsertCardEvent,
    InvalidMediaEvent,
    MediaInsertedEvent,
    RetainOutcome,
)
from devices.cardreader.emulated import CardReaderFault, EmulatedCardReader, EmulatedMagstripeCard
from devices.cardreader.serial_port import ByteStream, open_serial
from devices.cardreader.serial_reader import SerialCardReader
from devices.cardreader.wedge import WedgeCardReader
from devices.common.codes import CompletionCode
from devices.common.events import DeviceEvent

CARD = EmulatedMagstripeCard("4761739001010010", "2512", "201", "1234567890", name="DOE/JOHN")
PAN = "4761739001010010"


class Harness(Protocol):
    reader: CardReader

    def insert(self, card: EmulatedMagstripeCard, *, track2_error: bool = False) -> None: ...

    def take(self) -> None: ...


class EmulatedHarness:
    def __init__(self) -> None:
        self.device = EmulatedCardReader()
        self.reader: CardReader = self.device

    def insert(self, card: EmulatedMagstripeCard, *, track2_error: bool = False) -> None:
        if track2_error:
            self.device.inject_fault(CardReaderFault.UNREADABLE_TRACK2)
        self.device.insert(card)

    def take(self) -> None:
        self.device.take()


class SerialHarness:
    def __init__(self, reader: CardReader, write: ByteStream | int) -> None:
        self.reader: CardReader = reader
        self._write = write

    def insert(self, card: EmulatedMagstripeCard, *, track2_error: bool = False) -> None:
        data = (card.swipe_text(track2_error=track2_error) + "\r\n").encode()
        if isinstance(self._write, int):
            os.write(self._write, data)
        else:
            self._write.write(data)

    def take(self) -> None:
        pass


@pytest_asyncio.fixture(params=["emulated", "serial-loop", "serial-pty", "wedge-fifo"])
async def harness(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Harness]:
    h: Harness
    cleanup: list[int] = []
    if request.param == "emulated":
        h = EmulatedHarness()
    elif request.param == "serial-loop":
        port = open_serial("loop://")
        h = SerialHarness(SerialCardReader(port), port)
    elif request.param == "serial-pty":
        master, slave = os.openpty()
        cleanup += [master, slave]
        h = SerialHarness(SerialCardReader.from_url(os.ttyname(slave)), master)
    else:
        fifo = tmp_path / "wedge"
        os.mkfifo(fifo)
        reader = WedgeCardReader(fifo)
        await reader.open()
        writer = os.open(fifo, os.O_WRONLY)
        cleanup.append(writer)
        h = SerialHarness(reader, writer)
    await h.reader.open()
    try:
        yield h
    finally:
        await h.reader.close()
        for fd in cleanup:
            os.close(fd)


class Recorder:
    def __init__(self) -> None:
        self.events: list[DeviceEvent] = []
        self.ready = asyncio.Event()

    def __call__(self, event: DeviceEvent) -> None:
        self.events.append(event)
        if isinstance(event, InsertCardEvent):
            self.ready.set()


async def _accept(h: Harness, card: EmulatedMagstripeCard, *, track2_error: bool = False):  # type: ignore[no-untyped-def]
    rec = Recorder()
    task = asyncio.create_task(h.reader.accept_card(AcceptCardRequest(timeout=10.0), rec))
    await asyncio.wait_for(rec.ready.wait(), 10.0)
    h.insert(card, track2_error=track2_error)
    return await task, rec


@pytest.mark.asyncio
async def test_accept_reads_track2_and_track1(harness: Harness) -> None:
    result, rec = await _accept(harness, CARD)
    assert result.outcome is CardOutcome.OK
    assert result.completion is CompletionCode.SUCCESS
    assert result.track2 == CARD.track2
    assert result.track2 is not None and result.track2.service.chip_present
    assert result.track1 is not None and result.track1.reveal() == CARD.track1.raw(lrc=False)  # type: ignore[union-attr]
    assert any(isinstance(e, MediaInsertedEvent) for e in rec.events)
    assert PAN not in repr(result)


@pytest.mark.asyncio
async def test_unreadable_track2_is_invalid_media(harness: Harness) -> None:
    result, rec = await _accept(harness, CARD, track2_error=True)
    assert result.outcome is CardOutcome.INVALID_MEDIA
    assert result.completion is CompletionCode.COMMAND_ERROR_CODE
    assert result.outcome.error_code == "invalidMedia"
    assert result.track2 is None
    assert any(isinstance(e, InvalidMediaEvent) for e in rec.events)


@pytest.mark.asyncio
async def test_no_card_times_out(harness: Harness) -> None:
    result = await harness.reader.accept_card(AcceptCardRequest(timeout=0.05), Recorder())
    assert result.outcome is CardOutcome.TIMEOUT
    assert result.completion is CompletionCode.TIMEOUT


@pytest.mark.asyncio
async def test_cancel_command_gives_canceled(harness: Harness) -> None:
    rec = Recorder()
    task = asyncio.create_task(harness.reader.accept_card(AcceptCardRequest(timeout=None), rec))
    await asyncio.wait_for(rec.ready.wait(), 10.0)
    assert harness.reader.cancel()
    result = await task
    assert result.outcome is CardOutcome.CANCELED
    # the reader still works afterwards
    again, _ = await _accept(harness, CARD)
    assert again.outcome is CardOutcome.OK


@pytest.mark.asyncio
async def test_cancelling_the_task_propagates(harness: Harness) -> None:
    rec = Recorder()
    task = asyncio.create_task(harness.reader.accept_card(AcceptCardRequest(timeout=None), rec))
    await asyncio.wait_for(rec.ready.wait(), 10.0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert not harness.reader.cancel()


@pytest.mark.asyncio
async def test_eject_and_take(harness: Harness) -> None:
    await _accept(harness, CARD)
    task = asyncio.create_task(harness.reader.eject(Recorder(), EjectRequest(taken_timeout=10.0)))
    while not task.done() and harness.reader.status.media.value != "entering":
        await asyncio.sleep(0)
    harness.take()
    result = await task
    assert result.outcome is EjectOutcome.TAKEN


@pytest.mark.asyncio
async def test_retain_follows_capabilities(harness: Harness) -> None:
    await _accept(harness, CARD)
    result = await harness.reader.retain(Recorder())
    if harness.reader.capabilities.can_retain:
        assert result.outcome is RetainOutcome.RETAINED and result.retained_count == 1
    else:
        assert result.outcome is RetainOutcome.UNSUPPORTED
        assert result.completion is CompletionCode.UNSUPPORTED


@pytest.mark.asyncio
async def test_one_trace_record_per_operation_without_secrets(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG):
        await _accept(harness, CARD)
    records = [r for r in caplog.records if getattr(r, "command", None) == "accept_card"]
    assert len(records) == 1
    assert records[0].completion == "success"  # type: ignore[attr-defined]
    assert records[0].device == "idc"  # type: ignore[attr-defined]
    assert isinstance(records[0].elapsed_ms, float)  # type: ignore[attr-defined]
    for r in caplog.records:
        text = r.getMessage() + repr(vars(r))
        assert PAN not in text and "1234567890" not in text
