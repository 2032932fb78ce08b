"""Note mix (denomination) algorithms: pure functions, no I/O.

``available`` maps a denomination (minor units) to the number of notes that may be used.
Every algorithm returns an exact mix (``{denomination: count}`` without zero entries) or None
when the amount cannot be paid from what is available.

Examples
--------
>>> mix(8000, {10000: 5, 5000: 5, 2000: 5, 1000: 5}, MixAlgorithm.MINIMUM_NOTES)
{5000: 1, 2000: 1, 1000: 1}
>>> mix(6000, {5000: 1, 2000: 3}, MixAlgorithm.MINIMUM_NOTES)
{2000: 3}
>>> mix(8000, {10000: 5, 5000: 5, 2000: 5, 1000: 5}, MixAlgorithm.EVEN_SPREAD)
{5000: 1, 2000: 1, 1000: 1}
>>> mix(40000, {10000: 5, 5000: 5, 2000: 5, 1000: 5}, MixAlgorithm.EVEN_SPREAD)
{10000: 3, 5000: 2}
>>> mix(3000, {2000: 5}, MixAlgorithm.MINIMUM_NOTES) is None
True
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from enum import StrEnum

__all__ = ["MixAlgorithm", "can_pay", "mix", "mix_even_spread", "mix_minimum_notes"]


class MixAlgorithm(StrEnum):
    """How to choose the notes."""

    MINIMUM_NOTES = "minimumNotes"
    EVEN_SPREAD = "evenSpread"  # smallest largest per-denomination count, then fewest notes


def _reachable(denoms: list[tuple[int, int]]) -> int:
    """Bitmask of every sum payable with ``(denomination, count)`` pairs (bit n = amount n)."""
    mask = 1
    for d, c in denoms:
        k = 1
        left = c
        while left > 0:  # binary splitting of the bounded count
            take = min(k, left)
            mask |= mask << (take * d)
            left -= take
            k *= 2
    return mask


def _normalise(available: Mapping[int, int], cap: int | None = None) -> list[tuple[int, int]]:
    return sorted(
        ((d, c if cap is None else min(c, cap)) for d, c in available.items() if d > 0 and c > 0),
        reverse=True,
    )


def can_pay(amount: int, available: Mapping[int, int]) -> bool:
    """True when ``amount`` can be paid exactly.

    Examples
    --------
    >>> can_pay(6000, {5000: 1, 2000: 3}), can_pay(3000, {2000: 5})
    (True, False)
    """
    sc = _scaled(amount, available)
    if sc is None:
        return False
    units, avail, _ = sc
    return bool(_reachable(_normalise(avail)) >> units & 1)


def _min_notes(amount: int, denoms: list[tuple[int, int]]) -> dict[int, int] | None:
    if amount < 0:
        return None
    suffix = [1] * (len(denoms) + 1)  # suffix[i]: sums payable with denoms[i:]
    for i in range(len(denoms) - 1, -1, -1):
        suffix[i] = _reachable(denoms[i:])
    if not suffix[0] >> amount & 1:
        return None
    best: list[int] = []
    best_n = [amount + 1]
    counts = [0] * len(denoms)

    def search(i: int, rem: int, used: int) -> None:
        if rem == 0:
            if used < best_n[0]:
                best_n[0] = used
                best[:] = counts[:]
            return
        if i == len(denoms):
            return
        d, c = denoms[i]
        if used + -(-rem // d) >= best_n[0]:
            return
        for k in range(min(c, rem // d), -1, -1):
            if used + k + (-(-(rem - k * d) // denoms[i + 1][0]) if i + 1 < len(denoms) and
                            rem - k * d else 0) >= best_n[0]:
                break
            if suffix[i + 1] >> (rem - k * d) & 1:
                counts[i] = k
                search(i + 1, rem - k * d, used + k)
        counts[i] = 0

    search(0, amount, 0)
    return {d: k for (d, _), k in zip(denoms, best, strict=True) if k}


def mix_minimum_notes(amount: int, available: Mapping[int, int]) -> dict[int, int] | None:
    """The exact mix with the fewest notes, or None."""
    sc = _scaled(amount, available)
    if sc is None:
        return None
    units, avail, g = sc
    got = _min_notes(units, _normalise(avail))
    return None if got is None else {d * g: k for d, k in got.items()}


def mix_even_spread(amount: int, available: Mapping[int, int]) -> dict[int, int] | None:
    """The exact mix whose largest per-denomination count is smallest (cassettes empty evenly);
    among those, the fewest notes. None when impossible."""
    sc = _scaled(amount, available)
    if sc is None:
        return None
    units, avail, g = sc
    got = _even(units, avail)
    return None if got is None else {d * g: k for d, k in got.items()}


def _even(amount: int, available: Mapping[int, int]) -> dict[int, int] | None:
    denoms = _normalise(available)
    if amount < 0 or not _reachable(denoms) >> amount & 1:
        return None
    if amount == 0:
        return {}
    lo, hi = 1, max(c for _, c in denoms)
    while lo < hi:  # payability is monotone in the per-denomination cap
        mid = (lo + hi) // 2
        if _reachable(_normalise(available, mid)) >> amount & 1:
            hi = mid
        else:
            lo = mid + 1
    return _min_notes(amount, _normalise(available, lo))


def mix(
    amount: int, available: Mapping[int, int], algorithm: MixAlgorithm
) -> dict[int, int] | None:
    """Dispatch to the chosen algorithm."""
    if algorithm is MixAlgorithm.EVEN_SPREAD:
        return mix_even_spread(amount, available)
    return mix_minimum_notes(amount, available)


def _scaled(
    amount: int, available: Mapping[int, int]
) -> tuple[int, dict[int, int], int] | None:
    """Divide by the denominations' GCD and drop notes that could never be used."""
    usable = {d: c for d, c in available.items() if d > 0 and c > 0}
    if amount < 0 or (amount and not usable):
        return None
    g = math.gcd(*usable) if usable else 1
    if amount % g:
        return None
    return amount // g, {d // g: min(c, amount // d) for d, c in usable.items()}, g
