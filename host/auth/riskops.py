"""Operator commands of the risk engine: ``sst host report|explain|otp|customers|transfers``.

* ``report lvr|str|case|id-expiry|reviews|declines|retention|summary ...``: post-event reports
  (:func:`host.risk.reports.main`; ``--db``, ``--format``, ``--out`` may come anywhere);
* ``explain <rrn>``: which rule fired with which figures, and what the ledger answered;
* ``otp --customer ID``: the simulated SMS outbox (QA reads the step-up codes here);
* ``customers list|show|add|block|unblock|update-id``: KYC records, masked (ID number 6+4,
  phone masked); cases, scores and STR data are never shown here;
* ``transfers list|run-due [--at ISO]``: the 24-hour delayed ATM transfers; ``run-due``
  credits those whose time has come (run it from cron every few minutes).

The KYC and risk tables live in the SQLite ledger file; a PostgreSQL ``--db`` is refused.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from dataclasses import asdict, replace
from datetime import UTC, date, datetime
from typing import Any

from host.auth.riskhook import run_due_transfers, vault_from
from host.config import HostConfig
from host.risk import reports as _reports
from host.risk.explain import format_explanation
from host.risk.idcard import IdNumberError
from host.risk.kyc import AccountClass, AccountLink, CustomerRecord, CustomerStatus, IdType
from host.risk.store_sqlite import SqliteRiskStore
from host.seed import kyc_record
from host.store.sqlite import SqliteStore
from sst.common.config import ConfigError, load_config, parse_override

__all__ = ["COMMANDS", "main", "mask_phone"]

COMMANDS = ("report", "explain", "otp", "customers", "transfers")


def mask_phone(phone: str) -> str:
    """Keep the country code and the last 4 digits.

    >>> mask_phone("+8613800000001")
    '+86*******0001'
    """
    if len(phone) <= 7:
        return "*" * len(phone)
    return phone[:3] + "*" * (len(phone) - 7) + phone[-4:]


def _is_postgres(db: str) -> bool:
    return db.startswith(("postgresql://", "postgres://"))


def _open(db: str) -> tuple[SqliteStore, SqliteRiskStore]:
    if _is_postgres(db):
        raise ConfigError("the risk engine's tables need the SQLite ledger for now")
    store = SqliteStore(db)
    return store, SqliteRiskStore(store.connection)


def _print(rows: Any, as_json: bool) -> None:
    if as_json or not isinstance(rows, list):
        print(json.dumps(rows, ensure_ascii=False, indent=2, default=str))
        return
    if not rows:
        print("(none)")
        return
    cols = list(rows[0])
    print("  ".join(f"{c:16}" for c in cols))
    for r in rows:
        print("  ".join(f"{r.get(c)!s:16}" for c in cols))


# -- customers -----------------------------------------------------------------------------------
def _kyc_view(rec: CustomerRecord, risk: SqliteRiskStore, *, full: bool) -> dict[str, Any]:
    """What an operator sees: identity masked, no cases, no scores."""
    out: dict[str, Any] = {
        "customer_id": rec.customer_id,
        "name": rec.name,
        "status": rec.status.value,
        "risk_grade": rec.risk_grade.value,
        "id_type": rec.id_type.value,
        "id_number": rec.id_number.masked,
        "id_expiry": rec.id_expiry.isoformat() if rec.id_expiry else "long-term",
    }
    if not full:
        return out
    out |= {
        "gender": rec.gender.value,
        "nationality": rec.nationality,
        "occupation": rec.occupation,
        "address": rec.address,
        "contact_phone": mask_phone(rec.contact_phone),
        "id_verified_at": rec.id_verified_at.isoformat() if rec.id_verified_at else "",
        "id_verification_method": rec.id_verification_method.value,
        "onboarding_channel": rec.onboarding_channel.value,
        "next_review_due": rec.next_review_due.isoformat() if rec.next_review_due else "",
        "restrictions": [
            {
                "reason": r.reason.value,
                "since": r.since.isoformat(),
                "channels": [c.value for c in r.channels] or ["non-counter"],
            }
            for r in rec.restrictions
        ],
        "reactivation_pending": rec.reactivation_pending,
        "cards": [c.pan_masked for c in risk.cards_of(rec.customer_id)],
    }
    accts = risk.connection.execute(
        "SELECT account_no, account_class FROM risk_accounts WHERE customer_id=? "
        "ORDER BY account_no",
        (rec.customer_id,),
    ).fetchall()
    out["accounts"] = [{"account_no": a[0], "class": a[1]} for a in accts]
    return out


def _ledger_customer(store: SqliteStore, ns: argparse.Namespace) -> int:
    """show/block/unblock of a ledger customer without a KYC record."""
    key = ns.args[0]
    if ns.action == "show":
        row = store.get_row("customers", key)
        if row is None:
            print(f"sst host: no such customer {key}", file=sys.stderr)
            return 1
        _print(row | {"id_number": "(no KYC record)"}, True)
        return 0
    status = "blocked" if ns.action == "block" else "active"
    if not store.set_status("customers", key, status):
        print("sst host: no such customer", file=sys.stderr)
        return 1
    print(json.dumps({"customer_id": key, "status": status}))
    return 0


def _customers(ns: argparse.Namespace) -> int:  # noqa: PLR0911, PLR0912, PLR0915 - per action
    cfg = load_config(HostConfig, ns.config)
    store, risk = _open(ns.db)
    try:
        if ns.action == "list":
            kyc: dict[str, dict[str, Any] | None] = {
                c.customer_id: _kyc_view(c, risk, full=False) for c in risk.customers()
            }
            rows: list[dict[str, Any]] = []
            for r in store.list_rows("customers", limit=100_000):
                rows.append(
                    kyc.pop(r["customer_id"], None)
                    or {
                        "customer_id": r["customer_id"],
                        "name": r["name"],
                        "status": str(r["status"]).upper(),
                        "risk_grade": "",
                        "id_type": "",
                        "id_number": "(no KYC record)",
                        "id_expiry": "",
                    }
                )
            _print([*rows, *(v for v in kyc.values() if v)], ns.json)
            return 0
        if ns.action == "add":
            row = {k: str(v) for k, v in (parse_override(a) for a in ns.args)}
            missing = [k for k in ("customer_id", "name") if k not in row]
            if missing:
                print(f"sst host customers add: missing {', '.join(missing)}", file=sys.stderr)
                return 2
            if "id_number" not in row:  # a ledger customer without KYC (the risk engine
                with store.transaction_sync():  # passes its cards untouched)
                    store.upsert(
                        "customers",
                        {
                            "customer_id": row["customer_id"],
                            "name": row["name"],
                            "status": "active",
                        },
                    )
                _print(
                    {
                        "added": {
                            "customer_id": row["customer_id"],
                            "name": row["name"],
                            "id_number": "(no KYC record)",
                        }
                    },
                    True,
                )
                return 0
            rec = kyc_record(row, vault_from(cfg.risk))
            with store.transaction_sync():
                store.upsert(
                    "customers",
                    {"customer_id": rec.customer_id, "name": rec.name, "status": "active"},
                )
                risk.put_customer(rec)
                if row.get("account_no"):
                    risk.put_account(
                        AccountLink(
                            account_no=row["account_no"],
                            customer_id=rec.customer_id,
                            account_class=AccountClass(row.get("account_class", "I")),
                        )
                    )
            _print({"added": _kyc_view(rec, risk, full=False)}, True)
            return 0
        if not ns.args:
            print(f"sst host customers {ns.action}: which one?", file=sys.stderr)
            return 2
        rec_or_none = risk.customer(ns.args[0])
        if rec_or_none is None and ns.action in ("show", "block", "unblock"):
            return _ledger_customer(store, ns)
        if rec_or_none is None:
            print(f"sst host: no KYC record for customer {ns.args[0]}", file=sys.stderr)
            return 1
        rec = rec_or_none
        if ns.action == "show":
            _print(_kyc_view(rec, risk, full=True), True)
            return 0
        if ns.action in ("block", "unblock"):
            block = ns.action == "block"
            with store.transaction_sync():
                store.set_status("customers", rec.customer_id, "blocked" if block else "active")
                risk.put_customer(
                    replace(
                        rec, status=CustomerStatus.SUSPENDED if block else CustomerStatus.ACTIVE
                    )
                )
            print(
                json.dumps(
                    {"customer_id": rec.customer_id, "status": "SUSPENDED" if block else "ACTIVE"}
                )
            )
            return 0
        # update-id: the customer presented a renewed ID at the counter
        row = {k: str(v) for k, v in (parse_override(a) for a in ns.args[1:])}
        if "id_number" not in row:
            print(
                "sst host customers update-id: need id_number=... [id_expiry=YYYY-MM-DD]",
                file=sys.stderr,
            )
            return 2
        vault = vault_from(cfg.risk)
        expiry = row.get("id_expiry", "")
        updated = rec.with_id_update(
            id_number=vault.protect(
                IdType(row.get("id_type", rec.id_type.value)), row["id_number"]
            ),
            id_expiry=date.fromisoformat(expiry) if expiry else None,
            at=datetime.now(UTC),
        )
        risk.put_customer(updated)
        _print({"updated": _kyc_view(updated, risk, full=False)}, True)
        return 0
    except IdNumberError as e:
        print(f"sst host customers: invalid ID number: {e}", file=sys.stderr)
        return 2
    finally:
        store.close()


# -- explain, otp, transfers -------------------------------------------------------------------
def explain_text(store: SqliteStore, risk: SqliteRiskStore, rrn: str) -> str | None:
    """The risk decision and the ledger's record of one RRN (None if neither exists)."""
    lines = []
    d = risk.decision(rrn)
    if d is not None:
        lines.append(format_explanation(d))
    r = store.connection.execute(
        "SELECT terminal_id, stan, local_date, mti, processing_code, response_code, reason "
        "FROM authorisations WHERE rrn=? ORDER BY auth_id DESC LIMIT 1",
        (rrn,),
    ).fetchone()
    if r is not None:
        lines.append(
            f"ledger {r['mti']} pc {r['processing_code']} {r['terminal_id']}/"
            f"{r['local_date']}/{r['stan']}: answered {r['response_code']}"
            + (f"  ({r['reason']})" if r["reason"] else "")
        )
    return "\n".join(lines) if lines else None


