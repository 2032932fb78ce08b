"""The terminal's EMV contact kernel (EMV Books 3 and 4), driven over a chip reader.

The terminal calls :meth:`EmvKernel.start` after the card is dipped and the reader is ready;
it runs application selection (PSE, then the AID list; cardholder choice when several
applications match), GET PROCESSING OPTIONS, READ RECORD, processing restrictions, CVM
processing, terminal risk management, terminal action analysis and the first GENERATE AC, and
returns a :class:`FirstAcResult` whose ``field55`` goes to the host. After the host answers,
:meth:`EmvKernel.complete` does issuer authentication (EXTERNAL AUTHENTICATE), issuer scripts
(71 before, 72 after) and the second GENERATE AC. Expected outcomes are enums, never
exceptions: a broken card is a technical failure, which becomes ``FALLBACK`` when the
:class:`FallbackPolicy` allows magstripe.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum
from typing import Protocol

from devices.cardreader.chip import ChipIoResult, ChipOutcome, ChipPowerAction, ChipPowerResult
from devices.emv.apdu import (
    PSE_NAME,
    AcType,
    CommandApdu,
    Ins,
    ResponseApdu,
    Sw,
    decode_response,
    external_authenticate_command,
    generate_ac_command,
    get_data_command,
    get_response_command,
    gpo_command,
    read_record_command,
    select_command,
    verify_plaintext_pin_command,
)
from devices.emv.dol import build_dol_data, parse_dol
from devices.emv.errors import CardDataError, EmvError
from devices.emv.tags import tag_hex
from sst.common.redact import mask_pan
from sst.common.tlv import Tlv, TlvError, decode_tlv, encode_tlv, find, to_dict

__all__ = [
    "FIELD55_TAGS",
    "AidConfig",
    "ApduTrace",
    "Candidate",
    "CardholderInterface",
    "ChipReaderLike",
    "EmvKernel",
    "FallbackPolicy",
    "FirstAcResult",
    "HostResponse",
    "KernelOutcome",
    "OfflinePinResult",
    "SecondAcResult",
    "SecondOutcome",
    "TerminalConfig",
    "TransactionRequest",
    "chip_preferred",
]

_LOGGER = logging.getLogger(__name__)
_LOGGER.addHandler(logging.NullHandler())

FIELD55_TAGS: tuple[int, ...] = (
    0x9F26, 0x9F27, 0x9F10, 0x9F37, 0x9F36, 0x95, 0x9A, 0x9C, 0x9F02, 0x5F2A, 0x82, 0x9F1A,
    0x9F03, 0x9F33, 0x9F34, 0x9F35, 0x9F1E, 0x84, 0x9F09, 0x5F34, 0x9F41,
)  # fmt: skip
"""ICC data sent in ISO 8583 field 55 with the ARQC (in this order)."""

_COMPLETION_TAGS: tuple[int, ...] = (0x9F26, 0x9F27, 0x9F36, 0x95, 0x9B, 0x9F10, 0x9F5B, 0x8A)


# ---- configuration and requests -----------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class AidConfig:
    """One terminal-supported application."""

    aid: bytes
    partial: bool = True  # Application Selection Indicator: partial name match allowed
    app_version: bytes = b"\x00\x96"


@dataclass(frozen=True, kw_only=True)
class FallbackPolicy:
    """When a chip failure may fall back to magstripe (never after a decline or a block)."""

    allow_fallback: bool = True


def chip_preferred(service_code: str) -> bool:
    """True when the service code says "use the chip" (2xx, 6xx).

    Examples
    --------
    >>> chip_preferred("201"), chip_preferred("101")
    (True, False)
    """
    return service_code[:1] in ("2", "6")


_DEFAULT_AIDS = (
    AidConfig(aid=bytes.fromhex("A0000000031010"), app_version=b"\x00\x96"),
    AidConfig(aid=bytes.fromhex("A0000000041010"), app_version=b"\x00\x02"),
    AidConfig(aid=bytes.fromhex("A000000333010101"), app_version=b"\x00\x30"),
)


@dataclass(frozen=True, kw_only=True)
class TerminalConfig:
    """Terminal parameters (EMV Book 4). Defaults: an online-only unattended ATM (9F35 = 14)."""

    terminal_type: int = 0x14
    capabilities: bytes = bytes.fromhex("604820")  # 9F33: mag+IC; online PIN, no CVM; capture
    additional_capabilities: bytes = bytes.fromhex("8000B0A001")  # 9F40: cash
    country: bytes = b"\x08\x40"
    currency: bytes = b"\x08\x40"
    ifd_serial: bytes = b"SST00001"
    aids: tuple[AidConfig, ...] = _DEFAULT_AIDS
    floor_limit: int = 0
    random_selection_threshold: int = 0
    random_selection_target: int = 0  # percent; 0 disables random selection
    random_selection_max: int = 0
    velocity_checks: bool = True
    tac_default: bytes = bytes.fromhex("0000000000")
    tac_denial: bytes = bytes.fromhex("0000000000")
    tac_online: bytes = bytes.fromhex("0000000000")
    fallback: FallbackPolicy = field(default_factory=FallbackPolicy)

    @property
    def unattended(self) -> bool:
        """Terminal types x4-x6 are unattended."""
        return self.terminal_type & 0x0F in (4, 5, 6)

    @property
    def online_only(self) -> bool:
        """Terminal types x1 and x4 are online only."""
        return self.terminal_type & 0x0F in (1, 4)

    @property
    def is_atm(self) -> bool:
        """Financial institution, unattended (ATM)."""
        return self.terminal_type in (0x14, 0x15, 0x16)


@dataclass(frozen=True, kw_only=True)
class TransactionRequest:
    """One transaction; ``when`` comes from the terminal's clock."""

    amount: int
    when: date
    other_amount: int = 0
    transaction_type: int = 0x01  # 9C: 01 cash, 00 goods and services
    sequence_counter: int = 1  # 9F41


