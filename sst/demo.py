"""``sst demo``: the whole stack on embedded defaults.

Starts the software HSM, the host on a SQLite ledger seeded with demo customers, cards and
keys, the emulated EPP behind a pty, and the terminal. With a display it opens the window and
waits for a person; with none it plays a scripted customer (a withdrawal, a balance inquiry, a
wrong PIN and a withdrawal over the balance), prints the journal and the screenshot folder,
stops every process it started and exits 0 when every visit ended as expected.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from host.store.sqlite import SqliteStore
from sst.common.logs import configure_logging
from sst.common.redact import mask_pan
from sst.stack import EmulatedStack
from terminal.customer import CardSpec, Visit
from terminal.runtime import TerminalRuntime, card_from_spec

__all__ = ["main", "offer_test_cards", "tour"]


def _spec(c: dict[str, str]) -> CardSpec:
    disc = c["track2"].split("=", 1)[1][7:]
    return CardSpec(pan=c["pan"], expiry=c["expiry"], service_code=c["service_code"],
                    discretionary=disc)


def tour(cat: dict[str, Any]) -> list[tuple[Visit, str]]:
    """The scripted customer's visits and the response code each should end with."""
    cards = {c["label"]: c for c in cat["cards"]}
    rich, poor = cards["visa-pvv-rich"], cards["ibm-offset-poor"]

    spec = _spec
    wrong = "".join(str((int(d) + 1) % 10) for d in rich["pin"])
    high = cards["high-grade"]
    return [
        (Visit(label="withdrawal CNY 500.00", card=spec(rich), pin=rich["pin"], action="withdrawal",
               amount=50000), "00"),
        (Visit(label="balance inquiry", card=spec(rich), pin=rich["pin"], action="balance"), "00"),
        (Visit(label="wrong PIN", card=spec(rich), pin=wrong, action="balance"), "55"),
        (Visit(label="withdrawal over the balance", card=spec(poor), pin=poor["pin"],
               action="withdrawal", amount=100000), "51"),
        (Visit(label="HIGH-grade step-up (SMS code)", card=spec(high), pin=high["pin"],
               action="withdrawal", amount=250000), "00"),
    ]


def offer_test_cards(rt: TerminalRuntime, cat: dict[str, Any]) -> None:
    """Demo with a window: the welcome screen offers buttons that insert the TEST cards."""

    def inserter(spec: CardSpec) -> Callable[[], None]:
        return lambda: rt.reader.insert(card_from_spec(spec))

    for i, c in enumerate(cat["cards"][:4]):
        rt.model.idle_actions[f"insert:{i}"] = (f"Insert {c['label']}", inserter(_spec(c)))
    rt.model.refresh()


def _has_display() -> bool:
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


async def _run(stack: EmulatedStack, *, headless: bool) -> int:
    cfg = stack.terminal_config(headless=headless)
    rt = TerminalRuntime(cfg)
    await rt.start()
    try:
        if not headless:
            print("demo: the terminal window is open. Cards you can use (TEST data):")
            for c in stack.catalogue["cards"]:
                print(f"  {c['label']:22} {mask_pan(c['pan'])}  PIN {c['pin']}")
            print("demo: pick a card on the welcome screen (F1-F4 or a click) to insert it; "
                  "close the window to stop")
            offer_test_cards(rt, stack.catalogue)
            await rt.wait_closed()
            return 0
        plan = tour(stack.catalogue)
        by_pan = {c["pan"]: c["customer_id"] for c in stack.catalogue["cards"]}

        async def read_sms(visit: Visit, challenge: str) -> str:
            return await stack.sms_code(by_pan[visit.card.pan], challenge)

        results = await rt.play([v for v, _ in plan], step_timeout=60.0, otp_source=read_sms)
    finally:
        await rt.stop()
    ok = True
    print("\nScripted customer:")
    for (visit, expected), res in zip(plan, results, strict=True):
        good = res.response_code == expected
        ok &= good
        bal = f"  balance {res.balance / 100:,.2f}" if res.balance is not None else ""
        notes = "  notes " + ", ".join(f"{n}x{d // 100}" for d, n in res.notes) if res.notes else ""
        print(f"  {'PASS' if good else 'FAIL'} {visit.label:30} rc={res.response_code} "
              f"(expected {expected}){bal}{notes}")
    store = SqliteStore(stack.db_path)
    try:
        rows = store.journal(limit=20)
    finally:
        store.close()
    print("\nHost journal (latest):")
    for r in rows[-(len(plan) + 1):]:  # the step-up visit answers twice (1A, then 00)
        print(f"  {r['created_at']} {r['terminal_id']} stan={r['stan']} pc={r['processing_code']} "
              f"{r['pan_masked']} amount={r['amount']} rc={r['response_code']} {r['reason']}")
    print(f"\nTerminal journal: {cfg.data_dir}/journal-{cfg.terminal_id}.jsonl")
    print(f"Receipts:         {cfg.data_dir}/receipts/")
    print(f"Screenshots:      {cfg.screenshots_dir}/")
    print(f"Logs:             {', '.join(str(p) for p in stack.logs())}")
    return 0 if ok else 1


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="sst demo", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data-dir", default=".demo-data", help="where the ledger, logs, receipts "
                   "and screenshots go (default .demo-data)")
    p.add_argument("--headless", action="store_true",
                   help="no window even when a display is available: play the scripted customer")
    p.add_argument("--log-level", default="INFO")
    ns = p.parse_args(argv)
    data = Path(ns.data_dir)
    headless = ns.headless or not _has_display()
    shutil.rmtree(data / "screenshots", ignore_errors=True)
    stack = EmulatedStack(data, log_level=ns.log_level)
    mode = "headless, scripted customer" if headless else "window"
    print(f"demo: data directory {data}/ ({mode})")
    data.mkdir(parents=True, exist_ok=True)
    configure_logging(ns.log_level, path=str(data / "demo.log"))
    stack.seed()
    stack.start()
    try:
        print(f"demo: HSM pid {stack.hsm.pid} port {stack.hsm.info['port']}; "  # type: ignore[union-attr]
              f"host pid {stack.host.pid} port {stack.host.info['port']}; "  # type: ignore[union-attr]
              f"EPP pid {stack.epp.pid} on {stack.epp.info['pty']}")  # type: ignore[union-attr]
        return asyncio.run(_run(stack, headless=headless))
    finally:
        stack.stop()
        print("demo: stopped HSM, host and EPP")


if __name__ == "__main__":
    sys.exit(main())
