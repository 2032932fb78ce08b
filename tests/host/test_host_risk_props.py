"""Property: through the host, risk counters never go negative and reversals are idempotent.

Random interleavings of purchases, full and partial reversals (0400/0420/0421, field 95) and
exact repeats go through the host's message handler (pyiso8583 frames in, frames out: decode,
pipeline with the risk participant, one ledger transaction with the risk hook). After every
message no counter is negative; at the end the card's counters equal what the ledger says is
still owed: amount = sum(approved - reversed), count = approved purchases not fully reversed.
"""

from __future__ import annotations

import asyncio
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import iso8583
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from iso8583.specs import default_ascii

from host.auth.dispatch import MessageHandler
from host.auth.riskhook import build_authoriser
from host.config import HostConfig
from host.risk.records import card_ref
from host.seed import catalogue, load_demo, seed_store
from host.store.sqlite import SqliteStore

from .conftest import financial, reversal

DEMO = load_demo()
CAT = catalogue(DEMO)
CARD = next(c for c in CAT["cards"] if c["label"] == "unionpay-pvv")
TERM = CAT["terminals"][0]
T0 = datetime(2026, 11, 29, 4, 0, tzinfo=UTC)

op = st.one_of(
    st.tuples(st.just("buy"), st.integers(1, 120_000)),
    st.tuples(
        st.just("rev"),
        st.integers(0, 7),
        st.sampled_from(["0400", "0420", "0421"]),
        st.one_of(st.none(), st.integers(1, 3)),
    ),
    st.tuples(st.just("again"), st.integers(0, 7)),
)


class _NoHsm:
    """Purchases without PIN need no HSM; any call would be a test bug."""

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"unexpected HSM call {name}")


async def _run(db: Path, ops: list[tuple[Any, ...]]) -> None:
    store = SqliteStore(db, durability="normal")
    seed_store(store, DEMO)
    auth, risk = build_authoriser(store, _NoHsm(), HostConfig(db=str(db)), clock=lambda: T0)
    assert risk is not None
    handler = MessageHandler(authoriser=auth, store=store, hsm=_NoHsm())  # type: ignore[arg-type]

    async def send(fields: dict[str, str]) -> dict[str, Any]:
        raw, _ = iso8583.encode(dict(fields), default_ascii)
        out = await handler.handle(bytes(raw))
        assert out is not None
        return dict(iso8583.decode(bytearray(out), default_ascii)[0])

    buys: list[dict[str, str]] = []
    sent: list[dict[str, str]] = []
    stan = 0
    try:
        for o in ops:
            stan += 1
            if o[0] == "buy":
                f = financial(CARD, TERM, stan=stan, pc="000000", amount=o[1])
                buys.append(f)
                await send(f)
            elif o[0] == "rev" and buys:
                orig = buys[o[1] % len(buys)]
                actual = None if o[3] is None else int(orig["4"]) * o[3] // 4
                f = reversal(orig, stan=stan, mti=o[2], actual=actual)
                sent.append(f)
                assert (await send(f))["39"] == "00"
            elif o[0] == "again" and sent:
                before = risk.counter_totals()
                assert (await send(sent[o[1] % len(sent)]))["39"] == "00"
                assert risk.counter_totals() == before  # a repeat restores nothing
            assert all(a >= 0 and c >= 0 for *_, a, c in risk.counter_totals())
        rows = store.connection.execute(
            "SELECT amount, reversed_amount FROM authorisations WHERE mti='0200' "
            "AND response_code='00'"
        ).fetchall()
        owed = sum(r[0] - r[1] for r in rows)
        alive = sum(1 for r in rows if r[1] < r[0])
        mine = [
            (a, c)
            for scope, sid, period, _b, a, c in risk.counter_totals()
            if scope == "CARD" and sid == card_ref(CARD["pan"]) and period.startswith("D")
        ]
        assert mine == [(owed, alive)] * len(mine)
        if rows:
            assert mine
    finally:
        store.close()


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops=st.lists(op, min_size=1, max_size=14))
def test_counters_never_negative_and_reversals_idempotent(ops: list[tuple[Any, ...]]) -> None:
    with tempfile.TemporaryDirectory() as d:
        asyncio.run(_run(Path(d) / "host.db", ops))
