"""Seeding the ledger: the demo catalogue (test keys and cards) and card profiles.

The demo catalogue ``host/seeds/demo.toml`` is written by the key ceremony (``sst keys demo``)
under the Thales test LMK. It holds TEST keys only. ``catalogue()`` returns what QA tools and
tests read instead of copying numbers: cards with PAN, PIN, expiry, service code, track 2,
account and balance, and terminals with their clear test TPK.

Every terminal gets a settlement account ``SETTLE-<terminal id>`` that receives the opposite of
each customer posting made at that terminal (double entry: the sum of all balances is conserved).
The suspense account ``SUSPENSE-XFER24H`` holds ATM transfers the risk engine delays for 24 h.

KYC (risk engine, ``host.risk``): each demo customer's identity elements, resident ID number
(encrypted with the configured TEST data key, see ``host.config.RiskSettings``), expiry, risk
grade and each account's class go to the ``risk_*`` tables of the same SQLite file; cards are
linked by their non-reversible card reference.

Card profiles (``sst host seed --profiles DIR``): one TOML file per card, ``*.toml``::

    pan = "4761734863198987"
    expiry = "3012"                 # YYMM
    service_code = "101"
    pin_method = "pvv"              # or "ibm3624"
    pvk_name = "PVK1"               # a key of the host key table
    pvki = 1
    pvv = "0260"                    # pin_method = "pvv"
    # ibm_offset = "3190FFFFFFFF"   # pin_method = "ibm3624", with decimalization_table and
    # pin_validation_data = "62220298995N"
    mk_ac_name = "MKAC1"            # optional: issuer master key for ARQC (chip cards)
    status = "active"
    [account]
    account_no = "6200000000000001"
    currency = "156"
    balance = 1000000               # minor units
    [customer]
    customer_id = "C000001"
    name = "ZHANG WEI"

The card-profile format of ``devices/`` is the reference once it exists; this loader will align.
"""

from __future__ import annotations

import tomllib
from datetime import UTC, date, datetime
from importlib import resources
from pathlib import Path
from typing import Any

from host.auth.ledger import TRANSFER_SUSPENSE
from host.config import RiskSettings
from host.risk.kyc import (
    AccountClass,
    AccountLink,
    CustomerRecord,
    Gender,
    IdType,
    IdVault,
    VerificationMethod,
)
from host.risk.model import RiskGrade
from host.risk.records import CardLink, card_ref
from host.risk.store_sqlite import SqliteRiskStore
from host.store.sqlite import SqliteStore
from sst.common.redact import mask_pan

__all__ = [
    "catalogue",
    "kyc_record",
    "load_demo",
    "load_profiles",
    "seed_kyc",
    "seed_profiles",
    "seed_store",
    "settlement_account",
]

#: Relationship start of the demo customers (also their last ID verification).
_DEMO_ONBOARDED = date(2020, 1, 6)


def settlement_account(terminal_id: str) -> str:
    """The settlement account of a terminal.

    >>> settlement_account("ATM00001")
    'SETTLE-ATM00001'
    """
    return f"SETTLE-{terminal_id}"


def load_demo(path: str | Path | None = None) -> dict[str, Any]:
    if path is None:
        text = resources.files("host").joinpath("seeds/demo.toml").read_text(encoding="utf-8")
    else:
        text = Path(path).read_text(encoding="utf-8")
    return tomllib.loads(text)


def _terminal_row(t: dict[str, Any]) -> dict[str, Any]:
    return {
        "terminal_id": t["terminal_id"],
        "merchant_id": t["merchant_id"],
        "tpk_lmk": t["tpk_lmk"],
        "tpk_kcv": t["tpk_kcv"],
        "tmk_lmk": t.get("tmk_lmk", ""),
        "tak_lmk": t.get("tak_lmk", ""),
        "tak_kcv": t.get("tak_kcv", ""),
        "pin_mode": t.get("pin_mode", "tpk"),
        "bdk_name": t.get("bdk_name", ""),
        "mac_required": int(bool(t.get("mac_required", False))),
        "settlement_account": settlement_account(t["terminal_id"]),
        "status": "active",
    }


