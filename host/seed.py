"""Seeding the ledger: the demo catalogue (test keys and cards) and, later, card profiles.

The demo catalogue ``host/seeds/demo.toml`` is written by the key ceremony (``sst keys demo``)
under the Thales test LMK. It holds TEST keys only. ``catalogue()`` returns what QA tools and
tests read instead of copying numbers: cards with PAN, PIN, expiry, service code, track 2,
account and balance, and terminals with their clear test TPK.
"""

from __future__ import annotations

import tomllib
from importlib import resources
from pathlib import Path
from typing import Any

from host.store.sqlite import SqliteStore

__all__ = ["catalogue", "load_demo", "seed_store"]


def load_demo(path: str | Path | None = None) -> dict[str, Any]:
    if path is None:
        text = resources.files("host").joinpath("seeds/demo.toml").read_text(encoding="utf-8")
    else:
        text = Path(path).read_text(encoding="utf-8")
    return tomllib.loads(text)


def seed_store(store: SqliteStore, demo: dict[str, Any]) -> None:
    """Insert (or reset) every demo row in one transaction; running it twice is harmless."""
    with store.transaction():
        for name, k in demo.get("keys", {}).items():
            store.upsert("keys", {"name": name, "key_lmk": k["key_lmk"], "kcv": k["kcv"]})
        for t in demo["terminals"]:
            store.upsert("terminals", {"terminal_id": t["terminal_id"], "merchant_id": t["merchant_id"],
                                       "tpk_lmk": t["tpk_lmk"], "tpk_kcv": t["tpk_kcv"]})
        for c in demo["customers"]:
            store.upsert("customers", {"customer_id": c["customer_id"], "name": c["name"]})
        for a in demo["accounts"]:
            store.upsert("accounts", {"account_no": a["account_no"], "customer_id": a["customer_id"],
                                      "currency": a["currency"], "balance": a["balance"]})
        for c in demo["cards"]:
            store.upsert("cards", {
                "pan": c["pan"], "account_no": c["account_no"], "expiry": c["expiry"],
                "service_code": c["service_code"], "pin_method": c["pin_method"],
                "pvk_name": c["pvk_name"], "pvki": c.get("pvki", 1), "pvv": c.get("pvv", ""),
                "ibm_offset": c.get("ibm_offset", ""),
                "decimalization_table": c.get("decimalization_table", "0123456789012345"),
                "pin_validation_data": c.get("pin_validation_data", ""), "pin_tries": 0,
                "status": "active"})


def catalogue(demo: dict[str, Any]) -> dict[str, Any]:
    """The JSON catalogue of the wire contract (extra keys are allowed)."""
    accounts = {a["account_no"]: a for a in demo["accounts"]}
    return {
        "warning": demo.get("meta", {}).get("warning", "TEST KEYS AND CARDS ONLY"),
        "cards": [{
            "pan": c["pan"], "pin": c["pin"], "expiry": c["expiry"],
            "service_code": c["service_code"], "track2": c["track2"], "account": c["account_no"],
            "balance": accounts[c["account_no"]]["balance"], "currency": accounts[c["account_no"]]["currency"],
            "pin_method": c["pin_method"], "label": c.get("label", ""),
        } for c in demo["cards"]],
        "terminals": [{
            "terminal_id": t["terminal_id"], "merchant_id": t["merchant_id"], "tpk": t["tpk"],
            "tpk_kcv": t["tpk_kcv"], "tmk_components": t["tmk_components"], "tmk_kcv": t["tmk_kcv"],
            "tpk_under_tmk": t["tpk_under_tmk"], "test_keys": True,
        } for t in demo["terminals"]],
    }