@dataclass(frozen=True, kw_only=True)
class Candidate:
    """An application the cardholder may choose."""

    aid: bytes
    label: str
    priority: int  # 1 highest, 15 lowest, 0 none
    confirmation_required: bool = False


class OfflinePinResult(StrEnum):
    """How offline PIN entry ended (the PIN itself never reaches the kernel's caller)."""

    VERIFIED = "verified"
    WRONG_PIN_RETRY = "wrongPinRetry"  # not used as a final result
    BLOCKED = "blocked"
    BYPASSED = "bypassed"
    FAILED = "failed"


PresentPin = Callable[[bytes], Awaitable[int]]
"""Given an ISO 9564 format 2 plaintext PIN block, send VERIFY and return the SW."""


class CardholderInterface(Protocol):
    """What the kernel needs from the terminal's UI and PIN pad."""

    async def choose_application(self, candidates: Sequence[Candidate]) -> int | None:
        """Index of the chosen candidate, or None when the cardholder cancels."""

    async def online_pin(self) -> bool:
        """Capture the online PIN (the EPP keeps the block for field 52); False = bypassed."""

    async def offline_pin(self, present: PresentPin, tries_left: int | None) -> OfflinePinResult:
        """Let the PIN pad build the format-2 block and ``present`` it to the card."""

    async def signature(self) -> bool:
        """POS: a signature will be collected on the receipt."""


class ChipReaderLike(Protocol):
    """The two reader calls the kernel makes."""

    async def chip_power(self, action: ChipPowerAction) -> ChipPowerResult: ...

    async def chip_io(self, capdu: bytes) -> ChipIoResult: ...


# ---- results ------------------------------------------------------------------------------


class KernelOutcome(StrEnum):
    """How :meth:`EmvKernel.start` ended."""

    ONLINE_REQUEST = "onlineRequest"  # ARQC: authorise online with ``field55``
    OFFLINE_APPROVED = "offlineApproved"  # TC
    OFFLINE_DECLINED = "offlineDeclined"  # AAC (never fall back)
    FALLBACK = "fallback"  # technical chip failure, policy allows magstripe
    NOT_ACCEPTED = "notAccepted"  # blocked application or card, no fallback
    TERMINATED = "terminated"  # technical failure, fallback not allowed
    CARD_REMOVED = "cardRemoved"
    CANCELED = "canceled"  # cardholder cancelled application choice


class SecondOutcome(StrEnum):
    """How :meth:`EmvKernel.complete` ended."""

    APPROVED = "approved"  # card TC, host approved
    DECLINED = "declined"  # card AAC or host declined
    CARD_REMOVED = "cardRemoved"
    TERMINATED = "terminated"


@dataclass(frozen=True, kw_only=True)
class ApduTrace:
    """One APDU exchange for tracing (VERIFY data is never included)."""

    name: str
    command: bytes = field(repr=False)
    response: bytes = field(repr=False)
    sw: int


@dataclass(frozen=True, kw_only=True)
class FirstAcResult:
    """Result of the card-facing part up to the first GENERATE AC. PAN masked in ``repr``."""

    outcome: KernelOutcome
    reason: str = ""
    field55: bytes = field(default=b"", repr=False)
    aid: bytes = b""
    pan: str = field(default="", repr=False)
    psn: str = ""
    expiry: str = ""  # YYMM
    track2_equivalent: str = field(default="", repr=False)  # field 35 form PAN=YYMMSSS...
    service_code: str = ""
    cid: int | None = None
    tvr: bytes = bytes(5)
    tsi: bytes = bytes(2)
    cvm_results: bytes = b""
    online_pin: bool = False
    signature_required: bool = False
    pos_entry_mode: str = "051"  # 22: chip; the terminal uses 801 for fallback

    @property
    def masked_pan(self) -> str:
        """First 6 + last 4."""
        return mask_pan(self.pan) if self.pan else ""

    def __repr__(self) -> str:
        return (f"FirstAcResult(outcome={self.outcome.value}, reason={self.reason!r}, "
                f"pan={self.masked_pan!r}, cid={self.cid}, tvr={self.tvr.hex().upper()})")


