"""The risk engine inside the host: participant, ledger hook, the 24-hour transfer job.

* :class:`host.risk.RiskParticipant` runs after the PIN check (``HostConfig.participants``) and
  leaves its decision on ``ctx.risk``;
* :class:`RiskLedgerHook` runs inside the ledger's single transaction: ``apply`` records the
  decision with the final field 39 code and moves the counters (a race for the last allowance
  turns 00 into 61/65 before anything is posted), reversals restore them exactly once (per
  reversal message, partial reversals by field 95), PIN changes (processing code 92) are
  recorded, and it writes field 44 of the answer;
* :func:`run_due_transfers` credits delayed ATM transfers whose 24 hours are over
  (``sst host transfers run-due``).

Field 44 of an 0210 (ans..25):

=============================  ========================================================
``SU<OTP|FP|VID>:<challenge>``  1A: step-up required, retry with field 48 evidence
``PENDING24H:<yyyymmddhhmm>``   00: ATM transfer to another person's account accepted;
                                credited at that Asia/Shanghai time, revocable before it
                                by a full 0400/0420 reversal of the transfer
``IDEXPIRED:<yyyymmdd>``        00: the ID expired on that day; inside the grace period
=============================  ========================================================

The risk store's in-transaction writes run on the ledger transaction's own connection
(``LedgerTx.risk_connection()``: SQLite shares the ledger's connection, PostgreSQL the pooled
async connection of the message's transaction, see :mod:`host.risk.store_pg`), so its tables
commit or roll back with the postings.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from host.auth.ledger import LedgerHook, credit_due_transfer
from host.auth.pipeline import AuthContext, Authoriser, default_participants
from host.config import HostConfig, RiskSettings
from host.iso8583.messages import ReversalRequest, message_class
from host.risk.engine import RiskConfig, RiskEngine, RiskParticipant
from host.risk.kyc import IdVault
from host.risk.limits import LimitBook
from host.risk.model import CHINA_TZ, TxnType
from host.risk.stepup import StepUp
from host.risk.store import LedgerRiskStore
from host.risk.store_sqlite import SqliteRiskStore
from host.store.base import AuthorisationRecord, LedgerStore, LedgerTx, MessageKey
from host.store.sqlite import SqliteStore
from hsm_sim.protocol import HsmService

__all__ = [
    "DueTransferResult",
    "RiskLedgerHook",
    "build_authoriser",
    "build_engine",
    "open_risk_store",
    "run_due_transfers",
    "txn_ref",
    "vault_from",
]

_LOG = logging.getLogger(__name__)


def txn_ref(record: AuthorisationRecord | ReversalRequest) -> str:
    """The risk engine's reference of a message: ``terminal/local date/STAN``.

    >>> from host.store.base import AuthorisationRecord
    >>> txn_ref(AuthorisationRecord(terminal_id="ATM00001", stan="000007", local_date="1129",
    ...     rrn="", mti="0200", processing_code="010000", pan_masked="", account_no=None,
    ...     amount=1, currency="156", response_code="00", auth_code=None))
    'ATM00001/1129/000007'
    """
    return f"{record.terminal_id}/{record.local_date}/{record.stan}"


def vault_from(settings: RiskSettings) -> IdVault:
    """The ID-number vault of the configuration (TEST key by default)."""
    return IdVault(key=bytes.fromhex(settings.id_key), salt=settings.id_salt.encode())


def open_risk_store(store: LedgerStore) -> LedgerRiskStore | None:
    """The risk store beside the ledger: on its SQLite connection, or on the same PostgreSQL
    database (its own synchronous connection for KYC and decision reads; the ledger's
    transactions for counters). None for any other ledger."""
    if isinstance(store, SqliteStore):
        risk = SqliteRiskStore(store.connection, epoch=store.epoch)
        store.on_rollback(risk.invalidate)  # its KYC cache must forget undone writes
        return risk
    url = getattr(store, "url", "")
    if isinstance(url, str) and url.startswith(("postgresql://", "postgres://")):
        from host.risk.store_pg import PgRiskStore  # noqa: PLC0415 - optional driver

        return PgRiskStore(url)
    return None


def build_engine(risk: LedgerRiskStore, settings: RiskSettings) -> RiskEngine:
    limits = LimitBook.load(settings.limits) if settings.limits else LimitBook.load_default()
    cfg = RiskConfig(
        id_expiry_grace_days=settings.id_expiry_grace_days,
        stepup_high_grade_amount=settings.stepup_high_grade_amount,
        transfer_delay_hours=settings.transfer_delay_hours,
    )
    return RiskEngine(
        risk, limits, config=cfg, stepup=StepUp(risk, secret=settings.otp_secret.encode())
    )


def build_authoriser(
    store: LedgerStore,
    hsm: HsmService,
    cfg: HostConfig,
    *,
    clock: Callable[[], datetime] | None = None,
) -> tuple[Authoriser, LedgerRiskStore | None]:
    """The configured participants and ledger hooks (composition helper for ``__main__``).

    With ``risk`` in ``cfg.participants`` the risk engine is wired in (SQLite or PostgreSQL
    ledger; the caller closes the returned risk store); with another store it is left out and
    a warning is logged.
    """
    risk_store = open_risk_store(store) if "risk" in cfg.participants else None
    if "risk" in cfg.participants and risk_store is None:
        _LOG.warning("risk engine disabled: it needs the SQLite or PostgreSQL ledger")
    participant = None
    hooks: tuple[LedgerHook, ...] = ()
    if risk_store is not None:
        participant = RiskParticipant(build_engine(risk_store, cfg.risk))
        hooks = (RiskLedgerHook(risk_store),)
    auth = Authoriser(
        store,
        default_participants(store, hsm, names=cfg.participants, risk=participant),
        hooks=hooks,
        clock=clock,
    )
    return auth, risk_store


def _local(at: datetime, fmt: str) -> str:
    return at.astimezone(CHINA_TZ).strftime(fmt)


class RiskLedgerHook:
    """:class:`host.auth.ledger.LedgerHook` of the risk store (inside the ledger transaction)."""

    def __init__(self, risk: LedgerRiskStore) -> None:
        self.risk = risk

    async def financial(
        self, tx: LedgerTx, ctx: AuthContext, response_code: str, reason: str
    ) -> tuple[str, str]:
        d = ctx.risk
        if d is None:
            return response_code, reason
        res = await self.risk.apply_tx(tx.risk_connection(), d, response_code)
        rc = response_code
        if not res.duplicate and res.response_code != response_code:
            rc, reason = res.response_code, f"risk {res.reason}"
        req = d.request
        if rc == "00" and req.txn_type is TxnType.PIN_CHANGE:
            await self.risk.record_pin_change_tx(
                tx.risk_connection(), req.card, req.at, reset=False
            )
        if rc == "1A":
            ctx.additional_response = d.response_fields().get("44")
        elif rc == "00" and d.pending_until is not None:
            ctx.additional_response = "PENDING24H:" + _local(d.pending_until, "%Y%m%d%H%M")
        elif rc == "00":
            expired = [n for n in d.notices if n.startswith("ID_EXPIRED_GRACE:")]
            if expired:
                ctx.additional_response = "IDEXPIRED:" + expired[0].split(":", 1)[1].replace(
                    "-", ""
                )
        return rc, reason

    async def reversal_refused(
        self, tx: LedgerTx, req: ReversalRequest, original: AuthorisationRecord, at: datetime
    ) -> str | None:
        pt = await self.risk.pending_transfer_tx(tx.risk_connection(), txn_ref(original))
        if pt is None:
            return None
        if pt.status != "PENDING":
            return f"delayed transfer {pt.status.lower()}: not revocable"
        if at >= pt.due_at:
            return "delayed transfer: the 24-hour revocation window is over"
        if req.actual_amount:
            return "delayed transfer: revoked in full only (no field 95 partial amount)"
        return None

    async def reversed(
        self,
        tx: LedgerTx,
        req: ReversalRequest,
        original: AuthorisationRecord,
        restored: int,
        at: datetime,
    ) -> None:
        ref = f"{txn_ref(req)}/{message_class(req.mti)}"
        await self.risk.restore_tx(
            tx.risk_connection(),
            txn_ref(original),
            reversal_ref=ref,
            at=at,
            amount=None if req.actual_amount == 0 else restored,
        )


@dataclass(frozen=True, kw_only=True)
class DueTransferResult:
    txn_ref: str
    payee_account: str
    amount: int
    credited: bool
    reason: str = ""


async def run_due_transfers(
    store: LedgerStore, risk: LedgerRiskStore, *, at: datetime
) -> list[DueTransferResult]:
    """Credit every delayed transfer due at ``at``: one ledger transaction per transfer."""
    out = []
    for pt in risk.due_transfers(at):
        terminal_id, local_date, stan = pt.txn_ref.split("/")
        why = ""
        async with store.transaction() as tx:
            original = await tx.find_message(
                MessageKey(
                    terminal_id=terminal_id, stan=stan, local_date=local_date, message_class="0200"
                )
            )
            if original is None or original.response_code != "00":
                why = "original transfer not found"
            else:
                why = await credit_due_transfer(
                    tx, original=original, payee_account=pt.payee_account, amount=pt.amount
                )
            if not why and not await risk.mark_credited_tx(
                tx.risk_connection(), pt.txn_ref, at=at
            ):
                raise RuntimeError(f"transfer {pt.txn_ref} changed while crediting")
        out.append(
            DueTransferResult(
                txn_ref=pt.txn_ref,
                payee_account=pt.payee_account,
                amount=pt.amount,
                credited=not why,
                reason=why,
            )
        )
        _LOG.info(
            "delayed transfer",
            extra={"txn_ref": pt.txn_ref, "amount": pt.amount, "credited": not why, "reason": why},
        )
    return out
