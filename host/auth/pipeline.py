"""The authorisation pipeline: participants prepare, one ledger transaction commits.

Participants run in order (HSM-3); each may decline by setting a field 39 code with a reason
(declines are values, never exceptions). After a decline only participants that declare
``after_decline = True`` still run (the risk participant, which records every decline so that
``sst host explain <rrn>`` can say why). HSM work (PIN verification, PIN change, ARQC) happens
in the prepare phase, outside any database transaction. The ledger rules of
:mod:`host.auth.ledger` then apply the PIN-try update, postings, holds and the message record in
**one** transaction, and the response is built from what was committed (so a race for the last
funds still answers 51 correctly, and a duplicate gets the stored original response).
Ledger hooks (:class:`host.auth.ledger.LedgerHook`, e.g. the risk engine's counters) run inside
that same transaction.

The participant list is configuration (``HostConfig.participants``): names from
:data:`PARTICIPANTS`, built by :func:`default_participants`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Protocol

from host.auth import ledger as _ledger
from host.iso8583.messages import FinancialRequest, FinancialResponse
from host.store.base import CardRecord, LedgerStore, PinMethod, PinTryUpdate, TerminalRecord
from hsm_sim.protocol import HsmError, HsmResult, HsmService, account_number_from_pan
from sst.common import tlv as _tlv
from sst.common.redact import mask_pan

if TYPE_CHECKING:
    from host.risk.records import Decision

__all__ = [
    "CHIP_SCHEMES",
    "DEFAULT_PARTICIPANTS",
    "PARTICIPANTS",
    "AuthContext",
    "Authoriser",
    "CardCheck",
    "ChipCheck",
    "ChipScheme",
    "Participant",
    "PinChange",
    "PinCheck",
    "TerminalCheck",
    "TransactionTypeCheck",
    "chip_scheme",
    "default_participants",
    "rid_of",
]

_LOG = logging.getLogger(__name__)

#: Supported (MTI, transaction type) pairs.
SUPPORTED: dict[str, frozenset[str]] = {
    "0100": frozenset({"00", "01", "31"}),
    "0200": frozenset({"00", "01", "20", "21", "31", "38", "40", "92"}),
    "0220": frozenset({"00", "01"}),
    "0221": frozenset({"00", "01"}),
}
HOST_ZPK = "ZPK-HOST"  # host working ZPK (DUKPT path), generated on first use


@dataclass(kw_only=True)
class AuthContext:
    """What the participants know about one request (mutable while the pipeline runs)."""

    request: FinancialRequest
    card: CardRecord | None = None
    terminal: TerminalRecord | None = None
    response_code: str = "00"
    reason: str = ""
    pin_update: PinTryUpdate = PinTryUpdate.NONE
    new_pvv: str | None = field(default=None, repr=False)
    new_offset: str | None = field(default=None, repr=False)
    icc_response: str | None = None
    trace: list[str] = field(default_factory=list)
    at: datetime = field(default_factory=lambda: datetime.now(UTC))
    risk: Decision | None = None
    additional_response: str | None = None  # field 44 of the answer (set by a ledger hook)

    def decline(self, code: str, reason: str) -> None:
        self.response_code, self.reason = code, reason

    @property
    def declined(self) -> bool:
        return self.response_code != "00"

    @property
    def transfer_pending(self) -> bool:
        """An approved transfer the risk engine holds for 24 h (credited by ``run-due``)."""
        return self.risk is not None and self.risk.pending_until is not None


class Participant(Protocol):
    """One step of the authorisation (HSM-3). ``after_decline = True`` (optional class
    attribute) makes it run even when an earlier participant declined."""

    name: str

    async def prepare(self, ctx: AuthContext) -> None: ...


class TerminalCheck:
    name = "terminal"

    def __init__(self, store: LedgerStore) -> None:
        self._store = store

    async def prepare(self, ctx: AuthContext) -> None:
        t = await self._store.get_terminal(ctx.request.terminal_id)
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
        card = await self._store.get_card(req.pan)
        if card is None:
            ctx.decline("14", "unknown card")
            return
        ctx.card = card
        if req.track2:
            track_pan = req.track2.replace("D", "=").split("=", 1)[0]
            if track_pan != req.pan:
                ctx.decline("30", "field 2 and track 2 disagree")
                return
        if card.status != "active":
            ctx.decline("62", "card restricted")
        elif card.pin_locked and req.pin_block:
            ctx.decline("75", "PIN tries exhausted")


class TransactionTypeCheck:
    name = "transaction-type"

    async def prepare(self, ctx: AuthContext) -> None:
        req = ctx.request
        if req.transaction_type not in SUPPORTED.get(req.mti, frozenset()):
            ctx.decline("12", f"processing code {req.transaction_type} not supported for {req.mti}")
        elif req.transaction_type in ("00", "01", "20", "21", "40") and req.amount <= 0:
            ctx.decline("13", "invalid amount")


class PinCheck:
    """Online PIN verification through the HSM.

    TPK terminals: DC (Visa PVV) or DA (IBM 3624). DUKPT terminals: G0 translates the block from
    the DUKPT key (BDK + KSN) to the host ZPK, then EC or EA verify it.
    """

    name = "pin"

    def __init__(self, store: LedgerStore, hsm: HsmService, *, timeout: float = 5.0) -> None:
        self._store, self._hsm, self._timeout = store, hsm, timeout
        self._zpk_lock = asyncio.Lock()

    async def host_zpk(self) -> str:
        """The host's working ZPK under the LMK (generated through A0 and stored on first use)."""
        async with self._zpk_lock:
            zpk = await self._store.get_key(HOST_ZPK)
            if zpk is None:
                gen = await self._hsm.generate_key(key_type="001")
                if not gen.ok or gen.key_lmk is None:
                    raise HsmError(f"A0 failed with {gen.error_code}", command="A0")
                async with self._store.transaction() as tx:
                    await tx.store_key(HOST_ZPK, gen.key_lmk, gen.kcv or "")
                zpk = gen.key_lmk
            return zpk

    async def verify(self, ctx: AuthContext, pin_block: str) -> HsmResult:
        card, terminal, req = ctx.card, ctx.terminal, ctx.request
        assert card is not None and terminal is not None
        pvk = await self._store.get_key(card.pvk_name)
        if pvk is None:
            raise HsmError(f"no key named {card.pvk_name!r}")
        account = account_number_from_pan(req.pan)
        if terminal.pin_mode == "dukpt":
            bdk = await self._store.get_key(terminal.bdk_name)
            if bdk is None or req.ksn is None:
                return HsmResult(error_code="KS")
            zpk = await self.host_zpk()
            tr = await self._hsm.translate_pin_dukpt_to_zpk(
                bdk=bdk,
                zpk=zpk,
                ksn=req.ksn,
                pin_block=pin_block,
                source_format="01",
                destination_format="01",
                account=account,
            )
            if not tr.ok or tr.pin_block is None:
                return HsmResult(
                    error_code="01" if tr.error_code in ("20", "24") else tr.error_code
                )
            if card.pin_method is PinMethod.VISA_PVV:
                return await self._hsm.verify_interchange_pin_pvv(
                    zpk=zpk,
                    pvk=pvk,
                    pin_block=tr.pin_block,
                    pin_block_format="01",
                    account=account,
                    pvki=card.pvki,
                    pvv=card.pvv,
                )
            return await self._hsm.verify_interchange_pin_ibm(
                zpk=zpk,
                pvk=pvk,
                pin_block=tr.pin_block,
                pin_block_format="01",
                check_length=4,
                account=account,
                decimalization_table=card.decimalization_table,
                pin_validation_data=card.pin_validation_data,
                offset=card.ibm_offset,
            )
        if card.pin_method is PinMethod.VISA_PVV:
            return await self._hsm.verify_terminal_pin_pvv(
                tpk=terminal.tpk_lmk,
                pvk=pvk,
                pin_block=pin_block,
                pin_block_format="01",
                account=account,
                pvki=card.pvki,
                pvv=card.pvv,
            )
        return await self._hsm.verify_terminal_pin_ibm(
            tpk=terminal.tpk_lmk,
            pvk=pvk,
            pin_block=pin_block,
            pin_block_format="01",
            check_length=4,
            account=account,
            decimalization_table=card.decimalization_table,
            pin_validation_data=card.pin_validation_data,
            offset=card.ibm_offset,
        )

    async def prepare(self, ctx: AuthContext) -> None:
        if not ctx.request.pin_block:
            return
        card = ctx.card
        assert card is not None
        try:
            res = await asyncio.wait_for(
                self.verify(ctx, ctx.request.pin_block.upper()), self._timeout
            )
        except (TimeoutError, OSError) as e:
            ctx.decline("96", f"HSM unavailable: {type(e).__name__}")
            return
        if res.error_code == "00" or (
            res.error_code == "02" and card.pin_method is PinMethod.IBM_3624
        ):
            ctx.pin_update = PinTryUpdate.RESET
        elif res.error_code == "01":
            ctx.pin_update = PinTryUpdate.INCREMENT
            ctx.decline("55", "PIN verification failed")
        elif res.error_code == "KS":
            ctx.decline("30", "DUKPT terminal without KSN or BDK")
        else:
            ctx.decline("96", f"HSM error {res.error_code}")


