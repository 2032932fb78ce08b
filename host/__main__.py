"""``sst host``: the ISO 8583 host simulator (composition root).

Subcommands:
  serve    listen for terminals (ISO 8583 over TCP, 2-byte length) and authorise via the HSM
  seed     create/refresh the SQLite ledger; ``--demo --json`` prints the demo catalogue
  journal  print the authorisation journal (masked PANs), human or ``--json``
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import sys
from typing import Any

from hsm_sim.client import HsmClient
from host.auth.pipeline import Authoriser, default_participants
from host.config import HostConfig
from host.seed import catalogue, load_demo, seed_store
from host.server import HostServer
from host.store.sqlite import SqliteStore
from sst.common.config import ConfigError, load_config, parse_override
from sst.common.logs import configure_logging

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="sst host", description="ISO 8583 host simulator: ledger, PIN verification via the HSM.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Examples:\n  sst host seed --demo --db data/host.db --json\n"
               "  sst host serve --port 8583 --hsm 127.0.0.1:1500 --db data/host.db\n"
               "  sst host journal --db data/host.db --json")
    sub = p.add_subparsers(dest="cmd", required=True, metavar="{serve,seed,journal}")

    s = sub.add_parser("serve", help="serve terminals over TCP",
                       description="Serve ISO 8583 (pyiso8583 default_ascii, 2-byte big-endian "
                                   "length prefix). Prints one JSON line {\"event\":\"listening\"} "
                                   "on stdout when ready; logs are JSON on stderr.")
    s.add_argument("--config", help="TOML file with host settings (see docs/architecture.md)")
    s.add_argument("--host", help="listen address (default 127.0.0.1)")
    s.add_argument("--port", type=int, help="listen port (default 8583; 0 = any free port)")
    s.add_argument("--hsm", metavar="HOST:PORT", help="payShield-compatible HSM (default 127.0.0.1:1500)")
    s.add_argument("--db", help="SQLite ledger file (default host.db)")
    s.add_argument("--log-level", help="DEBUG, INFO, WARNING (default INFO)")
    s.add_argument("--log-file", help="write JSON logs to this file instead of stderr")
    s.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override any config key, e.g. --set hsm.timeout_s=2")

    d = sub.add_parser("seed", help="create the ledger and load seed data")
    d.add_argument("--db", required=True, help="SQLite ledger file to create or refresh")
    d.add_argument("--demo", action="store_true", help="load the demo catalogue (TEST keys and cards)")
    d.add_argument("--demo-file", help="use this demo catalogue TOML instead of the packaged one")
    d.add_argument("--json", action="store_true", help="print the catalogue as JSON")

    j = sub.add_parser("journal", help="print the authorisation journal")
    j.add_argument("--db", required=True)
    j.add_argument("--limit", type=int, default=50)
    j.add_argument("--json", action="store_true")
    return p


def _serve_config(ns: argparse.Namespace) -> HostConfig:
    over: dict[str, Any] = dict(parse_override(x) for x in ns.set)
    for key, val in (("host", ns.host), ("port", ns.port), ("db", ns.db),
                     ("log_level", ns.log_level), ("log_file", ns.log_file)):
        if val is not None:
            over[key] = val
    if ns.hsm:
        h, _, port = ns.hsm.rpartition(":")
        if not h or not port.isdigit():
            raise ConfigError(f"--hsm must look like HOST:PORT, got {ns.hsm!r}")
        over["hsm.host"], over["hsm.port"] = h, int(port)
    return load_config(HostConfig, ns.config, over)


async def _serve(cfg: HostConfig) -> int:
    store = SqliteStore(cfg.db)
    hsm = HsmClient(cfg.hsm.host, cfg.hsm.port, header_length=cfg.hsm.header_length,
                    pool_size=cfg.hsm.pool_size, timeout=cfg.hsm.timeout_s)
    server = HostServer(Authoriser(store, default_participants(store, hsm)))
    port = await server.start(cfg.host, cfg.port)
    print(json.dumps({"event": "listening", "service": "host", "host": cfg.host, "port": port}),
          flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await server.close()
        with contextlib.suppress(Exception):
            await hsm.close()
        store.close()
    return 0


def _print_journal(rows: list[dict[str, Any]]) -> None:
    print(f"{'time':24} {'terminal':8} {'stan':6} {'pc':6} {'pan':19} {'amount':>12} rc  reason")
    for r in rows:
        print(f"{r['created_at']:24} {r['terminal_id']:8} {r['stan']:6} {r['processing_code']:6} "
              f"{r['pan_masked']:19} {r['amount']:>12} {r['response_code']}  {r['reason']}")


def main(argv: list[str] | None = None) -> int:
    ns = _parser().parse_args(argv)
    try:
        if ns.cmd == "serve":
            cfg = _serve_config(ns)
            configure_logging(cfg.log_level, path=cfg.log_file or None)
            return asyncio.run(_serve(cfg))
        if ns.cmd == "seed":
            store = SqliteStore(ns.db)
            try:
                if ns.demo or ns.demo_file:
                    demo = load_demo(ns.demo_file)
                    seed_store(store, demo)
                    if ns.json:
                        print(json.dumps(catalogue(demo), indent=2))
                    else:
                        print(f"seeded {ns.db}: {len(demo['cards'])} cards, "
                              f"{len(demo['terminals'])} terminals (TEST keys)")
                else:
                    print(f"created {ns.db} (empty ledger); use --demo for demo data")
            finally:
                store.close()
            return 0
        if ns.cmd == "journal":
            store = SqliteStore(ns.db)
            try:
                rows = store.journal(limit=ns.limit)
            finally:
                store.close()
            if ns.json:
                print(json.dumps(rows, indent=2))
            else:
                _print_journal(rows)
            return 0
    except (ConfigError, OSError) as e:
        print(f"sst host: error: {e}", file=sys.stderr)
        return 2
    return 2


if __name__ == "__main__":
    sys.exit(main())
