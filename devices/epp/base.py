"""The PIN pad as the terminal sees it: the ``PinPad`` Protocol and its frozen value types.

Modelled on XFS4IoT's Keyboard (PIN entry: masked key events, digit count, completion key) and
PinPad / KeyManagement interfaces (GetPinBlock, ImportKey with KCV, DeleteKey). The clear PIN never
crosses this API (STYLE DEV-5): ``enter_pin`` reports only key kinds and a digit count, and
``get_pin_block`` returns the block already encrypted under a named key.

The EPP keeps its own completion/error codes here (``EppErrorCode``); they are the two-character
codes that travel on the wire (see :mod:`devices.epp.messages`), in the style of the public ZT588
EPP codes (E2 TMK required, E4 key not found, E6 parity...).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum
from typing import Protocol, runtime_checkable

__all__ = [
    "FDK_NAMES",
    "AmountEntryRequest",
    "AmountEntryResult",
    "DeviceState",
    "DukptPinBlock",
    "EncryptionState",
    "EppErrorCode",
    "EppStatus",
    "FdkEvent",
    "KeyAlgorithm",
    "KeyEvent",
    "KeyInfo",
    "KeyKind",
    "KeyLoadResult",
    "KeyUsage",
    "PinBlockFormat",
    "PinEntryOutcome",
    "PinEntryRequest",
    "PinEntryResult",
    "PinPad",
    "TamperStatus",
]


class EppErrorCode(Enum):
    """EPP result codes; the value is the two-character wire code."""

    OK = "00"
    UNSUPPORTED_FORMAT = "E1"
    TMK_REQUIRED = "E2"
    BAD_KEY_SIZE = "E3"
    KEY_NOT_FOUND = "E4"
    KCV_MISMATCH = "E5"
    PARITY = "E6"
    TAMPERED = "E7"
    BAD_LENGTH = "E8"
    BUSY = "E9"
    BAD_DATA = "EA"
    UNSUPPORTED_COMMAND = "EB"
    NO_PIN = "EC"
    KEY_USAGE = "ED"
    KSN_EXHAUSTED = "EE"
    GENERAL = "EF"


class DeviceState(Enum):
    """XFS4IoT ``Common.status.device`` subset."""

    ONLINE = "online"
    BUSY = "deviceBusy"
    FRAUD_ATTEMPT = "fraudAttempt"
    HARDWARE_ERROR = "hardwareError"


class EncryptionState(Enum):
    """XFS4IoT ``KeyManagement.encryptionState`` subset: ready once a TMK is loaded."""

    READY = "ready"
    NOT_INITIALIZED = "notInitialized"


class KeyAlgorithm(Enum):
    """X9.143 algorithm letter."""

    TDES = "T"
    AES = "A"


class KeyUsage(Enum):
    """X9.143 (TR-31) key usage."""

    KEK = "K0"
    PIN = "P0"
    DUKPT = "B1"  # X9.143 B1: initial DUKPT key (TDES IPEK or AES initial key)
    MAC = "M0"
    DATA = "D0"


class PinBlockFormat(Enum):
    """PIN block formats by their Thales code (the ``fmt`` argument of ``get_pin_block``)."""

    ISO0 = "01"
    ISO1 = "05"
    ISO3 = "47"
    ISO4 = "48"

    @property
    def algorithm(self) -> KeyAlgorithm:
        """The key algorithm the format needs (ISO 4 is AES-only, the others TDES)."""
        return KeyAlgorithm.AES if self is PinBlockFormat.ISO4 else KeyAlgorithm.TDES


FDK_NAMES = ("F1", "F2", "F3", "F4", "F5", "F6", "F7", "F8")
"""Function display keys beside the screen (XFS ``fdk01``..``fdk08``), left top to right bottom."""


class KeyKind(Enum):
    """What kind of key the customer pressed (during PIN entry never which digit)."""

    DIGIT = "D"
    CLEAR = "C"
    CANCEL = "X"
    ENTER = "E"


class PinEntryOutcome(Enum):
    """How a PIN entry ended."""

    OK = "OK"
    CANCELLED = "CANCELLED"
    TIMEOUT = "TIMEOUT"
    ERROR = "ERROR"


@dataclass(frozen=True, kw_only=True)
class EppStatus:
    """A status snapshot."""

    device: DeviceState
    encryption: EncryptionState
    tampered: bool
    pin_entry_active: bool
    firmware: str
    serial_number: str
    key_count: int


@dataclass(frozen=True, kw_only=True)
class TamperStatus:
    """Tamper sensor state: once tampered, keys are zeroised until ``initialize``."""

    tampered: bool
    count: int


@dataclass(frozen=True, kw_only=True)
class KeyInfo:
    """What the EPP tells about a stored key: never its value.

    ``ksn`` is the current key serial number (hex) of a DUKPT key: the KSN of the last PIN block
    produced, or the injected KSN before the first one; empty for other keys.
    """

    name: str
    algorithm: KeyAlgorithm
    usage: KeyUsage
    length: int
    kcv: str
    ksn: str = ""


@dataclass(frozen=True, kw_only=True)
class KeyLoadResult:
    """Outcome of a key load; ``kcv`` is the KCV the EPP computed (empty on error)."""

    code: EppErrorCode
    kcv: str = ""

    @property
    def ok(self) -> bool:
        return self.code is EppErrorCode.OK


@dataclass(frozen=True, kw_only=True)
class PinEntryRequest:
    """Parameters of one PIN entry.

    Examples
    --------
    >>> PinEntryRequest().max_length
    12
    >>> PinEntryRequest(min_length=7, max_length=6)
    Traceback (most recent call last):
    ...
    ValueError: need 1 <= min_length <= max_length <= 12
    """

    min_length: int = 4
    max_length: int = 12
    inter_key_timeout_s: float = 15.0
    total_timeout_s: float = 60.0

    def __post_init__(self) -> None:
        if not 1 <= self.min_length <= self.max_length <= 12:
            raise ValueError("need 1 <= min_length <= max_length <= 12")
        if self.inter_key_timeout_s <= 0 or self.total_timeout_s <= 0:
            raise ValueError("timeouts must be positive")


@dataclass(frozen=True, kw_only=True)
class KeyEvent:
    """One masked key press: the kind, the echo (``*`` for a digit) and the digits so far."""

    kind: KeyKind
    digits: int
    display: str = ""


@dataclass(frozen=True, kw_only=True)
class FdkEvent:
    """A function display key (``F1``..``F8``) was pressed while FDKs were enabled."""

    key: str


@dataclass(frozen=True, kw_only=True)
class AmountEntryRequest:
    """Parameters of one numeric (amount) entry: digits are echoed in clear.

    Only for amounts and other non-secret numbers: the EPP refuses it while a PIN entry runs
    and never echoes PIN digits. ``max_digits`` counts minor units (``100.00`` is 5 digits).

    Examples
    --------
    >>> AmountEntryRequest(max_digits=7).min_digits
    1
    >>> AmountEntryRequest(max_digits=13)
    Traceback (most recent call last):
    ...
    ValueError: need 1 <= min_digits <= max_digits <= 12
    """

    min_digits: int = 1
    max_digits: int = 8
    inter_key_timeout_s: float = 15.0
    total_timeout_s: float = 60.0

    def __post_init__(self) -> None:
        if not 1 <= self.min_digits <= self.max_digits <= 12:
            raise ValueError("need 1 <= min_digits <= max_digits <= 12")
        if self.inter_key_timeout_s <= 0 or self.total_timeout_s <= 0:
            raise ValueError("timeouts must be positive")


@dataclass(frozen=True, kw_only=True)
class AmountEntryResult:
    """How an amount entry ended; ``value`` is the digits entered (empty unless OK)."""

    outcome: PinEntryOutcome
    value: str = ""
    error: EppErrorCode | None = None


@dataclass(frozen=True, kw_only=True)
class DukptPinBlock:
    """A PIN block under a DUKPT-derived PIN key and the KSN the host needs to derive it.

    ``block`` is never in ``repr`` (STYLE SEC-1); the KSN is not secret.
    """

    block: bytes = field(repr=False)
    ksn: bytes


@dataclass(frozen=True, kw_only=True)
class PinEntryResult:
    """How PIN entry ended and how many digits were entered (the digits stay in the EPP)."""

    outcome: PinEntryOutcome
    digits: int
    error: EppErrorCode | None = None


@runtime_checkable
class PinPad(Protocol):
    """What the terminal uses; implemented by :class:`devices.epp.driver.EppDriver`."""

    async def open(self) -> None: ...

    async def close(self) -> None: ...

    async def status(self) -> EppStatus: ...

    async def tamper_status(self) -> TamperStatus: ...

    async def load_tmk_components(self, components: list[bytes], *, kcv: str) -> KeyLoadResult: ...

    async def load_key_under(
        self,
        name: str,
        *,
        under: str,
        encrypted_key: bytes,
        kcv: str,
        algorithm: KeyAlgorithm = KeyAlgorithm.TDES,
        usage: KeyUsage = KeyUsage.PIN,
    ) -> KeyLoadResult: ...

    async def delete_key(self, name: str) -> EppErrorCode: ...

    async def list_keys(self) -> list[KeyInfo]: ...

    async def enter_pin(
        self, req: PinEntryRequest, on_key: Callable[[KeyEvent], None]
    ) -> PinEntryResult: ...

    async def get_pin_block(self, *, key_name: str, fmt: str, pan: str) -> bytes: ...

    async def load_dukpt_key(
        self,
        name: str,
        *,
        algorithm: KeyAlgorithm,
        initial_key: bytes,
        ksn: bytes,
        kcv: str,
        under: str | None = None,
    ) -> KeyLoadResult: ...

    async def get_dukpt_pin_block(self, *, key_name: str, fmt: str, pan: str) -> DukptPinBlock: ...
