"""The emulated EPP firmware: a sans-io state machine (bytes in, bytes out, injected clock).

The firmware owns the key table, the PIN buffer and the link rules of the device side of
:mod:`devices.epp.codec`. It does no I/O: :class:`devices.epp.emulator.EppEmulator` feeds it
bytes from a pty or TCP socket, drains :meth:`EppFirmware.data_to_send`, forwards key presses from
the control socket, and calls :meth:`EppFirmware.tick` at :meth:`EppFirmware.next_deadline`.

Security model (test-grade, modelled on a PCI PTS EPP): clear PIN digits exist only inside this
object and leave it only enciphered by ``hsm_sim.crypto.encipher_pinblock``; keys are never
reported except as KCVs; a tamper zeroises every key and the PIN buffer and reports the event.
The PIN buffer survives ``get_pin_block`` (a block may be requested under several keys) and is
wiped by a new entry, a cancel, a timeout, initialise or a tamper.

Entry modes: one entry at a time, either a PIN entry (digits masked, kept inside) or an amount
entry (digits echoed in clear in ``A`` events, value reported at the end). The mode is fixed
when the entry starts; the PIN path emits only :class:`KeyEvent`, whose wire form has no digit.

DUKPT (ANSI X9.24-1 TDES and X9.24-3 AES): the firmware stores the initial key and the KSN of
the last transaction; each PIN block advances the counter to the next value with at most 10
(TDES) or 16 (AES) one-bits, derives the transaction key from the initial key, then the PIN
working key, and returns the block with that KSN. A counter past 21 (TDES) or 32 (AES) bits is
*exhausted*: the key refuses to work (``EE``) until a new initial key is injected. (A hardware
EPP keeps future keys instead of the initial key; the KSN sequence seen by the host is the same.)
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Protocol

from devices.epp import messages as m
from devices.epp.base import (
    FDK_NAMES,
    AmountEntryResult,
    DeviceState,
    EncryptionState,
    EppErrorCode,
    FdkEvent,
    KeyAlgorithm,
    KeyEvent,
    KeyInfo,
    KeyKind,
    KeyUsage,
    PinBlockFormat,
    PinEntryOutcome,
    PinEntryResult,
    TamperStatus,
)
from devices.epp.codec import Ack, BadFrame, BadFrameReason, EppConnection, Frame, Nak, Role
from devices.epp.errors import EppDecodeError
from hsm_sim.crypto import (
    AesDukptKeyType,
    AesDukptKeyUsage,
    CryptoError,
    TdesDukptKeyUsage,
    adjust_key_parity,
    derive_transaction_key_aes_from_initial_key,
    derive_transaction_key_tdes_from_ipek,
    derive_working_key_aes,
    derive_working_key_tdes,
    encipher_pinblock,
    kcv_aes_cmac,
    kcv_tdes,
    key_has_odd_parity,
    tdes_decrypt_ecb,
    xor_bytes,
)

__all__ = [
    "FIRMWARE_VERSION",
    "TMK_NAME",
    "EntryMode",
    "EppFirmware",
    "Fault",
    "KeyStore",
    "MemoryKeyStore",
    "StoredKey",
    "compute_kcv",
    "next_dukpt_ksn",
]

_LOGGER = logging.getLogger(__name__)
_LOGGER.addHandler(logging.NullHandler())

FIRMWARE_VERSION = "SSTEPP-1.0"
TMK_NAME = "TMK"
_TDES_LENGTHS = (16, 24)
_AES_LENGTHS = (16, 24, 32)
NAMED_KEYS = ("ENTER", "CANCEL", "CLEAR", *FDK_NAMES)
_DUKPT_KSN_LENGTH = {KeyAlgorithm.TDES: 10, KeyAlgorithm.AES: 12}
_DUKPT_COUNTER = {KeyAlgorithm.TDES: (21, 10), KeyAlgorithm.AES: (32, 16)}  # bits, max one-bits
_AES_WORKING = {16: AesDukptKeyType.AES128, 24: AesDukptKeyType.AES192, 32: AesDukptKeyType.AES256}


class Fault(Enum):
    """Link faults the control socket can inject."""

    NONE = "none"
    NAK_STORM = "nak-storm"  # NAK every frame received, execute nothing
    SILENT = "silent"  # read and drop everything, send nothing
    GARBLED = "garbled"  # corrupt the LRC of every other frame sent


@dataclass(frozen=True, kw_only=True)
class StoredKey:
    """A key in the EPP's key table; ``value`` is clear and never in ``repr``."""

    name: str
    algorithm: KeyAlgorithm
    usage: KeyUsage
    kcv: str
    under: str | None = None
    value: bytes = field(repr=False)
    ksn: bytes | None = None  # DUKPT keys: KSN of the last transaction (or as injected)

    def info(self) -> KeyInfo:
        return KeyInfo(
            name=self.name,
            algorithm=self.algorithm,
            usage=self.usage,
            length=len(self.value),
            kcv=self.kcv,
            ksn=self.ksn.hex().upper() if self.ksn is not None else "",
        )


