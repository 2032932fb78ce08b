"""``sst``: one command for the whole stack.

Each subcommand hands the rest of the command line to that program's own ``main(argv)``:
``sst hsm``, ``sst host``, ``sst terminal``, ``sst epp``, ``sst keys``, and ``sst demo`` which
starts everything on embedded defaults.

``sst host seed --profiles DIR`` with a ``devices`` card-profile library (the default one is
``devices/profiles/cards``) is handled by :mod:`sst.profiles`, which may import ``devices`` and
``hsm_sim`` (the host may not); other profile directories go to ``host.__main__`` as before.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable

__all__ = ["main"]

#: subcommand -> (module, argv prefix, one-line help)
COMMANDS: dict[str, tuple[str, list[str], str]] = {
    "demo": ("sst.demo", [], "start HSM, host and terminal on embedded defaults (make demo)"),
    "hsm": ("hsm_sim.__main__", [], "software payShield HSM: `sst hsm serve --port 1500`"),
    "host": ("host.__main__", [], "ISO 8583 host: `sst host serve|seed|journal`"),
    "terminal": ("terminal.__main__", [], "terminal application: `sst terminal run --config F`"),
    "epp": ("devices.__main__", ["epp"], "emulated encrypting PIN pad: `sst epp serve --pty`"),
    "card": ("devices.__main__", ["card"], "virtual EMV card on vpcd: `sst card serve visa-cvn18`"),
    "keys": ("hsm_sim.ceremony", [], "development key ceremony: `sst keys demo`"),
    "crypto": ("hsm_sim.calculator", [],
               "payment crypto calculator: `sst crypto pinblock encode ...`"),
}


def _usage() -> str:
    lines = ["usage: sst <command> [options]   (sst <command> --help for details)", "",
             "SST, the self-service terminal stack. Commands:"]
    lines += [f"  {name:10} {help_}" for name, (_, _, help_) in COMMANDS.items()]
    lines += ["", "Start here: `make demo` (everything, emulated) and `make test`."]
    return "\n".join(lines)


def _profiles_dir(rest: list[str]) -> str | None:
    """``DIR`` of ``--profiles DIR`` / ``--profiles=DIR``, if given."""
    for i, a in enumerate(rest):
        if a == "--profiles" and i + 1 < len(rest):
            return rest[i + 1]
        if a.startswith("--profiles="):
            return a.split("=", 1)[1]
    return None


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in {"-h", "--help", "help"}:
        print(_usage())
        return 0
    cmd, rest = args[0], args[1:]
    if cmd not in COMMANDS:
        print(f"sst: unknown command {cmd!r}\n\n{_usage()}", file=sys.stderr)
        return 2
    if cmd == "host" and rest[:1] == ["seed"] and _profiles_dir(rest) is not None:
        from sst import profiles  # noqa: PLC0415 - devices card profiles -> host seed data

        if profiles.is_profile_library(_profiles_dir(rest) or ""):
            return profiles.main(rest[1:])
    module, prefix, _ = COMMANDS[cmd]
    entry: Callable[[list[str]], int] = importlib.import_module(module).main
    return int(entry(prefix + rest) or 0)


if __name__ == "__main__":
    sys.exit(main())
