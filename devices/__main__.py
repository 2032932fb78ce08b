"""Composition root of the device emulators: ``python -m devices ...`` / ``sst <kind> ...``.

Implemented: ``epp serve`` (the emulated EPP on a pty or TCP port plus its control socket).
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
from collections.abc import Sequence

from devices.epp.emulator import EppEmulator
from devices.epp.firmware import EppFirmware, KeyStore, MemoryKeyStore
from devices.epp.keystore import FileKeyStore
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
    return parser


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
    return 2  # pragma: no cover - argparse rejects other choices


if __name__ == "__main__":
    sys.exit(main())
