"""The software payShield: executes decoded host commands under a variant LMK.

:class:`SoftHsm` owns the business rules of each command (key types, parity checks, error
codes); the wire layouts live in :mod:`hsm_sim.thales.codec` and the algorithms in
:mod:`hsm_sim.crypto`. Dispatch is one ``dict[code, handler]``; a command with a layout but no
handler answers ``68`` (command disabled), an unknown command answers ``ZZ15``.

Every command produces exactly one log record (``command``, ``error_code``, ``elapsed_ms``) on
``logging.getLogger(__name__)``; clear keys, PINs and PIN blocks are never logged.

Keys under a ZMK/TMK use the same scheme rules as under the LMK (shared/reference/hsm.md §3.1):
``X``/``Y``/``Z``/unprefixed = plain TDES-ECB, ``U``/``T`` = the ZMK with ``A6 5A`` / ``6A DE 2B``
XORed into byte 8 for successive 8-byte parts (applying the LMK scheme-variant rule to the ZMK is
**UNVERIFIED** against a real payShield; the ``X`` scheme is the portable choice).

Examples
--------
>>> from hsm_sim.crypto.lmk import VariantLmk
>>> hsm = SoftHsm(VariantLmk.test())
>>> hsm.handle(b"B20002hi")
b'B300hi'
>>> hsm.handle(b"NC")[:4]
b'ND00'
>>> hsm.handle(b"XQ")
b'ZZ15'
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any

from hsm_sim.crypto import (
    CryptoError,
    MacPadding,
    TdesDukptKeyUsage,
    adjust_key_parity,
    decipher_pinblock,
    derive_common_session_key,
    derive_icc_mk_a,
    derive_transaction_key_tdes,
    derive_working_key_tdes,
    encipher_pinblock,
    generate_arpc_1,
    generate_arqc,
    generate_cvv,
    generate_ibm3624_offset,
    generate_visa_pvv,
    kcv_tdes,
    key_has_odd_parity,
    mac_iso9797_alg1,
    mac_iso9797_alg3,
    pad_iso9797,
    tdes_decrypt_ecb,
    tdes_encrypt_ecb,
)
from hsm_sim.crypto.lmk import VariantLmk
from hsm_sim.thales import codec as _c

__all__ = ["DEFAULT_FIRMWARE", "SoftHsm"]

_LOG = logging.getLogger(__name__)
_LOG.addHandler(logging.NullHandler())

DEFAULT_FIRMWARE = "0007-E000"

_SCHEME_LENGTH = {"Z": 8, "U": 16, "X": 16, "T": 24, "Y": 24}
_SCHEME_VARIANTS = {"U": (0xA6, 0x5A), "T": (0x6A, 0xDE, 0x2B)}
_DEFAULT_SCHEME = {8: "Z", 16: "U", 24: "T"}

# LMK key type codes (shared/reference/hsm.md §3.1)
ZMK, ZPK, TPK, TMK, PVK, CVK, BDK, MK_AC = "000", "001", "002", "002", "002", "402", "009", "109"
_MAC_KEY_TYPES = frozenset({"003", "008"})  # TAK, ZAK


class _Reject(Exception):
    """Internal: stop a command with a wire error code."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


def _scheme_of(field: str) -> str:
    head = field[:1].upper()
    if head in _SCHEME_LENGTH:
        return head
    return {16: "Z", 32: "X", 48: "Y"}.get(len(field), "Z")


def _kcv(key: bytes, kcv_type: str | None, default: str = "0") -> str:
    t = default if kcv_type is None else kcv_type
    if t not in ("0", "1"):
        raise _Reject("15")
    return kcv_tdes(key, 8 if t == "0" else 3).hex().upper()


