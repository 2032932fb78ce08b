"""Cash dispenser contract (over every implementation; today the emulated one).

Every amount from 10 to 5,000 (step 10) against random cassette fills, through the device:
either the exact amount reaches the stacker or the dispenser answers ``notDispensable`` exactly
when no exact mix exists; notes are conserved throughout.
"""

from __future__ import annotations

import random
from collections.abc import Callable

import pytest

from devices.cdm.base import CashDispenser, DispenseOutcome, DispenseRequest, RetractOutcome
from devices.cdm.emulated import EmulatedCashDispenser, default_cny_cassettes
from devices.cdm.mix import MixAlgorithm, can_pay
from devices.common.codes import CompletionCode
from devices.common.storage import StorageUnit

Factory = Callable[[tuple[StorageUnit, ...]], CashDispenser]
IMPLEMENTATIONS: dict[str, Factory] = {
    "emulated": lambda units: EmulatedCashDispenser(cassettes=units, reject_capacity=10**6),
}


@pytest.fixture(params=sorted(IMPLEMENTATIONS))
def make(request: pytest.FixtureRequest) -> Factory:
    return IMPLEMENTATIONS[request.param]


def _conserved(cdm: CashDispenser) -> None:
    c = cdm.counters()
    assert c.loaded - c.unloaded == (
        c.remaining + c.dispensed + c.retracted + c.rejected + c.in_transport
    )


@pytest.mark.asyncio
@pytest.mark.parametrize("seed", [1, 2])
@pytest.mark.parametrize("algorithm", list(MixAlgorithm))
async def test_every_amount_10_to_5000(make: Factory, seed: int, algorithm: MixAlgorithm) -> None:
    rng = random.Random(seed)
    units = tuple(
        u.with_count(rng.randint(0, 40)) for u in default_cny_cassettes(count=0, capacity=2500)
    )
    cdm = make(units)
    for major in range(10, 5001, 10):
        amount = major * 100
        avail = {u.denomination: u.count for u in cdm.status.units if u.denomination}
        r = await cdm.dispense(
            DispenseRequest(amount=amount, currency="CNY", mix=algorithm), lambda e: None
        )
        if can_pay(amount, avail):
            assert r.outcome is DispenseOutcome.OK and r.amount_dispensed == amount
            assert sum(d * k for d, k in r.notes.items()) == amount
            assert (await cdm.reject(lambda e: None)).outcome is RetractOutcome.OK
            for u in cdm.status.units:  # put the notes back so every amount sees the fill
                if u.denomination in r.notes and u.denomination:
                    await cdm.replenish(u.unit_id, u.count + r.notes.pop(u.denomination))
        else:
            assert r.outcome is DispenseOutcome.NOT_DISPENSABLE
            assert (r.completion, r.outcome.error_code) == (
                CompletionCode.COMMAND_ERROR_CODE, "notDispensable")
        _conserved(cdm)