@dataclass(frozen=True, kw_only=True)
class HostResponse:
    """The host's answer: field 39 approval, ARC (8A), 91 and scripts (71/72 TLVs) from 55."""

    approved: bool
    arc: bytes = b"00"
    issuer_auth_data: bytes | None = None
    scripts: bytes = b""


@dataclass(frozen=True, kw_only=True)
class SecondAcResult:
    """Result of :meth:`EmvKernel.complete`.

    ``reversal_required`` is True when the host approved but the transaction did not complete
    (card removed, card declined with AAC, technical failure): the terminal must reverse.
    """

    outcome: SecondOutcome
    reason: str = ""
    reversal_required: bool = False
    field55: bytes = field(default=b"", repr=False)
    cid: int | None = None
    tvr: bytes = bytes(5)
    tsi: bytes = bytes(2)
    script_results: bytes = b""
    issuer_authenticated: bool | None = None


class _Removed(Exception):
    pass


class _Technical(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class _NotAccepted(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


# ---- the kernel ------------------------------------------------------------------------------


class EmvKernel:
    """One EMV transaction over one reader.

    Parameters
    ----------
    reader:
        Anything with ``chip_power`` and ``chip_io`` (PC/SC or emulated reader).
    config:
        Terminal parameters.
    cardholder:
        Application choice and CVM callbacks.
    random_bytes:
        Source of the unpredictable number and random selection (``os.urandom``).
    on_apdu:
        Called with every :class:`ApduTrace` (redacted tracing, docs, bench).
    """

    def __init__(
        self,
        reader: ChipReaderLike,
        config: TerminalConfig,
        cardholder: CardholderInterface,
        *,
        random_bytes: Callable[[int], bytes] = os.urandom,
        on_apdu: Callable[[ApduTrace], None] | None = None,
    ) -> None:
        self._reader = reader
        self._cfg = config
        self._ch = cardholder
        self._rand = random_bytes
        self._on_apdu = on_apdu
        self._tvr = bytearray(5)
        self._tsi = bytearray(2)
        self._card: dict[int, bytes] = {}
        self._term: dict[int, bytes] = {}
        self._first: FirstAcResult | None = None
        self._aip = b"\x00\x00"

    # ---- transport ---------------------------------------------------------------------------

    async def _io(self, name: str, cmd: CommandApdu) -> ResponseApdu:
        raw = cmd.encode()
        res = await self._reader.chip_io(raw)
        if res.outcome in (ChipOutcome.CARD_REMOVED, ChipOutcome.NO_MEDIA):
            raise _Removed
        if res.outcome is not ChipOutcome.OK:
            raise _Technical(f"chip I/O failed: {res.outcome.key}")
        try:
            r = decode_response(res.response)
        except EmvError:
            raise _Technical("mute card") from None
        if r.sw1 == 0x61:  # T=0: fetch the response
            return await self._io(name, get_response_command(r.sw2))
        if r.sw1 == 0x6C:  # T=0: wrong Le
            return await self._io(name, CommandApdu(cla=cmd.cla, ins=cmd.ins, p1=cmd.p1,
                                                    p2=cmd.p2, data=cmd.data, le=r.sw2))
        if self._on_apdu is not None:
            shown = b"" if cmd.ins == Ins.VERIFY else raw
            self._on_apdu(ApduTrace(name=name, command=shown or raw[:4], response=r.data, sw=r.sw))
        return r

    @staticmethod
    def _tlv(data: bytes) -> list[Tlv]:
        try:
            return decode_tlv(data)
        except TlvError as e:
            raise CardDataError("bad TLV from card", tag=e.tag) from None

    # ---- start -------------------------------------------------------------------------------

    async def start(self, txn: TransactionRequest) -> FirstAcResult:
        """Power the card and run the transaction up to the first GENERATE AC."""
        self._tvr, self._tsi = bytearray(5), bytearray(2)
        self._card, self._first = {}, None
        try:
            result = await self._start(txn)
        except _Removed:
            result = FirstAcResult(outcome=KernelOutcome.CARD_REMOVED, reason="card removed")
        except _NotAccepted as e:
            result = FirstAcResult(outcome=KernelOutcome.NOT_ACCEPTED, reason=e.reason)
        except _Canceled:
            result = FirstAcResult(outcome=KernelOutcome.CANCELED, reason="cardholder cancelled")
        except (_Technical, EmvError) as e:
            reason = e.reason if isinstance(e, _Technical) else f"bad card data: {e}"
            ok = self._cfg.fallback.allow_fallback
            result = FirstAcResult(
                outcome=KernelOutcome.FALLBACK if ok else KernelOutcome.TERMINATED,
                reason=reason, pos_entry_mode="801" if ok else "051",
            )  # fmt: skip
        self._first = result
        _LOGGER.info("emv first ac", extra={"outcome": result.outcome.value,
                                            "reason": result.reason,
                                            "tvr": bytes(self._tvr).hex().upper()})  # fmt: skip
        return result

    async def _start(self, txn: TransactionRequest) -> FirstAcResult:
        power = await self._reader.chip_power(ChipPowerAction.COLD)
        if power.outcome in (ChipOutcome.NO_MEDIA, ChipOutcome.CARD_REMOVED):
            raise _Removed
        if power.outcome is not ChipOutcome.OK:
            raise _Technical(f"chip power failed: {power.outcome.key}")
        self._term = self._terminal_data(txn)
        candidates = await self._candidates()
        fci = await self._final_select(candidates)
        await self._gpo(fci)
        await self._read_records()
        self._tvr[0] |= 0x80  # offline data authentication not performed (no ODA keys)
        self._restrictions(txn)
        cvm = await self._cvm(txn)
        await self._risk_management(txn)
        return await self._first_ac(txn, cvm)

    def _terminal_data(self, txn: TransactionRequest) -> dict[int, bytes]:
        c = self._cfg
        d = txn.when
        return {
            0x9F02: bytes.fromhex(f"{txn.amount:012d}"),
            0x9F03: bytes.fromhex(f"{txn.other_amount:012d}"),
            0x9F1A: c.country, 0x5F2A: c.currency,
            0x9A: bytes.fromhex(f"{d.year % 100:02d}{d.month:02d}{d.day:02d}"),
            0x9C: bytes((txn.transaction_type,)),
            0x9F37: self._rand(4),
            0x9F35: bytes((c.terminal_type,)), 0x9F33: c.capabilities,
            0x9F40: c.additional_capabilities, 0x9F1E: c.ifd_serial,
            0x9F41: bytes.fromhex(f"{txn.sequence_counter % 10**8:08d}"),
            0x9F34: b"\x3f\x00\x00",
        }  # fmt: skip

    # ---- application selection ----------------------------------------------------------

    def _supported(self, aid: bytes) -> AidConfig | None:
        for a in self._cfg.aids:
            if aid == a.aid or (a.partial and aid.startswith(a.aid)):
                return a
        return None

    async def _candidates(self) -> list[Candidate]:  # noqa: PLR0912 -- PSE, then AID list
        found: list[Candidate] = []
        blocked = False
        r = await self._io("SELECT PSE", select_command(PSE_NAME))
        if r.ok:
            sfi_t = find(self._tlv(r.data), 0x88)
            sfi = sfi_t.value[0] if sfi_t is not None and sfi_t.value else 1
            for rec in range(1, 32):
                rr = await self._io("READ RECORD (PSE)", read_record_command(sfi, rec))
                if rr.sw == Sw.RECORD_NOT_FOUND:
                    break
                if not rr.ok:
                    raise _Technical(f"PSE record SW {rr.sw:04X}")
                for entry in self._tlv(rr.data):
                    for t in entry.children or ():
                        if t.tag != 0x61:
                            continue
                        d = to_dict([t])
                        aid = d.get(0x4F, b"")
                        if self._supported(aid) is not None:
                            found.append(_candidate(aid, d))
        if not found:  # list of AIDs
            for a in self._cfg.aids:
                r = await self._io("SELECT AID", select_command(a.aid))
                if r.sw == Sw.WARNING_SELECTED_FILE_INVALIDATED:
                    blocked = True
                elif r.ok:
                    d = to_dict(self._tlv(r.data))
                    found.append(_candidate(d.get(0x84, a.aid), d))
        if not found:
            if blocked:
                raise _NotAccepted("application blocked")
            raise _Technical("no supported application")
        return sorted(found, key=lambda c: (c.priority or 16))

    async def _final_select(self, candidates: list[Candidate]) -> dict[int, bytes]:
        blocked = False
        while candidates:
            top = candidates[0].priority
            same = [c for c in candidates if c.priority == top]
            if len(same) > 1 or candidates[0].confirmation_required:
                idx = await self._ch.choose_application(candidates)
                if idx is None:
                    raise _Canceled
                chosen = candidates[idx]
            else:
                chosen = candidates[0]
            r = await self._io("SELECT AID", select_command(chosen.aid))
            if r.ok:
                fci = to_dict(self._tlv(r.data))
                fci.setdefault(0x84, chosen.aid)
                return fci
            if r.sw == Sw.WARNING_SELECTED_FILE_INVALIDATED:
                blocked = True
            candidates = [c for c in candidates if c is not chosen]
        raise _NotAccepted("application blocked") if blocked else _Technical(
            "no application could be selected")

    # ---- GPO and records -----------------------------------------------------------------

    async def _gpo(self, fci: dict[int, bytes]) -> None:
        self._card.update(fci)
        aid_cfg = self._supported(fci.get(0x84, b""))
        if aid_cfg is not None:
            self._term[0x9F09] = aid_cfg.app_version
        pdol = parse_dol(fci.get(0x9F38, b""))
        r = await self._io("GET PROCESSING OPTIONS", gpo_command(build_dol_data(pdol, self._term)))
        if r.sw == Sw.CONDITIONS_NOT_SATISFIED:
            raise _Technical("GPO conditions not satisfied")
        if not r.ok:
            raise _Technical(f"GPO SW {r.sw:04X}")
        tl = self._tlv(r.data)
        if not tl:
            raise CardDataError("empty GPO response")
        if tl[0].tag == 0x80:
            v = tl[0].value
            if len(v) < 2:
                raise CardDataError("GPO format 1 too short", tag=0x80)
            aip, afl = v[:2], v[2:]
        elif tl[0].tag == 0x77:
            d = to_dict(tl)
            if 0x82 not in d or 0x94 not in d:
                raise CardDataError("GPO without AIP or AFL", tag=0x77)
            aip, afl = d[0x82], d[0x94]
        else:
            raise CardDataError("unknown GPO response template", tag=tl[0].tag)
        if len(aip) != 2 or not afl or len(afl) % 4:
            raise CardDataError("bad AIP or AFL", tag=0x94)
        self._aip = aip
        self._card[0x82], self._card[0x94] = aip, afl

    async def _read_records(self) -> None:
        afl = self._card[0x94]
        for i in range(0, len(afl), 4):
            sfi, first, last = afl[i] >> 3, afl[i + 1], afl[i + 2]
            if not 1 <= sfi <= 30 or first == 0 or last < first:
                raise CardDataError("bad AFL entry", tag=0x94)
            for rec in range(first, last + 1):
                r = await self._io("READ RECORD", read_record_command(sfi, rec))
                if not r.ok:
                    raise _Technical(f"READ RECORD SW {r.sw:04X}")
                tl = self._tlv(r.data)
                if not tl or tl[0].tag != 0x70:
                    raise CardDataError("record is not a 70 template", tag=0x70)
                for tag, v in to_dict(tl).items():
                    if tag in self._card and tag not in (0x84,):
                        raise CardDataError("duplicate data object", tag=tag)
                    self._card[tag] = v
        for tag in (0x5A, 0x5F24, 0x8C, 0x8D):
            if tag not in self._card:
                self._tvr[0] |= 0x20  # ICC data missing
                raise CardDataError(f"mandatory data missing: {tag_hex(tag)}", tag=tag)

    # ---- restrictions, CVM, risk ---------------------------------------------------------

    def _restrictions(self, txn: TransactionRequest) -> None:
        today = self._term[0x9A]
        exp = self._card[0x5F24]
        if exp < today:
            self._tvr[1] |= 0x40
        eff = self._card.get(0x5F25)
        if eff is not None and eff > today:
            self._tvr[1] |= 0x20
        aid = self._supported(self._card.get(0x84, b""))
        ver = self._card.get(0x9F08)
        if ver is not None and aid is not None and ver != aid.app_version:
            self._tvr[1] |= 0x80
        auc = self._card.get(0x9F07)
        if auc is not None and len(auc) >= 2:
            domestic = self._card.get(0x5F28) == self._cfg.country
            ok = bool(auc[0] & (0x02 if self._cfg.is_atm else 0x01))
            if txn.transaction_type == 0x01:
                ok = ok and bool(auc[0] & (0x80 if domestic else 0x40))
            elif txn.transaction_type == 0x00:
                ok = ok and bool(auc[0] & (0x20 if domestic else 0x10))
            if not ok:
                self._tvr[1] |= 0x10

    def _condition(self, cond: int, cvm: int, txn: TransactionRequest, x: int, y: int) -> bool:
        cash = txn.transaction_type == 0x01
        supported = self._cvm_supported(cvm)
        same_ccy = self._card.get(0x9F42) == self._cfg.currency
        return {
            0x00: True,
            0x01: cash and self._cfg.unattended,
            0x02: not (cash and self._cfg.unattended) and txn.transaction_type != 0x09,
            0x03: supported,
            0x04: cash and not self._cfg.unattended,
            0x05: txn.transaction_type == 0x09,
            0x06: same_ccy and txn.amount < x, 0x07: same_ccy and txn.amount > x,
            0x08: same_ccy and txn.amount < y, 0x09: same_ccy and txn.amount > y,
        }.get(cond, False)  # fmt: skip

    def _cvm_supported(self, cvm: int) -> bool:
        b = self._cfg.capabilities[1] if len(self._cfg.capabilities) > 1 else 0
        return {0x01: bool(b & 0x80), 0x02: bool(b & 0x40), 0x1E: bool(b & 0x20),
                0x1F: bool(b & 0x08), 0x00: True}.get(cvm, False)  # fmt: skip

    async def _cvm(self, txn: TransactionRequest) -> tuple[bool, bool]:
        """Returns (online PIN captured, signature required); sets 9F34."""
        if not self._aip[0] & 0x10:
            self._term[0x9F34] = b"\x3f\x00\x00"
            return False, False
        cvm_list = self._card.get(0x8E, b"")
        if len(cvm_list) < 10 or len(cvm_list) % 2:
            self._tvr[0] |= 0x20
            self._term[0x9F34] = b"\x3f\x00\x01"
            return False, False
        self._tsi[0] |= 0x40
        x, y = int.from_bytes(cvm_list[:4], "big"), int.from_bytes(cvm_list[4:8], "big")
        rules = [cvm_list[i : i + 2] for i in range(8, len(cvm_list), 2)]
        for rule in rules:
            code, cond = rule[0], rule[1]
            cvm, next_on_fail = code & 0x3F, bool(code & 0x40)
            if not self._condition(cond, cvm, txn, x, y):
                continue
            if not self._cvm_supported(cvm):
                if cvm not in (0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x1E, 0x1F):
                    self._tvr[2] |= 0x40  # unrecognised CVM
                if next_on_fail:
                    continue
                break
            ok, online, sig = await self._perform_cvm(cvm)
            if ok:
                self._term[0x9F34] = bytes((code, cond, 0x00 if cvm in (0x02, 0x1E) else 0x02))
                return online, sig
            if not next_on_fail:
                break
        self._tvr[2] |= 0x80  # cardholder verification not successful
        self._term[0x9F34] = b"\x3f\x00\x01"
        return False, False

    async def _perform_cvm(self, cvm: int) -> tuple[bool, bool, bool]:  # noqa: PLR0911 -- one per CVM
        if cvm == 0x1F:
            return True, False, False
        if cvm == 0x1E:
            return (await self._ch.signature()), False, True
        if cvm == 0x02:
            entered = await self._ch.online_pin()
            if entered:
                self._tvr[2] |= 0x04
            else:
                self._tvr[2] |= 0x08
            return entered, entered, False
        if cvm == 0x01:
            r = await self._io("GET DATA 9F17", get_data_command(0x9F17))
            tries = None
            if r.ok:
                d = to_dict(self._tlv(r.data))
                tries = d.get(0x9F17, b"\x01")[0] if d.get(0x9F17) else None
            if tries == 0:
                self._tvr[2] |= 0x20
                return False, False, False

            async def present(block: bytes) -> int:
                res = await self._io("VERIFY", verify_plaintext_pin_command(block))
                return res.sw

            result = await self._ch.offline_pin(present, tries)
            if result is OfflinePinResult.VERIFIED:
                return True, False, False
            if result is OfflinePinResult.BLOCKED:
                self._tvr[2] |= 0x20
            elif result is OfflinePinResult.BYPASSED:
                self._tvr[2] |= 0x08
            return False, False, False
        return False, False, False

    async def _risk_management(self, txn: TransactionRequest) -> None:
        if not self._aip[0] & 0x08:
            return
        c = self._cfg
        if txn.amount >= c.floor_limit and not c.online_only:
            self._tvr[3] |= 0x80
        elif c.random_selection_target and txn.amount < c.floor_limit:
            pct = int.from_bytes(self._rand(1), "big") * 100 // 256
            target = c.random_selection_target
            lo = c.random_selection_threshold
            if lo < txn.amount and lo < c.floor_limit:
                span = c.floor_limit - c.random_selection_threshold
                target += (c.random_selection_max - target) * (
                    txn.amount - c.random_selection_threshold) // span  # fmt: skip
            if pct < target:
                self._tvr[3] |= 0x10
        if c.velocity_checks and 0x9F14 in self._card and 0x9F23 in self._card:
            atc = await self._get_counter(0x9F36)
            last = await self._get_counter(0x9F13)
            if atc is None or last is None:
                self._tvr[3] |= 0x60
            else:
                if last == 0:
                    self._tvr[1] |= 0x08  # new card
                if atc - last > self._card[0x9F14][0]:
                    self._tvr[3] |= 0x40
                if atc - last > self._card[0x9F23][0]:
                    self._tvr[3] |= 0x20
        self._tsi[0] |= 0x08

    async def _get_counter(self, tag: int) -> int | None:
        r = await self._io(f"GET DATA {tag_hex(tag)}", get_data_command(tag))
        if not r.ok:
            return None
        v = to_dict(self._tlv(r.data)).get(tag)
        return int.from_bytes(v, "big") if v else None

    # ---- action analysis and GENERATE AC ---------------------------------------------------

    def _action(self) -> AcType:
        tvr = bytes(self._tvr)

        def hit(iac_tag: int, tac: bytes, default: bytes) -> bool:
            iac = self._card.get(iac_tag, default)
            return any(t & (i | a) for t, i, a in zip(tvr, iac.ljust(5, b"\0"), tac, strict=False))

        if hit(0x9F0E, self._cfg.tac_denial, bytes(5)):
            return AcType.AAC
        if self._cfg.online_only or hit(0x9F0F, self._cfg.tac_online, b"\xff" * 5):
            return AcType.ARQC
        return AcType.TC

    def _cdol_data(self, tag: int, extra: dict[int, bytes] | None = None) -> bytes:
        values = {**self._card, **self._term, 0x95: bytes(self._tvr), 0x9B: bytes(self._tsi),
                  **(extra or {})}  # fmt: skip
        return build_dol_data(parse_dol(self._card[tag]), values)

    async def _generate_ac(self, name: str, ac: AcType, data: bytes) -> dict[int, bytes]:
        r = await self._io(name, generate_ac_command(ac, data))
        if not r.ok:
            raise _Technical(f"GENERATE AC SW {r.sw:04X}")
        tl = self._tlv(r.data)
        if not tl:
            raise CardDataError("empty GENERATE AC response")
        if tl[0].tag == 0x80:
            v = tl[0].value
            if len(v) < 11:
                raise CardDataError("GENERATE AC format 1 too short", tag=0x80)
            out = {0x9F27: v[:1], 0x9F36: v[1:3], 0x9F26: v[3:11]}
            if len(v) > 11:
                out[0x9F10] = v[11:]
            return out
        d = to_dict(tl)
        for t, n in ((0x9F27, 1), (0x9F36, 2), (0x9F26, 8)):
            if len(d.get(t, b"")) != n:
                raise CardDataError(f"GENERATE AC {tag_hex(t)} missing or bad", tag=t)
        return d

    async def _first_ac(self, txn: TransactionRequest, cvm: tuple[bool, bool]) -> FirstAcResult:
        del txn
        ac_type = self._action()
        resp = await self._generate_ac("GENERATE AC 1", ac_type, self._cdol_data(0x8C))
        self._tsi[0] |= 0x20  # card risk management performed
        self._card.update(resp)
        cid = resp[0x9F27][0]
        kind = cid & 0xC0
        outcome = {0x00: KernelOutcome.OFFLINE_DECLINED, 0x40: KernelOutcome.OFFLINE_APPROVED,
                   0x80: KernelOutcome.ONLINE_REQUEST}.get(kind)  # fmt: skip
        if outcome is None:
            raise CardDataError("CID with AAR/RFU cryptogram type", tag=0x9F27)
        if kind > int(ac_type):
            raise CardDataError("card returned a higher cryptogram than requested", tag=0x9F27)
        pan = self._card[0x5A].hex().upper().rstrip("F")
        t2 = self._card.get(0x57, b"").hex().upper().rstrip("F").replace("D", "=", 1)
        svc = t2.partition("=")[2][4:7] if "=" in t2 else ""
        psn_raw = self._card.get(0x5F34)
        return FirstAcResult(
            outcome=outcome, reason=f"card returned {['AAC', 'TC', 'ARQC'][kind >> 6]}",
            field55=self.field55(), aid=self._card.get(0x84, b""), pan=pan,
            psn=psn_raw.hex()[-2:] if psn_raw else "", expiry=self._card[0x5F24].hex()[:4],
            track2_equivalent=t2, service_code=svc, cid=cid, tvr=bytes(self._tvr),
            tsi=bytes(self._tsi), cvm_results=self._term.get(0x9F34, b""),
            online_pin=cvm[0], signature_required=cvm[1],
        )  # fmt: skip

    def field55(self, tags: Sequence[int] = FIELD55_TAGS) -> bytes:
        """ICC data for ISO 8583 field 55 from the current transaction state."""
        values = {**self._card, **self._term, 0x95: bytes(self._tvr), 0x9B: bytes(self._tsi)}
        return encode_tlv([Tlv(t, values[t]) for t in tags if values.get(t) is not None])

    # ---- completion ----------------------------------------------------------------------------

    async def complete(self, host: HostResponse | None) -> SecondAcResult:
        """Issuer authentication, scripts and the second GENERATE AC.

        ``host`` None means the terminal could not go online (the card decides by IAC-Default).
        """
        first = self._first
        if first is None or first.outcome is not KernelOutcome.ONLINE_REQUEST:
            return SecondAcResult(outcome=SecondOutcome.TERMINATED, reason="no ARQC to complete")
        approved = host is not None and host.approved
        auth: bool | None = None
        results = bytearray()
        try:
            if host is not None and host.issuer_auth_data and self._aip[0] & 0x04:
                r = await self._io("EXTERNAL AUTHENTICATE",
                                   external_authenticate_command(host.issuer_auth_data))
                auth = r.ok
                self._tsi[0] |= 0x10
                if not auth:
                    self._tvr[4] |= 0x40
            if host is not None:
                results += await self._scripts(host.scripts, 0x71)
            if host is None:
                arc = b"Z3"
                ac = AcType.AAC if self._default_denies() else AcType.TC
            else:
                arc = host.arc
                ac = AcType.TC if approved else AcType.AAC
            iad91 = (host.issuer_auth_data or b"") if host is not None else b""
            data2 = self._cdol_data(0x8D, {0x8A: arc, 0x91: iad91})
            resp = await self._generate_ac("GENERATE AC 2", ac, data2)
            self._card.update(resp)
            self._card[0x8A] = arc
            if host is not None:
                results += await self._scripts(host.scripts, 0x72)
        except _Removed:
            return SecondAcResult(outcome=SecondOutcome.CARD_REMOVED, reason="card removed",
                                  reversal_required=approved, tvr=bytes(self._tvr),
                                  tsi=bytes(self._tsi), issuer_authenticated=auth)  # fmt: skip
        except (_Technical, EmvError) as e:
            return SecondAcResult(outcome=SecondOutcome.TERMINATED, reason=str(e),
                                  reversal_required=approved, tvr=bytes(self._tvr),
                                  tsi=bytes(self._tsi), issuer_authenticated=auth)  # fmt: skip
        cid = resp[0x9F27][0]
        card_ok = cid & 0xC0 == 0x40
        if results:
            self._card[0x9F5B] = bytes(results)
        outcome = SecondOutcome.APPROVED if card_ok and (approved or host is None) else (
            SecondOutcome.DECLINED)  # fmt: skip
        return SecondAcResult(
            outcome=outcome, reason="card TC" if card_ok else "card AAC",
            reversal_required=approved and not card_ok,
            field55=self.field55(_COMPLETION_TAGS), cid=cid, tvr=bytes(self._tvr),
            tsi=bytes(self._tsi), script_results=bytes(results), issuer_authenticated=auth,
        )  # fmt: skip

    def _default_denies(self) -> bool:
        tvr = bytes(self._tvr)
        iac = self._card.get(0x9F0D, b"\xff" * 5).ljust(5, b"\0")
        return any(t & (i | a) for t, i, a in zip(tvr, iac, self._cfg.tac_default, strict=False))

    async def _scripts(self, data: bytes, template: int) -> bytes:
        if not data:
            return b""
        out = bytearray()
        for t in (t for t in self._tlv(data) if t.tag == template):
            self._tsi[0] |= 0x04
            children = t.children or ()
            sid = next((c.value for c in children if c.tag == 0x9F18), b"\0\0\0\0")
            status = 0x20  # successful
            for n, cmd in enumerate((c for c in children if c.tag == 0x86), start=1):
                v = cmd.value
                if len(v) < 4:
                    raise CardDataError("issuer script command shorter than 4 bytes", tag=0x86)
                r = await self._io("ISSUER SCRIPT", CommandApdu(
                    cla=v[0], ins=v[1], p1=v[2], p2=v[3], data=v[5:] if len(v) > 5 else b""))
                if r.sw1 not in (0x90, 0x62, 0x63):
                    status = 0x10 | min(n, 15)
                    self._tvr[4] |= 0x20 if template == 0x71 else 0x10
                    break
            out += bytes((status,)) + sid[:4].ljust(4, b"\0")
        return bytes(out)


class _Canceled(Exception):
    pass


def _candidate(aid: bytes, d: dict[int, bytes]) -> Candidate:
    prio = d.get(0x87, b"\x00")[:1] or b"\x00"
    label = d.get(0x9F12) or d.get(0x50) or aid.hex().upper().encode()
    return Candidate(aid=aid, label=label.decode("ascii", "replace"), priority=prio[0] & 0x0F,
                     confirmation_required=bool(prio[0] & 0x80))  # fmt: skip