def _explain(ns: argparse.Namespace) -> int:
    store, risk = _open(ns.db)
    try:
        text = explain_text(store, risk, ns.rrn)
    finally:
        store.close()
    if text is None:
        print(f"sst host explain: nothing recorded for RRN {ns.rrn}", file=sys.stderr)
        return 1
    print(text)
    return 0


def _otp(ns: argparse.Namespace) -> int:
    store, risk = _open(ns.db)
    try:
        rows = risk.otp_outbox(ns.customer)
    finally:
        store.close()
    if ns.json:
        _print(rows, True)
    else:
        for m in rows:
            when = datetime.fromtimestamp(m["created_at"], UTC).isoformat()
            print(f"{when}  to {m['phone']}  [{m['challenge_id']}]  {m['text']}")
    return 0


def _transfers(ns: argparse.Namespace) -> int:
    store, risk = _open(ns.db)
    try:
        if ns.action == "list":
            rows = [
                dict(r)
                for r in risk.connection.execute(
                    "SELECT txn_ref, customer_id, payee_account, amount, accepted_at, due_at, "
                    "status "
                    "FROM risk_pending_transfers ORDER BY accepted_at"
                )
            ]
            _print(rows, ns.json)
            return 0
        at = datetime.fromisoformat(ns.at) if ns.at else datetime.now(UTC)
        if at.tzinfo is None:
            at = at.replace(tzinfo=UTC)
        done = asyncio.run(run_due_transfers(store, risk, at=at))
        _print([asdict(d) for d in done], ns.json)
        return 0
    finally:
        store.close()


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="sst host", add_help=False)
    sub = p.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("customers", help="KYC records (masked)")
    c.add_argument("action", choices=("list", "show", "add", "block", "unblock", "update-id"))
    c.add_argument(
        "args",
        nargs="*",
        help="show/block/update-id: the customer id; "
        "add/update-id: KEY=VALUE (customer_id, name, id_number, id_expiry, gender, "
        "phone, occupation, address, nationality, risk_grade, account_no, "
        "account_class)",
    )
    c.add_argument("--config", help="host TOML (for the ID data key)")
    e = sub.add_parser("explain", help="why an authorisation got its answer")
    e.add_argument("rrn")
    o = sub.add_parser("otp", help="the simulated SMS outbox of a customer")
    o.add_argument("--customer", required=True)
    t = sub.add_parser("transfers", help="24-hour delayed ATM transfers")
    t.add_argument("action", choices=("list", "run-due"))
    t.add_argument("--at", help="ISO time to run as (default now)")
    for s in (c, e, o, t):
        s.add_argument("--db", required=True, help="the SQLite ledger file")
        s.add_argument("--json", action="store_true")
    return p


