"""Throughput benchmark of the ISO 8583 host: PIN-verified withdrawals against an echo baseline.

Starts three subprocesses on loopback: ``sst hsm serve``, ``sst host serve`` (SQLite ledger in a
temporary directory, seeded with the demo catalogue) and this script's own framed-echo server
(same 2-byte length framing, answers every frame with the same bytes). Then N concurrent
emulated terminals -- each its own TCP connection, one request in flight at a time, like an ATM
-- send 0200 withdrawals (processing code 01, amount 1.00) with valid ISO 0 PIN blocks under the
terminals' TPKs from the demo catalogue. Every request is verified through the HSM (DC or DA),
debits the ledger and commits one SQLite transaction.

Prints authorisations/s, p50/p95/p99 latency (request written -> answer read) and the ratio to
the echo server's rate, measured with the same clients in the same run.

Examples
--------
::

    .venv/bin/python bench/host.py                    # 10 s, 32 clients
    .venv/bin/python bench/host.py --quick            # a smoke run (about 2 s)
    .venv/bin/python bench/host.py --clients 64 --seconds 20 --durability normal
    .venv/bin/python bench/host.py --pg               # a temporary PostgreSQL server (fsync on)
    .venv/bin/python bench/host.py --db 'postgresql://sst@/sst?host=/run/postgresql'

With ``--pg`` the script runs ``initdb`` into a temporary directory and starts its own
``postgres`` (unix socket only) with the test suite's ``PgServer`` (``tests/host/pg/conftest.py``),
stopped by pid at the end; ``--db URL`` uses an existing database (its demo rows are reset).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

_REPO = Path(__file__).resolve().parent.parent
# Run as a plain script, this folder would come first on sys.path and this file would shadow the
# `host` package: put the repository first instead.
sys.path[:] = [str(_REPO)] + [p for p in sys.path if Path(p or ".").resolve() != _REPO / "bench"]

import iso8583  # noqa: E402 - after the sys.path fix-up
from iso8583.specs import default_ascii  # noqa: E402

from host.config import RiskSettings  # noqa: E402
from host.risk.idcard import check_character  # noqa: E402
from host.risk.kyc import AccountClass, AccountLink, IdVault  # noqa: E402
from host.risk.records import CardLink, card_ref  # noqa: E402
from host.seed import catalogue, kyc_record, load_demo  # noqa: E402
from hsm_sim.crypto import (  # noqa: E402
    encode_pinblock_iso_0,
    generate_visa_pvv,
    tdes_encrypt_ecb,
)
from sst.common.procs import ServiceProcess, sst_command  # noqa: E402
from sst.common.redact import mask_pan  # noqa: E402

__all__ = ["main"]

_SELF = str(Path(__file__).resolve())


# ------------------------------------------------------------------ echo server (subprocess)
async def _echo_serve() -> None:
    async def on_conn(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        buf = bytearray()
        try:
            while data := await reader.read(65536):
                buf += data
                while len(buf) >= 2 and len(buf) >= 2 + (n := int.from_bytes(buf[:2], "big")):
                    writer.write(bytes(buf[: 2 + n]))
                    del buf[: 2 + n]
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(on_conn, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    print(f'{{"event": "listening", "service": "echo", "port": {port}}}', flush=True)
    async with server:
        await server.serve_forever()


def _pg_server_class() -> Any:
    """``PgServer`` of the test suite (one implementation of the throw-away server)."""
    import importlib.util  # noqa: PLC0415

    path = _REPO / "tests" / "host" / "pg" / "conftest.py"
    spec = importlib.util.spec_from_file_location("sst_bench_pg_server", path)
    if spec is None or spec.loader is None:
        raise RuntimeError(f"cannot load {path}")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # its dataclasses look their module up
    spec.loader.exec_module(mod)
    return mod.PgServer


# ------------------------------------------------------------------ bench customers
#: Withdrawals per bench card per run: below the LOW grade's ATM cash count per card and day
#: (10, PROD-ATM-CASH-DAY) and the 1-hour velocity count (5) that would add scoring points.
USES_PER_CARD = 5
#: The authorisation pipeline without the risk participant (``--without-risk``).
NO_RISK = ["terminal", "card", "transaction-type", "chip", "pin", "pin-change"]
_BENCH_PAN_PREFIX = "623456"


def _luhn(body: str) -> str:
    """``body`` with its Luhn check digit appended.

    >>> _luhn("7992739871")
    '79927398713'
    """
    total = 0
    for i, ch in enumerate(reversed(body)):
        d = int(ch) * (2 if i % 2 == 0 else 1)
        total += d - 9 if d > 9 else d
    return body + str((10 - total % 10) % 10)


def _resident_id(i: int) -> str:
    """A checksum-valid resident ID number, distinct per ``i`` (test data)."""
    born = dt.date(1960, 1, 1) + dt.timedelta(days=i // 900)
    first17 = f"110105{born:%Y%m%d}{i % 900 + 100:03d}"
    return first17 + check_character(first17)


def bench_cards(demo: dict[str, Any], count: int) -> list[dict[str, Any]]:
    """``count`` bench cards (PIN 1357, Visa PVV under the demo PVK1), one customer and one
    account each, LOW risk grade."""
    pvk = bytes(a ^ b for a, b in zip(*(bytes.fromhex(c) for c in
                                         demo["keys"]["PVK1"]["components"]), strict=True))
    out = []
    for i in range(count):
        pan = _luhn(f"{_BENCH_PAN_PREFIX}{i:09d}")
        out.append({
            "pan": pan, "pin": "1357", "expiry": "3012", "service_code": "101",
            "track2": f"{pan}=30121010000000000000", "account_no": f"7{i:015d}",
            "customer_id": f"B{i:07d}", "pvv": generate_visa_pvv(pvk, pan, 1, "1357"),
        })
    return out


def seed_bench(db: str, demo: dict[str, Any], cards: list[dict[str, Any]]) -> None:
    """Write the bench customers (ledger rows and KYC records) into ``db``; rich accounts."""
    vault = IdVault(key=bytes.fromhex(RiskSettings().id_key),
                    salt=RiskSettings().id_salt.encode())
    store: Any
    risk: Any
    if db.startswith(("postgresql://", "postgres://")):
        from host.risk.store_pg import PgRiskStore  # noqa: PLC0415
        from host.store.postgres import PostgresStore  # noqa: PLC0415

        store, risk = PostgresStore(db), PgRiskStore(db)
    else:
        from host.risk.store_sqlite import SqliteRiskStore  # noqa: PLC0415
        from host.store.sqlite import SqliteStore  # noqa: PLC0415

        store = SqliteStore(db)
        risk = SqliteRiskStore(store.connection)
    try:
        with store.transaction_sync():
            for a in demo["accounts"]:
                store.update("accounts", a["account_no"], {"balance": 10**11})
            for i, c in enumerate(cards):
                store.upsert("customers", {"customer_id": c["customer_id"],
                                           "name": f"BENCH {i}", "status": "active"})
                store.upsert("accounts", {
                    "account_no": c["account_no"], "customer_id": c["customer_id"],
                    "currency": "156", "balance": 10**9, "held": 0, "kind": "customer",
                    "status": "active"})
                store.upsert("cards", {
                    "pan": c["pan"], "account_no": c["account_no"], "expiry": c["expiry"],
                    "service_code": c["service_code"], "pin_method": "pvv", "pvk_name": "PVK1",
                    "pvki": 1, "pvv": c["pvv"], "pin_tries": 0, "status": "active"})
        with risk.transaction():
            for i, c in enumerate(cards):
                risk.put_customer(kyc_record({
                    "customer_id": c["customer_id"], "name": f"BENCH {i}",
                    "id_number": _resident_id(i), "risk_grade": "LOW",
                    "phone": f"+86139{i:08d}", "id_expiry": "2036-01-01"}, vault))
                risk.put_account(AccountLink(account_no=c["account_no"],
                                             customer_id=c["customer_id"],
                                             account_class=AccountClass.I))
                risk.put_card(CardLink(card=card_ref(c["pan"]), customer_id=c["customer_id"],
                                       account_no=c["account_no"], pan_masked=mask_pan(c["pan"])))
    finally:
        risk.close()
        store.close()


# ------------------------------------------------------------------ clients
@dataclass
class Result:
    name: str
    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    codes: dict[str, int] = field(default_factory=dict)
    elapsed: float = 0.0

    @property
    def rate(self) -> float:
        return len(self.latencies) / self.elapsed if self.elapsed else 0.0

    def pct(self, q: float) -> float:
        if not self.latencies:
            return float("nan")
        s = sorted(self.latencies)
        return s[min(len(s) - 1, int(q * len(s)))] * 1000


def _requests(
    cat: dict[str, Any], client: int, cards: Sequence[dict[str, Any]], *, uses: int, base: int = 0
) -> list[bytes]:
    """Withdrawals of one emulated terminal: its ``cards`` in turn, each used ``uses`` times.

    Amounts are CNY 100.00..499.99 and never round, so a run stays inside the LOW grade's
    per-transaction, daily amount and count limits and earns no scoring points. STANs start at
    ``base + 1``; the local date differs per client so (terminal, STAN, date) never repeats.
    """
    terms = cat["terminals"]
    term = terms[client % len(terms)]
    tpk = bytes.fromhex(term["tpk"])
    blocks = [
        tdes_encrypt_ecb(tpk, encode_pinblock_iso_0(c["pin"], c["pan"])).hex().upper()
        for c in cards
    ]
    now = dt.datetime.now()
    out = []
    for i in range(uses * len(cards)):
        card, block = cards[i % len(cards)], blocks[i % len(cards)]
        n = base + i
        stan = f"{n % 999999 + 1:06d}"
        day = (client * 7 + n // 999999) % 28 + 1
        amount = 10000 + (n * 7919 + client * 104729) % 40000
        amount += 1 if amount % 100 == 0 else 0
        f = {
            "t": "0200",
            "2": card["pan"],
            "3": "010000",
            "4": f"{amount:012d}",
            "7": now.strftime("%m%d%H%M%S"),
            "11": stan,
            "12": now.strftime("%H%M%S"),
            "13": f"{(client // 28) % 12 + 1:02d}{day:02d}",
            "14": card["expiry"],
            "22": "021",
            "35": card["track2"],
            "37": f"{client:04d}{n % 10**8:08d}",
            "41": term["terminal_id"],
            "42": term["merchant_id"],
            "49": "156",
            "52": block,
        }
        raw = bytes(iso8583.encode(f, default_ascii)[0])
        out.append(struct.pack(">H", len(raw)) + raw)
    return out


async def _client(
    port: int, frames: list[bytes], deadline: float, res: Result, *, decode: bool
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        i = 0
        while time.monotonic() < deadline and i < len(frames):
            t0 = time.perf_counter()
            writer.write(frames[i])
            i += 1
            head = await reader.readexactly(2)
            body = await reader.readexactly(struct.unpack(">H", head)[0])
            res.latencies.append(time.perf_counter() - t0)
            if decode:
                doc, _ = iso8583.decode(bytearray(body), default_ascii)
                rc = doc.get("39", "??")
                res.codes[rc] = res.codes.get(rc, 0) + 1
    except (ConnectionError, OSError, asyncio.IncompleteReadError):
        res.errors += 1
    finally:
        writer.close()


async def measure(
    name: str,
    port: int,
    frames: Sequence[list[bytes]],
    seconds: float,
    *,
    decode: bool,
    progress: bool,
) -> Result:
    res = Result(name=name)
    start = time.monotonic()
    deadline = start + seconds
    tasks = [asyncio.create_task(_client(port, f, deadline, res, decode=decode)) for f in frames]
    while not all(t.done() for t in tasks):
        await asyncio.wait(tasks, timeout=1.0)
        if progress and not all(t.done() for t in tasks):
            print(
                f"bench: {name}: {len(res.latencies)} answers after "
                f"{time.monotonic() - start:.0f} s",
                file=sys.stderr,
                flush=True,
            )
    res.elapsed = time.monotonic() - start
    return res


def _print(res: Result, echo: Result | None) -> None:
    ratio = f"{res.rate / echo.rate:6.3f}" if echo and echo.rate and res is not echo else "     -"
    print(
        f"{res.name:12} {res.rate:10.0f}/s  p50 {res.pct(0.50):7.2f} ms  "
        f"p95 {res.pct(0.95):7.2f} ms  "
        f"p99 {res.pct(0.99):7.2f} ms  ratio {ratio}  errors {res.errors}",
        flush=True,
    )


def _mix(codes: dict[str, int]) -> str:
    total = sum(codes.values()) or 1
    return ", ".join(
        f"{rc} {n} ({100 * n / total:.1f}%)" for rc, n in sorted(codes.items(), key=lambda x: -x[1])
    )


async def _run(args: argparse.Namespace) -> int:  # noqa: PLR0915 - one linear script
    demo = load_demo()
    cat = catalogue(demo)
    seconds = 1.0 if args.quick and args.seconds is None else (args.seconds or 10.0)
    clients = args.clients or (4 if args.quick else 32)
    n_cards = args.cards or max(clients, int(seconds * 2500 / USES_PER_CARD))
    n_cards = -(-n_cards // clients) * clients  # the same number of cards per client
    with tempfile.TemporaryDirectory(prefix="sst-bench-host-") as tmp, contextlib.ExitStack() as es:
        d = Path(tmp)
        db = str(d / "host.db")
        backend = f"SQLite durability={args.durability}"
        if args.pg:
            pg = _pg_server_class()(fsync=True)
            es.callback(pg.stop)
            pg.start()
            args.db = pg.create_database("bench")
        if args.db:
            db = args.db
            backend = "PostgreSQL (temporary server, fsync on)" if args.pg else "PostgreSQL"
        subprocess.run(  # noqa: S603, ASYNC221 - our own CLI, once before measuring
            sst_command("host", "seed", "--demo", "--db", db),
            check=True,
            stdout=subprocess.DEVNULL,
        )
        cards = bench_cards(demo, n_cards + clients)  # the last ``clients`` cards: warm-up
        t0 = time.monotonic()
        seed_bench(db, demo, cards)
        if not args.quiet:
            print(
                f"bench: seeded {len(cards)} cards/customers/accounts (LOW grade, KYC) in "
                f"{time.monotonic() - t0:.1f} s",
                file=sys.stderr,
                flush=True,
            )
        print(
            f"bench: starting HSM, host and echo subprocesses ({sys.executable})",
            file=sys.stderr,
            flush=True,
        )
        hsm = ServiceProcess(
            "hsm",
            sst_command(
                "hsm", "serve", "--host", "127.0.0.1", "--port", "0", "--log-level", "WARNING"
            ),
            log_path=d / "hsm.log",
        )
        host = ServiceProcess(
            "host",
            [
                sys.executable,
                "-m",
                "sst",
                "host",
                "serve",
                "--port",
                "0",
                "--db",
                db,
                "--log-level",
                "WARNING",
                "--durability",
                args.durability,
                *(["--set", f"participants={NO_RISK!r}".replace("'", '"')] if args.without_risk
                  else []),
            ],
            log_path=d / "host.log",
        )
        echo = ServiceProcess(
            "echo", [sys.executable, _SELF, "--echo-server"], log_path=d / "echo.log"
        )
        try:
            hsm_port = hsm.start()["port"]
            host.argv += ["--hsm", f"127.0.0.1:{hsm_port}"]
            host_port = host.start()["port"]
            echo_port = echo.start()["port"]
            frames = [
                _requests(cat, c, cards[c:n_cards:clients], uses=USES_PER_CARD)
                for c in range(clients)
            ]
            warm = [
                _requests(cat, c, [cards[n_cards + c]], uses=USES_PER_CARD, base=900000)
                for c in range(clients)
            ]
            print(
                f"bench: {clients} terminals, {n_cards} cards ({n_cards // clients} per terminal, "
                f"at most {USES_PER_CARD} withdrawals each), {seconds:g} s per run, {backend}",
                file=sys.stderr,
                flush=True,
            )
            e = await measure(
                "echo", echo_port, frames, seconds, decode=False, progress=not args.quiet
            )
            await measure(
                "warm-up", host_port, warm, min(1.0, seconds / 4), decode=True, progress=False
            )
            h = await measure(
                "host", host_port, frames, seconds, decode=True, progress=not args.quiet
            )
        finally:
            for p in (echo, host, hsm):
                with contextlib.suppress(Exception):
                    p.stop()
    sent = sum(len(f) for f in frames)
    risk = "risk engine off" if args.without_risk else "risk engine on"
    print(f"ledger: {backend}; {risk}; {n_cards} cards, {clients} terminals")
    print(f"{'':12} {'rate':>12}")
    _print(e, None)
    _print(h, e)
    approved = h.codes.get("00", 0)
    rate = approved / h.elapsed if h.elapsed else 0.0
    print(f"answered/s {h.rate:.0f}; approved/s {rate:.0f}; decline mix: {_mix(h.codes)}")
    if len(h.latencies) >= sent:
        print("note: every card's budget was used before the time was up (raise --cards)")
    print(
        f"authorisations/s {rate:.0f} (approved, PIN verified by the HSM, {risk}); "
        f"p99 {h.pct(0.99):.1f} ms; goal >= 1500/s with p99 <= 50 ms",
        flush=True,
    )
    return 0 if h.latencies and not h.errors else 1


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="bench/host.py",
        description="Benchmark `sst host serve` (with `sst hsm serve`, both subprocesses) "
        "with N concurrent "
        "emulated terminals sending PIN-verified 0200 withdrawals; prints authorisations/s, "
        "p50/p95/p99 latency and the ratio to a bare framed-echo server measured in the same run.",
    )
    p.add_argument(
        "--clients", type=int, help="concurrent terminals, one TCP connection each (default 32)"
    )
    p.add_argument("--seconds", type=float, help="measuring time per run (default 10, --quick 1)")
    p.add_argument(
        "--cards",
        type=int,
        help=f"bench cards, one customer and account each (default: 2500/s x seconds / "
        f"{USES_PER_CARD} uses per card)",
    )
    p.add_argument("--quick", action="store_true", help="a short smoke run: 4 clients, 1 s")
    p.add_argument(
        "--durability",
        choices=("full", "normal"),
        default="full",
        help="host SQLite synchronous mode (default full: fsync per commit)",
    )
    p.add_argument(
        "--db",
        metavar="URL",
        help="use this PostgreSQL database (postgresql://...) instead of a temporary SQLite file",
    )
    p.add_argument(
        "--pg",
        action="store_true",
        help="start a temporary PostgreSQL server (initdb in a temp dir, fsync on) and use it",
    )
    p.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    p.add_argument(
        "--without-risk",
        action="store_true",
        help="run the authorisation pipeline without the risk participant (to see what the "
        "per-customer risk engine costs)",
    )
    p.add_argument("--echo-server", action="store_true", help=argparse.SUPPRESS)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.echo_server:
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(_echo_serve())
        return 0
    return asyncio.run(_run(args))


if __name__ == "__main__":
    sys.exit(main())
