"""0800 network management: sign-on 001, sign-off 002, echo 301, key change 161.

Key change: the HSM generates a new TPK and/or TAK (A0 mode 1, exported under the terminal
master key with the TMK flag); the key under the LMK replaces the terminal's in the ledger, and
the key under the TMK and its KCV go back in field 48 of the 0810
(:func:`host.iso8583.messages.format_key_blocks`). The request's field 48 chooses ``TPK``
(default), ``TAK`` or ``TPKTAK``.
"""

from __future__ import annotations

import asyncio
import logging

from host.iso8583.messages import (
    KeyBlock,
    NetworkCode,
    NetworkRequest,
    NetworkResponse,
    format_key_blocks,
)
from host.store.base import LedgerStore, TerminalRecord
from hsm_sim.protocol import HsmService

__all__ = ["NetworkManager"]

_LOG = logging.getLogger(__name__)
_KEY_TYPES = {"TPK": ("002", "tpk"), "TAK": ("003", "tak")}


class NetworkManager:
    def __init__(self, store: LedgerStore, hsm: HsmService, *, timeout: float = 5.0) -> None:
        self._store, self._hsm, self._timeout = store, hsm, timeout

    async def handle(self, req: NetworkRequest) -> NetworkResponse:
        try:
            code = NetworkCode(req.network_code)
        except ValueError:
            return NetworkResponse.for_request(req, response_code="12")
        if code is NetworkCode.ECHO:
            return NetworkResponse.for_request(req, response_code="00")
        terminal = await self._store.get_terminal(req.terminal_id)
        if terminal is None or terminal.status != "active":
            return NetworkResponse.for_request(req, response_code="03")
        if code in (NetworkCode.SIGN_ON, NetworkCode.SIGN_OFF):
            async with self._store.transaction() as tx:
                await tx.set_signed_on(req.terminal_id, code is NetworkCode.SIGN_ON)
            return NetworkResponse.for_request(req, response_code="00")
        return await self._key_change(req, terminal)

    async def _key_change(self, req: NetworkRequest, terminal: TerminalRecord) -> NetworkResponse:
        wanted = (req.additional_data or "TPK").upper()
        names = [wanted[i : i + 3] for i in range(0, len(wanted), 3)]
        if not names or any(n not in _KEY_TYPES for n in names) or not terminal.tmk_lmk:
            return NetworkResponse.for_request(
                req, response_code="30" if terminal.tmk_lmk else "96"
            )
        blocks: list[KeyBlock] = []
        new: list[tuple[str, str, str]] = []
        try:
            for n in names:
                key_type, column = _KEY_TYPES[n]
                gen = await asyncio.wait_for(
                    self._hsm.generate_key(
                        key_type=key_type, zmk=terminal.tmk_lmk, under_tmk=True, zmk_key_scheme="X"
                    ),
                    self._timeout,
                )
                if not gen.ok or gen.key_lmk is None or gen.key_zmk is None or gen.kcv is None:
                    _LOG.warning(
                        "key change failed",
                        extra={"terminal_id": req.terminal_id, "rc": gen.error_code},
                    )
                    return NetworkResponse.for_request(req, response_code="96")
                blocks.append(
                    KeyBlock(key_type=n, key_under_tmk=gen.key_zmk.lstrip("XU")[-32:], kcv=gen.kcv)
                )
                new.append((column, gen.key_lmk, gen.kcv))
        except (TimeoutError, OSError) as e:
            _LOG.warning(
                "key change: HSM unavailable",
                extra={"terminal_id": req.terminal_id, "error": type(e).__name__},
            )
            return NetworkResponse.for_request(req, response_code="96")
        async with self._store.transaction() as tx:
            for column, key_lmk, kcv in new:
                await tx.set_terminal_key(req.terminal_id, key=column, key_lmk=key_lmk, kcv=kcv)
        _LOG.info(
            "key change",
            extra={"terminal_id": req.terminal_id, "keys": names, "kcvs": [b.kcv for b in blocks]},
        )
        return NetworkResponse.for_request(
            req, response_code="00", additional_data=format_key_blocks(tuple(blocks))
        )