class PinChange:
    """Processing code 92: the new PIN (field 120, ISO 0 under the same key as field 52).

    The old PIN was verified by :class:`PinCheck`. JC translates the new PIN block from the TPK
    to the LMK, then DG computes the new PVV (Visa cards) or DE the new IBM offset. The ledger
    stores it in the same transaction as the message record. DUKPT terminals are not supported
    for PIN change yet (code 12).
    """

    name = "pin-change"

    def __init__(self, store: LedgerStore, hsm: HsmService, *, timeout: float = 5.0) -> None:
        self._store, self._hsm, self._timeout = store, hsm, timeout

    async def prepare(self, ctx: AuthContext) -> None:
        req, card, terminal = ctx.request, ctx.card, ctx.terminal
        if req.transaction_type != "92" or req.mti != "0200":
            return
        assert card is not None and terminal is not None and req.new_pin_block is not None
        if terminal.pin_mode != "tpk":
            ctx.decline("12", "PIN change needs a TPK terminal")
            return
        try:
            await asyncio.wait_for(
                self._compute(ctx, card, terminal, req.new_pin_block.upper()), self._timeout
            )
        except (TimeoutError, OSError) as e:
            ctx.decline("96", f"HSM unavailable: {type(e).__name__}")

    async def _compute(
        self, ctx: AuthContext, card: CardRecord, terminal: TerminalRecord, block: str
    ) -> None:
        account = account_number_from_pan(ctx.request.pan)
        jd = await self._hsm.execute("JC", f"{terminal.tpk_lmk}{block}01{account}".encode("ascii"))
        if jd[2:4] != b"00":
            ctx.decline(
                "55" if jd[2:4] in (b"20", b"24") else "96",
                f"JC error {jd[2:4].decode('ascii', 'replace')}",
            )
            return
        pin_lmk = jd[4:].decode("ascii")
        pvk = await self._store.get_key(card.pvk_name)
        if pvk is None:
            ctx.decline("96", "PVK missing")
            return
        if card.pin_method is PinMethod.VISA_PVV:
            dh = await self._hsm.execute(
                "DG", f"{pvk}{pin_lmk}{account}{card.pvki}".encode("ascii")
            )
            if dh[2:4] != b"00":
                ctx.decline("96", f"DG error {dh[2:4].decode('ascii', 'replace')}")
                return
            ctx.new_pvv = dh[4:8].decode("ascii")
        else:
            df = await self._hsm.execute(
                "DE",
                (
                    f"{pvk}{pin_lmk}04{account}{card.decimalization_table}"
                    f"{card.pin_validation_data:<12}"
                ).encode("ascii"),
            )
            if df[2:4] != b"00":
                ctx.decline("96", f"DE error {df[2:4].decode('ascii', 'replace')}")
                return
            ctx.new_offset = df[4:16].decode("ascii")


