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
if str(_REPO) not in sys.path:  # run as a plain script from anywhere
    sys.path.insert(0, str(_REPO))

import iso8583  # noqa: E402 - after the sys.path fix-up
from iso8583.specs import default_ascii  # noqa: E402

from host.seed import catalogue, load_demo  # noqa: E402
from hsm_sim.crypto import encode_pinblock_iso_0, tdes_encrypt_ecb  # noqa: E402
from sst.common.procs import ServiceProcess, sst_command  # noqa: E402

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


def _requests(cat: dict[str, Any], client: int, count: int) -> list[bytes]:
    """``count`` distinct withdrawals for one emulated terminal (STANs 1..count)."""
    cards = cat["cards"]
    terms = cat["terminals"]
    term = terms[client % len(terms)]
    card = cards[client % len(cards)]
    tpk = bytes.fromhex(term["tpk"])
    block = tdes_encrypt_ecb(tpk, encode_pinblock_iso_0(card["pin"], card["pan"])).hex().upper()
    now = dt.datetime.now()
    out = []
    for i in range(count):
        stan = f"{i % 999999 + 1:06d}"
        # A distinct local date per client and wrap so (terminal, STAN, date) never repeats.
        day = (client * 7 + i // 999999) % 28 + 1
        f = {
            "t": "0200",
            "2": card["pan"],
            "3": "010000",
            "4": "000000000100",
            "7": now.strftime("%m%d%H%M%S"),
            "11": stan,
            "12": now.strftime("%H%M%S"),
            "13": f"{(client // 28) % 12 + 1:02d}{day:02d}",
            "14": card["expiry"],
            "22": "021",
            "35": card["track2"],
            "37": f"{client:04d}{i % 10**8:08d}",
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
                f"bench: {name}: {len(res.latencies)} answers after {time.monotonic() - start:.0f} s",
                file=sys.stderr,
                flush=True,
            )
    res.elapsed = time.monotonic() - start
    return res


def _print(res: Result, echo: Result | None) -> None:
    ratio = f"{res.rate / echo.rate:6.3f}" if echo and echo.rate and res is not echo else "     -"
    print(
        f"{res.name:12} {res.rate:10.0f}/s  p50 {res.pct(0.50):7.2f} ms  p95 {res.pct(0.95):7.2f} ms  "
        f"p99 {res.pct(0.99):7.2f} ms  ratio {ratio}  errors {res.errors}"
        + (f"  codes {dict(sorted(res.codes.items()))}" if res.codes else ""),
        flush=True,
    )


async def _run(args: argparse.Namespace) -> int:  # noqa: PLR0915 - one linear script
    demo = load_demo()
    cat = catalogue(demo)
    seconds = 1.0 if args.quick and args.seconds is None else (args.seconds or 10.0)
    clients = args.clients or (4 if args.quick else 32)
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
        # Every card gets plenty of money so withdrawals never run dry during the bench.
        store: Any
        if db.startswith(("postgresql://", "postgres://")):
            from host.store.postgres import PostgresStore  # noqa: PLC0415

            store = PostgresStore(db)
        else:
            from host.store.sqlite import SqliteStore  # noqa: PLC0415

            store = SqliteStore(db)
        for a in demo["accounts"]:
            store.update("accounts", a["account_no"], {"balance": 10**11})
        store.close()
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
            per_client = int(seconds * 20000 / max(1, clients)) + 100
            frames = [_requests(cat, c, per_client) for c in range(clients)]
            print(
                f"bench: {clients} terminals, {seconds:g} s per run, {backend}",
                file=sys.stderr,
                flush=True,
            )
            e = await measure(
                "echo", echo_port, frames, seconds, decode=False, progress=not args.quiet
            )
            await measure(
                "warm-up",
                host_port,
                [f[-50:] for f in frames],
                min(1.0, seconds / 4),
                decode=True,
                progress=False,
            )
            h = await measure(
                "host", host_port, frames, seconds, decode=True, progress=not args.quiet
            )
        finally:
            for p in (echo, host, hsm):
                with contextlib.suppress(Exception):
                    p.stop()
    print(f"ledger: {backend}")
    print(f"{'':12} {'rate':>12}")
    _print(e, None)
    _print(h, e)
    approved = h.codes.get("00", 0)
    print(
        f"authorisations/s {approved / h.elapsed if h.elapsed else 0:.0f} (approved, PIN verified by the HSM); "
        f"p99 {h.pct(0.99):.1f} ms; goal >= 1500/s with p99 <= 50 ms",
        flush=True,
    )
    return 0 if h.latencies and not h.errors else 1


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="bench/host.py",
        description="Benchmark `sst host serve` (with `sst hsm serve`, both subprocesses) with N concurrent "
        "emulated terminals sending PIN-verified 0200 withdrawals; prints authorisations/s, "
        "p50/p95/p99 latency and the ratio to a bare framed-echo server measured in the same run.",
    )
    p.add_argument(
        "--clients", type=int, help="concurrent terminals, one TCP connection each (default 32)"
    )
    p.add_argument("--seconds", type=float, help="measuring time per run (default 10, --quick 1)")
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
