"""Composition root of the software HSM: ``python -m hsm_sim serve`` / ``sst hsm serve``.

Loads the (optional) TOML config, applies CLI overrides, builds the LMK, :class:`SoftHsm` and
:class:`HsmServer`, prints one JSON line ``{"event": "listening", "host": ..., "port": ...}`` to
stdout when ready (with the real port when ``--port 0``), logs JSON to stderr, and exits 0 on
SIGTERM / SIGINT.

TOML keys (all optional, top level)::

    host = "127.0.0.1"
    port = 1500
    header_length = 4
    lmk = "test"            # or a path to an LMK file (.toml/.json with `pairs`)
    keyblock_lmk = "test"   # key-block LMK for S keys: "test" (AES), "test-tdes" or "none"
    key_cache_size = 1024   # decrypted key fields kept in memory (0 = off); never persisted
    log_commands = false    # one INFO record per command (default: DEBUG)
    latency_ms = 0
    fail_with = "68"        # QA fault switch
    fail_commands = ["DC"]  # restrict the fault to these commands
    log_level = "INFO"
    firmware = "0007-E000"
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import signal
import sys
from dataclasses import dataclass
from typing import Any

from hsm_sim.crypto import CryptoError, KeyBlockLmk
from hsm_sim.crypto.lmk import VariantLmk
from hsm_sim.soft_hsm import DEFAULT_FIRMWARE, SoftHsm
from hsm_sim.thales.server import HsmServer, ServerConfig
from sst.common.config import ConfigError, load_config
from sst.common.logs import configure_logging

__all__ = ["HsmConfig", "build_parser", "main"]

_LOG = logging.getLogger("hsm_sim")


@dataclass(frozen=True, kw_only=True)
class HsmConfig:
    """Everything ``serve`` needs (TOML file + CLI overrides)."""

    host: str = "127.0.0.1"
    port: int = 1500
    header_length: int = 4
    lmk: str = "test"
    latency_ms: float = 0.0
    fail_with: str | None = None
    fail_commands: tuple[str, ...] = ()
    log_level: str = "INFO"
    firmware: str = DEFAULT_FIRMWARE
    keyblock_lmk: str = "test"
    key_cache_size: int = 1024
    log_commands: bool = False


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hsm",
        description=(
            "Software Thales payShield-compatible HSM (variant LMK, host commands over TCP)."
        ),
    )
    sub = parser.add_subparsers(dest="cmd", metavar="COMMAND")
    serve = sub.add_parser(
        "serve",
        help="run the HSM TCP server",
        description=(
            "Serve Thales host commands (NC NO B2 A0 A6 A8 BU FA GC HC IA CA CC CI G0 JC JE JG "
            "DA EA DC EC DE DG CW CY M0 M2 M6 M8 KQ KW) over TCP. Prints one JSON line "
            '{"event": "listening", "host": ..., "port": ...} on stdout when ready; '
            "logs JSON to stderr. CLI options override the --config file."
        ),
        epilog=(
            "examples:\n"
            "  python -m hsm_sim serve --port 0\n"
            "  sst hsm serve --latency-ms 200 --fail-with 68 --fail-commands DC,CA"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    serve.add_argument("--config", metavar="FILE.toml", help="TOML configuration file")
    serve.add_argument("--host", help="listen address (default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="TCP port, 0 = ephemeral (default 1500)")
    serve.add_argument("--header-length", type=int, help="Thales message header length (default 4)")
    serve.add_argument(
        "--lmk",
        metavar="test|FILE",
        help="'test' for the published Thales test LMKs, or an LMK file (default test)",
    )
    serve.add_argument(
        "--keyblock-lmk",
        metavar="test|test-tdes|none",
        help="key-block LMK for S keys: the TEST-ONLY AES or TDES one, or none (default test)",
    )
    serve.add_argument(
        "--key-cache-size",
        type=int,
        help="decrypted key fields kept in memory, LRU (0 = off; default 1024)",
    )
    serve.add_argument(
        "--log-commands",
        action="store_const",
        const=True,
        help="log one INFO record per command (default: DEBUG only)",
    )
    serve.add_argument(
        "--latency-ms", type=float, help="artificial delay before each answer (default 0)"
    )
    serve.add_argument(
        "--fail-with",
        metavar="CODE",
        help="QA fault switch: answer commands with this 2-character error code",
    )
    serve.add_argument(
        "--fail-commands",
        metavar="DC,CA",
        help="restrict --fail-with to these comma-separated command codes (default all)",
    )
    serve.add_argument(
        "--log-level",
        choices=["DEBUG", "INFO", "WARNING", "ERROR"],
        type=str.upper,
        help="log level (default INFO)",
    )
    return parser


def _overrides(ns: argparse.Namespace) -> dict[str, Any]:
    fail_commands = None
    if ns.fail_commands is not None:
        fail_commands = tuple(c.strip().upper() for c in ns.fail_commands.split(",") if c.strip())
    return {
        "host": ns.host,
        "port": ns.port,
        "header_length": ns.header_length,
        "lmk": ns.lmk,
        "latency_ms": ns.latency_ms,
        "fail_with": ns.fail_with,
        "fail_commands": fail_commands,
        "log_level": ns.log_level,
        "keyblock_lmk": ns.keyblock_lmk,
        "key_cache_size": ns.key_cache_size,
        "log_commands": ns.log_commands,
    }


def _load_lmk(spec: str) -> VariantLmk:
    return VariantLmk.test() if spec == "test" else VariantLmk.from_file(spec)


def _load_keyblock_lmk(spec: str) -> KeyBlockLmk | None:
    choices = {"test": "1", "test-tdes": "0"}
    if spec == "none":
        return None
    if spec not in choices:
        raise ValueError("keyblock_lmk must be test, test-tdes or none")
    return KeyBlockLmk.test(choices[spec])


async def _serve(cfg: HsmConfig, lmk: VariantLmk) -> None:
    hsm = SoftHsm(
        lmk,
        firmware=cfg.firmware,
        keyblock_lmk=_load_keyblock_lmk(cfg.keyblock_lmk),
        key_cache_size=cfg.key_cache_size,
        log_commands=cfg.log_commands,
    )
    server = HsmServer(
        hsm.handle,
        ServerConfig(
            host=cfg.host,
            port=cfg.port,
            header_length=cfg.header_length,
            latency_ms=cfg.latency_ms,
            fail_with=cfg.fail_with,
            fail_commands=tuple(cfg.fail_commands),
        ),
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    await server.start()
    try:
        print(
            json.dumps({"event": "listening", "host": server.host, "port": server.port}),
            flush=True,
        )
        _LOG.info(
            "hsm ready",
            extra={"lmk_check": lmk.check_value(), "fail_with": cfg.fail_with or ""},
        )
        await stop.wait()
    finally:
        await server.close()
        _LOG.info("hsm stopped")


def main(argv: list[str] | None = None) -> int:
    """Entry point: ``hsm serve [options]``; returns the process exit code."""
    parser = build_parser()
    ns = parser.parse_args(argv)
    if ns.cmd != "serve":
        parser.print_help(sys.stderr)
        return 2
    try:
        cfg = load_config(HsmConfig, ns.config, _overrides(ns))
        server_check = ServerConfig(
            host=cfg.host,
            port=cfg.port,
            header_length=cfg.header_length,
            latency_ms=cfg.latency_ms,
            fail_with=cfg.fail_with,
            fail_commands=tuple(cfg.fail_commands),
        )
        del server_check
        lmk = _load_lmk(cfg.lmk)
        _load_keyblock_lmk(cfg.keyblock_lmk)
        if cfg.key_cache_size < 0:
            raise ValueError("key_cache_size must be >= 0")
    except (ConfigError, CryptoError, ValueError) as e:
        print(f"hsm: configuration error: {e}", file=sys.stderr)
        return 2
    configure_logging(cfg.log_level)
    try:
        asyncio.run(_serve(cfg, lmk))
    except KeyboardInterrupt:
        pass
    except OSError as e:
        _LOG.error("cannot serve", extra={"error": type(e).__name__, "detail": str(e)})
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
