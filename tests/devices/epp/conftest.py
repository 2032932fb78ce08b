"""EPP test helpers: spawn `python -m devices epp serve` and read its listening line."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from devices.epp.control import KeypadControl


@dataclass
class EmulatorProcess:
    """A running emulator subprocess and what it printed when ready."""

    proc: subprocess.Popen[bytes]
    ready: dict[str, object]
    stderr: Path

    @property
    def url(self) -> str:
        if "pty" in self.ready:
            return str(self.ready["pty"])
        return f"tcp://127.0.0.1:{self.ready['tcp']}"

    @property
    def control(self) -> KeypadControl:
        return KeypadControl(int(str(self.ready["control_port"])))


@contextmanager
def spawn_epp(repo: Path, tmp: Path, *args: str) -> Iterator[EmulatorProcess]:
    """Run the emulator with ``args`` (``--pty`` or ``--tcp 0`` ...) until the block ends."""
    err = tmp / "emulator.log"
    with err.open("wb") as errf:
        proc = subprocess.Popen(  # noqa: S603 - runs our own module
            [
                sys.executable, "-m", "devices", "epp", "serve", *args,
                "--control-port", "0", "--log-level", "DEBUG",
            ],
            cwd=repo,
            stdout=subprocess.PIPE,
            stderr=errf,
        )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line, err.read_text()
    emu = EmulatorProcess(proc=proc, ready=json.loads(line), stderr=err)
    try:
        yield emu
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
        proc.stdout.close()


@pytest.fixture(scope="session")
def epp_spawner() -> Callable[..., AbstractContextManager[EmulatorProcess]]:
    """:func:`spawn_epp`, for test modules (they cannot import this conftest)."""
    return spawn_epp
