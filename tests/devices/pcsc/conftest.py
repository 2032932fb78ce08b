"""Session fixture: our own pcscd (foreground child, stopped by pid) with vsmartcard's vpcd.

pcscd and vsmartcard-vpcd must be installed (CI installs them): a missing one FAILS the tests,
it does not skip them. Another pcscd already running is refused: we manage only our own.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import pytest

from devices.cardreader.pcsc import list_readers

PCSCD_SOCKET = Path("/run/pcscd/pcscd.comm")
PCSCD_PIDFILE = Path("/run/pcscd/pcscd.pid")
VPCD_DRIVER = Path("/usr/lib/pcsc/drivers/serial/libifdvpcd.so")
VPCD_READER = "Virtual PCD 00 00"


@dataclass(frozen=True)
class Pcscd:
    pid: int
    reader: str
    log: Path


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _running_pcscd() -> int | None:
    try:
        pid = int(PCSCD_PIDFILE.read_text().strip())
    except (OSError, ValueError):
        return None
    return pid if _pid_alive(pid) else None


@pytest.fixture(scope="session")
def pcscd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pcscd]:
    """Start ``pcscd -f`` as our child; stop it by pid at the end of the session."""
    exe = shutil.which("pcscd") or ("/usr/sbin/pcscd" if Path("/usr/sbin/pcscd").exists() else None)
    if exe is None:
        pytest.fail("pcscd is not installed: apt-get install pcscd vsmartcard-vpcd libpcsclite-dev")
    if not VPCD_DRIVER.exists():
        pytest.fail(f"vsmartcard-vpcd is not installed ({VPCD_DRIVER} missing): "
                    "apt-get install vsmartcard-vpcd")
    other = _running_pcscd()
    if other is not None:
        pytest.fail(f"another pcscd is already running (pid {other}); stop it first, "
                    "the tests manage only their own")
    log = tmp_path_factory.mktemp("pcscd") / "pcscd.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([exe, "-f"], stdout=out, stderr=subprocess.STDOUT)  # noqa: S603
    try:
        deadline = time.monotonic() + 10
        while not PCSCD_SOCKET.exists():
            if proc.poll() is not None:
                pytest.fail(f"pcscd exited with {proc.returncode}: {log.read_text()[-2000:]}")
            if time.monotonic() > deadline:
                pytest.fail("pcscd did not create its socket within 10 s")
            time.sleep(0.02)
        while VPCD_READER not in list_readers():
            if time.monotonic() > deadline:
                pytest.fail(f"vpcd reader {VPCD_READER!r} not listed by pcscd")
            time.sleep(0.02)
        yield Pcscd(pid=proc.pid, reader=VPCD_READER, log=log)
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, 15)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.kill(proc.pid, 9)
                proc.wait()


def _load_oracle() -> ModuleType:
    name = "sst_tests_issuer_oracle"
    if name in sys.modules:
        return sys.modules[name]
    path = Path(__file__).resolve().parents[1] / "emv" / "issuer_oracle.py"
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="session")
def oracle() -> ModuleType:
    """The test-only issuer side (tests/devices/emv/issuer_oracle.py)."""
    return _load_oracle()
