"""The PC/SC chip reader driver (pyscard): real CCID readers and vsmartcard's vpcd alike.

The only module that imports ``smartcard``. Every blocking PC/SC call runs on one dedicated
worker thread (a single-thread executor that owns the connection context), so the event loop
never blocks (DEV-3). A second thread runs the card monitor (``SCardGetStatusChange`` with its
own context) and posts presence changes to the loop with ``call_soon_threadsafe``; they become
``MediaInsertedEvent`` / ``MediaRemovedEvent`` on the bus and status updates.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import dataclasses
import threading
import time
from collections.abc import Callable
from typing import Any

from smartcard import scard as _scard

from devices.cardreader.base import MediaInsertedEvent, MediaRemovedEvent, MediaStatus
from devices.cardreader.chip import (
    ChipIoResult,
    ChipOutcome,
    ChipPower,
    ChipPowerAction,
    ChipPowerResult,
    ChipProtocol,
    ChipReaderCapabilities,
    ChipReaderStatus,
    WaitCardResult,
)
from devices.common.codes import CompletionCode, DeviceError, DeviceState
from devices.common.events import EventBus, EventSink
from devices.common.service import DeviceService
from devices.emv.atr import atr_protocols
from devices.emv.errors import ApduError

__all__ = ["PcscChipReader", "list_readers"]

_REMOVED = {_scard.SCARD_W_REMOVED_CARD, _scard.SCARD_E_NO_SMARTCARD, _scard.SCARD_W_RESET_CARD}
_NO_ATR = {_scard.SCARD_W_UNRESPONSIVE_CARD, _scard.SCARD_W_UNPOWERED_CARD,
           _scard.SCARD_W_UNSUPPORTED_CARD}  # fmt: skip


def _check(rc: int, what: str) -> None:
    if rc == _scard.SCARD_E_NO_SERVICE:
        raise DeviceError("pcsc", f"{what}: PC/SC service not available")
    if rc != _scard.SCARD_S_SUCCESS:
        raise _PcscCallError(rc)


class _PcscCallError(Exception):
    def __init__(self, rc: int) -> None:
        super().__init__(f"{rc & 0xFFFFFFFF:08X}")
        self.rc = rc & 0xFFFFFFFF


def list_readers() -> list[str]:
    """Reader names known to pcscd (blocking; call from a thread)."""
    rc, ctx = _scard.SCardEstablishContext(_scard.SCARD_SCOPE_USER)
    _check(rc, "establish context")
    try:
        rc, readers = _scard.SCardListReaders(ctx, [])
        if rc == _scard.SCARD_E_NO_READERS_AVAILABLE:
            return []
        _check(rc, "list readers")
        return list(readers)
    finally:
        _scard.SCardReleaseContext(ctx)


class PcscChipReader(DeviceService[ChipReaderStatus]):
    """A chip reader through pcscd.

    Parameters
    ----------
    reader:
        PC/SC reader name (``pcsc://<reader>``); None takes the first reader.
    name:
        Logical device name.
    bus:
        Event bus for unsolicited events (media inserted / removed, status).
    poll_ms:
        Monitor wake-up period (stop latency); presence changes arrive as soon as pcscd sees them.
    """

    def __init__(
        self, *, reader: str | None = None, name: str = "chip", bus: EventBus | None = None,
        poll_ms: int = 200, command_timeout: float | None = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:  # fmt: skip
        super().__init__(name=name, status=ChipReaderStatus(media=MediaStatus.UNKNOWN,
                                                            chip_power=ChipPower.UNKNOWN),
                         bus=bus, command_timeout=command_timeout, clock=clock)  # fmt: skip
        self._reader = reader
        self._poll_ms = poll_ms
        self._pool: concurrent.futures.ThreadPoolExecutor | None = None
        self._ctx: Any = None
        self._card: Any = None
        self._protocol: int = 0
        self._monitor: threading.Thread | None = None
        self._stop = threading.Event()
        self._present = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._capabilities = ChipReaderCapabilities()

    @property
    def capabilities(self) -> ChipReaderCapabilities:
        """Reader capabilities."""
        return self._capabilities

    @property
    def reader_name(self) -> str | None:
        """The PC/SC reader in use."""
        return self._reader

    # ---- lifecycle ---------------------------------------------------------------------------

    async def _call(self, fn: Callable[..., Any], *args: Any) -> Any:
        assert self._pool is not None, "open() first"
        return await asyncio.get_running_loop().run_in_executor(self._pool, fn, *args)

    async def open(self) -> None:
        """Establish the context, pick the reader, start the card monitor."""
        if self._pool is not None:
            return
        self._loop = asyncio.get_running_loop()
        self._pool = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="pcsc")
        await self._call(self._open_blocking)
        self._stop.clear()
        self._monitor = threading.Thread(target=self._monitor_loop, name="pcsc-monitor",
                                         daemon=True)  # fmt: skip
        self._monitor.start()

    def _open_blocking(self) -> None:
        rc, ctx = _scard.SCardEstablishContext(_scard.SCARD_SCOPE_USER)
        _check(rc, "establish context")
        self._ctx = ctx
        if self._reader is None:
            rc, readers = _scard.SCardListReaders(ctx, [])
            if rc != _scard.SCARD_S_SUCCESS or not readers:
                raise DeviceError(self.name, "no PC/SC reader")
            self._reader = readers[0]

    async def close(self) -> None:
        """Stop the monitor, power the card off, release the context."""
        if self._pool is None:
            return
        self._stop.set()
        if self._monitor is not None:
            await asyncio.to_thread(self._monitor.join, 5)
        await self._call(self._close_blocking)
        self._pool.shutdown(wait=True)
        self._pool = None

    def _close_blocking(self) -> None:
        if self._card is not None:
            _scard.SCardDisconnect(self._card, _scard.SCARD_UNPOWER_CARD)
            self._card = None
        if self._ctx is not None:
            _scard.SCardReleaseContext(self._ctx)
            self._ctx = None

    # ---- monitor thread ------------------------------------------------------------------

    def _monitor_loop(self) -> None:
        rc, ctx = _scard.SCardEstablishContext(_scard.SCARD_SCOPE_USER)
        if rc != _scard.SCARD_S_SUCCESS:
            self._post(None)
            return
        state = _scard.SCARD_STATE_UNAWARE
        last: bool | None = None
        try:
            while not self._stop.is_set():
                rc, states = _scard.SCardGetStatusChange(ctx, self._poll_ms,
                                                         [(self._reader, state)])  # fmt: skip
                if rc == _scard.SCARD_E_TIMEOUT:
                    continue
                if rc != _scard.SCARD_S_SUCCESS:
                    self._post(None)
                    self._stop.wait(0.5)
                    continue
                _name, event_state, _atr = states[0]
                state = event_state & ~_scard.SCARD_STATE_CHANGED
                present = bool(event_state & _scard.SCARD_STATE_PRESENT) and not bool(
                    event_state & _scard.SCARD_STATE_MUTE)
                if present != last:
                    last = present
                    self._post(present)
        finally:
            _scard.SCardReleaseContext(ctx)

    def _post(self, present: bool | None) -> None:
        loop = self._loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self._on_presence, present)

    def _on_presence(self, present: bool | None) -> None:
        if present is None:
            self._set(device=DeviceState.HARDWARE_ERROR)
            return
        if present:
            self._present.set()
            self._set(device=DeviceState.ONLINE, media=MediaStatus.PRESENT,
                      chip_power=ChipPower.POWERED_OFF if self._card is None
                      else self.status.chip_power)  # fmt: skip
            self._publish(MediaInsertedEvent(device=self.name))
        else:
            self._present.clear()
            was = self.status.media
            self._set(device=DeviceState.ONLINE, media=MediaStatus.NOT_PRESENT,
                      chip_power=ChipPower.NO_CARD)  # fmt: skip
            if was is MediaStatus.PRESENT:
                self._publish(MediaRemovedEvent(device=self.name))

    def _set(self, **changes: object) -> None:
        self._set_status(dataclasses.replace(self.status, **changes))  # type: ignore[arg-type]

    # ---- commands ----------------------------------------------------------------------------

    async def wait_for_card(self, events: EventSink, *, timeout: float | None) -> WaitCardResult:  # noqa: ASYNC109
        """Wait until the monitor reports a card."""

        async def op() -> WaitCardResult:
            await self._present.wait()
            events(MediaInsertedEvent(device=self.name))
            return WaitCardResult(outcome=ChipOutcome.OK)

        return await self._execute(
            "wait_for_card", op, timeout=timeout,
            aborted=lambda c: WaitCardResult(outcome=ChipOutcome.TIMEOUT
                                             if c is CompletionCode.TIMEOUT
                                             else ChipOutcome.CANCELED),
        )  # fmt: skip

    def _power_blocking(self, action: ChipPowerAction) -> ChipPowerResult:
        r = self._power_once(action)
        if r.outcome is ChipOutcome.ATR_NOT_OBTAINED and action is ChipPowerAction.COLD:
            # EMV Book 1: after a failed cold reset the terminal may try once more (warm);
            # vpcd also reports "unresponsive" while it is still probing a fresh card.
            time.sleep(0.1)
            r = self._power_once(action)
        return r

    def _power_once(self, action: ChipPowerAction) -> ChipPowerResult:
        try:
            if action is ChipPowerAction.OFF:
                if self._card is not None:
                    _scard.SCardDisconnect(self._card, _scard.SCARD_UNPOWER_CARD)
                    self._card = None
                return ChipPowerResult(outcome=ChipOutcome.OK)
            want = _scard.SCARD_PROTOCOL_T0 | _scard.SCARD_PROTOCOL_T1
            if self._card is not None:
                disp = (_scard.SCARD_UNPOWER_CARD if action is ChipPowerAction.COLD
                        else _scard.SCARD_RESET_CARD)  # fmt: skip
                rc, proto = _scard.SCardReconnect(self._card, _scard.SCARD_SHARE_SHARED, want,
                                                  disp)  # fmt: skip
                if rc != _scard.SCARD_S_SUCCESS:
                    _scard.SCardDisconnect(self._card, _scard.SCARD_LEAVE_CARD)
                    self._card = None
                _check(rc, "reconnect")
            else:
                rc, card, proto = _scard.SCardConnect(self._ctx, self._reader,
                                                      _scard.SCARD_SHARE_SHARED, want)  # fmt: skip
                _check(rc, "connect")
                self._card = card
            self._protocol = proto
            rc, _reader, _state, _proto, atr = _scard.SCardStatus(self._card)
            _check(rc, "status")
        except _PcscCallError as e:
            self._card = None if action is not ChipPowerAction.OFF else self._card
            return ChipPowerResult(outcome=_map_power_error(e.rc))
        if action is not ChipPowerAction.OFF:
            try:
                atr_protocols(bytes(atr))  # EMV Book 1: an ATR that does not parse is rejected
            except ApduError:
                return ChipPowerResult(outcome=ChipOutcome.ATR_NOT_OBTAINED, atr=bytes(atr))
        p = ChipProtocol.T1 if proto == _scard.SCARD_PROTOCOL_T1 else ChipProtocol.T0
        return ChipPowerResult(outcome=ChipOutcome.OK, atr=bytes(atr), protocol=p)

    async def chip_power(self, action: ChipPowerAction) -> ChipPowerResult:
        """Cold/warm reset (ATR) or power off."""

        async def op() -> ChipPowerResult:
            r: ChipPowerResult = await self._call(self._power_blocking, action)
            if r.outcome is ChipOutcome.OK:
                self._set(chip_power=ChipPower.ONLINE if action is not ChipPowerAction.OFF
                          else ChipPower.POWERED_OFF)  # fmt: skip
            elif r.outcome is ChipOutcome.ATR_NOT_OBTAINED:
                self._set(chip_power=ChipPower.HARDWARE_ERROR)
            return r

        return await self._execute(
            "chip_power", op, timeout=self._command_timeout,
            aborted=lambda c: ChipPowerResult(outcome=ChipOutcome.TIMEOUT
                                              if c is CompletionCode.TIMEOUT
                                              else ChipOutcome.CANCELED),
        )  # fmt: skip

    def _io_blocking(self, capdu: bytes) -> ChipIoResult:
        if self._card is None:
            return ChipIoResult(outcome=ChipOutcome.SEQUENCE_ERROR)
        pci = (_scard.SCARD_PCI_T1 if self._protocol == _scard.SCARD_PROTOCOL_T1
               else _scard.SCARD_PCI_T0)  # fmt: skip
        rc, resp = _scard.SCardTransmit(self._card, pci, list(capdu))
        if rc != _scard.SCARD_S_SUCCESS:
            rc &= 0xFFFFFFFF
            if rc == _scard.SCARD_E_NO_SERVICE:
                raise DeviceError(self.name, "PC/SC service not available")
            _scard.SCardDisconnect(self._card, _scard.SCARD_LEAVE_CARD)
            self._card = None
            if rc in _REMOVED or not self._card_present_blocking():
                return ChipIoResult(outcome=ChipOutcome.CARD_REMOVED)
            return ChipIoResult(outcome=ChipOutcome.NO_RESPONSE)
        if len(resp) < 2:  # vpcd answers an empty frame both for a mute card and a lost socket
            if not self._card_present_blocking():
                _scard.SCardDisconnect(self._card, _scard.SCARD_LEAVE_CARD)
                self._card = None
                return ChipIoResult(outcome=ChipOutcome.CARD_REMOVED)
            return ChipIoResult(outcome=ChipOutcome.NO_RESPONSE)
        return ChipIoResult(outcome=ChipOutcome.OK, response=bytes(resp))

    def _card_present_blocking(self, settle_ms: int = 1200) -> bool:
        """Is a card still there? Waits up to ``settle_ms`` for pcscd to notice a removal
        (vpcd is polled about every 400 ms; a CCID reader reports at once)."""
        unaware = [(self._reader, _scard.SCARD_STATE_UNAWARE)]
        rc, states = _scard.SCardGetStatusChange(self._ctx, 0, unaware)
        if rc != _scard.SCARD_S_SUCCESS or not states[0][1] & _scard.SCARD_STATE_PRESENT:
            return False
        current = states[0][1] & ~_scard.SCARD_STATE_CHANGED
        rc, states = _scard.SCardGetStatusChange(self._ctx, settle_ms, [(self._reader, current)])
        if rc == _scard.SCARD_E_TIMEOUT:
            return True
        return rc == _scard.SCARD_S_SUCCESS and bool(states[0][1] & _scard.SCARD_STATE_PRESENT)

    async def chip_io(self, capdu: bytes) -> ChipIoResult:
        """Send one C-APDU through pcscd."""
        return await self._execute(
            "chip_io", lambda: self._call(self._io_blocking, capdu),
            timeout=self._command_timeout,
            aborted=lambda c: ChipIoResult(outcome=ChipOutcome.TIMEOUT
                                           if c is CompletionCode.TIMEOUT
                                           else ChipOutcome.CANCELED),
        )  # fmt: skip


def _map_power_error(rc: int) -> ChipOutcome:
    if rc in _REMOVED:
        return ChipOutcome.NO_MEDIA
    if rc in {x & 0xFFFFFFFF for x in _NO_ATR}:
        return ChipOutcome.ATR_NOT_OBTAINED
    if rc == _scard.SCARD_E_PROTO_MISMATCH & 0xFFFFFFFF:
        return ChipOutcome.PROTOCOL_NOT_SUPPORTED
    return ChipOutcome.HARDWARE_ERROR
