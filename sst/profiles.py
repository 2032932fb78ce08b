"""Card profiles into the host ledger: ``sst host seed --profiles DIR``. TEST KEYS AND CARDS ONLY.

A composition module (the ``sst`` package may import ``devices``, ``hsm_sim`` and ``host``):
:func:`devices.profiles.load_profiles` gives plain data with the clear TEST issuer keys;
:func:`seed_data` imports every key under the LMK with :mod:`hsm_sim.crypto` (the host stores
only the LMK form and the KCV), checks each PVV against the PIN with the PVK, and shapes the
customers, accounts, cards and KYC records the way :mod:`host.seed` writes them;
:func:`seed_profiles` writes them into a SQLite ledger in one transaction; :func:`catalogue`
is what ``--json`` prints (cards with PAN, PIN, track 2 and profile; keys by name and KCV,
never clear).

Profile customers get a synthetic GB 11643 resident ID (a valid check character, region
110101, birth date 1990-01-01, sequence from the profile id) so that the risk engine applies
their grade (``risk``), ID expiry and account class; the ID number is encrypted by the host's
:class:`host.risk.kyc.IdVault` like the demo customers'.

Examples
--------
>>> data = seed_data(load_profiles())
>>> sorted(data["keys"])[:2]
['CVK-PROFILES', 'ISS-MC/MK-AC']
>>> data["keys"]["ISS-VISA/MK-AC"]["key_type"], data["keys"]["ISS-VISA/MK-AC"]["kcv"]
('109', '08D7B4')
>>> card = next(c for c in data["cards"] if c["profile"] == "visa-cvn18")
>>> card["mk_ac_name"], card["chip"]["cvn"]
('ISS-VISA/MK-AC', 'visa-cvn18')
>>> "clear" in str(data["keys"])
False
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path
from typing import Any

from devices.profiles import ProfileError, load_profiles
from host.risk.idcard import check_character
from host.seed import catalogue as demo_catalogue
from host.seed import load_demo, seed_kyc, seed_store
from host.store.sqlite import SqliteStore
from hsm_sim.crypto import adjust_key_parity, generate_visa_pvv
from hsm_sim.crypto.lmk import VariantLmk

__all__ = ["KEY_TYPES", "catalogue", "main", "seed_data", "seed_profiles", "synthetic_resident_id"]

#: Thales key type (LMK pair/variant) of each profile key usage.
KEY_TYPES: dict[str, str] = {"MK-AC": "109", "MK-SMI": "209", "MK-SMC": "309", "PVK": "002",
                             "CVK": "402"}  # fmt: skip


def synthetic_resident_id(profile_id: str) -> str:
    """A valid-looking TEST resident ID number (GB 11643) for a profile's customer.

    Examples
    --------
    >>> synthetic_resident_id("visa-cvn10")
    '110101199001016505'
    >>> synthetic_resident_id("visa-cvn10") == synthetic_resident_id("visa-cvn10")
    True
    """
    seq = int.from_bytes(hashlib.sha256(profile_id.encode()).digest()[:4], "big") % 1000
    body = f"11010119900101{seq:03d}"
    return body + check_character(body)


def seed_data(profiles: dict[str, Any], *, lmk: VariantLmk | None = None) -> dict[str, Any]:
    """Host seed data from :func:`devices.profiles.load_profiles` output (keys under ``lmk``).

    Returns ``{"warning", "keys", "customers", "accounts", "cards", "terminals": []}`` in the
    shape of the demo catalogue (:func:`host.seed.seed_store`): keys as ``{"key_type",
    "key_lmk", "kcv"}``, cards with ``mk_ac_name`` for the host's ChipCheck plus the profile's
    ``chip`` block, PIN, tracks and label. Raises ``ValueError`` when a profile's PVV does not
    match its PIN (a broken key file).
    """
    lmk = lmk or VariantLmk.test()
    clear: dict[str, bytes] = {}
    keys: dict[str, dict[str, str]] = {}
    for name, k in profiles["keys"].items():
        # Odd parity, as the HSM requires of keys under the LMK (DES ignores parity bits: the
        # card, which derives from the file's key as written, computes the same cryptograms).
        key = adjust_key_parity(bytes.fromhex(k["clear"]))
        clear[name] = key
        ktype = KEY_TYPES[k["usage"]]
        keys[name] = {"key_type": ktype, "key_lmk": lmk.encrypt_key(ktype, key, "U"),
                      "kcv": k["kcv"]}  # fmt: skip
    accounts = {a["account_no"]: a for a in profiles["accounts"]}
    customers = []
    for c in profiles["customers"]:
        customers.append({
            "customer_id": c["customer_id"], "name": c["name"], "risk_grade": c.get("risk", "LOW"),
            "id_type": "CN_RIC", "id_number": synthetic_resident_id(c["customer_id"]),
            "id_expiry": c.get("id_document_expiry", ""),
        })  # fmt: skip
    cards = []
    for c in profiles["cards"]:
        pvk = clear[c["pvk_name"]]
        if generate_visa_pvv(pvk, c["pan"], int(c["pvki"]), c["pin"]) != c["pvv"]:
            raise ValueError(f"profile {c['profile']}: PVV does not match the PIN")
        chip = c.get("chip")
        cards.append({**c, "mk_ac_name": chip["mk_ac_name"] if chip else "",
                      "label": c["profile"]})  # fmt: skip
    return {
        "warning": profiles.get("warning", "TEST KEYS AND CARDS ONLY"),
        "keys": keys,
        "customers": customers,
        "accounts": [
            {**a, "balance": int(a["balance"]), "currency": str(a["currency"])}
            for a in accounts.values()
        ],
        "cards": cards,
        "terminals": [],
    }


def seed_profiles(store: SqliteStore, data: dict[str, Any]) -> None:
    """Write :func:`seed_data` into a ledger: keys, customers, accounts, cards, KYC.

    One transaction for the ledger rows, one for the KYC records (as :func:`host.seed.seed_store`);
    re-running resets balances and PIN tries. Terminals and settlement accounts are untouched
    (they come from the demo catalogue).
    """
    with store.transaction_sync():
        for name, k in data["keys"].items():
            store.upsert("keys", {"name": name, "key_lmk": k["key_lmk"], "kcv": k["kcv"]})
        for c in data["customers"]:
            store.upsert("customers", {"customer_id": c["customer_id"], "name": c["name"],
                                       "status": "active"})  # fmt: skip
        for a in data["accounts"]:
            store.upsert("accounts", {
                "account_no": a["account_no"], "customer_id": a["customer_id"],
                "currency": a["currency"], "balance": a["balance"], "held": 0,
                "kind": "customer", "status": "active",
            })  # fmt: skip
        for c in data["cards"]:
            store.upsert("cards", {
                "pan": c["pan"], "account_no": c["account_no"], "expiry": c["expiry"],
                "service_code": c["service_code"], "pin_method": c["pin_method"],
                "pvk_name": c["pvk_name"], "pvki": c["pvki"], "pvv": c["pvv"], "ibm_offset": "",
                "decimalization_table": "0123456789012345", "pin_validation_data": "",
                "pin_tries": 0, "status": c["status"], "mk_ac_name": c["mk_ac_name"],
            })  # fmt: skip
    seed_kyc(store, data)


def catalogue(data: dict[str, Any]) -> dict[str, Any]:
    """What ``--json`` prints: the cards (with PIN, track 2, profile and chip) and key KCVs."""
    accounts = {a["account_no"]: a for a in data["accounts"]}
    grade = {c["customer_id"]: c["risk_grade"] for c in data["customers"]}
    cards = []
    for c in data["cards"]:
        a = accounts[c["account_no"]]
        chip = c.get("chip")
        cards.append({
            "pan": c["pan"], "psn": c["psn"], "pin": c["pin"], "expiry": c["expiry"],
            "service_code": c["service_code"], "track2": c["track2"], "account": c["account_no"],
            "balance": a["balance"], "currency": a["currency"], "pin_method": c["pin_method"],
            "label": c["label"], "profile": c["profile"], "description": c["description"],
            "customer_id": a["customer_id"], "risk_grade": grade.get(a["customer_id"], ""),
            "account_class": a.get("account_class", "I"), "status": c["status"],
            "faults": c["faults"],
            "chip": None if chip is None else {k: chip[k] for k in ("cvn", "aid", "mk_ac_name",
                                                                    "arpc_method")},
        })  # fmt: skip
    return {
        "warning": data["warning"],
        "keys": {n: {"key_type": k["key_type"], "kcv": k["kcv"]} for n, k in data["keys"].items()},
        "cards": cards,
        "terminals": [],
    }


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="sst host seed",
        description="Seed the host ledger with the card profiles of devices/profiles "
                    "(TEST KEYS AND CARDS ONLY), optionally after the demo catalogue.",
        epilog="Example: sst host seed --demo --profiles devices/profiles/cards --db data/host.db",
    )  # fmt: skip
    p.add_argument("--db", required=True, help="SQLite ledger file (created or refreshed)")
    p.add_argument("--profiles", required=True, metavar="DIR", help="card profile directory")
    p.add_argument("--demo", action="store_true", help="load the demo catalogue first")
    p.add_argument("--demo-file", help="use this demo catalogue TOML instead of the packaged one")
    p.add_argument("--json", action="store_true", help="print the catalogue as JSON")
    return p


def is_profile_library(directory: str | Path) -> bool:
    """True when ``directory`` holds ``devices`` card profiles (``id`` + ``scheme`` per file)."""
    try:
        load_profiles(directory)
    except (ProfileError, KeyError):
        return False
    return any(Path(directory).glob("*.toml"))


def main(argv: list[str]) -> int:
    """``sst host seed --profiles DIR --db F [--demo] [--json]`` (argv after ``seed``)."""
    ns = _parser().parse_args(argv)
    try:
        data = seed_data(load_profiles(ns.profiles))
    except (OSError, ValueError) as e:
        print(f"sst host seed: error: {e}", file=sys.stderr)
        return 2
    store = SqliteStore(ns.db)
    try:
        out: dict[str, Any] = {"warning": data["warning"], "cards": [], "terminals": []}
        if ns.demo or ns.demo_file:
            demo = load_demo(ns.demo_file)
            seed_store(store, demo)
            out = demo_catalogue(demo)
        seed_profiles(store, data)
    finally:
        store.close()
    prof = catalogue(data)
    out = {**out, "keys": prof["keys"], "cards": [*out["cards"], *prof["cards"]]}
    if ns.json:
        print(json.dumps(out, indent=2))
    else:
        print(f"seeded {ns.db}: {len(data['cards'])} card profiles from {ns.profiles} (TEST keys)")
    return 0
