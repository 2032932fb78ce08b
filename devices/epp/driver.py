"""The real EPP driver: our serial protocol over pyserial, asyncio on top (implements PinPad).

Threading (STYLE DEV-3): one reader thread does blocking reads and hands bytes to the loop with
``loop.call_soon_threadsafe``; all decoding, ACK/NAK, retries and timeouts run on the loop;
writes go through a one-thread executor so their order is kept and the loop never blocks.

Link rules: every command is sent with a sequence number and waits ``ack_timeout`` for ACK (or
straight for the reply); on NAK or no ACK it is resent, up to ``retries`` times. After the ACK
the reply must come within ``timeout``; if not, the command is resent and the EPP, seeing the
same sequence number, repeats its cached reply instead of executing twice. Damaged frames from
the EPP are NAKed (the EPP resends). All retries spent: :class:`EppLinkError`.

Nothing secret is logged: one record per command (code, rc, attempts, elapsed), and with a
``spy://`` URL a hex trace of each frame after :func:`~devices.epp.messages.redact_frame`
(components, key cryptograms, PAN and PIN block starred). The clear PIN never reaches the host.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Protocol

from devices.epp import messages as m
from devices.epp.base import (
    FDK_NAMES,
    AmountEntryRequest,
    AmountEntryResult,
    DukptPinBlock,
    EppErrorCode,
    EppStatus,
    FdkEvent,
    KeyAlgorithm,
    KeyEvent,
    KeyInfo,
    KeyLoadResult,
    KeyUsage,
    PinEntryOutcome,
    PinEntryRequest,
    PinEntryResult,
    TamperStatus,
)
from devices.epp.codec import (
    Ack,
    BadFrame,
    BadFrameReason,
    EppConnection,
    Frame,
    FrameType,
    Nak,
    NeedData,
    Role,
    encode_frame,
)
from devices.epp.errors import EppDecodeError, EppDeviceError, EppLinkError
from devices.epp.serial_port import SerialPort, parse_port_url

__all__ = ["EppDriver", "EppPort"]

_LOGGER = logging.getLogger(__name__)
_LOGGER.addHandler(logging.NullHandler())
_TRACE = logging.getLogger("devices.epp.trace")
_TRACE.addHandler(logging.NullHandler())


class EppPort(Protocol):
    """The blocking byte port the driver runs on (:class:`SerialPort`, or an in-process
    :class:`devices.epp.inprocess.FirmwarePort`). Called only from the driver's threads."""

    def read(self) -> bytes: ...

    def write(self, data: bytes) -> None: ...

    def reset_input(self) -> None: ...

    def dsr(self) -> bool | None: ...

    def cancel_read(self) -> None: ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class _LinkLost:
    error: BaseException


@dataclass
class _Pending:
    seq: int
    command: str
    queue: asyncio.Queue[Frame | Ack | Nak | BadFrame | _LinkLost] = field(
        default_factory=asyncio.Queue
    )


@dataclass
class _Entry:
    on_key: Callable[[KeyEvent], None]
    done: asyncio.Future[PinEntryResult | AmountEntryResult]
    amount: bool = False


