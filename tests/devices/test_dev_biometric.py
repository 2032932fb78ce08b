"""Fingerprint reader contract (over every implementation; today the emulated one)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from devices.biometric.base import (
    BiometricOutcome,
    FingerPresentedEvent,
    FingerprintReader,
    PresentFingerEvent,
    VerifyRequest,
)
from devices.biometric.emulated import BiometricFault, EmulatedFingerprintReader, match_score
from devices.common.codes import CompletionCode
from devices.common.events import DeviceEvent

TEMPLATES = {"TPL-0001": "alice-right-index", "TPL-0002": "bob-left-thumb"}


class Rec(list[DeviceEvent]):
    def __init__(self) -> None:
        super().__init__()
        self.prompted = asyncio.Event()

    def __call__(self, e: DeviceEvent) -> None:
        self.append(e)
        if isinstance(e, PresentFingerEvent):
            self.prompted.set()


Factory = Callable[..., EmulatedFingerprintReader]
IMPLEMENTATIONS: dict[str, Factory] = {
    "emulated": lambda **kw: EmulatedFingerprintReader(templates=dict(TEMPLATES), **kw),
}


@pytest.fixture(params=sorted(IMPLEMENTATIONS))
def make(request: pytest.FixtureRequest) -> Factory:
    return IMPLEMENTATIONS[request.param]


@pytest.mark.asyncio
async def test_enrolled_finger_matches_with_score(make: Factory) -> None:
    r = make()
    assert isinstance(r, FingerprintReader)
    r.present("alice-right-index")
    rec = Rec()
    res = await r.verify(VerifyRequest(template_id="TPL-0001", transaction_id="T1-000001"), rec)
    assert res.matched and res.completion is CompletionCode.SUCCESS
    assert res.score == match_score("TPL-0001", "alice-right-index", enrolled=True) >= 80
    assert res.threshold == r.capabilities.default_threshold == 60
    assert [type(e) for e in rec] == [PresentFingerEvent, FingerPresentedEvent]
    assert not r.status.finger_present


@pytest.mark.asyncio
async def test_other_finger_does_not_match_and_is_deterministic(make: Factory) -> None:
    r = make()
    scores = []
    for _ in range(2):
        r.present("bob-left-thumb")
        res = await r.verify(VerifyRequest(template_id="TPL-0001"), Rec())
        assert res.outcome is BiometricOutcome.NO_MATCH and res.outcome.error_code == "noMatch"
        scores.append(res.score)
    assert scores[0] == scores[1] < 40


@pytest.mark.asyncio
async def test_threshold_is_configurable(make: Factory) -> None:
    score = match_score("TPL-0001", "alice-right-index", enrolled=True)
    strict = make(threshold=score + 1)
    strict.present("alice-right-index")
    res = await strict.verify(VerifyRequest(template_id="TPL-0001"), Rec())
    assert res.outcome is BiometricOutcome.NO_MATCH and res.threshold == score + 1
    strict.present("alice-right-index")
    res = await strict.verify(VerifyRequest(template_id="TPL-0001", threshold=score), Rec())
    assert res.matched
    with pytest.raises(ValueError, match="threshold"):
        make(threshold=101)


@pytest.mark.asyncio
async def test_waits_for_the_finger(make: Factory) -> None:
    r = make()
    rec = Rec()
    task = asyncio.create_task(r.verify(VerifyRequest(template_id="TPL-0002"), rec))
    await rec.prompted.wait()  # the reader asked for a finger
    r.present("bob-left-thumb")
    assert (await task).matched


# fmt: off
FAULTS = [
    (BiometricFault.NO_FINGER,    BiometricOutcome.NO_FINGER,    CompletionCode.USER_ERROR),
    (BiometricFault.POOR_QUALITY, BiometricOutcome.POOR_QUALITY, CompletionCode.COMMAND_ERROR_CODE),
    (BiometricFault.TIMEOUT,      BiometricOutcome.TIMEOUT,      CompletionCode.TIMEOUT),
]
# fmt: on


@pytest.mark.asyncio
@pytest.mark.parametrize(("fault", "outcome", "completion"), FAULTS)
async def test_faults_map_to_outcomes(
    make: Factory, fault: BiometricFault, outcome: BiometricOutcome, completion: CompletionCode
) -> None:
    r = make(command_timeout=0.2, auto_finger=True)
    r.inject_fault(fault)
    res = await r.verify(VerifyRequest(template_id="TPL-0001"), Rec())
    assert (res.outcome, res.completion, res.matched) == (outcome, completion, False)
    assert (await r.verify(VerifyRequest(template_id="TPL-0001"), Rec())).matched  # one-shot


@pytest.mark.asyncio
async def test_no_finger_within_timeout_and_unknown_template(make: Factory) -> None:
    r = make()
    res = await r.verify(VerifyRequest(template_id="TPL-0001", finger_timeout=0.05), Rec())
    assert res.outcome is BiometricOutcome.NO_FINGER
    res = await r.verify(VerifyRequest(template_id="TPL-9999"), Rec())
    assert res.outcome is BiometricOutcome.TEMPLATE_NOT_FOUND


@pytest.mark.asyncio
async def test_cancel(make: Factory) -> None:
    r = make()
    rec = Rec()
    task = asyncio.create_task(r.verify(VerifyRequest(template_id="TPL-0001"), rec))
    await rec.prompted.wait()
    assert r.cancel()
    assert (await task).outcome is BiometricOutcome.CANCELED
