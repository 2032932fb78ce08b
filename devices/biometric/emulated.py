"""Emulated fingerprint reader: deterministic scores, configurable threshold, injectable faults.

Enrolment maps an opaque ``template_id`` to the label of the finger it was taken from
(``enroll("TPL-0001", "alice-right-index")``). A scenario puts a finger on the sensor with
:meth:`EmulatedFingerprintReader.present` (or the reader is built with ``auto_finger`` to use
the enrolled finger at once). The score is a pure function of (template id, finger label):
80..100 for the enrolled finger, 0..39 for any other, so runs are reproducible.

Faults (one-shot, :meth:`~EmulatedFingerprintReader.inject_fault`): ``NO_FINGER`` (nobody
touches the sensor: ``NO_FINGER`` at once), ``TIMEOUT`` (the device hangs: the command
timeout fires), ``POOR_QUALITY`` (the capture is unusable).
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import time
from collections.abc import Callable
from enum import StrEnum

from devices.biometric.base import (
    BiometricCapabilities,
    BiometricOutcome,
    BiometricStatus,
    FingerPresentedEvent,
    PresentFingerEvent,
    VerifyRequest,
    VerifyResult,
)
from devices.common.codes import CompletionCode
from devices.common.events import EventBus, EventSink
from devices.common.service import DeviceService

__all__ = ["BiometricFault", "EmulatedFingerprintReader", "match_score"]


class BiometricFault(StrEnum):
    """Injectable faults."""

    NO_FINGER = "noFinger"
    TIMEOUT = "timeout"
    POOR_QUALITY = "poorQuality"


def match_score(template_id: str, finger: str, *, enrolled: bool) -> int:
    """Deterministic score: 80..100 for the enrolled finger, 0..39 otherwise.

    Examples
    --------
    >>> match_score("TPL-1", "alice-right-index", enrolled=True)
    91
    >>> match_score("TPL-1", "bob-left-thumb", enrolled=False) < 40
    True
    """
    h = int.from_bytes(hashlib.sha256(f"{template_id}\x00{finger}".encode()).digest()[:4], "big")
    return 80 + h % 21 if enrolled else h % 40


class EmulatedFingerprintReader(DeviceService[BiometricStatus]):
    """In-process fingerprint reader.

    Parameters
    ----------
    threshold
        Default score needed to match (a request may override it).
    templates
        Initial enrolment: template id -> finger label.
    auto_finger
        When no finger was presented, use the enrolled finger (demos); otherwise wait.
    """

    def __init__(
        self,
        *,
        name: str = "bio",
        threshold: int = 60,
        templates: dict[str, str] | None = None,
        auto_finger: bool = False,
        bus: EventBus | None = None,
        command_timeout: float | None = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(
            name=name, status=BiometricStatus(), bus=bus, command_timeout=command_timeout,
            clock=clock,
        )
        if not 0 <= threshold <= 100:
            raise ValueError("threshold must be 0..100")
        self._capabilities = BiometricCapabilities(default_threshold=threshold)
        self._templates = dict(templates or {})
        self._auto = auto_finger
        self._faults: set[BiometricFault] = set()
        self._finger: str | None = None
        self._finger_changed = asyncio.Event()

    @property
    def capabilities(self) -> BiometricCapabilities:
        """Reader capabilities."""
        return self._capabilities

    def enroll(self, template_id: str, finger: str) -> None:
        """Supervisor/back office: register ``finger`` under ``template_id``."""
        self._templates[template_id] = finger

    def present(self, finger: str) -> None:
        """A finger is put on the sensor (consumed by the next verification)."""
        self._finger = finger
        self._set_status(dataclasses.replace(self.status, finger_present=True))
        self._finger_changed.set()

    def inject_fault(self, fault: BiometricFault) -> None:
        """Arm a one-shot fault."""
        self._faults.add(fault)

    async def verify(self, req: VerifyRequest, events: EventSink) -> VerifyResult:
        """Capture a finger and score it against ``req.template_id``."""
        threshold = req.threshold if req.threshold is not None else (
            self._capabilities.default_threshold
        )

        def aborted(c: CompletionCode) -> VerifyResult:
            outcome = BiometricOutcome.TIMEOUT if c is CompletionCode.TIMEOUT else (
                BiometricOutcome.CANCELED
            )
            return VerifyResult(outcome=outcome, template_id=req.template_id, threshold=threshold)

        return await self._execute(
            "verify",
            lambda: self._do_verify(req, threshold, events),
            aborted=aborted,
            timeout=self._command_timeout,
        )

    def _take(self, fault: BiometricFault) -> bool:
        if fault in self._faults:
            self._faults.discard(fault)
            return True
        return False

    async def _do_verify(
        self, req: VerifyRequest, threshold: int, events: EventSink
    ) -> VerifyResult:
        def result(outcome: BiometricOutcome, score: int = 0) -> VerifyResult:
            return VerifyResult(
                outcome=outcome, template_id=req.template_id, score=score, threshold=threshold
            )

        enrolled = self._templates.get(req.template_id)
        if enrolled is None:
            return result(BiometricOutcome.TEMPLATE_NOT_FOUND)
        if self._take(BiometricFault.TIMEOUT):
            await asyncio.Event().wait()  # hangs until the command timeout cancels it
        events(PresentFingerEvent(device=self.name))
        if self._take(BiometricFault.NO_FINGER):
            return result(BiometricOutcome.NO_FINGER)
        if self._finger is None and self._auto:
            self.present(enrolled)
        if self._finger is None:
            self._finger_changed.clear()
            try:
                await asyncio.wait_for(self._finger_changed.wait(), req.finger_timeout)
            except TimeoutError:
                return result(BiometricOutcome.NO_FINGER)
        finger, self._finger = self._finger, None
        self._set_status(dataclasses.replace(self.status, finger_present=False))
        assert finger is not None
        events(FingerPresentedEvent(device=self.name))
        if self._take(BiometricFault.POOR_QUALITY):
            return result(BiometricOutcome.POOR_QUALITY)
        score = match_score(req.template_id, finger, enrolled=finger == enrolled)
        outcome = BiometricOutcome.MATCH if score >= threshold else BiometricOutcome.NO_MATCH
        return result(outcome, score)
