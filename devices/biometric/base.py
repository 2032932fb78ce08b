"""The fingerprint reader interface (step-up factor): Protocol, request, result and events.

A reader compares a live finger with an *enrolled template*, named by an opaque
``template_id``, and returns a match score (0..``capabilities.max_score``) and whether it
reaches the threshold. No biometric data crosses this API: neither the live image nor the
template, only ids and scores (as with match-on-device readers). Expected outcomes (no match,
no finger, poor quality, unknown template) are result values; exceptions mean a broken device.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from devices.common.codes import CompletionCode, DeviceState, Outcome
from devices.common.events import DeviceEvent, EventSink

__all__ = [
    "BiometricCapabilities",
    "BiometricOutcome",
    "BiometricStatus",
    "FingerPresentedEvent",
    "FingerprintReader",
    "PresentFingerEvent",
    "VerifyRequest",
    "VerifyResult",
]


class BiometricOutcome(Outcome):
    """How ``verify`` ended (XFS4IoT Biometric style codes)."""

    MATCH = ("match", CompletionCode.SUCCESS, None)
    NO_MATCH = ("noMatch", CompletionCode.COMMAND_ERROR_CODE, "noMatch")
    NO_FINGER = ("noFinger", CompletionCode.USER_ERROR, "noFinger")
    POOR_QUALITY = ("poorQuality", CompletionCode.COMMAND_ERROR_CODE, "poorImageQuality")
    TEMPLATE_NOT_FOUND = ("templateNotFound", CompletionCode.COMMAND_ERROR_CODE, "keyNotFound")
    DEVICE_NOT_READY = ("deviceNotReady", CompletionCode.DEVICE_NOT_READY, None)
    TIMEOUT = ("timeout", CompletionCode.TIMEOUT, None)
    CANCELED = ("canceled", CompletionCode.CANCELED, None)


@dataclass(frozen=True, kw_only=True)
class VerifyRequest:
    """Compare the finger on the sensor with ``template_id``.

    Parameters
    ----------
    template_id
        Opaque id of the enrolled template (from the host's enrolment record).
    transaction_id
        Correlates the trace record with the transaction.
    threshold
        Score needed to match; None uses the reader's configured threshold.
    finger_timeout
        Seconds to wait for a finger before ``NO_FINGER``.
    """

    template_id: str
    transaction_id: str = ""
    threshold: int | None = None
    finger_timeout: float = 15.0


@dataclass(frozen=True, kw_only=True)
class VerifyResult:
    """``score`` and the ``threshold`` applied; ``matched`` iff outcome is MATCH."""

    outcome: BiometricOutcome
    template_id: str
    score: int = 0
    threshold: int = 0

    @property
    def matched(self) -> bool:
        return self.outcome is BiometricOutcome.MATCH

    @property
    def completion(self) -> CompletionCode:
        """XFS completion code."""
        return self.outcome.completion


@dataclass(frozen=True, kw_only=True)
class BiometricStatus:
    """Immutable status snapshot."""

    device: DeviceState = DeviceState.ONLINE
    finger_present: bool = False


@dataclass(frozen=True, kw_only=True)
class BiometricCapabilities:
    """What the reader can do."""

    modality: str = "fingerprint"
    max_score: int = 100
    default_threshold: int = 60


@dataclass(frozen=True, kw_only=True)
class PresentFingerEvent(DeviceEvent):
    """Execute event: the reader waits for a finger (prompt the customer)."""


@dataclass(frozen=True, kw_only=True)
class FingerPresentedEvent(DeviceEvent):
    """Execute event: a finger was captured; matching follows."""


@runtime_checkable
class FingerprintReader(Protocol):
    """A fingerprint reader; real drivers and the emulator implement it."""

    @property
    def name(self) -> str: ...

    @property
    def status(self) -> BiometricStatus: ...

    @property
    def capabilities(self) -> BiometricCapabilities: ...

    async def verify(self, req: VerifyRequest, events: EventSink) -> VerifyResult:
        """Capture a finger and match it against ``req.template_id``."""

    def cancel(self) -> bool:
        """Cancel the running command; it completes with CANCELED."""
