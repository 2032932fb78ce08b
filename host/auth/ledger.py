"""Ledger rules applied inside one database transaction per message.

Everything here runs between ``BEGIN`` and ``COMMIT`` of :meth:`LedgerStore.transaction` and
uses only :class:`~host.store.base.LedgerTx` primitives, so every store implementation (SQLite,
PostgreSQL with row locks) gets the same arithmetic:

* a customer posting always has its opposite on the terminal's settlement account (or, for a
  transfer, on the other customer account), so the sum of all balances is conserved;
* available = balance - held; a debit or a hold never makes it negative (51 instead);
* a duplicate (terminal, STAN, local date, message class) returns the stored response;
* a reversal restores ``amount - actual amount`` minus what was already reversed, so a repeat,
  a second reversal or an 0400 after an 0420 restores nothing more (idempotent); a reversal of
  an unknown or declined original is acknowledged (00) and recorded with its reason;
* an approved transfer that a ledger hook holds (``ctx.transfer_pending``: the risk engine's
  24-hour delay for ATM transfers to another person's account) debits the payer and credits
  the suspense account :data:`TRANSFER_SUSPENSE`; :func:`credit_due_transfer` later moves it to
  the payee, and a full reversal before then gives it back (a void is a full 0400 reversal).

Ledger hooks (:class:`LedgerHook`) see every financial message and every reversal inside the
same transaction: the risk store moves and restores its counters there, and may turn an
approval into a decline (a race for the last allowance: 00 becomes 61/65) before anything is
posted.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

from host.iso8583.messages import (
    Balance,
    FinancialRequest,
    FinancialResponse,
    ReversalRequest,
    ReversalResponse,
    StatementEntry,
    format_statement,
    message_class,
)
from host.store.base import (
    MAX_PIN_TRIES,
    AccountRecord,
    AuthorisationRecord,
    HoldStatus,
    LedgerStore,
    LedgerTx,
    MessageKey,
    PinTryUpdate,
)
from sst.common.redact import mask_pan

if TYPE_CHECKING:
    from host.auth.pipeline import AuthContext

__all__ = [
    "TRANSFER_SUSPENSE",
    "LedgerHook",
    "Outcome",
    "commit_financial",
    "commit_reversal",
    "credit_due_transfer",
    "message_key",
]

#: Internal account holding transfers the risk engine delays for 24 h (kind ``settlement``).
TRANSFER_SUSPENSE = "SUSPENSE-XFER24H"

_REASONS = {"51": "insufficient funds", "75": "PIN tries exhausted"}
#: Original message classes a reversal may undo.
_REVERSIBLE = ("0200", "0100", "0220")


@dataclass(frozen=True, kw_only=True)
class Outcome:
    response_code: str
    reason: str
    response: dict[str, str] = field(repr=False)
    duplicate: bool = False


class LedgerHook(Protocol):
    """Called inside the ledger's transaction (one per message); must not suspend."""

    async def financial(
        self, tx: LedgerTx, ctx: AuthContext, response_code: str, reason: str
    ) -> tuple[str, str]:
        """See the ledger's answer before anything is posted; return the final (code, reason).

        Sets ``ctx.additional_response`` (field 44) when it has something to say.
        """
        ...

    async def reversal_refused(
        self, tx: LedgerTx, req: ReversalRequest, original: AuthorisationRecord, at: datetime
    ) -> str | None:
        """A reason when this original may not be reversed any more (else None)."""
        ...

    async def reversed(
        self,
        tx: LedgerTx,
        req: ReversalRequest,
        original: AuthorisationRecord,
        restored: int,
        at: datetime,
    ) -> None:
        """``restored`` minor units of ``original`` were just given back (> 0, once)."""
        ...


def message_key(req: FinancialRequest | ReversalRequest) -> MessageKey:
    return MessageKey(
        terminal_id=req.terminal_id,
        stan=req.stan,
        local_date=req.local_date,
        message_class=message_class(req.mti),
    )


