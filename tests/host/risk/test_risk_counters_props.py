from __future__ import annotations

import tempfile
from datetime import timedelta
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from .conftest import T0, World

# An operation: ("auth", card index, amount) decides now and applies later (interleaving the
# decide and apply phases of concurrent requests), ("apply", k), ("rev", k, partial, repeat).
ops = st.lists(
    st.one_of(
        st.tuples(st.just("auth"), st.integers(0, 1), st.integers(1, 300000)),
        st.tuples(st.just("apply"), st.integers(0, 20)),
        st.tuples(st.just("rev"), st.integers(0, 20), st.booleans(), st.integers(1, 3)),
    ),
    max_size=40,
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops)
def test_counters_never_negative_and_reversals_idempotent(seq: list[tuple]) -> None:  # type: ignore[type-arg]
    with tempfile.TemporaryDirectory() as tmp:
        w = World(Path(tmp) / "p.db")
        _, pans = w.customer(cards=2)
        pending, applied, rev_n = [], [], 0
        expected: dict[str, int] = {}
        for i, op in enumerate(seq):
            if op[0] == "auth":
                pending.append(
                    w.engine.decide(w.req(pans[op[1]], op[2], at=T0 + timedelta(seconds=i)))
                )
            elif op[0] == "apply" and pending:
                d = pending.pop(op[1] % len(pending))
                if w.engine.commit(d) == "00" and d.approved:
                    applied.append(d)
                    expected[d.request.txn_ref] = d.request.amount
            elif op[0] == "rev" and applied:
                d = applied[op[1] % len(applied)]
                rev_n += 1
                amount = d.request.amount // 2 if op[2] else None
                for _ in range(op[3]):  # repeated reversal messages
                    with w.store.transaction() as conn:
                        w.store.restore(
                            conn, d.request.txn_ref, reversal_ref=f"r{rev_n}", at=T0, amount=amount
                        )
                ref = d.request.txn_ref
                expected[ref] -= min(expected[ref], amount if amount is not None else expected[ref])
        rows = w.store.counter_totals()
        assert all(r[4] >= 0 and r[5] >= 0 for r in rows)
        total = sum(expected.values())
        day_card = [
            r
            for r in rows
            if r[0] == "CUSTOMER" and r[3] == "ATM|CASH_WITHDRAWAL|*|*" and r[2].startswith("D")
        ]
        assert sum(r[4] for r in day_card) == total
        for r in rows:  # the per-card daily limit held under races
            if r[0] == "CARD" and r[3] == "ATM|CASH_WITHDRAWAL|*|*" and r[2].startswith("D"):
                assert r[4] <= 2000000 and r[5] <= 10
        w.store.close()