#: Tags of the ARQC input, in order (the CVN's suffix follows: CVR or the whole IAD 9F10).
ARQC_TAGS = (0x9F02, 0x9F03, 0x9F1A, 0x95, 0x5F2A, 0x9A, 0x9C, 0x9F37, 0x82, 0x9F36)
#: ARC of tag 91 (ARPC method 1): the ASCII of field 39 "00".
ARC_APPROVED = "3030"
#: CSU of tag 91 (ARPC method 2, Visa CVN 18): byte 2 bit 8 = "approved by the issuer".
CSU_APPROVED = "00800000"


@dataclass(frozen=True, kw_only=True)
class ChipScheme:
    """How the issuer checks one cryptogram version through the HSM's KW command.

    ``suffix`` slices the IAD (9F10) for the part of the AC input that follows the tags (the
    CVR, or the whole IAD); ``kw_scheme`` is the KW scheme (0 Visa CVN 10, 1 Mastercard SKD
    with the UN, 3 EMV common session key); ``arpc_method`` 1 answers ARPC(8) || ARC(2),
    2 answers ARPC(4) || CSU(4).
    """

    name: str
    kw_scheme: int
    arpc_method: int
    suffix: tuple[int, int | None]
    with_un: bool = False


#: Where the CVN sits in the IAD, per registered application provider (RID = AID[:5]).
CVN_OFFSET: dict[str, int] = {"A000000003": 2, "A000000004": 1, "A000000333": 2}
#: (RID, CVN byte) -> scheme. The table is the whole of the host's CVN knowledge (docs/cards.md).
CHIP_SCHEMES: dict[tuple[str, int], ChipScheme] = {
    ("A000000003", 0x0A): ChipScheme(name="visa-cvn10", kw_scheme=0, arpc_method=1, suffix=(3, 7)),
    ("A000000003", 0x12): ChipScheme(name="visa-cvn18", kw_scheme=3, arpc_method=2,
                                     suffix=(0, None)),
    ("A000000004", 0x10): ChipScheme(name="mastercard-cvn16", kw_scheme=1, arpc_method=1,
                                     suffix=(2, 8), with_un=True),
    ("A000000333", 0x01): ChipScheme(name="pboc-cvn01", kw_scheme=3, arpc_method=1,
                                     suffix=(3, 7)),
}  # fmt: skip


