"""Post-event jobs and reports (事后): LVR, STR cases, ID expiry, overdue reviews, declines,
retention; CSV/JSON output and an HTML summary with inline-SVG charts. ``main(argv)`` is the
CLI the lead wires as ``sst host report ...`` and ``sst host explain <rrn>``.
"""

from __future__ import annotations

import argparse
import csv
import html
import io
import json
import sys
import tomllib
from dataclasses import asdict, dataclass, replace
from datetime import UTC, date, datetime, timedelta
from importlib import resources
from typing import Any

from host.risk.explain import explain, format_explanation
from host.risk.kyc import CustomerRecord, CustomerStatus, Restriction, RestrictionReason
from host.risk.store_sqlite import SqliteRiskStore, customer_to_json, ts

__all__ = [
    "CaseError",
    "LvrRecord",
    "WorkCalendar",
    "build_lvr",
    "case_transition",
    "decline_stats",
    "html_summary",
    "id_expiry_job",
    "main",
    "overdue_reviews",
    "retention_job",
    "to_csv",
]

# (status, action) -> next status; anything not here is invalid (h2 style).
CASE_TRANSITIONS: dict[tuple[str, str], str] = {
    ("NEW", "review"): "IN_REVIEW",
    ("IN_REVIEW", "dismiss"): "DISMISSED",
    ("IN_REVIEW", "draft"): "STR_DRAFT",
    ("STR_DRAFT", "file"): "STR_FILED",   # four-eyes: approver != drafter
}


class CaseError(ValueError):
    """An invalid case transition (message is stable)."""


@dataclass(frozen=True, kw_only=True)
class WorkCalendar:
    holidays: frozenset[date] = frozenset()
    extra_workdays: frozenset[date] = frozenset()

    @classmethod
    def default(cls) -> tuple[WorkCalendar, dict[str, Any]]:
        data = tomllib.loads(resources.files("host.risk").joinpath("limits.toml")
                             .read_text(encoding="utf-8"))
        cal = data.get("calendar", {})
        return cls(holidays=frozenset(date.fromisoformat(str(d)) for d in cal.get("holidays", [])),
                   extra_workdays=frozenset(date.fromisoformat(str(d))
                                            for d in cal.get("extra_workdays", []))), data

    def is_workday(self, d: date) -> bool:
        if d in self.extra_workdays:
            return True
        return d.weekday() < 5 and d not in self.holidays

    def add_workdays(self, d: date, n: int) -> date:
        """The n-th working day after d.

        Examples
        --------
        >>> WorkCalendar().add_workdays(date(2026, 3, 6), 5)  # Friday -> next Friday
        datetime.date(2026, 3, 13)
        """
        cur = d
        while n > 0:
            cur += timedelta(days=1)
            if self.is_workday(cur):
                n -= 1
        return cur


@dataclass(frozen=True, kw_only=True)
class LvrRecord:
    """One large-value report line (design proposal modelled on the 2016 Order's elements)."""

    customer_id: str
    customer_name: str
    id_type: str
    id_number_masked: str
    nationality: str
    occupation: str
    customer_type: str
    day: str
    direction: str  # IN 收 / OUT 付
    criterion: str
    total_fen: int
    count: int
    txn_refs: str
    channels: str
    due_date: str
    citation: str


def build_lvr(store: SqliteRiskStore, day: date, *, calendar: WorkCalendar | None = None,
              criteria: list[dict[str, Any]] | None = None, persist: bool = True
              ) -> list[LvrRecord]:
    """Large-value reports for one natural day, per customer per direction per criterion.

    Sums approved, unreversed amounts (single or cumulative, >= threshold, inclusive).
    """
    cal, data = WorkCalendar.default()
    cal = calendar or cal
    crit = criteria if criteria is not None else data["lvr_criteria"]
    due_n = int(data.get("calendar", {}).get("lvr_due_working_days", 5))
    rows = store.connection.execute(
        "SELECT e.customer_id, e.direction, e.cash, e.cross_border, e.amount - e.reversed_amount, "
        "e.txn_ref, e.channel, c.customer_type FROM risk_events e JOIN risk_customers c "
        "USING (customer_id) WHERE e.day=? AND e.response_code='00' AND e.direction != 'NONE'",
        (day.isoformat(),)).fetchall()
    groups: dict[tuple[str, str, str], list[Any]] = {}
    for cid, direction, cash, xb, amount, ref, ch, ctype in rows:
        for c in crit:
            if ctype not in c["customer_types"] or bool(cash) != bool(c["cash"]):
                continue
            if "cross_border" in c and bool(xb) != bool(c["cross_border"]):
                continue
            groups.setdefault((cid, direction, c["code"]), []).append((amount, ref, ch))
    out = []
    by_code = {c["code"]: c for c in crit}
    for (cid, direction, code), items in sorted(groups.items()):
        total = sum(a for a, _, _ in items)
        if total < int(by_code[code]["threshold"]):
            continue
        cust = store.customer(cid)
        assert cust is not None
        rec = LvrRecord(customer_id=cid, customer_name=cust.name, id_type=cust.id_type.value,
                        id_number_masked=cust.id_number.masked, nationality=cust.nationality,
                        occupation=cust.occupation, customer_type=cust.customer_type.value,
                        day=day.isoformat(), direction=direction, criterion=code, total_fen=total,
                        count=len(items), txn_refs=" ".join(r for _, r, _ in items),
                        channels=" ".join(sorted({c for _, _, c in items})),
                        due_date=cal.add_workdays(day, due_n).isoformat(),
                        citation=by_code[code]["citation"])
        out.append(rec)
        if persist:
            with store.transaction() as db:
                db.execute("INSERT OR REPLACE INTO risk_lvr (customer_id, day, direction, "
                           "criterion, total, count, txn_refs, due_date, created_at) VALUES "
                           "(?,?,?,?,?,?,?,?,?)", (cid, rec.day, direction, code, total,
                                                   rec.count, rec.txn_refs, rec.due_date,
                                                   ts(datetime.now(UTC))))
    return out


