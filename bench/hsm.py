"""Throughput benchmark of the software payShield: DC, CA and CI over TCP against an echo baseline.

Starts two subprocesses the same way (``python -m hsm_sim serve --port 0`` and this script's own
framed-echo server), reads each one's JSON ``listening`` line, then drives every command with N
concurrent pipelining clients over raw asyncio streams and prints, per command: commands/s,
p50/p95/p99 latency (request written -> answer read, so pipelining queueing is included) and the
ratio to the echo server's rate measured in the same run. The echo server uses the same framing
(2-byte length + header) and answers each frame with the same bytes at once: it measures the
transport and the client, so ``ratio`` is the share of the ceiling this harness can see.

Only test keys under the published Thales test LMK are used; requests are built once with
``hsm_sim.crypto`` and replayed (the same key fields every time, like one terminal's traffic).

Examples
--------
::

    .venv/bin/python bench/hsm.py                 # 5 s per command, 8 clients
    .venv/bin/python bench/hsm.py --quick --seconds 0.5
    .venv/bin/python bench/hsm.py --clients 16 --depth 16 --commands DC
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import subprocess
import sys
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

_REPO = Path(__file__).resolve().parent.parent
# Run as a plain script, this folder would come first on sys.path (and bench/host.py would
# shadow the `host` package): put the repository first instead.
sys.path[:] = [str(_REPO)] + [p for p in sys.path if Path(p or ".").resolve() != _REPO / "bench"]

from hsm_sim.crypto import (  # noqa: E402 - after the sys.path fix-up
    TdesDukptKeyUsage,
    derive_transaction_key_tdes,
    derive_working_key_tdes,
    encipher_pinblock,
    generate_visa_pvv,
)
from hsm_sim.crypto.lmk import VariantLmk  # noqa: E402
from hsm_sim.thales.codec import Framer, encode_frame  # noqa: E402

__all__ = ["main"]

HEADER = b"BNCH"
_SELF = str(Path(__file__).resolve())
COMMANDS = ("DC", "CA", "CI")
# Test keys only (odd parity); the BDK is the X9.24 test BDK.
_TPK = bytes.fromhex("0123456789ABCDEFFEDCBA9876543210")
_ZPK = bytes.fromhex("E6F1081FEA4C402CC192B65DE367EC3E")
_PVK = bytes.fromhex("FEDCBA98765432100123456789ABCDEF")
_BDK = bytes.fromhex("0123456789ABCDEFFEDCBA9876543210")
_KSN = "FFFF9876543210E00001"
_PAN = "4012345678909"
_ACCOUNT = _PAN[-13:-1]
_PIN = "1234"


def build_requests() -> dict[str, bytes]:
    """One request body per benchmarked command (all answer ``00``)."""
    lmk = VariantLmk.test()
    pvk = _PVK
    tpk_f = lmk.encrypt_key("002", _TPK, "U")
    zpk_f = lmk.encrypt_key("001", _ZPK, "U")
    pvk_f = lmk.encrypt_key("002", pvk, "U")
    bdk_f = lmk.encrypt_key("009", _BDK, "U")
    block = encipher_pinblock(_TPK, _PIN, _ACCOUNT, "01").hex().upper()
    pvv = generate_visa_pvv(pvk, _ACCOUNT, 1, _PIN)
    tk = derive_transaction_key_tdes(_BDK, bytes.fromhex(_KSN))
    dukpt = derive_working_key_tdes(tk, TdesDukptKeyUsage.PIN)
    dblock = encipher_pinblock(dukpt, _PIN, _ACCOUNT, "01").hex().upper()
    return {
        "DC": f"DC{tpk_f}{pvk_f}{block}01{_ACCOUNT}1{pvv}".encode(),
        "CA": f"CA{tpk_f}{zpk_f}12{block}0101{_ACCOUNT}".encode(),
        "CI": f"CI{bdk_f}{zpk_f}A05{_KSN}{dblock}01{_ACCOUNT}".encode(),
    }


# ------------------------------------------------------------------ echo server (subprocess)


async def _echo_serve(header_length: int) -> None:
    async def on_conn(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        framer = Framer(header_length=header_length)
        try:
            while data := await reader.read(65536):
                framer.receive_data(data)
                out = bytearray()
                while (frame := framer.next_frame()) is not None:
                    out += encode_frame(frame.header, frame.body)
                writer.write(out)
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(on_conn, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    print(json.dumps({"event": "listening", "host": "127.0.0.1", "port": port}), flush=True)
    async with server:
        await server.serve_forever()


# ------------------------------------------------------------------ load generator


@dataclass(frozen=True, kw_only=True)
class Result:
    """Figures of one measured command."""

    name: str
    count: int
    seconds: float
    latencies_ms: tuple[float, ...]
    errors: int

    @property
    def rate(self) -> float:
        return self.count / self.seconds if self.seconds else 0.0

    def pct(self, q: float) -> float:
        if not self.latencies_ms:
            return float("nan")
        xs = sorted(self.latencies_ms)
        return xs[min(len(xs) - 1, int(q * len(xs)))]


async def _client(  # noqa: PLR0917 - internal helper
    port: int,
    frame: bytes,
    depth: int,
    stop_at: float,
    lat: list[float],
    errs: list[int],
    *,
    check: bool,
) -> int:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    framer = Framer(header_length=len(HEADER))
    sent: deque[float] = deque()
    done = 0
    errors = 0
    clock = time.perf_counter
    try:
        for _ in range(depth):
            sent.append(clock())
            writer.write(frame)
        while sent:
            data = await reader.read(65536)
            if not data:
                break
            framer.receive_data(data)
            now = clock()
            burst = 0
            while (resp := framer.next_frame()) is not None:
                lat.append((now - sent.popleft()) * 1000.0)
                if check and resp.body[2:4] != b"00":
                    errors += 1
                done += 1
                if now < stop_at:
                    sent.append(now)
                    burst += 1
            if burst:
                writer.write(frame * burst)
    finally:
        writer.close()
        with contextlib.suppress(Exception):
            await writer.wait_closed()
    errs.append(errors)
    return done


async def measure(
    name: str,
    port: int,
    body: bytes,
    *,
    clients: int,
    depth: int,
    seconds: float,
    check: bool = True,
) -> Result:
    """Drive ``body`` with ``clients`` pipelining connections for ``seconds``."""
    frame = encode_frame(HEADER, body)
    lat: list[float] = []
    errs: list[int] = []
    start = time.perf_counter()
    stop_at = start + seconds
    counts = await asyncio.gather(
        *(_client(port, frame, depth, stop_at, lat, errs, check=check) for _ in range(clients))
    )
    elapsed = time.perf_counter() - start
    return Result(
        name=name, count=sum(counts), seconds=elapsed, latencies_ms=tuple(lat), errors=sum(errs)
    )


# ------------------------------------------------------------------ subprocesses


def _spawn(argv: Sequence[str], *, cwd: Path) -> tuple[subprocess.Popen[str], int]:
    proc = subprocess.Popen(  # noqa: S603 - our own interpreter and module
        list(argv),
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        cwd=cwd,
        env={**os.environ, "PYTHONPATH": str(cwd)},
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    try:
        event = json.loads(line)
    except ValueError:
        proc.kill()
        raise SystemExit(f"bench: {argv[2:4]} did not start (got {line!r})") from None
    return proc, int(event["port"])


def _stop(proc: subprocess.Popen[str]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def _print_row(r: Result, echo_rate: float | None) -> None:
    ratio = f"{r.rate / echo_rate:6.2f}" if echo_rate else "     -"
    print(
        f"{r.name:<5} {r.rate:10.0f} cmd/s   p50 {r.pct(0.50):7.2f} ms   p95 {r.pct(0.95):7.2f} ms"
        f"   p99 {r.pct(0.99):7.2f} ms   ratio-to-echo {ratio}   errors {r.errors}",
        flush=True,
    )


async def _run(args: argparse.Namespace) -> int:
    requests = build_requests()
    wanted = [c.strip().upper() for c in args.commands.split(",") if c.strip()]
    bad = [c for c in wanted if c not in requests]
    if bad:
        print(f"bench: unknown command(s) {bad}; choose from {list(requests)}", file=sys.stderr)
        return 2
    py = sys.executable
    log = sys.stderr
    print(f"bench: starting HSM and echo subprocesses ({py})", file=log, flush=True)
    hsm_repo: Path = args.hsm_repo
    hsm, hsm_port = _spawn(
        [py, "-m", "hsm_sim", "serve", "--port", "0", *args.hsm_arg], cwd=hsm_repo
    )
    echo, echo_port = _spawn([py, _SELF, "--echo-server"], cwd=_REPO)
    try:
        kw = {"clients": args.clients, "depth": args.depth}
        warm = 0.1 if args.quick else 0.5
        print(f"bench: warm-up {warm} s", file=log, flush=True)
        await measure("warm", hsm_port, requests[wanted[0]], seconds=warm, **kw)
        await measure("warm", echo_port, requests[wanted[0]], seconds=warm, check=False, **kw)
        print(
            f"bench: {args.clients} clients x depth {args.depth}, {args.seconds} s per command",
            file=log,
            flush=True,
        )
        print(f"bench: measuring echo ({args.seconds} s)", file=log, flush=True)
        echo_r = await measure(
            "echo", echo_port, requests[wanted[0]], seconds=args.seconds, check=False, **kw
        )
        results = []
        for code in wanted:
            print(f"bench: measuring {code} ({args.seconds} s)", file=log, flush=True)
            results.append(
                await measure(code, hsm_port, requests[code], seconds=args.seconds, **kw)
            )
    finally:
        _stop(hsm)
        _stop(echo)
    _print_row(echo_r, None)
    for r in results:
        _print_row(r, echo_r.rate)
    return 1 if any(r.errors for r in results) else 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="bench/hsm.py",
        description=(
            "Measure the software HSM over TCP (DC, CA, CI) against a framed-echo server; "
            "both run as subprocesses. Prints commands/s, p50/p95/p99 latency and the ratio "
            "to the echo rate."
        ),
    )
    p.add_argument(
        "--seconds",
        type=float,
        default=None,
        help="seconds per command (default 5; 1 with --quick)",
    )
    p.add_argument("--clients", type=int, default=8, help="concurrent connections (default 8)")
    p.add_argument(
        "--depth", type=int, default=8, help="requests in flight per connection (default 8)"
    )
    p.add_argument(
        "--commands", default=",".join(COMMANDS), help="comma-separated (default DC,CA,CI)"
    )
    p.add_argument("--quick", action="store_true", help="short warm-up and run (smoke test)")
    p.add_argument(
        "--hsm-repo",
        metavar="DIR",
        help="run the hsm_sim of another checkout (e.g. a git worktree, for before/after)",
    )
    p.add_argument(
        "--hsm-arg",
        action="append",
        default=[],
        metavar="ARG",
        help="extra argument for 'hsm_sim serve' (repeatable), e.g. --hsm-arg=--key-cache-size=0",
    )
    p.add_argument("--echo-server", action="store_true", help=argparse.SUPPRESS)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.echo_server:
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(_echo_serve(len(HEADER)))
        return 0
    args.hsm_repo = Path(args.hsm_repo).resolve() if args.hsm_repo else _REPO
    if args.seconds is None:
        args.seconds = 1.0 if args.quick else 5.0
    if args.clients < 1 or args.depth < 1 or args.seconds <= 0:
        print("bench: --clients, --depth and --seconds must be positive", file=sys.stderr)
        return 2
    return asyncio.run(_run(args))


if __name__ == "__main__":
    sys.exit(main())
