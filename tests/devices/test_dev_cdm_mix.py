"""Mix algorithms: exactness, impossibility against an oracle, optimality against brute force."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from devices.cdm.mix import MixAlgorithm, can_pay, mix

DENOMS = (10000, 5000, 2000, 1000)


def _oracle_reachable(available: dict[int, int], limit: int) -> set[int]:
    """Independent set-based oracle: every payable amount up to ``limit``."""
    sums = {0}
    for d, c in available.items():
        sums = {s + k * d for s in sums for k in range(c + 1) if s + k * d <= limit}
    return sums


def _brute(amount: int, available: dict[int, int]) -> list[dict[int, int]]:
    items = sorted(available.items())
    out = []
    for ks in itertools.product(*(range(c + 1) for _, c in items)):
        if sum(k * d for k, (d, _) in zip(ks, items, strict=True)) == amount:
            out.append({d: k for k, (d, _) in zip(ks, items, strict=True) if k})
    return out


fills = st.fixed_dictionaries({d: st.integers(0, 60) for d in DENOMS})


@settings(max_examples=25, deadline=None)
@given(fill=fills, algorithm=st.sampled_from(MixAlgorithm))
def test_every_amount_mixes_exactly_or_is_impossible(
    fill: dict[int, int], algorithm: MixAlgorithm
) -> None:
    reachable = _oracle_reachable(fill, 500000)
    for major in range(10, 5001, 10):
        amount = major * 100
        notes = mix(amount, fill, algorithm)
        if notes is None:
            assert amount not in reachable
            assert not can_pay(amount, fill)
        else:
            assert amount in reachable
            assert sum(d * k for d, k in notes.items()) == amount
            assert all(0 < k <= fill[d] for d, k in notes.items())


small_fills = st.fixed_dictionaries({d: st.integers(0, 4) for d in DENOMS})


@settings(max_examples=60, deadline=None)
@given(fill=small_fills, major=st.integers(1, 200).map(lambda x: x * 10))
def test_optimal_against_brute_force(fill: dict[int, int], major: int) -> None:
    amount = major * 100
    options = _brute(amount, fill)
    least = mix(amount, fill, MixAlgorithm.MINIMUM_NOTES)
    even = mix(amount, fill, MixAlgorithm.EVEN_SPREAD)
    if not options:
        assert least is None and even is None
        return
    assert least is not None and even is not None
    assert sum(least.values()) == min(sum(o.values()) for o in options)
    best_max = min(max(o.values()) for o in options)
    assert max(even.values()) == best_max
    assert sum(even.values()) == min(
        sum(o.values()) for o in options if max(o.values()) == best_max
    )


# fmt: off
@pytest.mark.parametrize(("amount", "fill", "expected"), [
    (8000,  {10000: 5, 5000: 5, 2000: 5, 1000: 5}, {5000: 1, 2000: 1, 1000: 1}),
    (6000,  {5000: 1, 2000: 3},                    {2000: 3}),
    (30000, {10000: 2, 5000: 0, 2000: 10},         {10000: 2, 2000: 5}),
    (3000,  {2000: 5},                             None),
    (1500,  {1000: 5},                             None),
])
def test_minimum_notes_vectors(amount: int, fill: dict[int, int], expected: object) -> None:
    assert mix(amount, fill, MixAlgorithm.MINIMUM_NOTES) == expected
# fmt: on
