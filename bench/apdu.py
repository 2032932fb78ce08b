"""APDU round-trip latency through pcscd + vpcd (with/without TCP_QUICKACK), full chip read.

Usage (as root, pcscd + vsmartcard-vpcd installed, no other pcscd running)::

    python -m bench.apdu [--n 200] [--profile visa-cvn18] [--trace]

It starts its own ``pcscd -f`` (stopped by pid at the end), serves the virtual card in-process,
and prints one line per measurement; ``--trace`` also prints the redacted APDU trace of one
transaction (used for docs/cards.md).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

from devices.cardreader.chip import ChipPowerAction
from devices.cardreader.pcsc import PcscChipReader, list_readers
from devices.common.events import null_sink
from devices.emv.apdu import select_command
from devices.emv.kernel import (
    ApduTrace,
    EmvKernel,
    HostResponse,
    OfflinePinResult,
    TerminalConfig,
    TransactionRequest,
)
from devices.emv.tags import trace_tlv
from devices.profiles import load_card_profiles
from devices.vcard.card import VirtualEmvCard
from devices.vcard.vpcd import VpcdCardClient

READER = "Virtual PCD 00 00"


class _Cardholder:
    async def choose_application(self, candidates: object) -> int | None:
        return 0

    async def online_pin(self) -> bool:
        return True

    async def offline_pin(self, present: object, tries_left: object) -> OfflinePinResult:
        return OfflinePinResult.BYPASSED

    async def signature(self) -> bool:
        return True


async def _with_card(profile_id: str, quickack: bool) -> tuple[VpcdCardClient, PcscChipReader]:
    profile = next(p for p in load_card_profiles() if p.id == profile_id)
    client = VpcdCardClient(VirtualEmvCard(profile), quickack=quickack)
    client.start()
    reader = PcscChipReader(reader=READER)
    await reader.open()
    await reader.wait_for_card(null_sink, timeout=10)
    return client, reader


async def _latency(profile_id: str, quickack: bool, n: int) -> list[float]:
    client, reader = await _with_card(profile_id, quickack)
    try:
        await reader.chip_power(ChipPowerAction.COLD)
        cmd = select_command(bytes.fromhex("A0000000031010")).encode()
        out = []
        for _ in range(n):
            t0 = time.perf_counter()
            await reader.chip_io(cmd)
            out.append((time.perf_counter() - t0) * 1000)
        return out
    finally:
        await reader.close()
        await asyncio.to_thread(client.stop)
        await asyncio.sleep(0.6)  # pcscd notices the removal (~0.4 s poll)


async def _chip_read(profile_id: str, trace: bool) -> float:
    client, reader = await _with_card(profile_id, True)
    lines: list[ApduTrace] = []
    try:
        k = EmvKernel(reader, TerminalConfig(), _Cardholder(), on_apdu=lines.append)
        t0 = time.perf_counter()
        first = await k.start(TransactionRequest(amount=10000, when=date.today()))
        elapsed = (time.perf_counter() - t0) * 1000
        await k.complete(HostResponse(approved=False, arc=b"05"))
    finally:
        await reader.close()
        await asyncio.to_thread(client.stop)
    if trace:
        print(f"# {profile_id}: first GENERATE AC outcome {first.outcome.value}")
        for t in lines:
            cmd = t.command.hex().upper()
            shown = cmd if len(cmd) <= 60 or t.name.startswith("GENERATE") else cmd[:60] + "..."
            print(f"> {t.name}: {shown}")
            for ln in trace_tlv(t.response, indent=4) if t.response else []:
                print(ln)
            print(f"< SW {t.sw:04X}")
    return elapsed


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; returns the exit status."""
    ap = argparse.ArgumentParser(prog="bench.apdu")
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--profile", default="visa-cvn18")
    ap.add_argument("--trace", action="store_true")
    args = ap.parse_args(argv)
    exe = shutil.which("pcscd") or "/usr/sbin/pcscd"
    if not Path(exe).exists():
        print("pcscd is not installed", file=sys.stderr)
        return 1
    if Path("/run/pcscd/pcscd.comm").exists():
        print("another pcscd is running; stop it first", file=sys.stderr)
        return 1
    proc = subprocess.Popen([exe, "-f"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # noqa: S603
    try:
        deadline = time.monotonic() + 10
        while READER not in (list_readers() if Path("/run/pcscd/pcscd.comm").exists() else []):
            if time.monotonic() > deadline:
                print("vpcd reader not found", file=sys.stderr)
                return 1
            time.sleep(0.05)
        for quick in (True, False):
            n = args.n if quick else max(10, args.n // 10)
            lat = asyncio.run(_latency(args.profile, quick, n))
            print(f"APDU round trip via pcscd, TCP_QUICKACK={'on ' if quick else 'off'}: "
                  f"mean {statistics.mean(lat):.2f} ms, median {statistics.median(lat):.2f} ms, "
                  f"n={n}")
        ms = asyncio.run(_chip_read(args.profile, args.trace))
        print(f"full chip read (power on .. GENERATE AC 1): {ms:.1f} ms")
    finally:
        os.kill(proc.pid, 15)
        proc.wait(timeout=10)
    return 0


if __name__ == "__main__":
    sys.exit(main())
