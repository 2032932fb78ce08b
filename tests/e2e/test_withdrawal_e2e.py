"""One cash withdrawal chain over real parts, with no fakes.

terminal (in this process) --pty/pyserial--> emulated EPP process (PIN block under the TPK)
terminal --TCP ISO 8583--> host process --TCP payShield--> HSM process (DC / DA)
host --SQLite--> ledger file
"""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path
from typing import Any

import pytest

from host.store.sqlite import SqliteStore
from hsm_sim.crypto import encode_pinblock_iso_0, tdes_encrypt_ecb
from sst.demo import tour
from sst.stack import EmulatedStack
from terminal.customer import CardSpec, Visit
from terminal.runtime import TerminalRuntime

pytestmark = pytest.mark.e2e


def spec(card: dict[str, Any]) -> CardSpec:
    return CardSpec(pan=card["pan"], expiry=card["expiry"], service_code=card["service_code"],
                    discretionary=card["track2"].split("=", 1)[1][7:])


def balance(stack: EmulatedStack, account: str) -> int:
    store = SqliteStore(stack.db_path)
    try:
        acc = store.find_account(account)
        assert acc is not None
        return acc.balance
    finally:
        store.close()


@pytest.mark.asyncio
async def test_withdrawal_wrong_pin_and_lock_over_real_parts(
        stack: EmulatedStack, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    cards = {c["label"]: c for c in stack.catalogue["cards"]}
    rich, lockable = cards["visa-pvv-rich"], cards["visa-pvv-lockable"]
    rich0, lock0 = balance(stack, rich["account"]), balance(stack, lockable["account"])
    rt = TerminalRuntime(stack.terminal_config(headless=True))
    await rt.start()
    try:
        results = await rt.play([
            Visit(label="right PIN", card=spec(rich), pin=rich["pin"], action="withdrawal",
                  amount=50000),
            Visit(label="wrong 1", card=spec(lockable), pin="0000", action="withdrawal",
                  amount=10000),
            Visit(label="wrong 2", card=spec(lockable), pin="0000", action="withdrawal",
                  amount=10000),
            Visit(label="wrong 3", card=spec(lockable), pin="0000", action="withdrawal",
                  amount=10000),
            Visit(label="right PIN after lock", card=spec(lockable), pin=lockable["pin"],
                  action="balance"),
        ], step_timeout=60)
    finally:
        await rt.stop()
    assert [r.response_code for r in results] == ["00", "55", "55", "75", "75"]
    # PIN right -> cash and debit: the notes add up to the amount and the ledger moved by it.
    assert sum(d * n for d, n in results[0].notes) == 50000
    assert balance(stack, rich["account"]) == rich0 - 50000
    assert results[0].balance == rich0 - 50000
    # PIN wrong -> no debit.
    assert balance(stack, lockable["account"]) == lock0
    # The path really went idle -> card -> pin -> menu -> amount -> authorising -> dispense
    # -> eject -> idle.
    assert results[0].states[-8:] == ("card", "pin", "menu", "amount", "authorising", "dispense",
                                      "eject", "idle")
    # SEC-3: every record the terminal side logged at DEBUG, message and extra fields alike.
    secrets = _secrets(stack)
    for rec in caplog.records:
        # The raw record, before any formatter could mask it: redaction is by construction.
        text = (rec.getMessage() + " " + repr(vars(rec))).upper()
        for what, value in secrets.items():
            assert value.upper() not in text, f"{what} in log record {rec.name}"
        for c in stack.catalogue["cards"]:
            assert c["pan"] not in text, f"full PAN in log record {rec.name}"
    receipt = Path(stack.data_dir) / "receipts"
    texts = [p.read_text(encoding="utf-8") for p in receipt.glob("*.txt")]
    assert any("476173******" in t for t in texts)


@pytest.mark.asyncio
async def test_demo_tour_outcomes(stack: EmulatedStack) -> None:
    """The headless demo's scripted customer: withdrawal, balance, wrong PIN, over the balance."""
    plan = tour(stack.catalogue)
    by_pan = {c["pan"]: c["customer_id"] for c in stack.catalogue["cards"]}

    async def read_sms(visit: Visit, challenge: str) -> str:
        return await stack.sms_code(by_pan[visit.card.pan], challenge)

    rt = TerminalRuntime(stack.terminal_config(headless=True, terminal_index=1))
    await rt.start()
    try:
        results = await rt.play([v for v, _ in plan], step_timeout=60, otp_source=read_sms)
    finally:
        await rt.stop()
    assert [r.response_code for r in results] == [rc for _, rc in plan]
    shots = sorted((Path(stack.data_dir) / "screenshots").rglob("*.png"))
    assert {p.stem.split("-", 1)[1] for p in shots} >= {"idle", "pin", "menu", "amount",
                                                        "authorising", "dispense", "eject",
                                                        "balance", "declined"}


@pytest.mark.asyncio
@pytest.mark.parametrize("fault", ["noteShortage", "partialDispense"])
async def test_partial_dispense_is_reversed_at_the_host(stack: EmulatedStack, fault: str) -> None:
    """A cassette fails half way (the customer takes what was picked: partial reversal, field 95),
    or the transport jams with the notes inside (nothing presented: full reversal). Either way the
    host ends up charging exactly what the customer received."""
    from devices.cdm.emulated import CdmFault  # noqa: PLC0415 - as written; see the lint-pass report

    card = next(c for c in stack.catalogue["cards"] if c["label"] == "unionpay-pvv")
    before = balance(stack, card["account"])
    rt = TerminalRuntime(stack.terminal_config(headless=True, screenshots=False))
    await rt.start()
    try:
        rt.dispenser.inject_fault(CdmFault(fault))
        [res] = await rt.play([Visit(label=fault, card=spec(card), pin=card["pin"],
                                     action="withdrawal", amount=100000)], step_timeout=60)
        assert res.response_code == "00"
        assert await rt.saf.drain(timeout=20)
    finally:
        await rt.stop()
    journal = rt.model.journal.read()
    picked = sum(d * n for d, n in res.notes)
    received = 0 if any(e["event"] == "present_failed" for e in journal) else picked
    assert 0 < picked < 100000
    assert received == (picked if fault == "noteShortage" else 0)
    assert balance(stack, card["account"]) == before - received
    events = [e["event"] for e in journal]
    assert "reversal_queued" in events and "reversal_acknowledged" in events


def _secrets(stack: EmulatedStack) -> dict[str, str]:
    out: dict[str, str] = {}
    for t in stack.catalogue["terminals"]:
        out[f"tpk {t['terminal_id']}"] = t["tpk"]
        for i, c in enumerate(t["tmk_components"]):
            out[f"tmk component {i}"] = c
        tpk = bytes.fromhex(t["tpk"])
        for c in stack.catalogue["cards"]:
            for pin in {c["pin"], "0000", "".join(str((int(d) + 1) % 10) for d in c["pin"])}:
                clear = encode_pinblock_iso_0(pin, c["pan"])
                out[f"clear PIN block {c['label']}"] = clear.hex().upper()
                out[f"PIN block {c['label']} {t['terminal_id']}"] = (
                    tdes_encrypt_ecb(tpk, clear).hex().upper())
    for c in stack.catalogue["cards"]:
        out[f"track2 {c['label']}"] = c["track2"]
        out[f"track2 body {c['label']}"] = c["track2"].split("=", 1)[1]
    return out


def test_no_secret_in_any_log_journal_or_receipt(stack: EmulatedStack) -> None:
    """Runs after the transactions above: scan everything they wrote (SEC-1)."""
    files = [p for p in Path(stack.data_dir).rglob("*") if p.is_file() and p.suffix != ".png"]
    assert any(p.name == "host.log" for p in files) and any(p.suffix == ".jsonl" for p in files)
    secrets = _secrets(stack)
    pans = {c["pan"] for c in stack.catalogue["cards"]}
    pins = {c["pin"] for c in stack.catalogue["cards"]}
    for path in files:
        data = path.read_bytes().decode("utf-8", "replace")
        upper = data.upper()
        for what, value in secrets.items():
            assert value.upper() not in upper, f"{what} found in {path.name}"
        is_ledger = path.name.startswith("host.db")
        # The issuer's card table holds PANs by design; nothing a person reads does.
        if not is_ledger:
            for pan in pans:
                assert pan not in data, f"full PAN found in {path.name}"
            for pin in pins:
                assert not re.search(rf"(?<![\w.:-]){pin}(?![\w.:-])", data), \
                    f"a clear PIN may be in {path.name}"
    # Every structured log line is JSON.
    for log in Path(stack.data_dir).glob("*.log"):
        for line in log.read_text(encoding="utf-8").splitlines():
            if line.startswith("{"):
                json.loads(line)