def _balances(
    acc: AccountRecord | None, balance: int | None, held: int, currency: str
) -> tuple[Balance, ...]:
    if acc is None or balance is None:
        return ()
    return (
        Balance(amount_type="01", currency=currency, amount=balance),
        Balance(amount_type="02", currency=currency, amount=balance - held),
    )


def _record(
    req: FinancialRequest | ReversalRequest,
    *,
    account_no: str | None,
    rc: str,
    auth_code: str | None,
    reason: str,
    response: dict[str, str],
) -> AuthorisationRecord:
    return AuthorisationRecord(
        terminal_id=req.terminal_id,
        stan=req.stan,
        local_date=req.local_date,
        rrn=req.rrn,
        mti=req.mti,
        processing_code=req.processing_code,
        pan_masked=mask_pan(req.pan),
        account_no=account_no,
        amount=req.amount,
        currency=req.currency,
        response_code=rc,
        auth_code=auth_code,
        reason=reason,
        transmission_datetime=req.transmission_datetime,
        message_class=message_class(req.mti),
        response={k: v for k, v in response.items() if k != "2"},
    )


async def commit_financial(  # noqa: PLR0912, PLR0915 - the rule table of one message
    store: LedgerStore,
    ctx: AuthContext,
    *,
    statement_entries: int = 10,
    hooks: tuple[LedgerHook, ...] = (),
) -> Outcome:
    """Apply an 0100/0200/0220 in one transaction and return the response to send."""
    req = ctx.request
    async with store.transaction() as tx:
        dup = await tx.find_message(message_key(req))
        if dup is not None:
            return Outcome(
                response_code=dup.response_code,
                reason=dup.reason,
                response=dup.response,
                duplicate=True,
            )
        rc, reason = ctx.response_code, ctx.reason
        card = await tx.lock_card(req.pan) if ctx.card is not None else None
        if card is not None and ctx.pin_update is PinTryUpdate.INCREMENT:
            tries = card.pin_tries + 1
            await tx.set_pin_tries(card.pan, tries)
            if tries >= MAX_PIN_TRIES:
                rc, reason = "75", _REASONS["75"]
        elif card is not None and ctx.pin_update is PinTryUpdate.RESET and card.pin_tries:
            await tx.set_pin_tries(card.pan, 0)
        if card is not None and rc == "00" and card.status != "active":
            rc, reason = "62", "card restricted"
        terminal = ctx.terminal
        settle = terminal.settlement_account if terminal is not None else ""
        tt = req.transaction_type
        own = card.account_no if card is not None else None
        wanted = [a for a in (own, settle, req.account_from, req.account_to) if a]
        if ctx.transfer_pending:
            wanted.append(TRANSFER_SUSPENSE)
        accounts = await tx.lock_accounts(wanted) if card is not None else {}
        acc = accounts.get(own or "")
        moves: list[tuple[str, int]] = []  # (account, amount) pairs summing to zero
        hold = 0
        capture_hold: int | None = None
        statement = None
        if rc == "00" and acc is not None:
            if acc.status != "active":
                rc, reason = "62", "account restricted"
            elif req.mti == "0100" and tt in ("00", "01"):
                if acc.available < req.amount:
                    rc = "51"
                else:
                    hold = req.amount
            elif req.mti in ("0220", "0221"):
                original = await tx.find_original(
                    terminal_id=req.terminal_id,
                    stan=req.original_data[4:10] if req.original_data else "",
                    message_classes=("0100",),
                    transmission_datetime=req.original_data[10:20] if req.original_data else None,
                    rrn=None if req.original_data else req.rrn,
                )
                open_hold = (
                    await tx.open_hold_of(original.auth_id) if original is not None else None
                )
                freed = open_hold.amount if open_hold is not None else 0
                if original is not None and open_hold is None:
                    reason = "hold already captured or released: nothing posted"
                elif acc.available + freed < req.amount:
                    rc = "51"
                else:
                    capture_hold = open_hold.hold_id if open_hold is not None else None
                    moves = [(acc.account_no, -req.amount), (settle, req.amount)]
                    if original is None:
                        reason = "completion without a known authorisation: posted as forced advice"
            elif tt in ("00", "01"):
                if acc.available < req.amount:
                    rc = "51"
                else:
                    moves = [(acc.account_no, -req.amount), (settle, req.amount)]
            elif tt in ("20", "21"):
                moves = [(acc.account_no, req.amount), (settle, -req.amount)]
            elif tt == "40":
                src, dst = accounts.get(req.account_from or ""), accounts.get(req.account_to or "")
                if src is None or dst is None or src.kind != "customer" or dst.kind != "customer":
                    rc, reason = "52" if src is None else "53", "transfer account unknown"
                elif src.customer_id != acc.customer_id:
                    rc, reason = "57", "source account does not belong to the cardholder"
                elif src.account_no == dst.account_no:
                    rc, reason = "13", "transfer to the same account"
                elif src.available < req.amount:
                    rc = "51"
                elif ctx.transfer_pending:
                    if TRANSFER_SUSPENSE not in accounts:
                        rc, reason = "96", "no transfer suspense account"
                    else:
                        moves = [(src.account_no, -req.amount), (TRANSFER_SUSPENSE, req.amount)]
                        acc = src
                else:
                    moves = [(src.account_no, -req.amount), (dst.account_no, req.amount)]
                    acc = src
            elif tt == "92":
                await tx.set_pin_reference(req.pan, pvv=ctx.new_pvv, ibm_offset=ctx.new_offset)
            elif tt == "38":
                rows = await store.statement(acc.account_no, limit=statement_entries)
                statement = format_statement(
                    tuple(
                        StatementEntry(
                            date=r.local_date,
                            transaction_type=r.processing_code[:2],
                            amount=r.amount,
                        )
                        for r in rows
                    )
                )
        if rc == "00" and moves and not settle and req.transaction_type != "40":
            rc, reason = "96", "terminal has no settlement account"
            moves = []
        for hook in hooks:
            rc, reason = await hook.financial(tx, ctx, rc, reason)
        if rc != "00":
            moves, hold, capture_hold = [], 0, None
            reason = reason or _REASONS.get(rc, "")
        balance = held = None
        if acc is not None:
            balance = acc.balance + sum(a for no, a in moves if no == acc.account_no)
            held = acc.held + hold - (0 if capture_hold is None else freed)
        auth_code = f"{secrets.randbelow(10**6):06d}" if rc == "00" else None
        show = rc == "00" and balance is not None and held is not None
        resp = FinancialResponse.for_request(
            req,
            response_code=rc,
            auth_code=auth_code,
            balances=_balances(acc, balance, held or 0, acc.currency if acc else req.currency)
            if show
            else (),
            additional_data=statement,
            icc_data=ctx.icc_response,
            additional_response=ctx.additional_response,
        ).to_fields()
        auth_id = await tx.insert_message(
            _record(
                req,
                account_no=acc.account_no if acc else own,
                rc=rc,
                auth_code=auth_code,
                reason=reason,
                response=resp,
            )
        )
        for no, amount in moves:
            await tx.post(auth_id=auth_id, account_no=no, amount=amount)
        if hold:
            await tx.add_hold(auth_id=auth_id, account_no=own or "", amount=hold)
        if capture_hold is not None:
            await tx.close_hold(capture_hold, HoldStatus.CAPTURED)
    return Outcome(response_code=rc, reason=reason, response=resp)


