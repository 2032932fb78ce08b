"""Decision cost of the risk engine: p50/p95/p99 per authorisation.

Builds N customers (one card, one account each) and a year of history (events and counters) in a
fresh SQLite file with executemany, then times ``RiskEngine.decide`` for random cards.
``--quick`` is a smoke run. Goal: p99 <= 2 ms.

    .venv/bin/python -m bench.risk [--customers 100000] [--events-per-customer 24] [--quick]
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

# Run as a plain script, this folder would come first on sys.path and bench/host.py would shadow
# the `host` package: put the repository first instead.
_REPO = Path(__file__).resolve().parent.parent
sys.path[:] = [str(_REPO)] + [p for p in sys.path if Path(p or ".").resolve() != _REPO / "bench"]

from host.risk.engine import RiskEngine  # noqa: E402
from host.risk.kyc import CustomerRecord, Gender, IdType, ProtectedId  # noqa: E402
from host.risk.limits import LimitBook  # noqa: E402
from host.risk.model import Channel, RiskGrade, TxnType, local_day  # noqa: E402
from host.risk.records import RiskRequest, card_ref  # noqa: E402
from host.risk.store_sqlite import SqliteRiskStore  # noqa: E402


def build(store: SqliteRiskStore, n: int, per: int, now: datetime) -> list[str]:
    rnd = random.Random(7)
    proto = CustomerRecord(customer_id="", name="bench", gender=Gender.U, nationality="CN",
                           occupation="x", address="x", contact_phone="+8613800000000",
                           id_type=IdType.PASSPORT,
                           id_number=ProtectedId(encrypted=b"", lookup_hash="", masked="***"),
                           id_expiry=date(2035, 1, 1))
    grades = [RiskGrade.LOW] * 8 + [RiskGrade.MEDIUM] + [RiskGrade.HIGH]
    cust, acc, cards, events, pans = [], [], [], [], []
    for i in range(n):
        cid, acct, pan = f"C{i:07d}", f"A{i:07d}", f"622202{i:010d}"
        rec = replace(proto, customer_id=cid, risk_grade=grades[i % 10],
                      id_number=ProtectedId(encrypted=b"", lookup_hash=f"h{i}", masked="***"))
        cust.append(SqliteRiskStore.customer_row(rec))
        acc.append((acct, cid, "I", None))
        cards.append((card_ref(pan), cid, acct, "", None, 0, ""))
        pans.append(pan)
        for k in range(per):
            at = now - timedelta(seconds=rnd.randrange(365 * 86400))
            events.append((f"h{i}/{k}", "", cid, card_ref(pan), acct, "ATM00001", "ATM",
                           "CASH_WITHDRAWAL", 10000 * rnd.randrange(1, 30), int(at.timestamp()),
                           local_day(at).isoformat(), "00", 1, "OUT", 0, ""))
    db = store.connection
    with store.transaction():
        db.executemany("INSERT INTO risk_customers (customer_id, record_json, id_hash, id_enc, "
                       "grade, status, customer_type, id_expiry, next_review_due, "
                       "relationship_end, legal_hold, anonymised) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                       cust)
        db.executemany("INSERT INTO risk_accounts VALUES (?,?,?,?)", acc)
        db.executemany("INSERT INTO risk_cards VALUES (?,?,?,?,?,?,?)", cards)
        db.executemany("INSERT INTO risk_events (txn_ref, rrn, customer_id, card, account_no, "
                       "terminal_id, channel, txn_type, amount, at, day, response_code, cash, "
                       "direction, cross_border, counterparty) VALUES "
                       "(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", events)
        db.execute("INSERT INTO risk_counters SELECT 'CARD', card, 'D' || day, "
                   "'ATM|CASH_WITHDRAWAL|*|*', SUM(amount), COUNT(*) FROM risk_events "
                   "GROUP BY card, day")
        db.execute("INSERT INTO risk_counters SELECT 'CARD', card, 'M' || substr(day,1,7), "
                   "'ATM|CASH_WITHDRAWAL|*|*', SUM(amount), COUNT(*) FROM risk_events "
                   "GROUP BY card, substr(day,1,7)")
    db.execute("ANALYZE")
    return pans


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--customers", type=int, default=100_000)
    p.add_argument("--events-per-customer", type=int, default=24)
    p.add_argument("--decisions", type=int, default=20_000)
    p.add_argument("--quick", action="store_true")
    a = p.parse_args(argv)
    if a.quick:
        a.customers, a.decisions = 2000, 2000
    now = datetime(2026, 6, 30, 4, 0, tzinfo=UTC)
    with tempfile.TemporaryDirectory() as tmp:
        store = SqliteRiskStore(Path(tmp) / "bench.db")
        t0 = time.perf_counter()
        pans = build(store, a.customers, a.events_per_customer, now)
        print(f"built {a.customers} customers, {a.customers * a.events_per_customer} events "
              f"in {time.perf_counter() - t0:.1f} s")
        engine = RiskEngine(store, LimitBook.load_default())
        rnd = random.Random(1)
        times = []
        for i in range(a.decisions):
            pan = rnd.choice(pans)
            req = RiskRequest.for_pan(pan, txn_ref=f"b/{i}", rrn=f"{i:012d}", channel=Channel.ATM,
                                      txn_type=TxnType.CASH_WITHDRAWAL,
                                      amount=10000 * rnd.randrange(1, 25), at=now,
                                      terminal_id="ATM00001")
            s = time.perf_counter()
            engine.decide(req)
            times.append((time.perf_counter() - s) * 1000)
        q = statistics.quantiles(times, n=100)
        print(f"decisions {len(times)}: p50 {q[49]:.3f} ms  p95 {q[94]:.3f} ms  "
              f"p99 {q[98]:.3f} ms  (goal p99 <= 2 ms)")
        store.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