#: Registered application provider by PAN prefix (BIN ranges), for field 55 without 84 / 4F.
_RID_BY_PAN = (("62", "A000000333"), ("4", "A000000003"), ("5", "A000000004"),
               ("2", "A000000004"))  # fmt: skip


def rid_of(tags: dict[int, bytes], pan: str) -> bytes:
    """The RID of the application: tag 84 (DF name), else 4F (AID), else from the PAN's BIN.

    Examples
    --------
    >>> rid_of({0x84: bytes.fromhex("A000000333010101")}, "4761739000100002").hex().upper()
    'A000000333'
    >>> rid_of({}, "4761739000100002").hex().upper()
    'A000000003'
    """
    aid = tags.get(0x84) or tags.get(0x4F)
    if aid:
        return aid[:5]
    rid = next((r for prefix, r in _RID_BY_PAN if pan.startswith(prefix)), "")
    return bytes.fromhex(rid)


def chip_scheme(aid: bytes, iad: bytes) -> ChipScheme | None:
    """The scheme of a cryptogram from its AID (tag 84) and IAD (tag 9F10), or None.

    Examples
    --------
    >>> chip_scheme(bytes.fromhex("A0000000031010"), bytes.fromhex("06011203A00000")).name
    'visa-cvn18'
    >>> chip_scheme(bytes.fromhex("A0000000041010"), bytes.fromhex("0110A00000000000")).name
    'mastercard-cvn16'
    >>> chip_scheme(bytes.fromhex("A0000000031010"), bytes.fromhex("06")) is None
    True
    """
    rid = aid[:5].hex().upper()
    at = CVN_OFFSET.get(rid)
    if at is None or len(iad) <= at:
        return None
    return CHIP_SCHEMES.get((rid, iad[at]))