async def commit_reversal(
    store: LedgerStore,
    req: ReversalRequest,
    *,
    hooks: tuple[LedgerHook, ...] = (),
    at: datetime | None = None,
) -> Outcome:
    """Apply an 0400/0420/0421 in one transaction; always acknowledged once recorded.

    Hooks may refuse (a delayed transfer already credited) and learn what was restored.
    """
    async with store.transaction() as tx:
        dup = await tx.find_message(message_key(req))
        if dup is not None:
            return Outcome(
                response_code=dup.response_code,
                reason=dup.reason,
                response=dup.response | {"t": f"{req.mti[:2]}{dup.response['t'][2:3]}0"},
                duplicate=True,
            )
        original = await tx.find_original(
            terminal_id=req.terminal_id,
            stan=req.original_stan,
            message_classes=_REVERSIBLE,
            transmission_datetime=req.original_transmission_datetime,
        )
        refused = None
        if original is not None and at is not None:
            for hook in hooks:
                refused = refused or await hook.reversal_refused(tx, req, original, at)
        if refused is not None:
            reason, account_no, restored = refused, original.account_no if original else None, 0
        else:
            reason, account_no, restored = await _reverse(tx, req, original)
        if restored > 0 and original is not None and at is not None:
            for hook in hooks:
                await hook.reversed(tx, req, original, restored, at)
        balances: tuple[Balance, ...] = ()
        if account_no:
            acc = (await tx.lock_accounts([account_no])).get(account_no)
            if acc is not None:
                balances = _balances(acc, acc.balance, acc.held, acc.currency)
        resp = ReversalResponse.for_request(req, response_code="00", balances=balances).to_fields()
        await tx.insert_message(
            _record(
                req, account_no=account_no, rc="00", auth_code=None, reason=reason, response=resp
            )
        )
    return Outcome(response_code="00", reason=reason, response=resp)


