"""The virtual EMV card application: ``process_apdu(bytes) -> bytes`` (sans-io).

It answers PSE and AID selection, GET PROCESSING OPTIONS with PDOL, READ RECORD per AFL,
GET DATA (9F36, 9F17, 9F13), VERIFY (plaintext offline PIN), GENERATE AC (ARQC, TC, AAC)
computed with ``hsm_sim.crypto`` for the profile's CVN, EXTERNAL AUTHENTICATE, the second
GENERATE AC and issuer script commands (APPLICATION BLOCK/UNBLOCK, PIN CHANGE/UNBLOCK with a
secure-messaging MAC). Counters persist through a :class:`~devices.vcard.state.StateStore`.
Transports (vpcd client, emulated reader) call :meth:`VirtualEmvCard.process_apdu`; faults
are injected with :class:`CardFault`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import ClassVar

from devices.emv.apdu import PSE_NAME, AcType, CommandApdu, Ins, Sw, decode_command
from devices.emv.cvn import CVNS, build_iad, card_ac, check_arpc
from devices.emv.dol import DolEntry, parse_dol, split_dol_data
from devices.emv.errors import EmvError
from devices.emv.scripts import check_script_mac, decipher_pin_block
from devices.profiles.model import ChipApplication, TestCardProfile
from devices.vcard.state import CardState, MemoryStateStore, StateStore
from sst.common.tlv import Tlv, encode_tlv

__all__ = ["CORRUPT_ATR", "CardFault", "CardPulledError", "VirtualEmvCard"]

_LOGGER = logging.getLogger(__name__)
_LOGGER.addHandler(logging.NullHandler())

CORRUPT_ATR = bytes.fromhex("3BFF1300FF")
_PSE_SFI = 11


class CardFault(StrEnum):
    """Injectable faults (``sst card serve --fault``)."""

    MUTE = "mute"  # answers the ATR, never an APDU
    WRONG_SW = "wrong-sw"  # READ RECORD answers 6F00 (technical error)
    PULL_ON_GENERATE_AC = "pull-on-generate-ac"  # the card leaves during the 1st GENERATE AC
    PULL_ON_SECOND_AC = "pull-on-second-ac"  # ... during the 2nd GENERATE AC
    BLOCKED_APP = "blocked-app"  # every application answers SELECT with 6283
    CORRUPT_ATR = "corrupt-atr"


class CardPulledError(Exception):
    """The card was pulled: the transport must drop the connection (vpcd) or the media."""


def _sw(sw: int, data: bytes = b"") -> bytes:
    return data + sw.to_bytes(2, "big")


@dataclass
class _Volatile:
    pse: bool = False
    app: ChipApplication | None = None
    gpo_done: bool = False
    terminal: dict[int, bytes] | None = None
    first_ac: AcType | None = None
    arqc: bytes = b""
    un: bytes = b""
    issuer_auth: bool | None = None
    second_done: bool = False
    offline_pin_ok: bool | None = None
    cvr_extra: int = 0


class VirtualEmvCard:
    """One card with one or more EMV applications.

    Parameters
    ----------
    profile:
        The personalisation (from :func:`devices.profiles.load_card_profiles`).
    store:
        Persistent counters; a memory store seeded from the profile when omitted.
    faults:
        Active faults (the profile's ``faults`` are used when None).
    on_event:
        Called with a short, secret-free description of each command (tracing).
    """

    def __init__(
        self,
        profile: TestCardProfile,
        *,
        store: StateStore | None = None,
        faults: Iterable[CardFault | str] | None = None,
        on_event: Callable[[str], None] | None = None,
    ) -> None:
        self._p = profile
        self._store = store if store is not None else MemoryStateStore()
        state = self._store.load()
        if state is None:
            state = CardState(
                atc=profile.atc, pin_tries=profile.pin_tries,
                blocked_aids=tuple(a.aid.hex().upper() for a in profile.applications if a.blocked),
            )  # fmt: skip
            self._store.save(state)
        self._state = state
        src = profile.faults if faults is None else faults
        self.faults: set[CardFault] = {CardFault(f) for f in src}
        self._v = _Volatile()
        self._on_event = on_event or (lambda _m: None)
        self.powered = False

    # ---- introspection ---------------------------------------------------------------------

    @property
    def profile(self) -> TestCardProfile:
        """The card's profile."""
        return self._p

    @property
    def state(self) -> CardState:
        """Persistent counters."""
        return self._state

    @property
    def atr(self) -> bytes:
        """The Answer To Reset (corrupt when the fault is active)."""
        return CORRUPT_ATR if CardFault.CORRUPT_ATR in self.faults else self._p.atr

    # ---- power -------------------------------------------------------------------------------

    def power_on(self) -> None:
        """Contacts powered (vpcd ``01``)."""
        self.powered = True
        self._v = _Volatile()

    def reset(self) -> None:
        """Power off or reset (vpcd ``00``/``02``): volatile state is lost."""
        self.powered = False
        self._v = _Volatile()

    def _save(self, **changes: object) -> None:
        self._state = replace(self._state, **changes)  # type: ignore[arg-type]
        self._store.save(self._state)

    # ---- APDU dispatch -------------------------------------------------------------------

    def process_apdu(self, raw: bytes) -> bytes | None:
        """Answer one command APDU; None = no answer (mute).

        Raises
        ------
        CardPulledError
            When a "pull" fault fires: the transport must act as if the card left.
        """
        if CardFault.MUTE in self.faults:
            return None
        try:
            cmd = decode_command(raw)
        except EmvError:
            return _sw(Sw.WRONG_LENGTH)
        handler = self._HANDLERS.get((cmd.cla & 0xF0, cmd.ins))
        if handler is None:
            known = {ins for _cla, ins in self._HANDLERS}
            return _sw(Sw.CLA_NOT_SUPPORTED if cmd.ins in known else Sw.INS_NOT_SUPPORTED)
        try:
            out = handler(self, cmd)
        except EmvError:
            out = _sw(Sw.WRONG_DATA)
        self._on_event(f"{cmd.header.hex().upper()} -> {out[-2:].hex().upper()}")
        return out

    # ---- SELECT / records ----------------------------------------------------------------

    def _blocked(self, app: ChipApplication) -> bool:
        return CardFault.BLOCKED_APP in self.faults or (
            app.aid.hex().upper() in self._state.blocked_aids
        )

    def _select(self, cmd: CommandApdu) -> bytes:
        if cmd.p1 != 0x04:
            return _sw(Sw.WRONG_P1P2)
        self._v = _Volatile()
        if cmd.data == PSE_NAME:
            self._v.pse = True
            fci = Tlv(0x6F, children=(Tlv(0x84, PSE_NAME), Tlv(0xA5, children=(
                Tlv(0x88, bytes((_PSE_SFI,))), Tlv(0x5F2D, b"en")))))  # fmt: skip
            return _sw(Sw.OK, encode_tlv(fci))
        matches = [a for a in self._p.applications if a.aid.startswith(cmd.data)]
        if not matches:
            return _sw(Sw.FILE_NOT_FOUND)
        # P2=02: next occurrence (only one occurrence per AID prefix in our cards beyond the first)
        idx = 1 if cmd.p2 == 0x02 else 0
        if idx >= len(matches):
            return _sw(Sw.FILE_NOT_FOUND)
        app = matches[idx]
        fci = Tlv(0x6F, children=(Tlv(0x84, app.aid), Tlv(0xA5, children=(
            Tlv(0x50, app.label.encode()), Tlv(0x87, bytes((app.priority,))),
            Tlv(0x9F38, app.pdol), Tlv(0x5F2D, b"en")))))  # fmt: skip
        if self._blocked(app):
            return _sw(Sw.WARNING_SELECTED_FILE_INVALIDATED, encode_tlv(fci))
        self._v.app = app
        return _sw(Sw.OK, encode_tlv(fci))

    def _read_record(self, cmd: CommandApdu) -> bytes:
        sfi, rec = cmd.p2 >> 3, cmd.p1
        if cmd.p2 & 0x07 != 0x04 or rec == 0:
            return _sw(Sw.WRONG_P1P2)
        if CardFault.WRONG_SW in self.faults and self._v.app is not None:
            return _sw(0x6F00)
        if self._v.pse and sfi == _PSE_SFI:
            apps = self._p.applications
            if rec > len(apps):
                return _sw(Sw.RECORD_NOT_FOUND)
            a = apps[rec - 1]
            entry = Tlv(0x70, children=(Tlv(0x61, children=(
                Tlv(0x4F, a.aid), Tlv(0x50, a.label.encode()),
                Tlv(0x87, bytes((a.priority,))))),))  # fmt: skip
            return _sw(Sw.OK, encode_tlv(entry))
        app = self._v.app
        if app is None:
            return _sw(Sw.CONDITIONS_NOT_SATISFIED)
        data = app.records.get((sfi, rec))
        return _sw(Sw.OK, data) if data is not None else _sw(Sw.RECORD_NOT_FOUND)

    # ---- GPO / GET DATA / VERIFY ---------------------------------------------------------

    def _gpo(self, cmd: CommandApdu) -> bytes:
        app = self._v.app
        if app is None or self._v.gpo_done:
            return _sw(Sw.CONDITIONS_NOT_SATISFIED)
        if len(cmd.data) < 2 or cmd.data[0] != 0x83 or cmd.data[1] != len(cmd.data) - 2:
            return _sw(Sw.WRONG_LENGTH)
        pdol = parse_dol(app.pdol)
        if cmd.data[1] != sum(e.length for e in pdol):
            return _sw(Sw.WRONG_LENGTH)
        self._v.terminal = split_dol_data(pdol, cmd.data[2:])
        if self._state.atc >= 0xFFFF:
            return _sw(Sw.CONDITIONS_NOT_SATISFIED)
        self._save(atc=self._state.atc + 1)
        self._v.gpo_done = True
        return _sw(Sw.OK, encode_tlv(Tlv(0x77, children=(Tlv(0x82, app.aip), Tlv(0x94, app.afl)))))

    def _get_data(self, cmd: CommandApdu) -> bytes:
        tag = cmd.p1 << 8 | cmd.p2
        values = {
            0x9F36: self._state.atc.to_bytes(2, "big"),
            0x9F17: bytes((self._state.pin_tries,)),
            0x9F13: self._state.last_online_atc.to_bytes(2, "big"),
        }
        if tag not in values:
            return _sw(Sw.REFERENCED_DATA_NOT_FOUND)
        return _sw(Sw.OK, encode_tlv(Tlv(tag, values[tag])))

    def _verify(self, cmd: CommandApdu) -> bytes:
        if cmd.p2 != 0x80:
            return _sw(Sw.WRONG_P1P2)
        if self._v.app is None:
            return _sw(Sw.CONDITIONS_NOT_SATISFIED)
        if self._state.pin_tries == 0:
            self._v.offline_pin_ok = False
            return _sw(Sw.AUTH_METHOD_BLOCKED)
        if len(cmd.data) != 8:
            return _sw(Sw.WRONG_LENGTH)
        if _pin_of(cmd.data) == self._p.pin.reveal():
            self._save(pin_tries=self._p.pin_try_limit)
            self._v.offline_pin_ok = True
            return _sw(Sw.OK)
        left = self._state.pin_tries - 1
        self._save(pin_tries=left)
        self._v.offline_pin_ok = False
        return _sw(0x63C0 | left)

    # ---- GENERATE AC / EXTERNAL AUTHENTICATE ---------------------------------------------

    def _cvr(self, spec_len: int, first: AcType, second: AcType | None) -> bytes:
        b2 = {AcType.AAC: 0x00, AcType.TC: 0x10, AcType.ARQC: 0x20}[first]
        b2 |= 0x80 if second is None else {AcType.AAC: 0x00, AcType.TC: 0x40}.get(second, 0)
        if self._v.issuer_auth is False:
            b2 |= 0x08
        if self._v.offline_pin_ok is not None:
            b2 |= 0x04 | (0x02 if not self._v.offline_pin_ok else 0)
        b3 = 0x20 if self._state.pin_tries == 0 else 0x00
        return (bytes((0x03, b2, b3)) + bytes(spec_len))[:spec_len]

    def _generate_ac(self, cmd: CommandApdu) -> bytes:
        app = self._v.app
        if app is None or not self._v.gpo_done or self._v.second_done:
            return _sw(Sw.CONDITIONS_NOT_SATISFIED)
        requested = AcType(cmd.p1 & 0xC0) if cmd.p1 & 0xC0 != 0xC0 else None
        if requested is None:
            return _sw(Sw.WRONG_P1P2)
        spec = CVNS[app.cvn]
        first = self._v.first_ac is None
        dol: tuple[DolEntry, ...] = parse_dol(app.cdol1 if first else app.cdol2)
        terminal = split_dol_data(dol, cmd.data)
        if first and CardFault.PULL_ON_GENERATE_AC in self.faults:
            raise CardPulledError
        if not first and CardFault.PULL_ON_SECOND_AC in self.faults:
            raise CardPulledError
        reason = 0
        if first:
            result = requested
            if self._state.pin_tries == 0 or self._blocked(app):
                result, reason = AcType.AAC, 0x02 if self._state.pin_tries == 0 else 0
            self._v.first_ac = result
            self._v.un = terminal.get(0x9F37, bytes(4))
            second = None
        else:
            if requested is AcType.ARQC or self._v.first_ac is not AcType.ARQC:
                return _sw(Sw.CONDITIONS_NOT_SATISFIED)
            result = requested
            needs_auth = bool(app.aip[0] & 0x04)
            if result is AcType.TC and needs_auth and self._v.issuer_auth is not True:
                result = AcType.AAC
            self._v.second_done = True
            second = result
        atc = self._state.atc.to_bytes(2, "big")
        assert self._v.first_ac is not None
        cvr = self._cvr(spec.cvr_length, self._v.first_ac, second)
        iad = build_iad(spec, cvr)
        ac = card_ac(spec, app.icc_mk_ac, terminal, aip=app.aip, atc=atc, iad=iad, cvr=cvr)
        if first:
            self._v.arqc = ac
        elif result is AcType.TC:
            self._save(last_online_atc=self._state.atc)
        cid = int(result) | reason
        body = Tlv(0x77, children=(Tlv(0x9F27, bytes((cid,))), Tlv(0x9F36, atc),
                                   Tlv(0x9F26, ac), Tlv(0x9F10, iad)))  # fmt: skip
        return _sw(Sw.OK, encode_tlv(body))

    def _external_authenticate(self, cmd: CommandApdu) -> bytes:
        app = self._v.app
        if app is None or self._v.first_ac is not AcType.ARQC or self._v.issuer_auth is not None:
            return _sw(Sw.CONDITIONS_NOT_SATISFIED)
        ok = check_arpc(CVNS[app.cvn], app.icc_mk_ac, atc=self._state.atc.to_bytes(2, "big"),
                        un=self._v.un, arqc=self._v.arqc, issuer_auth_data=cmd.data)  # fmt: skip
        self._v.issuer_auth = ok
        return _sw(Sw.OK if ok else Sw.AUTH_FAILED)

    # ---- issuer scripts (CLA 84) -----------------------------------------------------------

    def _script(self, cmd: CommandApdu) -> bytes:
        app = self._v.app
        if app is None or not self._v.arqc:
            return _sw(Sw.CONDITIONS_NOT_SATISFIED)
        try:
            data = check_script_mac(cmd.encode(), icc_mk_smi=app.icc_mk_smi,
                                    atc=self._state.atc.to_bytes(2, "big"),
                                    arqc=self._v.arqc)  # fmt: skip
        except EmvError:
            return _sw(Sw.SECURITY_NOT_SATISFIED)
        aid = app.aid.hex().upper()
        if cmd.ins == Ins.APPLICATION_BLOCK:
            self._save(blocked_aids=tuple(sorted({*self._state.blocked_aids, aid})))
        elif cmd.ins == Ins.APPLICATION_UNBLOCK:
            self._save(blocked_aids=tuple(a for a in self._state.blocked_aids if a != aid))
        elif cmd.ins == Ins.PIN_CHANGE_UNBLOCK:
            if cmd.p2 == 0x02:  # PIN change: new PIN block enciphered under SK-SMC
                block = decipher_pin_block(data, icc_mk_smc=app.icc_mk_smc, arqc=self._v.arqc)
                new_pin = _pin_of(block)
                if new_pin is None:
                    return _sw(Sw.WRONG_DATA)
                self._p = replace(self._p, pin=type(self._p.pin)(new_pin))
            self._save(pin_tries=self._p.pin_try_limit)
        else:
            return _sw(Sw.INS_NOT_SUPPORTED)
        return _sw(Sw.OK)

    _HANDLERS: ClassVar[dict[tuple[int, int], Callable[[VirtualEmvCard, CommandApdu], bytes]]] = {
        (0x00, Ins.SELECT): _select,
        (0x00, Ins.READ_RECORD): _read_record,
        (0x80, Ins.GET_PROCESSING_OPTIONS): _gpo,
        (0x80, Ins.GET_DATA): _get_data,
        (0x00, Ins.VERIFY): _verify,
        (0x80, Ins.GENERATE_AC): _generate_ac,
        (0x00, Ins.EXTERNAL_AUTHENTICATE): _external_authenticate,
        (0x80, Ins.APPLICATION_BLOCK): _script,
        (0x80, Ins.APPLICATION_UNBLOCK): _script,
        (0x80, Ins.PIN_CHANGE_UNBLOCK): _script,
    }


def _pin_of(block: bytes) -> str | None:
    """The PIN in an ISO 9564 format 2 block, or None."""
    h = block.hex().upper()
    if len(h) != 16 or h[0] != "2":
        return None
    n = int(h[1], 16)
    if not 4 <= n <= 12 or not h[2 : 2 + n].isdigit() or set(h[2 + n :]) - {"F"}:
        return None
    return h[2 : 2 + n]