def case_transition(store: SqliteRiskStore, case_id: int, action: str, *, actor: str,
                    at: datetime, narrative: str = "") -> str:
    """Move a case along NEW -> IN_REVIEW -> DISMISSED | STR_DRAFT -> STR_FILED."""
    with store.transaction() as db:
        r = db.execute("SELECT status, drafter FROM risk_cases WHERE case_id=?",
                       (case_id,)).fetchone()
        if r is None:
            raise CaseError(f"no case {case_id}")
        status, drafter = r[0], r[1]
        nxt = CASE_TRANSITIONS.get((status, action))
        if nxt is None:
            raise CaseError(f"case {case_id}: cannot {action} from {status}")
        if action == "file" and actor == drafter:
            raise CaseError(f"case {case_id}: four-eyes approval needs a second person")
        if action == "draft" and not narrative:
            raise CaseError(f"case {case_id}: an STR draft needs a narrative")
        sets = {"review": "reviewer=?", "draft": "drafter=?, narrative=?, confirmed_at=?",
                "file": "approver=?, filed_at=?", "dismiss": "reviewer=?, closed_at=?"}[action]
        args: tuple[Any, ...] = {"review": (actor,), "draft": (actor, narrative, ts(at)),
                                 "file": (actor, ts(at)), "dismiss": (actor, ts(at))}[action]
        db.execute(f"UPDATE risk_cases SET status=?, {sets} WHERE case_id=?",  # noqa: S608
                   (nxt, *args, case_id))
        db.execute("INSERT INTO risk_case_events (case_id, at, actor, from_status, to_status, "
                   "note) VALUES (?,?,?,?,?,?)", (case_id, ts(at), actor, status, nxt,
                                                  narrative[:200]))
    return nxt


def str_report(store: SqliteRiskStore, case_id: int) -> dict[str, Any]:
    """The STR content of a case (internal; never on a customer-facing path)."""
    db = store.connection
    c = dict(db.execute("SELECT * FROM risk_cases WHERE case_id=?", (case_id,)).fetchone())
    refs = json.loads(c["txn_refs"])
    marks = ",".join("?" * len(refs))
    txns = [dict(r) for r in db.execute(
        f"SELECT txn_ref, rrn, day, channel, txn_type, amount, direction, terminal_id "  # noqa: S608
        f"FROM risk_events WHERE txn_ref IN ({marks}) ORDER BY at", refs)]
    cust = store.customer(c["customer_id"])
    return {"case_id": case_id, "status": c["status"], "customer_id": c["customer_id"],
            "customer_name": cust.name if cust else "", "id_number_masked":
            cust.id_number.masked if cust else "", "typologies": json.loads(c["rule_ids"]),
            "narrative": c["narrative"], "score": c["score"], "txn_count": len(txns),
            "total_fen": sum(t["amount"] for t in txns), "transactions": txns,
            "drafter": c["drafter"], "approver": c["approver"],
            "history": [dict(r) for r in db.execute(
                "SELECT at, actor, from_status, to_status, note FROM risk_case_events "
                "WHERE case_id=? ORDER BY id", (case_id,))]}