async def _reverse(  # noqa: PLR0911 - one early answer per reversal case
    tx: LedgerTx, req: ReversalRequest, original: AuthorisationRecord | None
) -> tuple[str, str | None, int]:
    """Restore what the original still owes; returns (reason, customer account, restored)."""
    if original is None:
        return "original not found: recorded", None, 0
    if original.response_code != "00":
        return "original was declined: nothing to restore", original.account_no, 0
    if original.amount != req.amount:
        return "amount differs from the original: nothing restored", original.account_no, 0
    target = original.amount - req.actual_amount
    delta = target - original.reversed_amount
    if delta <= 0:
        return "already reversed", original.account_no, 0
    hold = await tx.open_hold_of(original.auth_id)
    if hold is not None:  # an authorisation: shrink the hold to what was actually used
        await tx.close_hold(hold.hold_id, HoldStatus.RELEASED)
        keep = hold.amount - delta
        if keep > 0:
            await tx.add_hold(auth_id=original.auth_id, account_no=hold.account_no, amount=keep)
        await tx.add_reversed(original.auth_id, delta)
        return f"hold released: {delta}", original.account_no, delta
    postings = await tx.postings_of(original.auth_id)
    postings = [p for p in postings if p.amount != 0]
    if not postings:
        await tx.add_reversed(original.auth_id, delta)
        return "nothing was posted: recorded", original.account_no, delta
    per_unit = {
        p.account_no: (1 if p.amount > 0 else -1)
        for p in postings
        if abs(p.amount) == original.amount
    }
    accounts = await tx.lock_accounts(list(per_unit))
    for no, sign in per_unit.items():
        acc = accounts.get(no)
        if sign > 0 and acc is not None and acc.kind == "customer" and acc.available < delta:
            return f"not reversible: funds already moved from {no}", original.account_no, 0
    for no, sign in per_unit.items():
        await tx.post(auth_id=original.auth_id, account_no=no, amount=-sign * delta)
    await tx.add_reversed(original.auth_id, delta)
    partial = " (partial)" if req.actual_amount else ""
    return f"restored {delta}{partial}", original.account_no, delta


async def credit_due_transfer(
    tx: LedgerTx, *, original: AuthorisationRecord, payee_account: str, amount: int
) -> str:
    """Move a delayed transfer from :data:`TRANSFER_SUSPENSE` to the payee (inside ``tx``).

    The postings carry the original transfer's ``auth_id``. Returns ``""`` when done, else why not.
    """
    accounts = await tx.lock_accounts([TRANSFER_SUSPENSE, payee_account])
    if payee_account not in accounts or TRANSFER_SUSPENSE not in accounts:
        return "payee or suspense account missing"
    if accounts[TRANSFER_SUSPENSE].balance < amount:
        return "suspense account does not hold the amount"
    await tx.post(auth_id=original.auth_id, account_no=TRANSFER_SUSPENSE, amount=-amount)
    await tx.post(auth_id=original.auth_id, account_no=payee_account, amount=amount)
    return ""