def main(argv: list[str]) -> int:
    """``argv`` starts with one of :data:`COMMANDS`."""
    try:
        if argv[:1] == ["report"]:
            pre = argparse.ArgumentParser(add_help=False)
            pre.add_argument("--db", required=True)
            pre.add_argument("--format", choices=("json", "csv"), default="json")
            pre.add_argument("--out", default="-")
            known, rest = pre.parse_known_args(argv[1:])
            if _is_postgres(known.db):
                raise ConfigError("the risk engine's tables need the SQLite ledger for now")
            return _reports.main(
                ["--db", known.db, "--format", known.format, "--out", known.out, *rest]
            )
        parser = _parser()
        ns, extra = parser.parse_known_args(argv)
        if extra and (ns.cmd != "customers" or any(x.startswith("-") for x in extra)):
            parser.error(f"unrecognized arguments: {' '.join(extra)}")
        if extra:
            ns.args = [*ns.args, *extra]  # KEY=VALUE pairs after an option
        handler = {
            "customers": _customers,
            "explain": _explain,
            "otp": _otp,
            "transfers": _transfers,
        }[ns.cmd]
        return handler(ns)
    except (ConfigError, OSError, ValueError) as e:
        print(f"sst host: error: {e}", file=sys.stderr)
        return 2