def id_expiry_job(store: SqliteRiskStore, today: date, *, grace_days: int = 30,
                  notice_days: tuple[int, ...] = (30, 7, 0)) -> list[dict[str, Any]]:
    """Daily scan: notices at -30/-7/0 days, restriction after the grace period (audited)."""
    out = []
    for c in store.customers():
        if c.id_expiry is None or c.anonymised:
            continue
        left = (c.id_expiry - today).days
        for n in notice_days:
            if left == n and store.add_notice(c.customer_id, f"ID_EXPIRY_T-{n}", today,
                                              f"expires {c.id_expiry}"):
                out.append({"customer_id": c.customer_id, "notice": f"ID_EXPIRY_T-{n}",
                            "id_expiry": c.id_expiry.isoformat()})
        if -left > grace_days and not any(r.reason is RestrictionReason.ID_EXPIRED
                                           for r in c.restrictions):
            at = datetime.combine(today, datetime.min.time(), UTC)
            store.put_customer(replace(c, status=CustomerStatus.RESTRICTED, restrictions=(
                *c.restrictions, Restriction(reason=RestrictionReason.ID_EXPIRED, since=at))))
            store.audit(at=at, actor="id-expiry-job", action="RESTRICT", subject=c.customer_id,
                        detail=f"ID expired {c.id_expiry}")
            out.append({"customer_id": c.customer_id, "notice": "RESTRICTED_ID_EXPIRED",
                        "id_expiry": c.id_expiry.isoformat()})
    return out


def overdue_reviews(store: SqliteRiskStore, today: date) -> list[dict[str, Any]]:
    """Customers whose risk review is overdue (HIGH: every 6 months, 2007 Order Art. 18)."""
    return [{"customer_id": c.customer_id, "grade": c.risk_grade.value,
             "next_review_due": c.next_review_due.isoformat() if c.next_review_due else "",
             "days_overdue": (today - c.next_review_due).days if c.next_review_due else ""}
            for c in store.customers()
            if not c.anonymised and (c.next_review_due is None or c.next_review_due < today)]


def decline_stats(store: SqliteRiskStore, since: date, until: date) -> list[dict[str, Any]]:
    """Declines by code, channel and grade."""
    lo = ts(datetime.combine(since, datetime.min.time(), UTC))
    hi = ts(datetime.combine(until + timedelta(days=1), datetime.min.time(), UTC))
    return [dict(r) for r in store.connection.execute(
        "SELECT final_code AS code, channel, grade, rule_id, COUNT(*) AS count FROM "
        "risk_decisions WHERE at >= ? AND at < ? AND final_code != '00' GROUP BY final_code, "
        "channel, grade, rule_id ORDER BY count DESC", (lo, hi))]


def retention_job(store: SqliteRiskStore, today: date, *, years: int = 10,
                  actor: str = "retention-job") -> list[dict[str, Any]]:
    """Anonymise customers whose relationship ended more than ``years`` ago (no legal hold),
    and their transaction history; writes an audit row per purge."""
    out = []
    at = datetime.combine(today, datetime.min.time(), UTC)
    for c in store.customers():
        if c.anonymised or c.relationship_end is None or c.legal_hold:
            continue
        if today < _add_years(c.relationship_end, years):
            continue
        anon = replace(c, name="ANONYMISED", occupation="", address="", contact_phone="",
                       contact_email="", anonymised=True, risk_factors=(),
                       id_number=replace(c.id_number, encrypted=b"", masked="***",
                                         lookup_hash=f"anon:{c.customer_id}"))
        with store.transaction() as db:
            db.execute("UPDATE risk_customers SET record_json=?, id_enc=NULL, id_hash=?, "
                       "anonymised=1 WHERE customer_id=?",
                       (customer_to_json(anon), f"anon:{c.customer_id}", c.customer_id))
            n = db.execute("UPDATE risk_events SET card='anon', account_no='anon', "
                           "counterparty='' WHERE customer_id=?", (c.customer_id,)).rowcount
            db.execute("DELETE FROM risk_otp_outbox WHERE customer_id=?", (c.customer_id,))
        store.audit(at=at, actor=actor, action="ANONYMISE", subject=c.customer_id,
                    detail=f"relationship ended {c.relationship_end}; {n} events")
        out.append({"customer_id": c.customer_id, "relationship_end":
                    c.relationship_end.isoformat(), "events_anonymised": n})
    return out


def _add_years(d: date, n: int) -> date:
    try:
        return d.replace(year=d.year + n)
    except ValueError:
        return d.replace(year=d.year + n, day=28)