class SoftHsm:
    """Execute Thales host commands in software.

    Parameters
    ----------
    lmk
        The variant LMK set (``VariantLmk.test()`` for the published test LMKs).
    firmware
        Firmware number reported by ``NC``/``NO`` (9 characters).
    random_bytes
        Source of key material (default :func:`secrets.token_bytes`); tests may inject one.
    """

    def __init__(
        self,
        lmk: VariantLmk,
        *,
        firmware: str = DEFAULT_FIRMWARE,
        random_bytes: Callable[[int], bytes] = secrets.token_bytes,
    ) -> None:
        if len(firmware) != 9:
            raise ValueError("firmware must be 9 characters")
        self._lmk = lmk
        self._firmware = firmware
        self._random = random_bytes
        handlers: dict[str, Callable[[Any], Any]] = {
            "NC": self._nc,
            "NO": self._no,
            "B2": self._b2,
            "A0": self._a0,
            "A6": self._a6,
            "A8": self._a8,
            "BU": self._bu,
            "FA": self._fa,
            "GC": self._gc,
            "HC": self._hc,
            "IA": self._ia,
            "CA": self._ca,
            "CC": self._cc,
            "JC": self._jc,
            "JE": self._je,
            "JG": self._jg,
            "DA": self._da,
            "EA": self._ea,
            "DC": self._dc,
            "EC": self._ec,
            "DE": self._de,
            "DG": self._dg,
            "CW": self._cw,
            "CY": self._cy,
            "CI": self._ci,
            "G0": self._g0,
            "M6": self._m6,
            "M8": self._m8,
            "KQ": self._kq,
        }
        self._handlers: Mapping[str, Callable[[Any], Any]] = MappingProxyType(handlers)

    @property
    def implemented(self) -> frozenset[str]:
        """Command codes this HSM executes."""
        return frozenset(self._handlers)

    # ---------------------------------------------------------------- entry points

    def execute(self, command: Any) -> Any:
        """Run one typed command and return its typed response (never raises for bad input)."""
        code = type(command).CODE
        layout = _c.LAYOUTS[code]
        handler = self._handlers.get(code)
        if handler is None:
            return layout.response_cls(error_code="68")
        try:
            return handler(command)
        except _Reject as r:
            return layout.response_cls(error_code=r.code)
        except CryptoError as e:
            return layout.response_cls(error_code=e.thales_error_code)

    def handle(self, body: bytes) -> bytes:
        """Request body (command code onwards, trailer included) -> response body.

        Never raises: malformed input gives ``15`` (or the field's code), unknown commands
        ``ZZ15``, known but unimplemented ones ``68``. Logs one record per command.
        """
        start = time.perf_counter()
        code = body[:2].decode("ascii", "replace")
        error = "41"
        try:
            try:
                decoded = _c.decode_request(body)
            except _c.ThalesError as e:
                error = e.error_code
                return _c.error_response_body(code, error, _c.best_effort_trailer(body))
            response = self.execute(decoded.command)
            error = response.error_code
            return _c.encode_response(response, decoded.trailer)
        except Exception:  # pragma: no cover - a bug; answer 41 rather than drop the link
            _LOG.error("hsm command failed", extra={"command": code, "error_code": "41"})
            error = "41"
            return _c.error_response_body(code, "41")
        finally:
            _LOG.info(
                "hsm command",
                extra={
                    "command": code,
                    "error_code": error,
                    "elapsed_ms": round((time.perf_counter() - start) * 1000, 3),
                },
            )

    # ---------------------------------------------------------------- key helpers

    def _key(self, key_type: str, field: str, parity_error: str, *, length: int = 0) -> bytes:
        """Decrypt a key under the LMK; parity failure -> ``parity_error``."""
        if field[:1] == "S":
            raise _Reject("26")
        key = self._lmk.decrypt_key(key_type, field)
        if not key_has_odd_parity(key):
            raise _Reject(parity_error)
        if length and len(key) != length:
            raise _Reject("27")
        return key

    def _new_key(self, length: int) -> bytes:
        return adjust_key_parity(self._random(length))

    @staticmethod
    def _scheme_length(scheme: str) -> int:
        n = _SCHEME_LENGTH.get(scheme.upper())
        if n is None:
            raise _Reject("26")
        return n

    @staticmethod
    def _wrap(kek: bytes, key: bytes, scheme: str) -> str:
        """Encrypt ``key`` under a ZMK/TMK (scheme rules in the module docstring)."""
        s = scheme.upper()
        if _SCHEME_LENGTH.get(s) != len(key):
            raise _Reject("27")
        parts = []
        for i in range(0, len(key), 8):
            k = bytearray(kek)
            if s in _SCHEME_VARIANTS and len(k) >= 16:
                k[8] ^= _SCHEME_VARIANTS[s][i // 8]
            parts.append(tdes_encrypt_ecb(bytes(k), key[i : i + 8]))
        return ("" if s == "Z" else s) + b"".join(parts).hex().upper()

    @staticmethod
    def _unwrap(kek: bytes, field: str) -> bytes:
        if field[:1] == "S":
            raise _Reject("26")
        s = _scheme_of(field)
        body = field[1:] if field[:1].upper() in _SCHEME_LENGTH else field
        enc = bytes.fromhex(body)
        parts = []
        for i in range(0, len(enc), 8):
            k = bytearray(kek)
            if s in _SCHEME_VARIANTS and len(k) >= 16:
                k[8] ^= _SCHEME_VARIANTS[s][i // 8]
            parts.append(tdes_decrypt_ecb(bytes(k), enc[i : i + 8]))
        return b"".join(parts)

    # ---------------------------------------------------------------- diagnostics

    def _nc(self, _cmd: _c.NcRequest) -> _c.NcResponse:
        return _c.NcResponse(lmk_check=self._lmk.check_value(), firmware=self._firmware)

    def _no(self, cmd: _c.NoRequest) -> _c.NoResponse:
        if cmd.mode not in (None, "00", "01"):
            raise _Reject("15")
        return _c.NoResponse(
            buffer_size="2", ethernet_type="1", tcp_sockets="64", firmware=self._firmware
        )

    def _b2(self, cmd: _c.B2Request) -> _c.B2Response:
        return _c.B2Response(data=cmd.data)

    # ---------------------------------------------------------------- key management

    def _kek(self, flag: str | None, field: str) -> bytes:
        if flag not in (None, "0", "1"):
            raise _Reject("15")
        return self._key(TMK if flag == "1" else ZMK, field, "10")

    def _a0(self, cmd: _c.A0Request) -> _c.A0Response:
        if cmd.mode not in ("0", "1"):
            raise _Reject("68" if cmd.mode in ("A", "B") else "15")
        key = self._new_key(self._scheme_length(cmd.key_scheme_lmk))
        key_lmk = self._lmk.encrypt_key(cmd.key_type, key, cmd.key_scheme_lmk)
        key_zmk = None
        if cmd.mode == "1":
            assert cmd.zmk is not None and cmd.key_scheme_zmk is not None
            key_zmk = self._wrap(self._kek(cmd.zmk_flag, cmd.zmk), key, cmd.key_scheme_zmk)
        return _c.A0Response(key_lmk=key_lmk, key_zmk=key_zmk, kcv=_kcv(key, "1"))

    def _a6(self, cmd: _c.A6Request) -> _c.A6Response:
        zmk = self._key(ZMK, cmd.zmk, "10")
        key = self._unwrap(zmk, cmd.key_zmk)
        self._scheme_length(cmd.key_scheme_lmk)
        key_lmk = self._lmk.encrypt_key(cmd.key_type, key, cmd.key_scheme_lmk)
        return _c.A6Response(
            error_code="00" if key_has_odd_parity(key) else "01",
            key_lmk=key_lmk,
            kcv=_kcv(key, "1"),
        )

    def _a8(self, cmd: _c.A8Request) -> _c.A8Response:
        kek = self._kek(cmd.zmk_flag, cmd.zmk)
        key = self._key(cmd.key_type, cmd.key_lmk, "11")
        return _c.A8Response(key_zmk=self._wrap(kek, key, cmd.key_scheme_zmk), kcv=_kcv(key, "1"))

    def _bu(self, cmd: _c.BuRequest) -> _c.BuResponse:
        if cmd.key_type_code == "FF":
            if cmd.key_type is None:
                raise _Reject("15")
            key_type = cmd.key_type
        else:
            key_type = "0" + cmd.key_type_code
        if cmd.kcv_type not in (None, "0", "1"):
            raise _Reject("15")
        key = self._key(key_type, cmd.key, "10")
        return _c.BuResponse(kcv=_kcv(key, cmd.kcv_type))

    def _fa(self, cmd: _c.FaRequest) -> _c.FaResponse:
        zmk = self._key(ZMK, cmd.zmk, "10")
        key = self._unwrap(zmk, cmd.zpk_zmk)
        scheme = cmd.key_scheme_lmk or _DEFAULT_SCHEME[len(key)]
        kcv = _kcv(key, cmd.kcv_type)
        key_lmk = self._lmk.encrypt_key(ZPK, key, scheme)
        return _c.FaResponse(
            error_code="00" if key_has_odd_parity(key) else "01", zpk_lmk=key_lmk, kcv=kcv
        )

    def _gc(self, cmd: _c.GcRequest) -> _c.GcResponse:
        zmk = self._key(ZMK, cmd.zmk, "10")
        key = self._key(ZPK, cmd.zpk_lmk, "11")
        scheme = cmd.key_scheme_zmk or _DEFAULT_SCHEME[len(key)]
        kcv = _kcv(key, cmd.kcv_type)
        return _c.GcResponse(zpk_zmk=self._wrap(zmk, key, scheme), kcv=kcv)

    def _hc(self, cmd: _c.HcRequest) -> _c.HcResponse:
        current = self._key(TMK, cmd.current_key, "10")
        scheme_lmk = cmd.key_scheme_lmk or _DEFAULT_SCHEME[len(current)]
        scheme_tmk = cmd.key_scheme_tmk or scheme_lmk
        key = self._new_key(self._scheme_length(scheme_lmk))
        return _c.HcResponse(
            key_tmk=self._wrap(current, key, scheme_tmk),
            key_lmk=self._lmk.encrypt_key(TMK, key, scheme_lmk),
        )

    def _ia(self, cmd: _c.IaRequest) -> _c.IaResponse:
        zmk = self._key(ZMK, cmd.zmk, "10")
        scheme_lmk = cmd.key_scheme_lmk or "Z"
        scheme_zmk = cmd.key_scheme_zmk or scheme_lmk
        kcv_type = cmd.kcv_type
        if kcv_type not in (None, "0", "1"):
            raise _Reject("15")
        key = self._new_key(self._scheme_length(scheme_lmk))
        return _c.IaResponse(
            zpk_zmk=self._wrap(zmk, key, scheme_zmk),
            zpk_lmk=self._lmk.encrypt_key(ZPK, key, scheme_lmk),
            kcv=_kcv(key, kcv_type),
        )

    # ---------------------------------------------------------------- PIN translation

    @staticmethod
    def _max_pin_length(value: str) -> None:
        if value != "12":
            raise _Reject("15")

    @staticmethod
    def _pin_from_block(key: bytes, block: str, account: str, fmt: str) -> str:
        return decipher_pinblock(key, bytes.fromhex(block), account, fmt)

    @staticmethod
    def _block(key: bytes, pin: str, account: str, fmt: str) -> str:
        return encipher_pinblock(key, pin, account, fmt).hex().upper()

    def _translate(
        self, src: bytes, dst: bytes, *, block: str, src_fmt: str, dst_fmt: str, account: str
    ) -> tuple[str, str]:
        pin = self._pin_from_block(src, block, account, src_fmt)
        return f"{len(pin):02d}", self._block(dst, pin, account, dst_fmt)

    def _ca(self, cmd: _c.CaRequest) -> _c.CaResponse:
        self._max_pin_length(cmd.max_pin_length)
        tpk = self._key(TPK, cmd.tpk, "10")
        zpk = self._key(ZPK, cmd.zpk, "11")
        n, block = self._translate(
            tpk,
            zpk,
            block=cmd.pin_block,
            src_fmt=cmd.source_format,
            dst_fmt=cmd.destination_format,
            account=cmd.account,
        )
        return _c.CaResponse(
            pin_length=n, pin_block=block, destination_format=cmd.destination_format
        )

    def _cc(self, cmd: _c.CcRequest) -> _c.CcResponse:
        self._max_pin_length(cmd.max_pin_length)
        src = self._key(ZPK, cmd.source_zpk, "10")
        dst = self._key(ZPK, cmd.destination_zpk, "11")
        n, block = self._translate(
            src,
            dst,
            block=cmd.pin_block,
            src_fmt=cmd.source_format,
            dst_fmt=cmd.destination_format,
            account=cmd.account,
        )
        return _c.CcResponse(
            pin_length=n, pin_block=block, destination_format=cmd.destination_format
        )

    def _jc(self, cmd: _c.JcRequest) -> _c.JcResponse:
        tpk = self._key(TPK, cmd.tpk, "10")
        pin = self._pin_from_block(tpk, cmd.pin_block, cmd.account, cmd.format)
        return _c.JcResponse(pin_lmk=self._lmk.encrypt_pin(pin, cmd.account))

    def _je(self, cmd: _c.JeRequest) -> _c.JeResponse:
        zpk = self._key(ZPK, cmd.zpk, "10")
        pin = self._pin_from_block(zpk, cmd.pin_block, cmd.account, cmd.format)
        return _c.JeResponse(pin_lmk=self._lmk.encrypt_pin(pin, cmd.account))

    def _jg(self, cmd: _c.JgRequest) -> _c.JgResponse:
        zpk = self._key(ZPK, cmd.zpk, "10")
        pin = self._lmk.decrypt_pin(cmd.pin_lmk, cmd.account)
        return _c.JgResponse(pin_block=self._block(zpk, pin, cmd.account, cmd.format))

    # ---------------------------------------------------------------- PIN verification

    @staticmethod
    def _check_length(value: str) -> int:
        n = int(value)
        if not 4 <= n <= 12:
            raise _Reject("15")
        return n

    @staticmethod
    def _validation_data(data: str, account: str) -> str:
        """Replace a single ``N`` by the last 5 account digits; pad with ``F`` to 16."""
        if data.count("N") > 1:
            raise _Reject("15")
        out = data.replace("N", account[-5:]).upper()
        out = (out + "F" * 16)[:16]
        if not all(c in "0123456789ABCDEF" for c in out):
            raise _Reject("15")
        return out

    @staticmethod
    def _dec_table(table: str) -> str:
        if not table.isdigit():
            raise _Reject("25")
        return table

    def _ibm_verify(self, pin_key: bytes, cmd: _c.DaRequest | _c.EaRequest) -> str:
        self._max_pin_length(cmd.max_pin_length)
        n = self._check_length(cmd.check_length)
        pvk = self._key(PVK, cmd.pvk, "11")
        pin = self._pin_from_block(pin_key, cmd.pin_block, cmd.account, cmd.format)
        offset = cmd.offset[:n]
        if not offset.isdigit() or cmd.offset[n:].strip("F"):
            raise _Reject("15")
        if len(pin) < n:
            return "01"
        expected = generate_ibm3624_offset(
            pvk,
            pin,
            self._validation_data(cmd.pin_validation_data, cmd.account),
            self._dec_table(cmd.decimalization_table),
            n,
        )
        return "00" if secrets.compare_digest(expected, offset) else "01"

    def _da(self, cmd: _c.DaRequest) -> _c.DaResponse:
        tpk = self._key(TPK, cmd.tpk, "10")
        return _c.DaResponse(error_code=self._ibm_verify(tpk, cmd))

    def _ea(self, cmd: _c.EaRequest) -> _c.EaResponse:
        zpk = self._key(ZPK, cmd.zpk, "10")
        return _c.EaResponse(error_code=self._ibm_verify(zpk, cmd))

    def _pvv_verify(self, pin_key: bytes, cmd: _c.DcRequest | _c.EcRequest) -> str:
        pvk = self._key(PVK, cmd.pvk, "11", length=16)
        pin = self._pin_from_block(pin_key, cmd.pin_block, cmd.account, cmd.format)
        expected = generate_visa_pvv(pvk, cmd.account, int(cmd.pvki), pin)
        return "00" if secrets.compare_digest(expected, cmd.pvv) else "01"

    def _dc(self, cmd: _c.DcRequest) -> _c.DcResponse:
        tpk = self._key(TPK, cmd.tpk, "10")
        return _c.DcResponse(error_code=self._pvv_verify(tpk, cmd))

    def _ec(self, cmd: _c.EcRequest) -> _c.EcResponse:
        zpk = self._key(ZPK, cmd.zpk, "10")
        return _c.EcResponse(error_code=self._pvv_verify(zpk, cmd))

    def _de(self, cmd: _c.DeRequest) -> _c.DeResponse:
        n = self._check_length(cmd.check_length)
        pvk = self._key(PVK, cmd.pvk, "10")
        pin = self._lmk.decrypt_pin(cmd.pin_lmk, cmd.account)
        if len(pin) < n:
            raise _Reject("15")
        offset = generate_ibm3624_offset(
            pvk,
            pin,
            self._validation_data(cmd.pin_validation_data, cmd.account),
            self._dec_table(cmd.decimalization_table),
            n,
        )
        return _c.DeResponse(offset=offset.ljust(12, "F"))

    def _dg(self, cmd: _c.DgRequest) -> _c.DgResponse:
        pvk = self._key(PVK, cmd.pvk, "10", length=16)
        pin = self._lmk.decrypt_pin(cmd.pin_lmk, cmd.account)
        return _c.DgResponse(pvv=generate_visa_pvv(pvk, cmd.account, int(cmd.pvki), pin))

    # ---------------------------------------------------------------- card verification

    def _cw(self, cmd: _c.CwRequest) -> _c.CwResponse:
        cvk = self._key(CVK, cmd.cvk, "10", length=16)
        return _c.CwResponse(cvv=generate_cvv(cvk, cmd.pan, cmd.expiry, cmd.service_code))

    def _cy(self, cmd: _c.CyRequest) -> _c.CyResponse:
        cvk = self._key(CVK, cmd.cvk, "10", length=16)
        expected = generate_cvv(cvk, cmd.pan, cmd.expiry, cmd.service_code)
        return _c.CyResponse(error_code="00" if secrets.compare_digest(expected, cmd.cvv) else "01")

    # ---------------------------------------------------------------- DUKPT (TDES)

    def _bdk(self, field: str) -> bytes:
        bdk = self._key(BDK, field, "10")
        if len(bdk) != 16:
            raise _Reject("27")
        return bdk

    def _ci(self, cmd: _c.CiRequest) -> _c.CiResponse:
        bdk = self._bdk(cmd.bdk)
        zpk = self._key(ZPK, cmd.zpk, "11")
        n, block = self._translate(
            _dukpt_pin_key(bdk, cmd.ksn),
            zpk,
            block=cmd.pin_block,
            src_fmt="01",
            dst_fmt=cmd.destination_format,
            account=cmd.account,
        )
        return _c.CiResponse(
            pin_length=n, pin_block=block, destination_format=cmd.destination_format
        )

    def _g0(self, cmd: _c.G0Request) -> _c.G0Response:
        bdk = self._bdk(cmd.bdk)
        zpk = self._key(ZPK, cmd.zpk, "11")
        n, block = self._translate(
            _dukpt_pin_key(bdk, cmd.ksn),
            zpk,
            block=cmd.pin_block,
            src_fmt=cmd.source_format,
            dst_fmt=cmd.destination_format,
            account=cmd.account,
        )
        return _c.G0Response(
            pin_length=n, pin_block=block, destination_format=cmd.destination_format
        )

    # ---------------------------------------------------------------- MAC

    def _mac(self, cmd: _c.M6Request | _c.M8Request) -> str:  # noqa: PLR0912 - a code per check
        """ISO 9797-1 alg 1 / alg 3 MAC over the message (mode 0 only)."""
        if cmd.mode != "0":
            raise _Reject("02")
        if cmd.input_format not in ("0", "1", "2"):
            raise _Reject("03")
        if cmd.mac_size not in ("0", "1"):
            raise _Reject("04")
        if cmd.key_type.upper() not in _MAC_KEY_TYPES:
            raise _Reject("05")
        if cmd.padding not in ("0", "1", "2"):
            raise _Reject("09")
        key = self._key(cmd.key_type, cmd.key, "10")
        data = cmd.message
        if cmd.input_format == "1":
            try:
                data = bytes.fromhex(data.decode("ascii"))
            except ValueError:
                raise _Reject("15") from None
        if cmd.padding == "0":
            if not data or len(data) % 8:
                raise _Reject("06")
            padding = MacPadding.METHOD_1
        else:
            padding = MacPadding(int(cmd.padding))
        if cmd.mac_algorithm == "1":
            mac = mac_iso9797_alg1(key, data, padding=padding)
        elif cmd.mac_algorithm == "3":
            if len(key) != 16:
                raise _Reject("27")
            mac = mac_iso9797_alg3(key, data, padding=padding)
        else:
            raise _Reject("04")
        out = mac.hex().upper()
        return out[:8] if cmd.mac_size == "0" else out

    def _m6(self, cmd: _c.M6Request) -> _c.M6Response:
        return _c.M6Response(mac=self._mac(cmd))

    def _m8(self, cmd: _c.M8Request) -> _c.M8Response:
        expected = self._mac(cmd)
        ok = secrets.compare_digest(expected, cmd.mac.upper())
        return _c.M8Response(error_code="00" if ok else "01")

    # ---------------------------------------------------------------- EMV

    def _kq(self, cmd: _c.KqRequest) -> _c.KqResponse:
        """ARQC verification / ARPC generation (modes 0, 1, 2; schemes 0 Visa, 1 Europay).

        Scheme 0: ARQC with the ICC MK (option A from the preformatted PAN/PSN), ARPC method 1
        with the ICC MK. Scheme 1: session key with ``R = ATC || 0000 || UN``, ARPC method 1
        with the ICC MK (UNVERIFIED against a real payShield). Data is zero-padded (the host
        appends ``80`` where the scheme wants it).
        """
        if cmd.mode not in ("0", "1", "2"):
            raise _Reject("04" if cmd.mode not in ("3", "4") else "68")
        if cmd.scheme not in ("0", "1"):
            raise _Reject("05")
        if not cmd.data:
            raise _Reject("81")
        imk = self._key(MK_AC, cmd.mk_ac, "10")
        if len(imk) != 16:
            raise _Reject("27")
        y = cmd.pan_psn.hex().upper()
        icc_mk = derive_icc_mk_a(imk, y[:14], y[14:])
        if cmd.scheme == "0":
            sk = icc_mk
        else:
            sk = derive_common_session_key(icc_mk, cmd.atc + bytes(2) + cmd.un)
        if cmd.mode in ("0", "1"):
            arqc = generate_arqc(sk, pad_iso9797(cmd.data, MacPadding.METHOD_1), padding=1)
            if not secrets.compare_digest(arqc, cmd.arqc):
                return _c.KqResponse(error_code="01")
        if cmd.mode == "0":
            return _c.KqResponse()
        assert cmd.arc is not None
        return _c.KqResponse(arpc=generate_arpc_1(icc_mk, cmd.arqc, cmd.arc))


def _dukpt_pin_key(bdk: bytes, ksn_hex: str) -> bytes:
    ksn = bytes.fromhex(ksn_hex)
    return derive_working_key_tdes(derive_transaction_key_tdes(bdk, ksn), TdesDukptKeyUsage.PIN)
