"""``HsmClient``: :class:`~hsm_sim.protocol.HsmService` over TCP (Thales host commands).

A small pool of connections (opened lazily, reopened after a failure). Each connection pipelines:
requests are written as they come and one reader task matches answers in order, checking the
echoed header (a per-request counter). A request that gets no answer within ``timeout`` raises
:class:`~hsm_sim.protocol.HsmTimeout`; that connection is then closed (answers could no longer
be matched), and its other in-flight requests fail with ``HsmTimeout`` too.

Examples
--------
>>> client = HsmClient("127.0.0.1", 1500, pool_size=2, timeout=1.5)
>>> client.pool_size, client.timeout
(2, 1.5)
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import itertools
import logging
from dataclasses import dataclass, field
from typing import Any

from hsm_sim.protocol import (
    ArpcResult,
    CvvResult,
    Diagnostics,
    ExportedKey,
    GeneratedKey,
    HsmError,
    HsmResult,
    HsmTimeout,
    ImportedKey,
    KeyCheck,
    MacResult,
    PinTranslation,
)
from hsm_sim.thales import codec as _c

__all__ = ["HsmClient", "HsmError", "HsmTimeout"]

_LOG = logging.getLogger(__name__)
_LOG.addHandler(logging.NullHandler())

_MAX_PIN_LENGTH = "12"


@dataclass(kw_only=True)
class _Pending:
    header: bytes
    command: str
    future: asyncio.Future[bytes] = field(repr=False)


class _Connection:
    """One TCP connection with in-order answer matching."""

    def __init__(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, header_length: int
    ) -> None:
        self._reader = reader
        self._writer = writer
        self._framer = _c.Framer(header_length=header_length)
        self._pending: collections.deque[_Pending] = collections.deque()
        self._closed = False
        self._read_task = asyncio.create_task(self._read_loop())

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def in_flight(self) -> int:
        return len(self._pending)

    def send(self, header: bytes, command: str, body: bytes) -> asyncio.Future[bytes]:
        if self._closed:
            raise HsmError("connection closed", command=command)
        fut: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        self._pending.append(_Pending(header=header, command=command, future=fut))
        self._writer.write(_c.encode_frame(header, body))
        return fut

    async def drain(self) -> None:
        await self._writer.drain()

    async def _read_loop(self) -> None:
        error: HsmError = HsmError("connection closed by the HSM")
        try:
            while True:
                data = await self._reader.read(65536)
                if not data:
                    break
                self._framer.receive_data(data)
                while (frame := self._framer.next_frame()) is not None:
                    if not self._pending:
                        error = HsmError("unsolicited answer from the HSM")
                        return
                    p = self._pending.popleft()
                    if frame.header != p.header:
                        error = HsmError("answer header does not match", command=p.command)
                        if not p.future.done():
                            p.future.set_exception(error)
                        return
                    if not p.future.done():
                        p.future.set_result(frame.body)
        except (ConnectionError, OSError) as e:
            error = HsmError(f"connection error: {type(e).__name__}")
        finally:
            self._fail_all(error)
            self._close_transport()

    def _fail_all(self, error: HsmError) -> None:
        self._closed = True
        while self._pending:
            p = self._pending.popleft()
            if not p.future.done():
                p.future.set_exception(type(error)(error.msg, command=p.command))

    def _close_transport(self) -> None:
        self._closed = True
        self._writer.close()

    async def close(self, error: HsmError | None = None) -> None:
        self._fail_all(error or HsmError("client closed"))
        self._close_transport()
        self._read_task.cancel()
        with contextlib.suppress(BaseException):
            await self._read_task
        with contextlib.suppress(Exception):
            await self._writer.wait_closed()


class HsmClient:
    """Talk to a Thales-compatible HSM; implements :class:`~hsm_sim.protocol.HsmService`.

    Parameters
    ----------
    host, port
        The HSM's address.
    header_length
        Thales message header length the HSM is configured for (default 4).
    pool_size
        Maximum number of TCP connections.
    timeout
        Seconds to wait for each answer (connect included).
    """

    def __init__(
        self,
        host: str,
        port: int,
        *,
        header_length: int = 4,
        pool_size: int = 4,
        timeout: float = 2.0,
    ) -> None:
        if pool_size < 1:
            raise ValueError("pool_size must be >= 1")
        if not 0 <= header_length <= 255:
            raise ValueError("header_length must be 0 to 255")
        self.host = host
        self.port = port
        self.header_length = header_length
        self.pool_size = pool_size
        self.timeout = timeout
        self._pool: list[_Connection] = []
        self._lock: asyncio.Lock | None = None
        self._counter = itertools.count()
        self._closed = False

    # ---------------------------------------------------------------- transport

    def _next_header(self) -> bytes:
        n = self.header_length
        if n == 0:
            return b""
        return f"{next(self._counter) % (10**n):0{n}d}".encode("ascii")

    async def _connection(self) -> _Connection:
        if self._closed:
            raise HsmError("client closed")
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            self._pool = [c for c in self._pool if not c.closed]
            idle = [c for c in self._pool if c.in_flight == 0]
            if idle:
                return idle[0]
            if len(self._pool) >= self.pool_size:
                return min(self._pool, key=lambda c: c.in_flight)
            try:
                reader, writer = await asyncio.wait_for(
                    asyncio.open_connection(self.host, self.port), self.timeout
                )
            except TimeoutError:
                raise HsmTimeout("timed out connecting to the HSM") from None
            except OSError as e:
                raise HsmError(f"cannot connect to the HSM: {type(e).__name__}") from e
            conn = _Connection(reader, writer, self.header_length)
            self._pool.append(conn)
            return conn

    async def execute(self, command: str, body: bytes) -> bytes:
        """Send ``command`` + ``body``; return the answer from its response code on."""
        if len(command) != 2:
            raise ValueError("command must be 2 characters")
        conn = await self._connection()
        fut = conn.send(self._next_header(), command, command.encode("ascii") + body)
        try:
            await conn.drain()
            return await asyncio.wait_for(asyncio.shield(fut), self.timeout)
        except TimeoutError:
            fut.cancel()
            await conn.close(HsmTimeout("no answer from the HSM in time", command=command))
            raise HsmTimeout("no answer from the HSM in time", command=command) from None
        except (ConnectionError, OSError) as e:
            if isinstance(e, HsmError):
                raise
            await conn.close()
            raise HsmError(f"connection error: {type(e).__name__}", command=command) from e

    async def call(self, request: Any) -> Any:
        """Send a typed request dataclass (``hsm_sim.thales.codec``) and decode its answer."""
        code = type(request).CODE
        body = _c.encode_request(request)
        answer = await self.execute(code, body[2:])
        try:
            return _c.decode_response(answer, command=code)[0]
        except _c.ThalesError as e:
            raise HsmError(f"bad answer: {e.msg}", command=code) from e

    async def close(self) -> None:
        """Close every connection; later calls raise :class:`HsmError`."""
        self._closed = True
        pool, self._pool = self._pool, []
        for c in pool:
            await c.close()

    async def __aenter__(self) -> HsmClient:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.close()

    # ---------------------------------------------------------------- HsmService

    async def diagnostics(self) -> Diagnostics:
        r = await self.call(_c.NcRequest())
        return Diagnostics(error_code=r.error_code, lmk_check=r.lmk_check, firmware=r.firmware)

    async def verify_terminal_pin_pvv(
        self,
        *,
        tpk: str,
        pvk: str,
        pin_block: str,
        pin_block_format: str,
        account: str,
        pvki: int,
        pvv: str,
    ) -> HsmResult:
        r = await self.call(
            _c.DcRequest(
                tpk=tpk,
                pvk=pvk,
                pin_block=pin_block,
                format=pin_block_format,
                account=account,
                pvki=str(pvki),
                pvv=pvv,
            )
        )
        return HsmResult(error_code=r.error_code)

    async def verify_interchange_pin_pvv(
        self,
        *,
        zpk: str,
        pvk: str,
        pin_block: str,
        pin_block_format: str,
        account: str,
        pvki: int,
        pvv: str,
    ) -> HsmResult:
        r = await self.call(
            _c.EcRequest(
                zpk=zpk,
                pvk=pvk,
                pin_block=pin_block,
                format=pin_block_format,
                account=account,
                pvki=str(pvki),
                pvv=pvv,
            )
        )
        return HsmResult(error_code=r.error_code)

    async def verify_terminal_pin_ibm(
        self,
        *,
        tpk: str,
        pvk: str,
        pin_block: str,
        pin_block_format: str,
        check_length: int,
        account: str,
        decimalization_table: str,
        pin_validation_data: str,
        offset: str,
    ) -> HsmResult:
        r = await self.call(
            _c.DaRequest(
                tpk=tpk,
                pvk=pvk,
                max_pin_length=_MAX_PIN_LENGTH,
                pin_block=pin_block,
                format=pin_block_format,
                check_length=f"{check_length:02d}",
                account=account,
                decimalization_table=decimalization_table,
                pin_validation_data=pin_validation_data,
                offset=offset.ljust(12, "F"),
            )
        )
        return HsmResult(error_code=r.error_code)

    async def verify_interchange_pin_ibm(
        self,
        *,
        zpk: str,
        pvk: str,
        pin_block: str,
        pin_block_format: str,
        check_length: int,
        account: str,
        decimalization_table: str,
        pin_validation_data: str,
        offset: str,
    ) -> HsmResult:
        r = await self.call(
            _c.EaRequest(
                zpk=zpk,
                pvk=pvk,
                max_pin_length=_MAX_PIN_LENGTH,
                pin_block=pin_block,
                format=pin_block_format,
                check_length=f"{check_length:02d}",
                account=account,
                decimalization_table=decimalization_table,
                pin_validation_data=pin_validation_data,
                offset=offset.ljust(12, "F"),
            )
        )
        return HsmResult(error_code=r.error_code)

    @staticmethod
    def _translation(r: Any) -> PinTranslation:
        return PinTranslation(
            error_code=r.error_code,
            pin_length=int(r.pin_length) if r.pin_length else None,
            pin_block=r.pin_block,
            pin_block_format=r.destination_format,
        )

    async def translate_pin_tpk_to_zpk(
        self,
        *,
        tpk: str,
        zpk: str,
        pin_block: str,
        source_format: str,
        destination_format: str,
        account: str,
    ) -> PinTranslation:
        r = await self.call(
            _c.CaRequest(
                tpk=tpk,
                zpk=zpk,
                max_pin_length=_MAX_PIN_LENGTH,
                pin_block=pin_block,
                source_format=source_format,
                destination_format=destination_format,
                account=account,
            )
        )
        return self._translation(r)

    async def translate_pin_zpk_to_zpk(
        self,
        *,
        source_zpk: str,
        destination_zpk: str,
        pin_block: str,
        source_format: str,
        destination_format: str,
        account: str,
    ) -> PinTranslation:
        r = await self.call(
            _c.CcRequest(
                source_zpk=source_zpk,
                destination_zpk=destination_zpk,
                max_pin_length=_MAX_PIN_LENGTH,
                pin_block=pin_block,
                source_format=source_format,
                destination_format=destination_format,
                account=account,
            )
        )
        return self._translation(r)

    async def generate_key(
        self,
        *,
        key_type: str,
        key_scheme: str = "U",
        zmk: str | None = None,
        zmk_key_scheme: str = "X",
        under_tmk: bool = False,
    ) -> GeneratedKey:
        export = zmk is not None
        r = await self.call(
            _c.A0Request(
                mode="1" if export else "0",
                key_type=key_type,
                key_scheme_lmk=key_scheme,
                zmk_flag=("1" if under_tmk else "0") if export else None,
                zmk=zmk,
                key_scheme_zmk=zmk_key_scheme if export else None,
            )
        )
        return GeneratedKey(
            error_code=r.error_code, key_lmk=r.key_lmk, key_zmk=r.key_zmk, kcv=r.kcv
        )

    async def import_key(
        self, *, key_type: str, zmk: str, key_under_zmk: str, key_scheme: str = "U"
    ) -> ImportedKey:
        r = await self.call(
            _c.A6Request(
                key_type=key_type, zmk=zmk, key_zmk=key_under_zmk, key_scheme_lmk=key_scheme
            )
        )
        return ImportedKey(error_code=r.error_code, key_lmk=r.key_lmk, kcv=r.kcv)

    async def export_key(
        self,
        *,
        key_type: str,
        zmk: str,
        key: str,
        zmk_key_scheme: str = "X",
        under_tmk: bool = False,
    ) -> ExportedKey:
        r = await self.call(
            _c.A8Request(
                key_type=key_type,
                zmk_flag="1" if under_tmk else None,
                zmk=zmk,
                key_lmk=key,
                key_scheme_zmk=zmk_key_scheme,
            )
        )
        return ExportedKey(error_code=r.error_code, key_zmk=r.key_zmk, kcv=r.kcv)

    async def key_check_value(self, *, key_type: str, key: str) -> KeyCheck:
        flag = {"U": "1", "X": "1", "T": "2", "Y": "2"}.get(key[:1])
        if flag is None:
            flag = {32: "1", 48: "2"}.get(len(key), "0")
        r = await self.call(
            _c.BuRequest(
                key_type_code="FF",
                key_length_flag=flag,
                key=key,
                key_type=key_type,
                reserved_1="0",
                reserved_2="0",
                kcv_type="1",
            )
        )
        return KeyCheck(error_code=r.error_code, kcv=r.kcv)

    async def generate_cvv(
        self, *, cvk: str, pan: str, expiry: str, service_code: str
    ) -> CvvResult:
        r = await self.call(
            _c.CwRequest(cvk=cvk, pan=pan, expiry=expiry, service_code=service_code)
        )
        return CvvResult(error_code=r.error_code, cvv=r.cvv)

    async def verify_cvv(
        self, *, cvk: str, pan: str, expiry: str, service_code: str, cvv: str
    ) -> HsmResult:
        r = await self.call(
            _c.CyRequest(cvk=cvk, cvv=cvv, pan=pan, expiry=expiry, service_code=service_code)
        )
        return HsmResult(error_code=r.error_code)

    async def translate_pin_dukpt_to_zpk(
        self,
        *,
        bdk: str,
        zpk: str,
        ksn: str,
        pin_block: str,
        source_format: str,
        destination_format: str,
        account: str,
    ) -> PinTranslation:
        r = await self.call(
            _c.G0Request(
                bdk=bdk,
                zpk=zpk,
                ksn_descriptor="A05",
                ksn=ksn,
                pin_block=pin_block,
                source_format=source_format,
                destination_format=destination_format,
                account=account,
            )
        )
        return self._translation(r)

    async def verify_arqc(
        self,
        *,
        mk_ac: str,
        scheme: int,
        pan_psn: str,
        atc: str,
        unpredictable_number: str,
        transaction_data: bytes,
        arqc: str,
        arc: str | None = None,
    ) -> ArpcResult:
        try:
            request = _c.KqRequest(
                mode="0" if arc is None else "1",
                scheme=str(scheme),
                mk_ac=mk_ac,
                pan_psn=bytes.fromhex(pan_psn),
                atc=bytes.fromhex(atc),
                un=bytes.fromhex(unpredictable_number),
                data=bytes(transaction_data),
                arqc=bytes.fromhex(arqc),
                arc=None if arc is None else bytes.fromhex(arc),
            )
        except ValueError as e:
            raise _c.EncodeError("invalid hex field", command="KQ") from e
        r = await self.call(request)
        return ArpcResult(
            error_code=r.error_code, arpc=None if r.arpc is None else r.arpc.hex().upper()
        )

    async def verify_arqc_cvn(
        self,
        *,
        mk_ac: str,
        scheme: int,
        pan_psn: str,
        atc: str,
        transaction_data: bytes,
        arqc: str,
        unpredictable_number: str | None = None,
        arc: str | None = None,
        csu: str | None = None,
        proprietary_data: bytes = b"",
    ) -> ArpcResult:
        if arc is not None and csu is not None:
            raise _c.EncodeError(
                "give arc (ARPC method 1) or csu (method 2), not both", command="KW"
            )
        if not (pan_psn.isascii() and pan_psn.isdigit()):
            raise _c.EncodeError("pan_psn must be digits", command="KW")
        mode = "1" if arc is not None else "3" if csu is not None else "0"
        try:
            request = _c.KwRequest(
                mode=mode,
                scheme=str(scheme),
                mk_ac=mk_ac,
                pan_psn=bytes.fromhex(pan_psn + ("F" if len(pan_psn) % 2 else "")),
                atc=bytes.fromhex(atc),
                un=None if unpredictable_number is None else bytes.fromhex(unpredictable_number),
                data=bytes(transaction_data),
                arqc=bytes.fromhex(arqc),
                arc=None if arc is None else bytes.fromhex(arc),
                csu=None if csu is None else bytes.fromhex(csu),
                prop_data=bytes(proprietary_data) if csu is not None else None,
            )
        except ValueError as e:
            raise _c.EncodeError("invalid hex field", command="KW") from e
        r = await self.call(request)
        return ArpcResult(
            error_code=r.error_code, arpc=None if r.arpc is None else r.arpc.hex().upper()
        )

    @staticmethod
    def _mac_fields(
        *, key: str, message: bytes, key_type: str, algorithm: int, padding: int, size: str
    ) -> dict[str, Any]:
        return {
            "mode": "0",
            "input_format": "0",
            "mac_size": size,
            "mac_algorithm": str(algorithm),
            "padding": str(padding),
            "key_type": key_type,
            "key": key,
            "message": bytes(message),
        }

    async def generate_mac(
        self,
        *,
        key: str,
        message: bytes,
        key_type: str = "003",
        algorithm: int = 3,
        padding: int = 1,
    ) -> MacResult:
        fields = self._mac_fields(
            key=key,
            message=message,
            key_type=key_type,
            algorithm=algorithm,
            padding=padding,
            size="1",
        )
        r = await self.call(_c.M6Request(**fields))
        return MacResult(error_code=r.error_code, mac=r.mac)

    async def verify_mac(
        self,
        *,
        key: str,
        message: bytes,
        mac: str,
        key_type: str = "003",
        algorithm: int = 3,
        padding: int = 1,
    ) -> HsmResult:
        size = "0" if len(mac) == 8 else "1"
        fields = self._mac_fields(
            key=key,
            message=message,
            key_type=key_type,
            algorithm=algorithm,
            padding=padding,
            size=size,
        )
        r = await self.call(_c.M8Request(**fields, mac=mac))
        return HsmResult(error_code=r.error_code)