class ChipCheck:
    """Field 55: verify the ARQC through HSM KW and return the ARPC in tag 91.

    The cryptogram version comes from the AID (84, else 4F, else the PAN's BIN) and the IAD
    (9F10), looked up in
    :data:`CHIP_SCHEMES`: Visa CVN 10 (KW scheme 0), Visa CVN 18 (scheme 3, ARPC method 2 with
    a CSU), Mastercard CVN 16 (scheme 1, UN 9F37), the UnionPay PBOC profile (scheme 3, ARPC
    method 1 with the session key). The AC input is ``ARQC_TAGS`` followed by the scheme's
    IAD slice, unpadded (KW pads). Tag 91 is ARPC(8) || ARC "00" (method 1) or ARPC(4) ||
    CSU (method 2): the issuer authenticates the card here, before the ledger decides, so a
    later decline (51, 55, ...) travels in field 39 and the terminal asks the card for an AAC.
    An ARQC failure declines with 05; missing tags decline with 30; an unknown cryptogram
    version declines with 05.
    """

    name = "chip"

    def __init__(self, store: LedgerStore, hsm: HsmService, *, timeout: float = 5.0) -> None:
        self._store, self._hsm, self._timeout = store, hsm, timeout

    async def prepare(self, ctx: AuthContext) -> None:
        req, card = ctx.request, ctx.card
        if not req.icc_data or card is None:
            return
        try:
            tags = _tlv.to_dict(_tlv.decode_tlv(bytes.fromhex(req.icc_data)))
            iad, aid = tags[0x9F10], rid_of(tags, req.pan)
            head = b"".join(tags[t] for t in ARQC_TAGS)
            arqc, atc, un = (tags[t].hex().upper() for t in (0x9F26, 0x9F36, 0x9F37))
        except (ValueError, KeyError):
            ctx.decline("30", "field 55 incomplete or malformed")
            return
        scheme = chip_scheme(aid, iad)
        if scheme is None:
            ctx.decline("05", "unsupported cryptogram version")
            return
        psn = tags.get(0x5F34, b"\x00").hex()[-2:]
        mk = await self._store.get_key(card.mk_ac_name or "MKAC1")
        if mk is None:
            ctx.decline("96", "no issuer master key for the card")
            return
        start, stop = scheme.suffix
        method1 = scheme.arpc_method == 1
        try:
            res = await asyncio.wait_for(
                self._hsm.verify_arqc_cvn(
                    mk_ac=mk,
                    scheme=scheme.kw_scheme,
                    pan_psn=req.pan + psn,
                    atc=atc,
                    unpredictable_number=un if scheme.with_un else None,
                    transaction_data=head + iad[start:stop],
                    arqc=arqc,
                    arc=ARC_APPROVED if method1 else None,
                    csu=None if method1 else CSU_APPROVED,
                ),
                self._timeout,
            )
        except (TimeoutError, OSError) as e:
            ctx.decline("96", f"HSM unavailable: {type(e).__name__}")
            return
        if res.error_code == "01":
            ctx.decline("05", f"ARQC verification failed ({scheme.name})")
        elif not res.ok or res.arpc is None:
            ctx.decline("96", f"HSM error {res.error_code}")
        else:
            tail = ARC_APPROVED if method1 else CSU_APPROVED
            ctx.icc_response = (
                _tlv.encode_tlv([_tlv.Tlv(0x91, bytes.fromhex(res.arpc + tail))]).hex().upper()
            )


