"""Shared asyncio side of the ASCII swipe readers (serial and keyboard wedge).

A reader thread performs the blocking reads and hands each chunk to the event loop with
``loop.call_soon_threadsafe(queue.put_nowait, chunk)`` (DEV-3); framing and decoding happen on the
loop with :class:`~devices.cardreader.swipe.SwipeFramer`. Swipe readers never hold the card:
``eject`` reports TAKEN at once and ``retain`` is UNSUPPORTED.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable

from devices.cardreader.base import (
    AcceptCardRequest,
    AcceptCardResult,
    CardOutcome,
    CardReaderCapabilities,
    CardReaderStatus,
    EjectOutcome,
    EjectRequest,
    EjectResult,
    InsertCardEvent,
    InvalidMediaEvent,
    MediaInsertedEvent,
    MediaStatus,
    ReaderType,
    ResetResult,
    RetainOutcome,
    RetainResult,
    TrackId,
)
from devices.cardreader.swipe import SwipeData, SwipeFramer, parse_swipe
from devices.cardreader.track import TrackError, parse_track1, parse_track2
from devices.common.codes import CompletionCode, DeviceError
from devices.common.events import EventBus, EventSink
from devices.common.service import DeviceService

__all__ = ["StreamCardReader", "swipe_to_result"]

_Item = bytes | BaseException


def swipe_to_result(swipe: SwipeData, tracks: frozenset[TrackId]) -> AcceptCardResult:
    """Turn one swipe into an ``accept_card`` result (pure)."""
    track1 = None
    if TrackId.TRACK1 in tracks and swipe.track1 is not None:
        try:
            parse_track1(swipe.track1.reveal())
            track1 = swipe.track1
        except TrackError:
            track1 = None
    if swipe.track2 is None:
        return AcceptCardResult(outcome=CardOutcome.INVALID_MEDIA, track1=track1)
    try:
        track2 = parse_track2(swipe.track2.reveal())
    except TrackError as e:
        return AcceptCardResult(
            outcome=CardOutcome.INVALID_MEDIA, track1=track1, track2_error=e.reason
        )
    return AcceptCardResult(outcome=CardOutcome.OK, track2=track2, track1=track1)


class StreamCardReader(DeviceService[CardReaderStatus]):
    """Base of swipe readers fed by a blocking byte source read in one thread.

    Subclasses implement :meth:`_open_source` (non-blocking, on the loop), :meth:`_read_chunk`
    (blocking, in the reader thread; returns ``b""`` after a short timeout) and
    :meth:`_close_source`.
    """

    def __init__(
        self,
        *,
        name: str,
        bus: EventBus | None = None,
        command_timeout: float | None = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(
            name=name,
            status=CardReaderStatus(media=MediaStatus.NOT_SUPPORTED),
            bus=bus,
            command_timeout=command_timeout,
            clock=clock,
        )
        self._queue: asyncio.Queue[_Item] = asyncio.Queue()
        self._framer = SwipeFramer()
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._capabilities = CardReaderCapabilities(type=ReaderType.SWIPE)

    @property
    def capabilities(self) -> CardReaderCapabilities:
        """Swipe reader: no retain, no eject."""
        return self._capabilities

    # ---- transport hooks -----------------------------------------------------------------

    def _open_source(self) -> None:
        raise NotImplementedError

    def _read_chunk(self) -> bytes:
        raise NotImplementedError

    def _close_source(self) -> None:
        raise NotImplementedError

    def _run(self, loop: asyncio.AbstractEventLoop) -> None:
        while not self._stop.is_set():
            try:
                chunk = self._read_chunk()
            except Exception as e:
                if not self._stop.is_set():
                    loop.call_soon_threadsafe(self._queue.put_nowait, e)
                return
            if chunk:
                loop.call_soon_threadsafe(self._queue.put_nowait, chunk)

    async def open(self) -> None:
        """Open the source and start the reader thread."""
        if self._thread is not None:
            return
        self._open_source()
        self._stop.clear()
        self._thread = threading.Thread(
            target=self._run, args=(asyncio.get_running_loop(),), name=f"{self.name}-reader",
            daemon=True,
        )
        self._thread.start()

    async def close(self) -> None:
        """Stop the reader thread and close the source."""
        thread, self._thread = self._thread, None
        if thread is None:
            return
        self._stop.set()
        await asyncio.to_thread(thread.join)
        self._close_source()

    # ---- commands ------------------------------------------------------------------------

    async def accept_card(self, req: AcceptCardRequest, events: EventSink) -> AcceptCardResult:
        """Wait for a swipe (stale swipes from before the call are dropped)."""
        return await self._execute(
            "accept_card",
            lambda: self._do_accept_card(req, events),
            aborted=lambda c: AcceptCardResult(
                outcome=CardOutcome.TIMEOUT
                if c is CompletionCode.TIMEOUT
                else CardOutcome.CANCELED
            ),
            timeout=req.timeout,
        )

    async def _do_accept_card(self, req: AcceptCardRequest, events: EventSink) -> AcceptCardResult:
        if self._thread is None:
            raise DeviceError(self.name, "reader is not open")
        while not self._queue.empty():
            item = self._queue.get_nowait()
            if isinstance(item, BaseException):
                raise DeviceError(self.name, "reader transport failed") from item
        self._framer.clear()
        events(InsertCardEvent(device=self.name))
        while True:
            line = self._framer.next_line()
            if line is None:
                item = await self._queue.get()
                if isinstance(item, BaseException):
                    raise DeviceError(self.name, "reader transport failed") from item
                self._framer.receive_data(item)
                continue
            swipe = parse_swipe(line)
            if swipe.track1 is None and swipe.track2 is None and not (
                swipe.track1_error or swipe.track2_error
            ):
                continue  # noise, not a swipe
            events(MediaInsertedEvent(device=self.name))
            result = swipe_to_result(swipe, req.tracks)
            if result.outcome is CardOutcome.INVALID_MEDIA:
                events(InvalidMediaEvent(device=self.name, reason=result.track2_error))
            return result

    async def eject(self, events: EventSink, req: EjectRequest | None = None) -> EjectResult:
        """A swiped card never left the customer's hand: TAKEN."""
        del events, req
        return await self._execute(
            "eject",
            self._taken,
            aborted=lambda c: EjectResult(outcome=EjectOutcome.CANCELED),
            timeout=self._command_timeout,
        )

    async def _taken(self) -> EjectResult:
        return EjectResult(outcome=EjectOutcome.TAKEN)

    async def retain(self, events: EventSink) -> RetainResult:
        """Not possible on a swipe reader."""
        del events
        return await self._execute(
            "retain",
            self._unsupported,
            aborted=lambda c: RetainResult(outcome=RetainOutcome.CANCELED),
            timeout=self._command_timeout,
        )

    async def _unsupported(self) -> RetainResult:
        return RetainResult(outcome=RetainOutcome.UNSUPPORTED)

    async def reset(self) -> ResetResult:
        """Drop buffered data."""
        return await self._execute(
            "reset",
            self._do_reset,
            aborted=lambda c: ResetResult(completion=c),
            timeout=self._command_timeout,
        )

    async def _do_reset(self) -> ResetResult:
        self._framer.clear()
        return ResetResult(completion=CompletionCode.SUCCESS)