class KeyStore(Protocol):
    """Where the firmware keeps its key table between runs."""

    def load(self) -> dict[str, StoredKey]: ...

    def save(self, keys: Mapping[str, StoredKey]) -> None: ...


class MemoryKeyStore:
    """Keys in memory only (lost at exit)."""

    def __init__(self) -> None:
        self._keys: dict[str, StoredKey] = {}

    def load(self) -> dict[str, StoredKey]:
        return dict(self._keys)

    def save(self, keys: Mapping[str, StoredKey]) -> None:
        self._keys = dict(keys)


def compute_kcv(algorithm: KeyAlgorithm, key: bytes, length: int = 3) -> str:
    """KCV as upper-case hex: TDES ``E_K(0^8)``, AES ``CMAC_K(0^16)`` (X9.24-1:2017).

    Examples
    --------
    >>> compute_kcv(KeyAlgorithm.TDES, bytes.fromhex("6AC292FAA1315B4D858AB3A3D7D5933A"))
    'AF8C07'
    """
    if algorithm is KeyAlgorithm.AES:
        return kcv_aes_cmac(key, length).hex().upper()
    return kcv_tdes(key, length).hex().upper()


def next_dukpt_ksn(algorithm: KeyAlgorithm, ksn: bytes) -> bytes | None:
    """The KSN of the next DUKPT transaction, or None when the counter is exhausted.

    The counter (low 21 bits of a TDES KSN, low 32 bits of an AES KSN) moves to the next value
    with at most 10 (TDES) or 16 (AES) one-bits, as X9.24 devices do.

    Examples
    --------
    >>> next_dukpt_ksn(KeyAlgorithm.TDES, bytes.fromhex("FFFF9876543210E00000")).hex().upper()
    'FFFF9876543210E00001'
    >>> next_dukpt_ksn(KeyAlgorithm.TDES, bytes.fromhex("FFFF9876543210E003FF")).hex().upper()
    'FFFF9876543210E00400'
    >>> next_dukpt_ksn(KeyAlgorithm.TDES, bytes.fromhex("FFFF9876543210FFF800")) is None
    True
    >>> next_dukpt_ksn(KeyAlgorithm.AES, bytes.fromhex("1234567890123456FFFF0000")) is None
    True
    """
    bits, max_ones = _DUKPT_COUNTER[algorithm]
    if len(ksn) != _DUKPT_KSN_LENGTH[algorithm]:
        raise ValueError("bad KSN length")
    value = int.from_bytes(ksn, "big")
    mask = (1 << bits) - 1
    counter = (value & mask) + 1
    while counter.bit_count() > max_ones:
        counter += counter & -counter
    if counter > mask:
        return None
    return ((value & ~mask) | counter).to_bytes(len(ksn), "big")


def _dukpt_pin_key(key: StoredKey, ksn: bytes) -> bytes:
    """The PIN working key of the transaction ``ksn`` under a DUKPT initial key."""
    if key.algorithm is KeyAlgorithm.TDES:
        tk = derive_transaction_key_tdes_from_ipek(key.value, ksn)
        return derive_working_key_tdes(tk, TdesDukptKeyUsage.PIN)
    tk = derive_transaction_key_aes_from_initial_key(key.value, ksn)
    return derive_working_key_aes(
        tk, ksn, AesDukptKeyUsage.PIN_ENCRYPTION, _AES_WORKING[len(key.value)]
    )


