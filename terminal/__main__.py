"""``sst terminal``: run the terminal application (composition root).

``sst terminal run --config terminal.toml`` opens the devices named in the configuration,
loads the EPP keys, connects to the host and shows the screens (a window, or headless).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
from typing import Any

from sst.common.config import ConfigError, load_config, parse_override
from sst.common.logs import configure_logging
from terminal.config import TerminalConfig
from terminal.customer import CardSpec, Visit
from terminal.runtime import TerminalRuntime

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="sst terminal", description="The self-service terminal application.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Example:\n  sst terminal run --config data/terminal.toml --set headless=false\n"
               "Keys: digits, Enter, Backspace = CLEAR, Escape = CANCEL, F1-F8 = screen buttons.")
    sub = p.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run", help="run the terminal until the window closes or SIGTERM")
    r.add_argument("--config", help="terminal TOML (see docs/architecture.md)")
    r.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config key, e.g. --set host.port=9000 --set headless=true")
    r.add_argument("--headless", action="store_true", help="no window (SDL dummy driver)")
    r.add_argument("--script", metavar="JSON",
                   help="play a scripted customer: a JSON list of visits "
                        '[{"label","pan","expiry","service_code","pin","action","amount"}]')
    return p


def _visits(path: str) -> list[Visit]:
    with open(path, encoding="utf-8") as f:
        raw: list[dict[str, Any]] = json.load(f)
    return [Visit(label=v["label"], pin=v["pin"], action=v["action"],
                  amount=int(v.get("amount", 0)),
                  card=CardSpec(pan=v["pan"], expiry=v["expiry"], service_code=v["service_code"],
                                discretionary=v.get("discretionary", ""))) for v in raw]


async def _run(cfg: TerminalConfig, visits: list[Visit] | None) -> int:
    rt = TerminalRuntime(cfg)
    await rt.start()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, rt.request_stop)
    try:
        if visits is not None:
            for res in await rt.play(visits):
                print(json.dumps({"visit": res.label, "rc": res.response_code,
                                  "balance": res.balance}), flush=True)
        else:
            await rt.wait_closed()
    finally:
        await rt.stop()
    return 0


def main(argv: list[str] | None = None) -> int:
    ns = _parser().parse_args(argv)
    try:
        over: dict[str, Any] = dict(parse_override(x) for x in ns.set)
        if ns.headless:
            over["headless"] = True
        cfg = load_config(TerminalConfig, ns.config, over)
        configure_logging(cfg.log_level, path=cfg.log_file or None)
        visits = _visits(ns.script) if ns.script else None
        return asyncio.run(_run(cfg, visits))
    except (ConfigError, OSError, KeyError, ValueError) as e:
        print(f"sst terminal: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