def _card_row(c: dict[str, Any], account_no: str) -> dict[str, Any]:
    return {
        "pan": c["pan"],
        "account_no": account_no,
        "expiry": c["expiry"],
        "service_code": c["service_code"],
        "pin_method": c["pin_method"],
        "pvk_name": c["pvk_name"],
        "pvki": c.get("pvki", 1),
        "pvv": c.get("pvv", ""),
        "ibm_offset": c.get("ibm_offset", ""),
        "decimalization_table": c.get("decimalization_table", "0123456789012345"),
        "pin_validation_data": c.get("pin_validation_data", ""),
        "pin_tries": 0,
        "status": c.get("status", "active"),
        "mk_ac_name": c.get("mk_ac_name", ""),
    }


def kyc_record(c: dict[str, Any], vault: IdVault) -> CustomerRecord:
    """A demo customer's KYC record (the ID number is validated, encrypted and masked)."""
    id_type = IdType(c.get("id_type", "CN_RIC"))
    grade = RiskGrade(c.get("risk_grade", "LOW"))
    expiry = str(c.get("id_expiry", ""))
    return CustomerRecord(
        customer_id=c["customer_id"],
        name=c["name"],
        gender=Gender(c.get("gender", "U")),
        nationality=c.get("nationality", "CN"),
        occupation=c.get("occupation", ""),
        address=c.get("address", ""),
        contact_phone=c.get("phone", ""),
        id_type=id_type,
        id_number=vault.protect(id_type, str(c["id_number"])),
        id_expiry=date.fromisoformat(expiry) if expiry else None,
        id_verified_at=datetime.combine(_DEMO_ONBOARDED, datetime.min.time(), UTC),
        id_verification_method=VerificationMethod.COUNTER_IN_PERSON,
        risk_grade=grade,
        grade_reviewed_at=date(2026, 7, 1),
        next_review_due=date(2027, 1, 1) if grade is RiskGrade.HIGH else date(2029, 7, 1),
        relationship_start=_DEMO_ONBOARDED,
    )


def seed_kyc(store: SqliteStore, demo: dict[str, Any], *, vault: IdVault | None = None) -> int:
    """KYC records, account classes and card links of the demo customers that have an ID.

    Returns the number of customers written. Runs in its own transaction (re-running resets).
    """
    vault = vault or IdVault(
        key=bytes.fromhex(RiskSettings().id_key), salt=RiskSettings().id_salt.encode()
    )
    risk: Any
    if isinstance(store, SqliteStore):
        risk = SqliteRiskStore(store.connection)  # creates the risk tables outside any transaction
    else:  # PostgreSQL: the risk tables of the same database, on their own connection
        from host.risk.store_pg import PgRiskStore  # noqa: PLC0415 - optional driver

        risk = PgRiskStore(getattr(store, "url"))  # noqa: B009 - PostgresStore only
    try:
        return _seed_kyc(risk, demo, vault)
    finally:
        risk.close()


def _seed_kyc(risk: Any, demo: dict[str, Any], vault: IdVault) -> int:
    kyc = [c for c in demo["customers"] if c.get("id_number")]
    known = {c["customer_id"] for c in kyc}
    with risk.transaction():
        for c in kyc:
            risk.put_customer(kyc_record(c, vault))
        for a in demo["accounts"]:
            if a["customer_id"] in known:
                risk.put_account(
                    AccountLink(
                        account_no=a["account_no"],
                        customer_id=a["customer_id"],
                        account_class=AccountClass(a.get("account_class", "I")),
                    )
                )
        owner = {a["account_no"]: a["customer_id"] for a in demo["accounts"]}
        for card in demo["cards"]:
            cid = owner.get(card["account_no"], "")
            if cid in known:
                risk.put_card(
                    CardLink(
                        card=card_ref(card["pan"]),
                        customer_id=cid,
                        account_no=card["account_no"],
                        pan_masked=mask_pan(card["pan"]),
                    )
                )
    return len(kyc)


def seed_store(store: SqliteStore, demo: dict[str, Any], *, vault: IdVault | None = None) -> None:
    """Insert (or reset) every demo row in one transaction; running it twice is harmless.

    Then the demo customers' KYC records (:func:`seed_kyc`; SQLite or PostgreSQL).
    """
    _seed_ledger(store, demo)
    if isinstance(store, SqliteStore) or str(getattr(store, "url", "")).startswith("postgres"):
        seed_kyc(store, demo, vault=vault)


