"""Composition root of the device emulators: ``python -m devices ...`` / ``sst <kind> ...``.

Implemented: ``epp serve`` (the emulated EPP on a pty or TCP port plus its control socket) and
``card serve PROFILE`` (the virtual EMV card connected to vpcd; prints
``{"event": "listening", "profile": ..., "port": 35963, "pan": "<masked>"}`` once connected).
When ready it prints one JSON line on stdout, e.g.
``{"event": "listening", "pty": "/dev/pts/3", "control_port": 40123}``; logs go to stderr as
JSON. SIGTERM or SIGINT stops it with exit status 0; it removes nothing it did not create
(a key file, once written, is kept: it is the EPP's persistent key table).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
import threading
import tomllib
from collections.abc import Sequence
from pathlib import Path

from devices.epp.emulator import EppEmulator
from devices.epp.firmware import EppFirmware, KeyStore, MemoryKeyStore
from devices.epp.keystore import FileKeyStore
from devices.profiles import load_card_profiles
from devices.vcard.card import CardFault, VirtualEmvCard
from devices.vcard.state import FileStateStore, MemoryStateStore, StateStore
from devices.vcard.vpcd import VpcdCardClient
from sst.common.logs import configure_logging

__all__ = ["build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    """The ``devices`` argument parser (``<kind> <action> ...``)."""
    parser = argparse.ArgumentParser(prog="sst", description="SST device emulators")
    kinds = parser.add_subparsers(dest="kind", required=True)
    epp = kinds.add_parser(
        "epp", help="encrypting PIN pad",
        description="The emulated encrypting PIN pad: the same framed serial protocol as a real "
                    "EPP (see docs/devices.md), served behind a real pty or a TCP port. Its "
                    "keypad is pressed through a control socket on 127.0.0.1 (`press 1234`, "
                    "`press ENTER`), by the screens or by scripts; the PIN never leaves it in "
                    "clear, only encrypted PIN blocks do.",
        epilog="Example: sst epp serve --pty --control-port 0 --key-file data/epp-keys.bin\n"
               "When ready it prints one JSON line: "
               '{"event": "listening", "pty": "/dev/pts/N", "control_port": N}',
        formatter_class=argparse.RawDescriptionHelpFormatter)
    epp_actions = epp.add_subparsers(dest="action", required=True)
    serve = epp_actions.add_parser(
        "serve", help="run the emulated EPP",
        description="Run the emulated EPP until SIGTERM/SIGINT (exit 0).")
    where = serve.add_mutually_exclusive_group(required=True)
    where.add_argument("--pty", action="store_true", help="serve on a new pseudo-terminal")
    where.add_argument("--tcp", type=int, metavar="PORT", help="serve on 127.0.0.1:PORT (0=any)")
    serve.add_argument("--control-port", type=int, default=0, help="control socket port (0=any)")
    serve.add_argument("--key-file", help="persist keys here (TEST-GRADE encryption)")
    serve.add_argument("--serial-number", default="EMU00001")
    serve.add_argument("--log-level", default="INFO")
    _add_card_parser(kinds)
    return parser


def _add_card_parser(kinds: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    card = kinds.add_parser(
        "card", help="virtual EMV card on vpcd",
        description="The virtual EMV chip card: connects to vsmartcard's vpcd on loopback "
                    "(pcscd must run with vpcd configured) and answers as the card of PROFILE. "
                    "ATC and PIN try counter persist in --state-dir. See docs/cards.md.",
        epilog="Example: sst card serve visa-cvn18 --state-dir data/cards\n"
               'When connected it prints: {"event": "listening", "profile": ..., "port": 35963}',
        formatter_class=argparse.RawDescriptionHelpFormatter)
    actions = card.add_subparsers(dest="action", required=True)
    serve = actions.add_parser("serve", help="serve one card until SIGTERM/SIGINT")
    serve.add_argument("profile", help="profile id, or a path to a profile .toml")
    serve.add_argument("--profiles-dir", help="profile library (default: the shipped one)")
    serve.add_argument("--vpcd-port", type=int, default=35963, help="35963 = slot 0, 35964 = 1")
    serve.add_argument("--state-dir", help="persist ATC / PIN try counter here")
    serve.add_argument("--fault", action="append", default=None,
                       choices=[f.value for f in CardFault], help="inject a fault (repeatable)")
    serve.add_argument("--no-quickack", action="store_true",
                       help="do not re-arm TCP_QUICKACK (latency comparison)")
    serve.add_argument("--log-level", default="INFO")


async def _serve_card(args: argparse.Namespace) -> int:
    src = Path(args.profile)
    if src.suffix == ".toml" and src.is_file():  # noqa: ASYNC240 -- startup, before serving
        want = tomllib.loads(src.read_text(encoding="utf-8")).get("id")  # noqa: ASYNC240 -- startup, before serving
        profile = next(p for p in load_card_profiles(src.parent) if p.id == want)
    else:
        by_id = {p.id: p for p in load_card_profiles(args.profiles_dir)}
        if args.profile not in by_id:
            sys.stderr.write(f"unknown profile {args.profile!r}; known: {sorted(by_id)}\n")
            return 2
        profile = by_id[args.profile]
    store: StateStore = (FileStateStore(Path(args.state_dir) / f"{profile.id}.json")
                         if args.state_dir else MemoryStateStore())
    card = VirtualEmvCard(profile, store=store, faults=args.fault)
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    first = threading.Event()

    def connected() -> None:
        if not first.is_set():
            first.set()
            loop.call_soon_threadsafe(_announce, profile.id, args.vpcd_port, profile.masked_pan)

    client = VpcdCardClient(card, port=args.vpcd_port, quickack=not args.no_quickack,
                            on_connected=connected)
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    client.start()
    try:
        await stop.wait()
    finally:
        await asyncio.to_thread(client.stop)
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
    return 0


def _announce(profile: str, port: int, masked_pan: str) -> None:
    sys.stdout.write(json.dumps({"event": "listening", "profile": profile, "port": port,
                                 "pan": masked_pan}) + "\n")
    sys.stdout.flush()


async def _serve_epp(args: argparse.Namespace) -> int:
    loop = asyncio.get_running_loop()
    store: KeyStore = FileKeyStore(args.key_file) if args.key_file else MemoryKeyStore()
    firmware = EppFirmware(keystore=store, clock=loop.time, serial_number=args.serial_number)
    emulator = EppEmulator(firmware)
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        ready: dict[str, object] = {"event": "listening"}
        if args.pty:
            ready["pty"] = await emulator.serve_pty()
        else:
            ready["tcp"] = await emulator.serve_tcp(args.tcp)
        ready["control_port"] = await emulator.serve_control(args.control_port)
        sys.stdout.write(json.dumps(ready) + "\n")
        sys.stdout.flush()
        await stop.wait()
    finally:
        await emulator.aclose()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the process exit status."""
    args = build_parser().parse_args(list(argv) if argv is not None else None)
    configure_logging(args.log_level)
    if args.kind == "epp" and args.action == "serve":
        return asyncio.run(_serve_epp(args))
    if args.kind == "card" and args.action == "serve":
        return asyncio.run(_serve_card(args))
    return 2  # pragma: no cover - argparse rejects other choices


if __name__ == "__main__":
    sys.exit(main())
