"""``sst host``: the ISO 8583 host simulator (composition root).

Subcommands:
  serve        listen for terminals (ISO 8583 over TCP, 2-byte length) and authorise via the HSM
  seed         create/refresh the SQLite ledger (``--demo``, ``--profiles DIR``)
  journal      print the message journal (masked PANs)
  customers    list|show|add|block
  cards        list|show|add|block
  accounts     list|show|add|block
  wire-doctor  diagnose a captured ISO 8583 byte stream (``host.iso8583.doctor``)
  report       risk reports: lvr|str|case|id-expiry|reviews|declines|retention|summary
  explain      ``explain <rrn>``: which risk rule fired, with which figures
  otp          ``otp --customer ID``: the simulated SMS outbox (step-up codes, for QA)
  transfers    ``list|run-due``: 24-hour delayed ATM transfers (credit those due)

``customers`` shows and edits KYC records (ID numbers masked); ``report``, ``explain``, ``otp``,
``customers`` and ``transfers`` are :mod:`host.auth.riskops`.

Output is human by default, ``--json`` for machines.

``--db`` takes a SQLite file path (the embedded default) or a PostgreSQL URL such as
``postgresql://sst@/sst?host=/run/postgresql``; several ``serve`` instances may share one
PostgreSQL database (``host.store.postgres``, imported only when such a URL is given).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib
import json
import logging
import signal
import sys
from typing import TYPE_CHECKING, Any

from host.auth.dispatch import MessageHandler
from host.auth.riskhook import build_authoriser
from host.config import HostConfig
from host.seed import catalogue, load_demo, load_profiles, seed_profiles, seed_store
from host.server import HostServer
from host.store.sqlite import SqliteStore
from hsm_sim.client import HsmClient
from sst.common.config import ConfigError, load_config, parse_override
from sst.common.logs import configure_logging
from sst.common.redact import mask_pan

if TYPE_CHECKING:
    from host.store.postgres import PostgresStore

__all__ = ["main"]

_LOG = logging.getLogger(__name__)

_DB_HELP = (
    "ledger: a SQLite file (default host.db) or a PostgreSQL URL, "
    "e.g. postgresql://user@/dbname?host=/path/to/socketdir"
)

#: Entity -> (table, columns shown by ``list``, columns ``add`` takes, required for ``add``).
_ENTITIES: dict[str, tuple[str, tuple[str, ...], tuple[str, ...]]] = {
    "customers": ("customers", ("customer_id", "name", "status"), ("customer_id", "name")),
    "accounts": (
        "accounts",
        ("account_no", "customer_id", "currency", "balance", "held", "kind", "status"),
        ("account_no", "customer_id", "currency", "balance"),
    ),
    "cards": (
        "cards",
        ("pan", "account_no", "expiry", "pin_method", "pin_tries", "status"),
        ("pan", "account_no", "expiry", "service_code", "pin_method", "pvk_name"),
    ),
}
_HIDDEN = {"pvv", "ibm_offset", "pin_validation_data", "decimalization_table"}


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="sst host",
        description="ISO 8583 host simulator: ledger, PIN verification via the HSM.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Examples:\n  sst host seed --demo --db data/host.db --json\n"
        "  sst host serve --port 8583 --hsm 127.0.0.1:1500 --db data/host.db\n"
        "  sst host journal --db data/host.db --json\n"
        "  sst host cards list --db data/host.db\n"
        "  sst host accounts add --db data/host.db account_no=62001 customer_id=C000001 "
        "currency=156 balance=5000\n"
        "  sst host cards block 4761734863198987 --db data/host.db",
    )
    sub = p.add_subparsers(
        dest="cmd",
        required=True,
        metavar="{serve,seed,journal,customers,cards,accounts,wire-doctor}",
    )

    s = sub.add_parser(
        "serve",
        help="serve terminals over TCP",
        description="Serve ISO 8583 (pyiso8583 default_ascii, 2-byte big-endian "
        'length prefix). Prints one JSON line {"event":"listening"} '
        "on stdout when ready; logs are JSON on stderr.",
    )
    s.add_argument("--config", help="TOML file with host settings (see docs/architecture.md)")
    s.add_argument("--host", help="listen address (default 127.0.0.1)")
    s.add_argument("--port", type=int, help="listen port (default 8583; 0 = any free port)")
    s.add_argument(
        "--hsm", metavar="HOST:PORT", help="payShield-compatible HSM (default 127.0.0.1:1500)"
    )
    s.add_argument("--db", help=_DB_HELP)
    s.add_argument(
        "--durability",
        choices=("full", "normal"),
        help="SQLite synchronous mode: full (fsync per commit, default) or normal (WAL)",
    )
    s.add_argument("--log-level", help="DEBUG, INFO, WARNING (default INFO)")
    s.add_argument("--log-file", help="write JSON logs to this file instead of stderr")
    s.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override any config key, e.g. --set hsm.timeout_s=2",
    )

    d = sub.add_parser("seed", help="create the ledger and load seed data")
    d.add_argument("--db", required=True, help=_DB_HELP + " (created or refreshed)")
    d.add_argument(
        "--demo", action="store_true", help="load the demo catalogue (TEST keys and cards)"
    )
    d.add_argument("--demo-file", help="use this demo catalogue TOML instead of the packaged one")
    d.add_argument(
        "--profiles",
        metavar="DIR",
        help="load card profiles (one TOML file per card, see host.seed)",
    )
    d.add_argument("--json", action="store_true", help="print the catalogue as JSON")

    j = sub.add_parser("journal", help="print the message journal")
    j.add_argument("--db", required=True, help=_DB_HELP)
    j.add_argument("--limit", type=int, default=50)
    j.add_argument("--json", action="store_true")

    for name in _ENTITIES:
        e = sub.add_parser(name, help=f"{name}: list, show, add, block")
        e.add_argument("action", choices=("list", "show", "add", "block", "unblock"))
        e.add_argument("args", nargs="*", help="show/block: the key; add: KEY=VALUE pairs")
        e.add_argument("--db", required=True, help=_DB_HELP)
        e.add_argument("--limit", type=int, default=100)
        e.add_argument("--json", action="store_true")

    w = sub.add_parser("wire-doctor", help="diagnose a captured ISO 8583 stream", add_help=False)
    w.add_argument("rest", nargs=argparse.REMAINDER)
    return p


def _serve_config(ns: argparse.Namespace) -> HostConfig:
    over: dict[str, Any] = dict(parse_override(x) for x in ns.set)
    for key, val in (
        ("host", ns.host),
        ("port", ns.port),
        ("db", ns.db),
        ("durability", ns.durability),
        ("log_level", ns.log_level),
        ("log_file", ns.log_file),
    ):
        if val is not None:
            over[key] = val
    if ns.hsm:
        h, _, port = ns.hsm.rpartition(":")
        if not h or not port.isdigit():
            raise ConfigError(f"--hsm must look like HOST:PORT, got {ns.hsm!r}")
        over["hsm.host"], over["hsm.port"] = h, int(port)
    return load_config(HostConfig, ns.config, over)


def _is_postgres(db: str) -> bool:
    return db.startswith(("postgresql://", "postgres://"))


def _db_label(db: str) -> str:
    """``--db`` as shown to people: a PostgreSQL URL without its password.

    >>> _db_label("postgresql://sst:secret@127.0.0.1/sst"), _db_label("data/host.db")
    ('postgresql://sst:***@127.0.0.1/sst', 'data/host.db')
    """
    if not _is_postgres(db):
        return db
    scheme, _, rest = db.partition("://")
    creds, at, where = rest.rpartition("@")
    if at and ":" in creds:
        creds = creds.split(":", 1)[0] + ":***"
    return f"{scheme}://{creds}{at}{where}"


def _open_store(
    db: str, *, durability: str = "full", pool_size: int = 10, group_commit_ticks: int = 2
) -> SqliteStore | PostgresStore:
    """The ledger named by ``--db``: a PostgreSQL URL or a SQLite file path."""
    if _is_postgres(db):
        from host.store.postgres import PostgresStore  # noqa: PLC0415 - optional driver

        return PostgresStore(db, max_size=pool_size)
    return SqliteStore(db, durability=durability, group_commit_ticks=group_commit_ticks)


async def _serve(cfg: HostConfig) -> int:
    store = _open_store(
        cfg.db,
        durability=cfg.durability,
        pool_size=cfg.db_pool_size,
        group_commit_ticks=cfg.group_commit_ticks,
    )
    if not isinstance(store, SqliteStore):
        await store.open()
    hsm = HsmClient(
        cfg.hsm.host,
        cfg.hsm.port,
        header_length=cfg.hsm.header_length,
        pool_size=cfg.hsm.pool_size,
        timeout=cfg.hsm.timeout_s,
    )
    authoriser, _risk = build_authoriser(store, hsm, cfg)
    server = HostServer(
        MessageHandler(authoriser=authoriser, store=store, hsm=hsm, timeout=cfg.hsm.timeout_s)
    )
    port = await server.start(cfg.host, cfg.port)
    print(
        json.dumps({"event": "listening", "service": "host", "host": cfg.host, "port": port}),
        flush=True,
    )
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
        if _risk is not None:
            _risk.close()
        if isinstance(store, SqliteStore):
            _LOG.info(
                "ledger closed",
                extra={"transactions": store.transactions, "group_commits": store.batches},
            )
            store.close()
        else:
            await store.aclose()
    return 0


def _print_journal(rows: list[dict[str, Any]]) -> None:
    print(
        f"{'time':24} {'terminal':8} {'stan':6} {'mti':4} {'pc':6} {'pan':19} "
        f"{'amount':>12} rc  reason"
    )
    for r in rows:
        print(
            f"{r['created_at']:24} {r['terminal_id']:8} {r['stan']:6} {r['mti']:4} "
            f"{r['processing_code']:6} "
            f"{r['pan_masked']:19} {r['amount']:>12} {r['response_code']}  {r['reason']}"
        )


def _public(row: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in row.items() if k not in _HIDDEN}
    if "pan" in out:
        out["pan"] = mask_pan(str(out["pan"]))
    return out


def _entity(ns: argparse.Namespace) -> int:  # noqa: PLR0911, PLR0912 - one branch per action
    table, shown, required = _ENTITIES[ns.cmd]
    store = _open_store(ns.db)
    try:
        if ns.action == "list":
            rows = [_public(r) for r in store.list_rows(table, limit=ns.limit)]
            if ns.json:
                print(json.dumps(rows, indent=2))
            else:
                print("  ".join(f"{c:18}" for c in shown))
                for r in rows:
                    print("  ".join(f"{r.get(c)!s:18}" for c in shown))
            return 0
        if ns.action == "add":
            row: dict[str, Any] = dict(parse_override(a) for a in ns.args)
            missing = [c for c in required if c not in row]
            if missing:
                print(f"sst host {ns.cmd} add: missing {', '.join(missing)}", file=sys.stderr)
                return 2
            with store.transaction_sync():
                store.upsert(
                    table,
                    {
                        k: (
                            str(v)
                            if k
                            in (
                                "pan",
                                "account_no",
                                "expiry",
                                "customer_id",
                                "currency",
                                "service_code",
                            )
                            else v
                        )
                        for k, v in row.items()
                    },
                )
            print(
                json.dumps({"added": _public(row)})
                if ns.json
                else f"added {ns.cmd[:-1]} {_public(row).get(shown[0])}"
            )
            return 0
        if not ns.args:
            print(f"sst host {ns.cmd} {ns.action}: which one?", file=sys.stderr)
            return 2
        key = ns.args[0]
        if ns.action == "show":
            found = store.get_row(table, key)
            if found is None:
                print(
                    f"sst host: no such {ns.cmd[:-1]} "
                    f"{mask_pan(key) if ns.cmd == 'cards' else key}",
                    file=sys.stderr,
                )
                return 1
            shown_row = _public(found)
            if ns.json:
                print(json.dumps(shown_row, indent=2))
            else:
                for k, v in shown_row.items():
                    print(f"{k:22} {v}")
            return 0
        status = "blocked" if ns.action == "block" else "active"
        if not store.set_status(table, key, status):
            print(f"sst host: no such {ns.cmd[:-1]}", file=sys.stderr)
            return 1
        print(json.dumps({"status": status}) if ns.json else f"{ns.cmd[:-1]} {status}")
        return 0
    finally:
        store.close()


def _wire_doctor(rest: list[str]) -> int:
    try:
        doctor = importlib.import_module("host.iso8583.doctor")
    except ImportError:
        print("sst host wire-doctor: host.iso8583.doctor is not installed yet", file=sys.stderr)
        return 2
    return int(doctor.main(rest))


def _seed(ns: argparse.Namespace) -> int:
    store = _open_store(ns.db)
    try:
        did = False
        if ns.demo or ns.demo_file:
            demo = load_demo(ns.demo_file)
            seed_store(store, demo)  # type: ignore[arg-type]  # seed.py: SqliteStore -> AdminStore
            did = True
            if ns.json:
                print(json.dumps(catalogue(demo), indent=2))
            else:
                print(
                    f"seeded {_db_label(ns.db)}: {len(demo['cards'])} cards, "
                    f"{len(demo['terminals'])} terminals (TEST keys)"
                )
        if ns.profiles:
            profiles = load_profiles(ns.profiles)
            seed_profiles(store, profiles)  # type: ignore[arg-type]
            did = True
            if not ns.json:
                label = _db_label(ns.db)
                print(f"seeded {label}: {len(profiles)} card profiles from {ns.profiles}")
        if not did:
            if not isinstance(store, SqliteStore):
                store.ensure_schema()
            print(f"created {_db_label(ns.db)} (empty ledger); use --demo or --profiles for data")
    finally:
        store.close()
    return 0


def main(argv: list[str] | None = None) -> int:  # noqa: PLR0911 - one return per subcommand
    args = sys.argv[1:] if argv is None else argv
    if args[:1] == ["wire-doctor"]:
        return _wire_doctor(args[1:])
    if args[:1] and args[0] in ("report", "explain", "otp", "customers", "transfers"):
        from host.auth import riskops  # noqa: PLC0415 - operator commands load on demand

        return riskops.main(args)
    ns = _parser().parse_args(args)
    try:
        if ns.cmd == "serve":
            cfg = _serve_config(ns)
            configure_logging(cfg.log_level, path=cfg.log_file or None)
            return asyncio.run(_serve(cfg))
        if ns.cmd == "seed":
            return _seed(ns)
        if ns.cmd == "journal":
            store = _open_store(ns.db)
            try:
                rows = store.journal(limit=ns.limit)
            finally:
                store.close()
            if ns.json:
                print(json.dumps(rows, indent=2))
            else:
                _print_journal(rows)
            return 0
        if ns.cmd in _ENTITIES:
            return _entity(ns)
    except (ConfigError, OSError, ValueError) as e:
        print(f"sst host: error: {e}", file=sys.stderr)
        return 2
    return 2


if __name__ == "__main__":
    sys.exit(main())