def _seed_ledger(store: SqliteStore, demo: dict[str, Any]) -> None:
    with store.transaction_sync():
        for name, k in demo.get("keys", {}).items():
            store.upsert("keys", {"name": name, "key_lmk": k["key_lmk"], "kcv": k["kcv"]})
        for c in demo["customers"]:
            store.upsert(
                "customers",
                {"customer_id": c["customer_id"], "name": c["name"], "status": "active"},
            )
        for a in demo["accounts"]:
            store.upsert(
                "accounts",
                {
                    "account_no": a["account_no"],
                    "customer_id": a["customer_id"],
                    "currency": a["currency"],
                    "balance": a["balance"],
                    "held": 0,
                    "kind": "customer",
                    "status": "active",
                },
            )
        for t in demo["terminals"]:
            store.upsert(
                "accounts",
                {
                    "account_no": settlement_account(t["terminal_id"]),
                    "customer_id": None,
                    "currency": demo["accounts"][0]["currency"] if demo["accounts"] else "156",
                    "balance": 0,
                    "held": 0,
                    "kind": "settlement",
                    "status": "active",
                },
            )
            store.upsert("terminals", _terminal_row(t))
        store.upsert(
            "accounts",
            {
                "account_no": TRANSFER_SUSPENSE,
                "customer_id": None,
                "currency": demo["accounts"][0]["currency"] if demo["accounts"] else "156",
                "balance": 0,
                "held": 0,
                "kind": "settlement",
                "status": "active",
            },
        )
        for c in demo["cards"]:
            store.upsert("cards", _card_row(c, c["account_no"]))


def load_profiles(directory: str | Path) -> list[dict[str, Any]]:
    """Read every ``*.toml`` card profile of ``directory`` (sorted by file name)."""
    out = []
    for p in sorted(Path(directory).glob("*.toml")):
        prof = tomllib.loads(p.read_text(encoding="utf-8"))
        for key in (
            "pan",
            "expiry",
            "service_code",
            "pin_method",
            "pvk_name",
            "account",
            "customer",
        ):
            if key not in prof:
                raise ValueError(f"{p.name}: card profile misses {key!r}")
        out.append(prof)
    return out


def seed_profiles(store: SqliteStore, profiles: list[dict[str, Any]]) -> None:
    """Insert (or reset) the customers, accounts and cards of card profiles in one transaction."""
    with store.transaction_sync():
        for prof in profiles:
            cust, acc = prof["customer"], prof["account"]
            store.upsert(
                "customers",
                {
                    "customer_id": cust["customer_id"],
                    "name": cust.get("name", ""),
                    "status": "active",
                },
            )
            store.upsert(
                "accounts",
                {
                    "account_no": acc["account_no"],
                    "customer_id": cust["customer_id"],
                    "currency": acc.get("currency", "156"),
                    "balance": int(acc.get("balance", 0)),
                    "held": 0,
                    "kind": "customer",
                    "status": "active",
                },
            )
            store.upsert("cards", _card_row(prof, acc["account_no"]))


def catalogue(demo: dict[str, Any]) -> dict[str, Any]:
    """The JSON catalogue of the wire contract (extra keys are allowed)."""
    accounts = {a["account_no"]: a for a in demo["accounts"]}
    customers = {c["customer_id"]: c for c in demo["customers"]}
    return {
        "warning": demo.get("meta", {}).get("warning", "TEST KEYS AND CARDS ONLY"),
        "cards": [
            {
                "pan": c["pan"],
                "pin": c["pin"],
                "expiry": c["expiry"],
                "service_code": c["service_code"],
                "track2": c["track2"],
                "account": c["account_no"],
                "balance": accounts[c["account_no"]]["balance"],
                "currency": accounts[c["account_no"]]["currency"],
                "pin_method": c["pin_method"],
                "label": c.get("label", ""),
                "customer_id": accounts[c["account_no"]]["customer_id"],
                "risk_grade": customers.get(accounts[c["account_no"]]["customer_id"], {}).get(
                    "risk_grade", ""
                ),
            }
            for c in demo["cards"]
        ],
        "terminals": [
            {
                "terminal_id": t["terminal_id"],
                "merchant_id": t["merchant_id"],
                "tpk": t["tpk"],
                "tpk_kcv": t["tpk_kcv"],
                "tmk_components": t["tmk_components"],
                "tmk_kcv": t["tmk_kcv"],
                "tpk_under_tmk": t["tpk_under_tmk"],
                "tak_under_tmk": t.get("tak_under_tmk", ""),
                "tak_kcv": t.get("tak_kcv", ""),
                "test_keys": True,
            }
            for t in demo["terminals"]
        ],
    }