def _kcv_matches(algorithm: KeyAlgorithm, key: bytes, expected: str) -> bool:
    exp = expected.upper()
    if len(exp) < 4 or len(exp) % 2 or len(exp) > 16:
        return False
    try:
        bytes.fromhex(exp)
    except ValueError:
        return False
    return compute_kcv(algorithm, key, len(exp) // 2) == exp


class EntryMode(Enum):
    """What the keypad is collecting."""

    PIN = "pin"
    AMOUNT = "amount"


@dataclass(kw_only=True)
class _Entry:
    mode: EntryMode
    min_length: int
    max_length: int
    inter_key_s: float
    total_s: float
    started: float
    last_key: float
    digits: list[str] = field(default_factory=list, repr=False)

    def deadline(self) -> float:
        return min(self.last_key + self.inter_key_s, self.started + self.total_s)


_Reply = tuple[EppErrorCode, tuple[str, ...]]
Handler = Callable[[m.Command], _Reply]


class EppFirmware:
    """The device side of the EPP protocol.

    Parameters
    ----------
    keystore
        Where keys persist; loaded once at construction.
    clock
        Monotonic seconds (the emulator passes ``loop.time``; tests pass a fake).
    serial_number
        Reported by status.
    """

    def __init__(
        self,
        *,
        keystore: KeyStore,
        clock: Callable[[], float],
        serial_number: str = "EMU00001",
    ) -> None:
        self._store = keystore
        self._clock = clock
        self._serial = serial_number
        self._conn = EppConnection(Role.DEVICE)
        self._keys: dict[str, StoredKey] = keystore.load()
        self._out = bytearray()
        self._fault = Fault.NONE
        self._garble_next = False
        self._last_sent: bytes = b""
        self._last_cmd: Frame | None = None
        self._last_reply: bytes = b""
        self._entry: _Entry | None = None
        self._pin: str | None = None
        self._tampered = False
        self._tamper_count = 0
        self._fdks: frozenset[str] = frozenset()
        self._backlight = True
        self._beeps = 0
        self._handlers: dict[type[m.Command], Handler] = {
            m.Sync: self._on_sync,
            m.GetStatus: self._on_status,
            m.GetTamperStatus: self._on_tamper_status,
            m.Initialize: self._on_initialize,
            m.LoadTmkComponents: self._on_load_tmk,
            m.LoadWorkingKey: self._on_load_key,
            m.LoadDukptKey: self._on_load_dukpt,
            m.StartAmountEntry: self._on_start_amount,
            m.EnableFdks: self._on_enable_fdks,
            m.DeleteKey: self._on_delete,
            m.ListKeys: self._on_list,
            m.StartPinEntry: self._on_start_entry,
            m.CancelPinEntry: self._on_cancel_entry,
            m.GetPinBlock: self._on_pin_block,
            m.Beep: self._on_beep,
            m.Backlight: self._on_backlight,
        }

    # ----------------------------------------------------------------- public surface
    @property
    def fault(self) -> Fault:
        return self._fault

    @property
    def entry_active(self) -> bool:
        return self._entry is not None

    @property
    def entry_mode(self) -> EntryMode | None:
        """The running entry's mode, if any."""
        return self._entry.mode if self._entry is not None else None

    @property
    def tampered(self) -> bool:
        return self._tampered

    @property
    def backlight(self) -> bool:
        """Keypad backlight state (set by ``l``)."""
        return self._backlight

    @property
    def beeps(self) -> int:
        """How many beeps were requested since start (``b``)."""
        return self._beeps

    @property
    def enabled_fdks(self) -> frozenset[str]:
        """Function keys that currently produce ``F`` events."""
        return self._fdks

    def key_infos(self) -> list[KeyInfo]:
        """Names and KCVs of the stored keys (never values)."""
        return [k.info() for _, k in sorted(self._keys.items())]

    def set_fault(self, fault: Fault) -> None:
        self._fault = fault
        self._garble_next = False

    def link_reset(self) -> None:
        """A new host connected: drop partial input and the duplicate-command cache."""
        self._conn.discard_partial()
        self._last_cmd = None
        self._last_reply = b""

    def data_to_send(self) -> bytes:
        """Drain the bytes the firmware wants on the wire."""
        out = bytes(self._out)
        self._out.clear()
        return out

    def next_deadline(self) -> float | None:
        """Clock value at which :meth:`tick` has work to do, if any."""
        return self._entry.deadline() if self._entry else None

    def tick(self) -> None:
        """Apply timeouts due at the current clock value."""
        if self._entry is not None and self._clock() >= self._entry.deadline():
            self._end_entry(PinEntryOutcome.TIMEOUT)

    def receive_data(self, data: bytes) -> None:
        """Feed bytes from the host and process every complete event."""
        if self._fault is Fault.SILENT:
            self._conn.discard_partial()
            return
        self._conn.receive_data(data)
        while True:
            ev = self._conn.next_event()
            if isinstance(ev, Frame):
                if self._fault is Fault.NAK_STORM:
                    self._out += self._conn.send(Nak())
                else:
                    self._on_frame(ev)
            elif isinstance(ev, Nak):
                if self._last_sent and self._fault is not Fault.NAK_STORM:
                    self._write(self._last_sent)
            elif isinstance(ev, Ack):
                pass
            elif isinstance(ev, BadFrame):
                _LOGGER.debug("bad frame", extra={"reason": ev.reason.name, "skipped": ev.skipped})
                if ev.reason is not BadFrameReason.GARBAGE or self._fault is Fault.NAK_STORM:
                    self._out += self._conn.send(Nak())
            else:
                return

    def press(self, key: str) -> bool:  # noqa: PLR0911 - one return per key kind
        """A physical key press: ``0``-``9``, ``ENTER``, ``CANCEL``, ``CLEAR`` or ``F1``-``F8``.

        Returns whether the key was accepted (keys are ignored outside an entry, digits past
        the maximum length, ENTER before the minimum length and disabled FDKs, as on real
        pads). An enabled FDK is reported at any time and never touches the entry buffer.
        """
        if key in FDK_NAMES:
            if key not in self._fdks:
                return False
            self._event(FdkEvent(key=key))
            return True
        entry = self._entry
        if entry is None:
            return False
        now = self._clock()
        if now >= entry.deadline():
            self._end_entry(PinEntryOutcome.TIMEOUT)
            return False
        if len(key) == 1 and key.isdigit():
            if len(entry.digits) >= entry.max_length:
                return False
            entry.digits.append(key)
            entry.last_key = now
            self._key_event(entry, KeyKind.DIGIT, key)
            return True
        if key == "CLEAR":
            entry.digits.clear()
            entry.last_key = now
            self._key_event(entry, KeyKind.CLEAR)
            return True
        if key == "CANCEL":
            self._key_event(entry, KeyKind.CANCEL)
            self._end_entry(PinEntryOutcome.CANCELLED)
            return True
        if key == "ENTER":
            if len(entry.digits) < entry.min_length:
                return False
            self._key_event(entry, KeyKind.ENTER)
            self._end_entry(PinEntryOutcome.OK)
            return True
        raise ValueError("unknown key name")

    def _key_event(self, entry: _Entry, kind: KeyKind, digit: str = "") -> None:
        n = len(entry.digits)
        if entry.mode is EntryMode.PIN:
            # the PIN event type has no field for the digit: it cannot leave the device
            self._event(KeyEvent(kind=kind, digits=n, display="*" if digit else ""))
        else:
            self._event(m.AmountKeyEvent(event=KeyEvent(kind=kind, digits=n, display=digit)))

    def tamper(self) -> None:
        """The tamper sensor fired: zeroise keys and PIN, go to fraudAttempt, report it."""
        self._tampered = True
        self._tamper_count += 1
        self._keys.clear()
        self._store.save(self._keys)
        if self._entry is not None:
            self._end_entry(PinEntryOutcome.ERROR, EppErrorCode.TAMPERED)
        self._pin = None
        _LOGGER.warning("tamper: keys zeroised", extra={"tamper_count": self._tamper_count})
        self._event(TamperStatus(tampered=True, count=self._tamper_count))

    # ----------------------------------------------------------------- link layer
    def _write(self, data: bytes) -> None:
        if self._fault is Fault.SILENT:
            return
        if self._fault is Fault.GARBLED and len(data) > 1:
            self._garble_next = not self._garble_next
            if self._garble_next:
                data = data[:-2] + b"ZZ"
        self._out += data

    def _send_frame(self, frame: Frame) -> bytes:
        data = self._conn.send(frame)
        self._last_sent = data
        self._write(data)
        return data

    def _event(self, event: m.EppEvent) -> None:
        self._send_frame(m.event_frame(event))

    def _on_frame(self, frame: Frame) -> None:
        self._out += self._conn.send(Ack())
        if frame.seq != 0 and frame == self._last_cmd:
            _LOGGER.debug("duplicate command, resending reply", extra={"command": frame.command})
            self._last_sent = self._last_reply
            self._write(self._last_reply)
            return
        try:
            cmd = m.decode_command(frame)
        except EppDecodeError as e:
            unknown = frame.command not in m.COMMANDS
            code = EppErrorCode.UNSUPPORTED_COMMAND if unknown else EppErrorCode.BAD_DATA
            _LOGGER.info("command rejected", extra={"command": frame.command, "why": e.reason})
            reply = m.reply_frame(frame, code)
        else:
            code, values = self._handlers[type(cmd)](cmd)
            reply = m.reply_frame(frame, code, *values)
            _LOGGER.info("command", extra={"command": frame.command, "rc": code.value})
        data = self._send_frame(reply)
        if frame.seq != 0:
            self._last_cmd, self._last_reply = frame, data

    # ----------------------------------------------------------------- commands
    def _on_sync(self, cmd: m.Command) -> _Reply:
        self._last_cmd, self._last_reply = None, b""
        return EppErrorCode.OK, ()

    def _on_beep(self, cmd: m.Command) -> _Reply:
        assert isinstance(cmd, m.Beep)
        if not 1 <= cmd.ms <= 5000:
            return EppErrorCode.BAD_DATA, ()
        self._beeps += 1
        return EppErrorCode.OK, ()

    def _on_backlight(self, cmd: m.Command) -> _Reply:
        assert isinstance(cmd, m.Backlight)
        self._backlight = cmd.on
        return EppErrorCode.OK, ()

    def _on_enable_fdks(self, cmd: m.Command) -> _Reply:
        assert isinstance(cmd, m.EnableFdks)
        self._fdks = frozenset(cmd.keys)
        return EppErrorCode.OK, ()

    def _on_status(self, cmd: m.Command) -> _Reply:
        if self._tampered:
            device = DeviceState.FRAUD_ATTEMPT
        elif self._entry is not None:
            device = DeviceState.BUSY
        else:
            device = DeviceState.ONLINE
        ready = TMK_NAME in self._keys or any(
            k.usage is KeyUsage.DUKPT for k in self._keys.values()
        )
        enc = EncryptionState.READY if ready else EncryptionState.NOT_INITIALIZED
        return EppErrorCode.OK, (
            device.value,
            enc.value,
            "1" if self._tampered else "0",
            "1" if self._entry else "0",
            FIRMWARE_VERSION,
            self._serial,
            str(len(self._keys)),
        )

    def _on_tamper_status(self, cmd: m.Command) -> _Reply:
        return EppErrorCode.OK, ("1" if self._tampered else "0", str(self._tamper_count))

    def _on_initialize(self, cmd: m.Command) -> _Reply:
        if self._entry is not None:
            self._end_entry(PinEntryOutcome.CANCELLED)
        self._keys.clear()
        self._store.save(self._keys)
        self._pin = None
        self._tampered = False
        return EppErrorCode.OK, ()

    def _on_load_tmk(self, cmd: m.Command) -> _Reply:
        assert isinstance(cmd, m.LoadTmkComponents)
        if self._tampered:
            return EppErrorCode.TAMPERED, ()
        comps = cmd.components
        if len({len(c) for c in comps}) != 1 or len(comps[0]) not in _TDES_LENGTHS:
            return EppErrorCode.BAD_KEY_SIZE, ()
        if not all(key_has_odd_parity(c) for c in comps):
            return EppErrorCode.PARITY, ()
        combined = comps[0]
        for c in comps[1:]:
            combined = xor_bytes(combined, c)
        combined = adjust_key_parity(combined)
        if not _kcv_matches(KeyAlgorithm.TDES, combined, cmd.kcv):
            return EppErrorCode.KCV_MISMATCH, ()
        kcv = compute_kcv(KeyAlgorithm.TDES, combined)
        for name in [n for n, k in self._keys.items() if k.under == TMK_NAME]:
            del self._keys[name]
        self._keys[TMK_NAME] = StoredKey(
            name=TMK_NAME, algorithm=KeyAlgorithm.TDES, usage=KeyUsage.KEK, kcv=kcv, value=combined
        )
        self._store.save(self._keys)
        return EppErrorCode.OK, (kcv,)

    def _on_load_key(self, cmd: m.Command) -> _Reply:  # noqa: PLR0911 - one rejection per check
        assert isinstance(cmd, m.LoadWorkingKey)
        if self._tampered:
            return EppErrorCode.TAMPERED, ()
        if cmd.name in (TMK_NAME, cmd.under):
            return EppErrorCode.BAD_DATA, ()
        if cmd.usage is KeyUsage.DUKPT:
            return EppErrorCode.KEY_USAGE, ()  # DUKPT keys come with a KSN: command J
        kek = self._keys.get(cmd.under)
        if kek is None:
            if cmd.under == TMK_NAME:
                return EppErrorCode.TMK_REQUIRED, ()
            return EppErrorCode.KEY_NOT_FOUND, ()
        if kek.usage is not KeyUsage.KEK or kek.algorithm is not KeyAlgorithm.TDES:
            return EppErrorCode.KEY_USAGE, ()
        sizes = _AES_LENGTHS if cmd.algorithm is KeyAlgorithm.AES else _TDES_LENGTHS
        if len(cmd.encrypted_key) not in sizes:
            return EppErrorCode.BAD_KEY_SIZE, ()
        clear = tdes_decrypt_ecb(kek.value, cmd.encrypted_key)
        if not _kcv_matches(cmd.algorithm, clear, cmd.kcv):
            return EppErrorCode.KCV_MISMATCH, ()
        if cmd.algorithm is KeyAlgorithm.TDES and not key_has_odd_parity(clear):
            return EppErrorCode.PARITY, ()
        kcv = compute_kcv(cmd.algorithm, clear)
        self._keys[cmd.name] = StoredKey(
            name=cmd.name,
            algorithm=cmd.algorithm,
            usage=cmd.usage,
            kcv=kcv,
            under=cmd.under,
            value=clear,
        )
        self._store.save(self._keys)
        return EppErrorCode.OK, (kcv,)

    def _on_load_dukpt(self, cmd: m.Command) -> _Reply:  # noqa: PLR0911 - one rejection per check
        assert isinstance(cmd, m.LoadDukptKey)
        if self._tampered:
            return EppErrorCode.TAMPERED, ()
        if cmd.name in (TMK_NAME, cmd.under):
            return EppErrorCode.BAD_DATA, ()
        sizes = _AES_LENGTHS if cmd.algorithm is KeyAlgorithm.AES else (16,)
        if len(cmd.key) not in sizes:
            return EppErrorCode.BAD_KEY_SIZE, ()
        if len(cmd.ksn) != _DUKPT_KSN_LENGTH[cmd.algorithm]:
            return EppErrorCode.BAD_LENGTH, ()
        clear = cmd.key
        if cmd.under is not None:
            kek = self._keys.get(cmd.under)
            if kek is None:
                code = EppErrorCode.TMK_REQUIRED if cmd.under == TMK_NAME else None
                return code or EppErrorCode.KEY_NOT_FOUND, ()
            if kek.usage is not KeyUsage.KEK or kek.algorithm is not KeyAlgorithm.TDES:
                return EppErrorCode.KEY_USAGE, ()
            clear = tdes_decrypt_ecb(kek.value, cmd.key)
        if not _kcv_matches(cmd.algorithm, clear, cmd.kcv):
            return EppErrorCode.KCV_MISMATCH, ()
        kcv = compute_kcv(cmd.algorithm, clear)
        self._keys[cmd.name] = StoredKey(
            name=cmd.name,
            algorithm=cmd.algorithm,
            usage=KeyUsage.DUKPT,
            kcv=kcv,
            under=cmd.under,
            value=clear,
            ksn=cmd.ksn,
        )
        self._store.save(self._keys)
        return EppErrorCode.OK, (kcv,)

    def _on_start_amount(self, cmd: m.Command) -> _Reply:
        assert isinstance(cmd, m.StartAmountEntry)
        if self._tampered:
            return EppErrorCode.TAMPERED, ()
        if self._entry is not None:
            return EppErrorCode.BUSY, ()
        if not (1 <= cmd.min_digits <= cmd.max_digits <= 12) or not (
            cmd.inter_key_ms > 0 and cmd.total_ms > 0
        ):
            return EppErrorCode.BAD_DATA, ()
        now = self._clock()
        self._entry = _Entry(
            mode=EntryMode.AMOUNT,
            min_length=cmd.min_digits,
            max_length=cmd.max_digits,
            inter_key_s=cmd.inter_key_ms / 1000,
            total_s=cmd.total_ms / 1000,
            started=now,
            last_key=now,
        )
        return EppErrorCode.OK, ()

    def _on_delete(self, cmd: m.Command) -> _Reply:
        assert isinstance(cmd, m.DeleteKey)
        if cmd.name not in self._keys:
            return EppErrorCode.KEY_NOT_FOUND, ()
        doomed = {cmd.name}
        while True:  # keys loaded under a deleted KEK go with it
            more = {n for n, k in self._keys.items() if k.under in doomed} - doomed
            if not more:
                break
            doomed |= more
        for name in doomed:
            del self._keys[name]
        self._store.save(self._keys)
        return EppErrorCode.OK, ()

    def _on_list(self, cmd: m.Command) -> _Reply:
        return EppErrorCode.OK, tuple(m.encode_key_info(k) for k in self.key_infos())

    def _on_start_entry(self, cmd: m.Command) -> _Reply:
        assert isinstance(cmd, m.StartPinEntry)
        if self._tampered:
            return EppErrorCode.TAMPERED, ()
        if self._entry is not None:
            return EppErrorCode.BUSY, ()
        if not (1 <= cmd.min_length <= cmd.max_length <= 12) or not (
            cmd.inter_key_ms > 0 and cmd.total_ms > 0
        ):
            return EppErrorCode.BAD_DATA, ()
        now = self._clock()
        self._pin = None
        self._entry = _Entry(
            mode=EntryMode.PIN,
            min_length=cmd.min_length,
            max_length=cmd.max_length,
            inter_key_s=cmd.inter_key_ms / 1000,
            total_s=cmd.total_ms / 1000,
            started=now,
            last_key=now,
        )
        return EppErrorCode.OK, ()

    def _on_cancel_entry(self, cmd: m.Command) -> _Reply:
        entry = self._entry
        if entry is not None:
            self._end_entry(PinEntryOutcome.CANCELLED)
        if entry is None or entry.mode is EntryMode.PIN:
            self._pin = None  # cancelling an amount entry keeps an earlier PIN
        return EppErrorCode.OK, ()

    def _on_pin_block(self, cmd: m.Command) -> _Reply:  # noqa: PLR0911 - one rejection per check
        assert isinstance(cmd, m.GetPinBlock)
        if self._tampered:
            return EppErrorCode.TAMPERED, ()
        if self._entry is not None:
            return EppErrorCode.BUSY, ()
        try:
            fmt = PinBlockFormat(cmd.fmt)
        except ValueError:
            return EppErrorCode.UNSUPPORTED_FORMAT, ()
        key = self._keys.get(cmd.key_name)
        if key is None:
            return EppErrorCode.KEY_NOT_FOUND, ()
        if key.usage not in (KeyUsage.PIN, KeyUsage.DUKPT) or key.algorithm is not fmt.algorithm:
            return EppErrorCode.KEY_USAGE, ()
        if self._pin is None:
            return EppErrorCode.NO_PIN, ()
        if fmt is not PinBlockFormat.ISO1 and len(cmd.pan) < 13:
            return EppErrorCode.BAD_DATA, ()
        ksn: bytes | None = None
        pin_key = key.value
        if key.usage is KeyUsage.DUKPT:
            assert key.ksn is not None
            ksn = next_dukpt_ksn(key.algorithm, key.ksn)
            if ksn is None:
                return EppErrorCode.KSN_EXHAUSTED, ()
            pin_key = _dukpt_pin_key(key, ksn)
        try:
            block = encipher_pinblock(pin_key, self._pin, cmd.pan, fmt.value)
        except CryptoError:
            return EppErrorCode.BAD_DATA, ()
        if ksn is None:
            return EppErrorCode.OK, (block.hex().upper(),)
        self._keys[key.name] = dataclasses.replace(key, ksn=ksn)
        self._store.save(self._keys)
        return EppErrorCode.OK, (block.hex().upper(), ksn.hex().upper())

    # ----------------------------------------------------------------- PIN entry
    def _end_entry(self, outcome: PinEntryOutcome, error: EppErrorCode | None = None) -> None:
        entry = self._entry
        if entry is None:
            return
        self._entry = None
        n = len(entry.digits)
        if entry.mode is EntryMode.AMOUNT:
            value = "".join(entry.digits) if outcome is PinEntryOutcome.OK else ""
            entry.digits.clear()
            self._event(AmountEntryResult(outcome=outcome, value=value, error=error))
            return
        self._pin = "".join(entry.digits) if outcome is PinEntryOutcome.OK else None
        entry.digits.clear()
        self._event(PinEntryResult(outcome=outcome, digits=n, error=error))
