"""One message in, one message out: decode, MAC check, dispatch by MTI, encode, MAC.

``MessageHandler.handle(frame)`` is what the TCP server calls for every frame. Bad input is
answered, never raised: an undecodable frame whose MTI can be read gets field 39 = 30, a
missing mandatory field 30, a bad MAC 63 (and a reply without MAC), an unknown MTI 12 (request
classes) or 30; ``None`` means not even an MTI could be read (the server closes the connection).

MAC (per terminal, ``mac_required``): ISO 9797-1 algorithm 3 with the terminal's TAK through HSM
M8/M6, over the encoded message up to the MAC field, which is the last field: 64 without a
secondary bitmap, 128 with one.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable

from host.auth.ledger import commit_reversal
from host.auth.network import NetworkManager
from host.auth.pipeline import Authoriser
from host.iso8583 import codec
from host.iso8583.errors import Iso8583Error, MessageError
from host.iso8583.messages import FinancialRequest, NetworkRequest, ReversalRequest, response_mti
from host.store.base import LedgerStore
from hsm_sim.protocol import HsmService

__all__ = ["MessageHandler"]

_LOG = logging.getLogger(__name__)
Fields = dict[str, str]
_MAC_LEN = 16


def mac_field(fields: Fields) -> str:
    """``64`` unless a secondary-bitmap field is present, then ``128``.

    >>> mac_field({"t": "0200", "4": "1"}), mac_field({"t": "0200", "90": "1"})
    ('64', '128')
    """
    return "128" if any(k.isdigit() and 64 < int(k) < 128 for k in fields) else "64"


class MessageHandler:
    def __init__(
        self, *, authoriser: Authoriser, store: LedgerStore, hsm: HsmService, timeout: float = 5.0
    ) -> None:
        self._auth = authoriser
        self._store = store
        self._hsm = hsm
        self._network = NetworkManager(store, hsm, timeout=timeout)
        self._handlers: dict[str, Callable[[Fields], Awaitable[Fields]]] = {
            "0100": self._financial,
            "0200": self._financial,
            "0220": self._financial,
            "0221": self._financial,
            "0400": self._reversal,
            "0401": self._reversal,
            "0420": self._reversal,
            "0421": self._reversal,
            "0800": self._network_message,
        }

    async def handle(self, frame: bytes) -> bytes | None:
        start = time.monotonic()
        try:
            fields = codec.decode(frame)
        except Iso8583Error as e:
            return self._format_error_reply(frame, str(e), start)
        mti = fields.get("t", "")
        handler = self._handlers.get(mti)
        tak: str | None = None
        try:
            if handler is None:
                resp = _reply_to(fields, "12" if mti[:1] == "0" and mti[2:3] in "0246" else "30")
            else:
                tak, rc = await self._check_mac(fields, frame)
                resp = _reply_to(fields, rc) if rc else await handler(fields)
        except MessageError as e:
            _LOG.info(
                "format error",
                extra={
                    "mti": mti,
                    "stan": fields.get("11"),
                    "terminal_id": fields.get("41"),
                    "rc": "30",
                    "error": str(e),
                },
            )
            resp = _reply_to(fields, "30")
        except Exception:  # a bug must not kill the server: answer 96 and log it
            _LOG.exception("internal error", extra={"mti": mti, "stan": fields.get("11")})
            resp = _reply_to(fields, "96")
        try:
            if tak is not None and resp.get("39") != "63":
                return await self._sign(resp, tak)
            return codec.encode(resp)
        except (Iso8583Error, OSError):
            _LOG.info("reply reduced to MTI and field 39", extra={"mti": mti})
            return codec.encode({"t": resp.get("t", "0210"), "39": resp.get("39", "30")})

    async def _check_mac(self, fields: Fields, frame: bytes) -> tuple[str | None, str]:
        """(TAK to sign the reply with, or None; ``""`` or the decline code)."""
        tid = fields.get("41")
        if not tid or (fields.get("t") == "0800" and fields.get("70") == "301"):
            return None, ""
        terminal = await self._store.get_terminal(tid)
        if terminal is None or not terminal.mac_required:
            return None, ""
        mac = fields.get("128") or fields.get("64")
        if not mac or len(mac) != _MAC_LEN or frame[-_MAC_LEN:].decode("ascii", "replace") != mac:
            return None, "63"
        try:
            res = await self._hsm.verify_mac(
                key=terminal.tak_lmk, message=frame[:-_MAC_LEN], mac=mac
            )
        except OSError:
            return None, "96"
        if not res.ok:
            _LOG.info(
                "MAC verification failed",
                extra={"terminal_id": tid, "stan": fields.get("11"), "rc": "63"},
            )
            return None, "63"
        return terminal.tak_lmk, ""

    async def _sign(self, resp: Fields, tak: str) -> bytes:
        resp = {k: v for k, v in resp.items() if k not in ("64", "128")}
        resp[mac_field(resp)] = "0" * _MAC_LEN
        raw = codec.encode(resp)
        res = await self._hsm.generate_mac(key=tak, message=raw[:-_MAC_LEN])
        if not res.ok or res.mac is None:
            raise OSError(f"M6 failed with {res.error_code}")
        return raw[:-_MAC_LEN] + res.mac.encode("ascii")

    def _format_error_reply(self, frame: bytes, error: str, start: float) -> bytes | None:
        head = frame[:4].decode("ascii", "replace")
        if not (head.isdigit() and head[2] in "0246"):
            return None
        _LOG.info(
            "undecodable message",
            extra={
                "mti": head,
                "rc": "30",
                "error": error,
                "elapsed_ms": round((time.monotonic() - start) * 1000, 2),
            },
        )
        return codec.encode({"t": response_mti(head), "39": "30"})

    async def _financial(self, fields: Fields) -> Fields:
        req = FinancialRequest.from_fields(fields)
        return (await self._auth.authorise(req)).to_fields()

    async def _reversal(self, fields: Fields) -> Fields:
        req = ReversalRequest.from_fields(fields)
        outcome = await commit_reversal(
            self._store, req, hooks=self._auth.hooks, at=self._auth.now()
        )
        _LOG.info(
            "reversal",
            extra={
                "terminal_id": req.terminal_id,
                "stan": req.stan,
                "mti": req.mti,
                "original_stan": req.original_stan,
                "amount": req.amount,
                "rc": outcome.response_code,
                "reason": outcome.reason,
                "duplicate": outcome.duplicate,
            },
        )
        return outcome.response | {"2": req.pan}

    async def _network_message(self, fields: Fields) -> Fields:
        return (await self._network.handle(NetworkRequest.from_fields(fields))).to_fields()


def _reply_to(fields: Fields, rc: str) -> Fields:
    mti = fields.get("t", "0200")
    try:
        rmti = response_mti(mti)
    except MessageError:
        rmti = "0210"
    out: Fields = {"t": rmti, "39": rc}
    for k in ("3", "4", "7", "11", "37", "41", "49", "70"):
        v = fields.get(k)
        if v is not None:
            out[k] = v
    return out