class EppDriver:
    """Driver for an EPP speaking :mod:`devices.epp.codec` (hardware, pty, TCP or loop).

    Parameters
    ----------
    url
        Endpoint; see :mod:`devices.epp.serial_port` for the accepted forms. With ``port``
        given, only its ``spy://`` prefix matters (e.g. ``"emuepp://"``, ``"spy://emuepp://"``).
    timeout
        Seconds to wait for a reply after the ACK, per attempt.
    retries
        Resends after NAK / missing ACK / missing reply before giving up.
    ack_timeout
        Seconds to wait for ACK; defaults to ``min(1.0, timeout)``.
    baudrate, parity
        Line settings for real serial ports (ignored by ptys and sockets).
    use_dsr
        Treat DSR low as "device absent" at open; ports without modem lines fall back to the
        link-sync command, which is always sent.
    on_tamper
        Called (on the loop) when the EPP reports a tamper event.
    on_fdk
        Called (on the loop) when an enabled function key is pressed (see :meth:`enable_fdks`).
    """

    def __init__(
        self,
        url: str,
        *,
        timeout: float = 3.0,
        retries: int = 3,
        ack_timeout: float | None = None,
        baudrate: int = 9600,
        parity: str = "N",
        use_dsr: bool = False,
        on_tamper: Callable[[TamperStatus], None] | None = None,
        on_fdk: Callable[[FdkEvent], None] | None = None,
        port: EppPort | None = None,
    ) -> None:
        self._spec = parse_port_url(url, baudrate=baudrate, parity=parity)
        self._given_port = port
        self._timeout = timeout
        self._retries = retries
        self._ack_timeout = min(1.0, timeout) if ack_timeout is None else ack_timeout
        self._use_dsr = use_dsr
        self._on_tamper = on_tamper
        self._on_fdk = on_fdk
        self._conn = EppConnection(Role.HOST)
        self._port: EppPort | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._reader: threading.Thread | None = None
        self._stop = threading.Event()
        self._writer: ThreadPoolExecutor | None = None
        self._lock = asyncio.Lock()
        self._seq = 0
        self._pending: _Pending | None = None
        self._entry: _Entry | None = None
        self._lost: BaseException | None = None
        self.last_tamper: TamperStatus | None = None

    # ----------------------------------------------------------------- lifecycle
    async def open(self) -> None:
        """Open the port, start the reader thread and sync the link."""
        if self._port is not None:
            return
        self._loop = asyncio.get_running_loop()
        if self._given_port is not None:
            self._port = self._given_port
        else:
            self._port = await asyncio.to_thread(SerialPort, self._spec)
        await asyncio.to_thread(self._port.reset_input)
        if self._use_dsr and await asyncio.to_thread(self._port.dsr) is False:
            await self.close()
            raise EppLinkError("device not present (DSR low)")
        self._stop.clear()
        self._lost = None
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="epp-writer")
        self._reader = threading.Thread(
            target=self._read_loop, args=(self._port, self._loop), name="epp-reader", daemon=True
        )
        self._reader.start()
        try:
            self._check(await self._transact(m.Sync()))
        except BaseException:
            await self.close()
            raise

    async def close(self) -> None:
        """Stop the reader thread and close the port (idempotent)."""
        port, self._port = self._port, None
        if port is None:
            return
        self._stop.set()
        port.cancel_read()
        if self._reader is not None:
            await asyncio.to_thread(self._reader.join, 2.0)
            self._reader = None
        if self._writer is not None:
            self._writer.shutdown(wait=True)
            self._writer = None
        await asyncio.to_thread(port.close)
        if self._entry is not None and not self._entry.done.done():
            self._entry.done.set_exception(EppLinkError("driver closed"))

    async def __aenter__(self) -> EppDriver:
        await self.open()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # ----------------------------------------------------------------- commands
    async def status(self) -> EppStatus:
        return m.decode_status(self._check(await self._transact(m.GetStatus())))

    async def tamper_status(self) -> TamperStatus:
        return m.decode_tamper_status(self._check(await self._transact(m.GetTamperStatus())))

    async def initialize(self) -> EppErrorCode:
        """Clear the tamper state and every key (XFS4IoT KeyManagement.Initialization)."""
        return m.reply_code(await self._transact(m.Initialize()))

    async def load_tmk_components(self, components: list[bytes], *, kcv: str) -> KeyLoadResult:
        """Load the TMK from 2 or 3 clear components; the EPP checks ``kcv`` of their XOR."""
        if not 2 <= len(components) <= 3:
            raise ValueError("need 2 or 3 components")
        cmd = m.LoadTmkComponents(kcv=kcv.upper(), components=tuple(components))
        return self._key_result(await self._transact(cmd))

    async def load_key_under(
        self,
        name: str,
        *,
        under: str,
        encrypted_key: bytes,
        kcv: str,
        algorithm: KeyAlgorithm = KeyAlgorithm.TDES,
        usage: KeyUsage = KeyUsage.PIN,
    ) -> KeyLoadResult:
        """Load a working key enciphered (TDES-ECB) under the KEK ``under``; checks ``kcv``."""
        cmd = m.LoadWorkingKey(
            name=name,
            under=under,
            algorithm=algorithm,
            usage=usage,
            encrypted_key=encrypted_key,
            kcv=kcv.upper(),
        )
        return self._key_result(await self._transact(cmd))

    async def delete_key(self, name: str) -> EppErrorCode:
        return m.reply_code(await self._transact(m.DeleteKey(name=name)))

    async def list_keys(self) -> list[KeyInfo]:
        return m.decode_key_list(self._check(await self._transact(m.ListKeys())))

    async def load_dukpt_key(
        self,
        name: str,
        *,
        algorithm: KeyAlgorithm,
        initial_key: bytes,
        ksn: bytes,
        kcv: str,
        under: str | None = None,
    ) -> KeyLoadResult:
        """Inject a DUKPT initial key with its KSN (X9.24-1 TDES or X9.24-3 AES).

        Parameters
        ----------
        name
            Key name to store it under.
        algorithm
            ``TDES`` (16-byte IPEK, 10-byte KSN) or ``AES`` (16/24/32-byte initial key; ``ksn``
            is the 12-byte KSN or the 8-byte initial key ID, to which a zero counter is added).
        initial_key
            The initial key, clear (``under=None``, key-loading room) or TDES-ECB enciphered
            under the stored KEK ``under``.
        kcv
            KCV of the clear initial key (TDES ``E_K(0^8)``, AES CMAC).
        """
        if algorithm is KeyAlgorithm.AES and len(ksn) == 8:
            ksn = ksn + bytes(4)
        cmd = m.LoadDukptKey(
            name=name,
            under=under,
            algorithm=algorithm,
            key=initial_key,
            ksn=ksn,
            kcv=kcv.upper(),
        )
        return self._key_result(await self._transact(cmd))

    async def enable_fdks(self, keys: tuple[str, ...] | list[str] = FDK_NAMES) -> None:
        """Enable exactly these function keys (``()`` disables all); presses go to ``on_fdk``."""
        self._check(await self._transact(m.EnableFdks(keys=tuple(keys))))

    async def beep(self, ms: int = 100) -> None:
        self._check(await self._transact(m.Beep(ms=ms)))

    async def backlight(self, on: bool) -> None:
        self._check(await self._transact(m.Backlight(on=on)))

    async def enter_pin(
        self, req: PinEntryRequest, on_key: Callable[[KeyEvent], None]
    ) -> PinEntryResult:
        """Run one PIN entry; ``on_key`` gets masked key events. Cancel the task to abort."""
        cmd = m.StartPinEntry(
            min_length=req.min_length,
            max_length=req.max_length,
            inter_key_ms=max(1, round(req.inter_key_timeout_s * 1000)),
            total_ms=max(1, round(req.total_timeout_s * 1000)),
        )
        result = await self._run_entry(cmd, on_key, req.total_timeout_s, amount=False)
        assert isinstance(result, PinEntryResult)
        return result

    async def enter_amount(
        self, req: AmountEntryRequest, on_key: Callable[[KeyEvent], None]
    ) -> AmountEntryResult:
        """Run one numeric entry; ``on_key`` gets key events whose ``display`` is the digit.

        For amounts only: the EPP echoes digits in clear in this mode (and refuses to start it
        while a PIN entry runs). Cancel the task to abort.
        """
        cmd = m.StartAmountEntry(
            min_digits=req.min_digits,
            max_digits=req.max_digits,
            inter_key_ms=max(1, round(req.inter_key_timeout_s * 1000)),
            total_ms=max(1, round(req.total_timeout_s * 1000)),
        )
        result = await self._run_entry(cmd, on_key, req.total_timeout_s, amount=True)
        assert isinstance(result, AmountEntryResult)
        return result

    async def _run_entry(
        self,
        cmd: m.StartPinEntry | m.StartAmountEntry,
        on_key: Callable[[KeyEvent], None],
        total_s: float,
        *,
        amount: bool,
    ) -> PinEntryResult | AmountEntryResult:
        loop = asyncio.get_running_loop()
        entry = _Entry(on_key=on_key, done=loop.create_future(), amount=amount)

        def failed(outcome: PinEntryOutcome, code: EppErrorCode | None) -> (
            PinEntryResult | AmountEntryResult
        ):
            if amount:
                return AmountEntryResult(outcome=outcome, error=code)
            return PinEntryResult(outcome=outcome, digits=0, error=code)

        if self._entry is not None:  # one entry at a time, as the EPP itself enforces
            return failed(PinEntryOutcome.ERROR, EppErrorCode.BUSY)
        self._entry = entry
        try:
            code = m.reply_code(await self._transact(cmd))
            if code is not EppErrorCode.OK:
                return failed(PinEntryOutcome.ERROR, code)
            try:
                # the EPP enforces the timeouts; ours only guards against a lost end event
                async with asyncio.timeout(total_s + self._timeout):
                    return await asyncio.shield(entry.done)
            except TimeoutError:
                await self._cancel_entry()
                return failed(PinEntryOutcome.TIMEOUT, None)
        except asyncio.CancelledError:
            # cancelled at any point (even while the start command was in flight): stop the EPP
            with contextlib.suppress(Exception):
                await asyncio.shield(self._cancel_entry())
            raise
        finally:
            if self._entry is entry:
                self._entry = None

    async def _cancel_entry(self) -> None:
        await self._transact(m.CancelPinEntry())

    async def get_pin_block(self, *, key_name: str, fmt: str, pan: str) -> bytes:
        """The PIN block of the last completed entry, enciphered under ``key_name``.

        Raises :class:`EppDeviceError` (``E4`` no key, ``EC`` no PIN, ``ED`` key usage,
        ``E1`` format...).
        """
        frame = self._check(
            await self._transact(m.GetPinBlock(key_name=key_name, fmt=fmt, pan=pan))
        )
        return m.decode_pin_block_reply(frame)[0]

    async def get_dukpt_pin_block(self, *, key_name: str, fmt: str, pan: str) -> DukptPinBlock:
        """The PIN block under the next DUKPT transaction key of ``key_name``, with its KSN.

        Use format ``01`` (ISO 0) with a TDES DUKPT key and ``48`` (ISO 4) with an AES one.
        Each call advances the EPP's counter. Raises :class:`EppDeviceError` (``EE`` counter
        exhausted, ``ED`` not a DUKPT key or wrong format for it, ``EC`` no PIN...).
        """
        frame = self._check(
            await self._transact(m.GetPinBlock(key_name=key_name, fmt=fmt, pan=pan))
        )
        block, ksn = m.decode_pin_block_reply(frame)
        if ksn is None:
            raise EppDeviceError(EppErrorCode.KEY_USAGE.value, command="B")
        return DukptPinBlock(block=block, ksn=ksn)

    # ----------------------------------------------------------------- helpers
    @staticmethod
    def _check(frame: Frame) -> Frame:
        code = m.reply_code(frame)
        if code is not EppErrorCode.OK:
            raise EppDeviceError(code.value, command=frame.command)
        return frame

    @staticmethod
    def _key_result(frame: Frame) -> KeyLoadResult:
        code = m.reply_code(frame)
        if code is EppErrorCode.OK and len(frame.fields) == 2:
            return KeyLoadResult(code=code, kcv=frame.fields[1])
        return KeyLoadResult(code=code)

    def _next_seq(self) -> int:
        self._seq = self._seq % 9 + 1
        return self._seq

    async def _write(self, data: bytes) -> None:
        if self._port is None or self._writer is None or self._loop is None:
            raise EppLinkError("port not open")
        await self._loop.run_in_executor(self._writer, self._port.write, data)

    def _write_soon(self, data: bytes) -> None:
        if self._port is not None and self._writer is not None and self._loop is not None:
            fut = self._loop.run_in_executor(self._writer, self._port.write, data)
            fut.add_done_callback(_log_write_failure)

    def _trace(self, direction: str, data: bytes) -> None:
        if self._spec.trace:
            _TRACE.info("epp %s %s", direction, data.hex(" ").upper())

    async def _transact(self, cmd: m.Command) -> Frame:
        if self._port is None:
            raise EppLinkError("port not open", command=cmd.CODE)
        async with self._lock:
            loop = asyncio.get_running_loop()
            started = loop.time()
            seq = 0 if isinstance(cmd, m.Sync) else self._next_seq()
            frame = m.command_frame(cmd, seq=seq)
            data = self._conn.send(frame)
            pending = _Pending(seq=seq, command=cmd.CODE)
            self._pending = pending
            attempts, bad, rc = 0, 0, "--"
            try:
                while attempts <= self._retries:
                    attempts += 1
                    if self._lost is not None:
                        raise EppLinkError("link lost", command=cmd.CODE)
                    self._trace("tx", encode_frame(m.redact_frame(frame)))
                    await self._write(data)
                    acked = False
                    deadline = loop.time() + self._ack_timeout
                    while (remaining := deadline - loop.time()) > 0:
                        try:
                            async with asyncio.timeout(remaining):
                                ev = await pending.queue.get()
                        except TimeoutError:
                            break
                        if isinstance(ev, Frame):
                            rc = ev.fields[0] if ev.fields else "--"
                            return ev
                        if isinstance(ev, _LinkLost):
                            raise EppLinkError("link lost", command=cmd.CODE) from ev.error
                        if isinstance(ev, Ack) and not acked:
                            acked = True
                            deadline = loop.time() + self._timeout
                        elif isinstance(ev, Nak) and not acked:
                            break
                        elif isinstance(ev, BadFrame):
                            bad += 1
                            if bad > self._retries:
                                raise EppLinkError("too many damaged frames", command=cmd.CODE)
                rc = "timeout"
                raise EppLinkError(f"no reply after {attempts} attempts", command=cmd.CODE)
            finally:
                self._pending = None
                _LOGGER.info(
                    "epp command",
                    extra={
                        "command": cmd.CODE,
                        "rc": rc,
                        "attempts": attempts,
                        "elapsed_ms": round((loop.time() - started) * 1000, 1),
                    },
                )

    # ----------------------------------------------------------------- reader side
    def _read_loop(self, port: EppPort, loop: asyncio.AbstractEventLoop) -> None:
        """Reader thread: blocking reads, bytes handed to the loop. No decoding here."""
        while not self._stop.is_set():
            try:
                data = port.read()
            except EppLinkError as e:
                if not self._stop.is_set():
                    with contextlib.suppress(RuntimeError):
                        loop.call_soon_threadsafe(self._on_lost, e)
                return
            if data:
                try:
                    loop.call_soon_threadsafe(self._on_bytes, data)
                except RuntimeError:  # loop closed
                    return

    def _on_lost(self, error: BaseException) -> None:
        self._lost = error
        if self._pending is not None:
            self._pending.queue.put_nowait(_LinkLost(error))
        if self._entry is not None and not self._entry.done.done():
            self._entry.done.set_exception(EppLinkError("link lost"))

    def _on_bytes(self, data: bytes) -> None:
        self._conn.receive_data(data)
        while True:
            ev = self._conn.next_event()
            if isinstance(ev, NeedData):
                return
            if isinstance(ev, Frame):
                self._write_soon(self._conn.send(Ack()))
                self._trace("rx", encode_frame(m.redact_frame(ev)))
                if ev.type is FrameType.EVENT:
                    self._on_event_frame(ev)
                elif (
                    self._pending is not None
                    and ev.seq == self._pending.seq
                    and ev.command == self._pending.command
                ):
                    self._pending.queue.put_nowait(ev)
                else:
                    _LOGGER.info("unexpected reply dropped", extra={"command": ev.command})
            elif isinstance(ev, (Ack, Nak)):
                self._trace("rx", bytes([0x06 if isinstance(ev, Ack) else 0x15]))
                if self._pending is not None:
                    self._pending.queue.put_nowait(ev)
            else:
                _LOGGER.debug("damaged input", extra={"reason": ev.reason.name})
                if ev.reason is not BadFrameReason.GARBAGE:
                    self._write_soon(self._conn.send(Nak()))
                    if self._pending is not None:
                        self._pending.queue.put_nowait(ev)

    def _on_event_frame(self, frame: Frame) -> None:
        try:
            event = m.decode_event(frame)
        except EppDecodeError as e:
            _LOGGER.warning("bad event dropped", extra={"command": frame.command, "why": e.reason})
            return
        entry = self._entry
        if isinstance(event, TamperStatus):
            self.last_tamper = event
            if self._on_tamper is not None:
                self._on_tamper(event)
        elif isinstance(event, FdkEvent):
            if self._on_fdk is not None:
                self._on_fdk(event)
        elif isinstance(event, (KeyEvent, m.AmountKeyEvent)):
            if entry is not None and entry.amount is isinstance(event, m.AmountKeyEvent):
                key = event.event if isinstance(event, m.AmountKeyEvent) else event
                try:
                    entry.on_key(key)
                except Exception:
                    _LOGGER.exception("on_key callback failed")
        elif (
            entry is not None
            and not entry.done.done()
            and entry.amount is isinstance(event, AmountEntryResult)
        ):
            entry.done.set_result(event)


def _log_write_failure(fut: asyncio.Future[None]) -> None:
    if not fut.cancelled() and fut.exception() is not None:
        _LOGGER.warning("write failed", extra={"why": type(fut.exception()).__name__})