def to_csv(rows: list[dict[str, Any]]) -> str:
    buf = io.StringIO()
    if rows:
        w = csv.DictWriter(buf, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    return buf.getvalue()


def _bars(title: str, data: list[tuple[str, int]]) -> str:
    if not data:
        return f"<h3>{html.escape(title)}</h3><p>none</p>"
    peak = max(v for _, v in data) or 1
    h = 22 * len(data) + 10
    bars = "".join(
        f'<text x="0" y="{22 * i + 16}" font-size="12">{html.escape(k)}</text>'
        f'<rect x="160" y="{22 * i + 4}" width="{int(300 * v / peak)}" height="16" fill="#3b6"/>'
        f'<text x="{165 + int(300 * v / peak)}" y="{22 * i + 16}" font-size="12">{v}</text>'
        for i, (k, v) in enumerate(data))
    return (f'<h3>{html.escape(title)}</h3><svg xmlns="http://www.w3.org/2000/svg" width="520" '
            f'height="{h}">{bars}</svg>')


def html_summary(store: SqliteRiskStore, since: date, until: date) -> str:
    """One self-contained HTML page (inline SVG, no external assets)."""
    dec = decline_stats(store, since, until)
    by_code: dict[str, int] = {}
    for r in dec:
        by_code[r["code"]] = by_code.get(r["code"], 0) + r["count"]
    lvr = store.connection.execute("SELECT criterion, COUNT(*) FROM risk_lvr WHERE day BETWEEN ? "
                                   "AND ? GROUP BY criterion", (since.isoformat(),
                                                                until.isoformat())).fetchall()
    cases = store.connection.execute("SELECT status, COUNT(*) FROM risk_cases GROUP BY status"
                                     ).fetchall()
    return ("<!doctype html><html><head><meta charset='utf-8'><title>SST risk summary</title>"
            "</head><body style='font-family:sans-serif'>"
            f"<h1>Risk summary {since} .. {until}</h1><p>Simulator output; not legal advice.</p>"
            + _bars("Declines by field 39 code", sorted(by_code.items()))
            + _bars("Large-value reports by criterion", [(r[0], r[1]) for r in lvr])
            + _bars("Cases by status", [(r[0], r[1]) for r in cases])
            + "</body></html>")


def main(argv: list[str] | None = None) -> int:  # noqa: PLR0912, PLR0915 - a CLI dispatcher: one branch per subcommand
    """``report {lvr,str,cases,id-expiry,reviews,declines,retention,summary,otp,explain}``."""
    p = argparse.ArgumentParser(prog="sst host report")
    p.add_argument("--db", default="host.db")
    p.add_argument("--format", choices=("json", "csv"), default="json")
    p.add_argument("--out", default="-")
    sub = p.add_subparsers(dest="cmd", required=True)
    for name in ("lvr", "id-expiry", "reviews", "retention"):
        s = sub.add_parser(name)
        s.add_argument("--date", default=date.today().isoformat())
    for name in ("declines", "summary"):
        s = sub.add_parser(name)
        s.add_argument("--since", required=True)
        s.add_argument("--until", default=date.today().isoformat())
    s = sub.add_parser("str")
    s.add_argument("case_id", type=int)
    s = sub.add_parser("case")
    s.add_argument("case_id", type=int)
    s.add_argument("action", choices=("review", "dismiss", "draft", "file"))
    s.add_argument("--actor", required=True)
    s.add_argument("--narrative", default="")
    s = sub.add_parser("otp")
    s.add_argument("--customer", required=True)
    s = sub.add_parser("explain")
    s.add_argument("key")
    a = p.parse_args(argv)
    store = SqliteRiskStore(a.db)
    try:
        text, rows = "", None
        if a.cmd == "lvr":
            rows = [asdict(r) for r in build_lvr(store, date.fromisoformat(a.date))]
        elif a.cmd == "id-expiry":
            rows = id_expiry_job(store, date.fromisoformat(a.date))
        elif a.cmd == "reviews":
            rows = overdue_reviews(store, date.fromisoformat(a.date))
        elif a.cmd == "retention":
            rows = retention_job(store, date.fromisoformat(a.date))
        elif a.cmd == "declines":
            rows = decline_stats(store, date.fromisoformat(a.since), date.fromisoformat(a.until))
        elif a.cmd == "summary":
            text = html_summary(store, date.fromisoformat(a.since), date.fromisoformat(a.until))
        elif a.cmd == "str":
            text = json.dumps(str_report(store, a.case_id), ensure_ascii=False, indent=2)
        elif a.cmd == "case":
            text = case_transition(store, a.case_id, a.action, actor=a.actor,
                                   at=datetime.now(UTC), narrative=a.narrative) + "\n"
        elif a.cmd == "otp":
            rows = store.otp_outbox(a.customer)
        elif a.cmd == "explain":
            d = explain(store, a.key)
            if d is None:
                print(f"no risk decision for {a.key}", file=sys.stderr)
                return 1
            text = format_explanation(d) + "\n"
        if rows is not None:
            text = to_csv(rows) if a.format == "csv" else json.dumps(
                rows, ensure_ascii=False, indent=2, default=str) + "\n"
        if a.out == "-":
            sys.stdout.write(text)
        else:
            with open(a.out, "w", encoding="utf-8") as f:
                f.write(text)
    except CaseError as e:
        print(str(e), file=sys.stderr)
        return 2
    finally:
        store.close()
    return 0


_ = CustomerRecord
if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
