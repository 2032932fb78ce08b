"""The authorisation pipeline for 0200 financial requests.

Participants run in order; each may decline by setting a field 39 code with a reason (declines
are values, not exceptions). The ledger then commits the PIN-try update, the debit and the
authorisation record in one database transaction, and the response is built from what was
committed (so a race for the last funds still answers 51 correctly).
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from dataclasses import dataclass, field
from typing import Protocol

from hsm_sim.protocol import HsmService, account_number_from_pan
from host.iso8583.messages import Balance, FinancialRequest, FinancialResponse
from host.store.base import (
    AuthorisationRecord,
    CardRecord,
    CommitOutcome,
    LedgerStore,
    PinMethod,
    PinTryUpdate,
    TerminalRecord,
)
from sst.common.redact import mask_pan

__all__ = ["AuthContext", "Authoriser", "Participant", "default_participants"]

_LOG = logging.getLogger(__name__)

WITHDRAWAL = "01"
BALANCE = "31"


@dataclass(kw_only=True)
class AuthContext:
    """What the participants know about one request (mutable while the pipeline runs)."""

    request: FinancialRequest
    card: CardRecord | None = None
    terminal: TerminalRecord | None = None
    response_code: str = "00"
    reason: str = ""
    pin_update: PinTryUpdate = PinTryUpdate.NONE
    debit: int = 0
    trace: list[str] = field(default_factory=list)

    def decline(self, code: str, reason: str) -> None:
        self.response_code, self.reason = code, reason

    @property
    def declined(self) -> bool:
        return self.response_code != "00"


class Participant(Protocol):
    name: str

    async def prepare(self, ctx: AuthContext) -> None: ...


class TerminalCheck:
    name = "terminal"

    def __init__(self, store: LedgerStore) -> None:
        self._store = store

    async def prepare(self, ctx: AuthContext) -> None:
        t = self._store.find_terminal(ctx.request.terminal_id)
        if t is None or t.status != "active":
            ctx.decline("03", "unknown or inactive terminal")
            return
        ctx.terminal = t


class CardCheck:
    name = "card"

    def __init__(self, store: LedgerStore) -> None:
        self._store = store

    async def prepare(self, ctx: AuthContext) -> None:
        req = ctx.request
        card = self._store.find_card(req.pan)
        if card is None:
            ctx.decline("14", "unknown card")
            return
        ctx.card = card
        track_pan = req.track2.replace("D", "=").split("=", 1)[0]
        if track_pan != req.pan:
            ctx.decline("30", "field 2 and track 2 disagree")
        elif card.status != "active":
            ctx.decline("62", "card restricted")
        elif card.pin_locked:
            ctx.decline("75", "PIN tries exhausted")


class TransactionTypeCheck:
    name = "transaction-type"

    async def prepare(self, ctx: AuthContext) -> None:
        tt = ctx.request.transaction_type
        if tt == WITHDRAWAL:
            if ctx.request.amount <= 0:
                ctx.decline("13", "invalid amount")
            ctx.debit = ctx.request.amount
        elif tt != BALANCE:
            ctx.decline("12", f"processing code {tt} not supported")


class PinCheck:
    """Online PIN verification through the HSM (DC for Visa PVV, DA for IBM 3624)."""

    name = "pin"

    def __init__(self, store: LedgerStore, hsm: HsmService, *, timeout: float = 5.0) -> None:
        self._store, self._hsm, self._timeout = store, hsm, timeout

    async def prepare(self, ctx: AuthContext) -> None:
        card, terminal, req = ctx.card, ctx.terminal, ctx.request
        assert card is not None and terminal is not None
        pvk = self._store.key(card.pvk_name)
        account = account_number_from_pan(req.pan)
        try:
            if card.pin_method is PinMethod.VISA_PVV:
                res = await asyncio.wait_for(self._hsm.verify_terminal_pin_pvv(
                    tpk=terminal.tpk_lmk, pvk=pvk, pin_block=req.pin_block.upper(),
                    pin_block_format="01", account=account, pvki=card.pvki, pvv=card.pvv),
                    self._timeout)
            else:
                res = await asyncio.wait_for(self._hsm.verify_terminal_pin_ibm(
                    tpk=terminal.tpk_lmk, pvk=pvk, pin_block=req.pin_block.upper(),
                    pin_block_format="01", check_length=4, account=account,
                    decimalization_table=card.decimalization_table,
                    pin_validation_data=card.pin_validation_data, offset=card.ibm_offset),
                    self._timeout)
        except (TimeoutError, OSError) as e:
            ctx.decline("96", f"HSM unavailable: {type(e).__name__}")
            return
        if res.error_code == "00" or (res.error_code == "02" and card.pin_method is PinMethod.IBM_3624):
            ctx.pin_update = PinTryUpdate.RESET
        elif res.error_code == "01":
            ctx.pin_update = PinTryUpdate.INCREMENT
            ctx.decline("55", "PIN verification failed")
        else:
            ctx.decline("96", f"HSM error {res.error_code}")


def default_participants(store: LedgerStore, hsm: HsmService) -> list[Participant]:
    return [TerminalCheck(store), CardCheck(store), TransactionTypeCheck(), PinCheck(store, hsm)]


class Authoriser:
    """Runs the participants, then commits the outcome in one ledger transaction."""

    def __init__(self, store: LedgerStore, participants: list[Participant]) -> None:
        self._store = store
        self._participants = participants

    async def authorise(self, req: FinancialRequest) -> FinancialResponse:
        start = time.monotonic()
        dup = self._store.find_response(req.terminal_id, req.stan, req.local_date)
        if dup is not None:
            return self._replay(req, dup)
        ctx = AuthContext(request=req)
        for p in self._participants:
            await p.prepare(ctx)
            ctx.trace.append(p.name)
            if ctx.declined:
                break
        if ctx.response_code == "00":
            auth_code: str | None = f"{secrets.randbelow(10**6):06d}"
        else:
            auth_code = None
        card = ctx.card
        record = AuthorisationRecord(
            terminal_id=req.terminal_id, stan=req.stan, local_date=req.local_date, rrn=req.rrn,
            mti=req.mti, processing_code=req.processing_code, pan_masked=mask_pan(req.pan),
            account_no=card.account_no if card else None, amount=req.amount, currency=req.currency,
            response_code=ctx.response_code, auth_code=auth_code, reason=ctx.reason)

        def build(outcome: CommitOutcome) -> dict[str, str]:
            balances: tuple[Balance, ...] = ()
            if outcome.response_code == "00" and outcome.balance is not None:
                balances = (Balance(amount_type="01", currency=req.currency, amount=outcome.balance),
                            Balance(amount_type="02", currency=req.currency, amount=outcome.balance))
            return FinancialResponse.for_request(
                req, response_code=outcome.response_code, auth_code=outcome.auth_code,
                balances=balances).to_fields()

        outcome = self._store.commit_authorisation(
            record, debit=ctx.debit if ctx.response_code == "00" else 0,
            pan=req.pan if card else None, pin_update=ctx.pin_update, build_response=build)
        assert outcome.response_fields is not None
        if outcome.duplicate:
            return self._replay(req, outcome.response_fields)
        _LOG.info("authorisation", extra={
            "terminal_id": req.terminal_id, "stan": req.stan, "mti": req.mti,
            "processing_code": req.processing_code, "pan": mask_pan(req.pan), "amount": req.amount,
            "rc": outcome.response_code, "reason": record.reason if outcome.response_code ==
            ctx.response_code else outcome.response_code, "participants": ctx.trace,
            "elapsed_ms": round((time.monotonic() - start) * 1000, 2)})
        return FinancialResponse.from_fields(outcome.response_fields | {"2": req.pan})

    def _replay(self, req: FinancialRequest, stored: dict[str, str]) -> FinancialResponse:
        _LOG.info("duplicate answered with the original response", extra={
            "terminal_id": req.terminal_id, "stan": req.stan, "rc": stored.get("39")})
        return FinancialResponse.from_fields(stored | {"2": req.pan})