#: Every participant name the configuration may list, in their usual order.
PARTICIPANTS = ("terminal", "card", "transaction-type", "chip", "pin", "risk", "pin-change")
#: The default list (``HostConfig.participants``): all of them, the risk engine after PinCheck.
DEFAULT_PARTICIPANTS = PARTICIPANTS


def default_participants(
    store: LedgerStore,
    hsm: HsmService,
    *,
    names: Sequence[str] = DEFAULT_PARTICIPANTS,
    risk: Participant | None = None,
) -> list[Participant]:
    """Build the configured participant list in the configured order.

    ``risk`` is the risk participant (``host.risk.RiskParticipant``); when it is None the name
    ``risk`` is skipped (stores without a risk store, and tests of the plain ledger).
    """
    unknown = [n for n in names if n not in PARTICIPANTS]
    if unknown:
        raise ValueError(f"unknown participant(s): {', '.join(unknown)}")
    factories: dict[str, Callable[[], Participant | None]] = {
        "terminal": lambda: TerminalCheck(store),
        "card": lambda: CardCheck(store),
        "transaction-type": TransactionTypeCheck,
        "chip": lambda: ChipCheck(store, hsm),
        "pin": lambda: PinCheck(store, hsm),
        "risk": lambda: risk,
        "pin-change": lambda: PinChange(store, hsm),
    }
    return [p for p in (factories[n]() for n in names) if p is not None]


class Authoriser:
    """Runs the participants, then commits the outcome in one ledger transaction."""

    def __init__(
        self,
        store: LedgerStore,
        participants: Sequence[Participant],
        *,
        statement_entries: int = 10,
        hooks: Sequence[_ledger.LedgerHook] = (),
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self._store = store
        self._participants = list(participants)
        self._statement_entries = statement_entries
        self.hooks: tuple[_ledger.LedgerHook, ...] = tuple(hooks)
        self._clock = clock or (lambda: datetime.now(UTC))

    @property
    def store(self) -> LedgerStore:
        return self._store

    def now(self) -> datetime:
        """The host's clock (injected: tests move it to cross days and the 24-hour delay)."""
        return self._clock()

    async def authorise(self, req: FinancialRequest) -> FinancialResponse:
        start = time.monotonic()
        key = _ledger.message_key(req)
        dup = await self._store.get_response(key)
        if dup is not None:
            return self._replay(req, dup)
        ctx = AuthContext(request=req, at=self.now())
        for p in self._participants:
            if ctx.declined and not getattr(p, "after_decline", False):
                continue
            await p.prepare(ctx)
            ctx.trace.append(p.name)
        outcome = await _ledger.commit_financial(
            self._store, ctx, statement_entries=self._statement_entries, hooks=self.hooks
        )
        if outcome.duplicate:
            return self._replay(req, outcome.response)
        if _LOG.isEnabledFor(logging.INFO):  # the extras cost more than the message (hot path)
            self._log(req, ctx, outcome, start)
        return FinancialResponse.from_fields(outcome.response | {"2": req.pan})

    @staticmethod
    def _log(
        req: FinancialRequest, ctx: AuthContext, outcome: _ledger.Outcome, start: float
    ) -> None:
        _LOG.info(
            "authorisation",
            extra={
                "terminal_id": req.terminal_id,
                "stan": req.stan,
                "mti": req.mti,
                "processing_code": req.processing_code,
                "pan": mask_pan(req.pan),
                "amount": req.amount,
                "rc": outcome.response_code,
                "reason": outcome.reason,
                "participants": ctx.trace,
                "elapsed_ms": round((time.monotonic() - start) * 1000, 2),
            },
        )

    def _replay(self, req: FinancialRequest, stored: dict[str, str]) -> FinancialResponse:
        _LOG.info(
            "duplicate answered with the original response",
            extra={"terminal_id": req.terminal_id, "stan": req.stan, "rc": stored.get("39")},
        )
        return FinancialResponse.from_fields(stored | {"2": req.pan})
