"""Start and stop the stack's server processes (used by ``sst demo`` and the end-to-end tests).

Each SST server prints one JSON line ``{"event": "listening", ...}`` on stdout when it is ready.
``ServiceProcess`` starts a command, waits for that line, and stops the process by its pid
(SIGTERM, then SIGKILL) -- never by name.
"""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

__all__ = ["ServiceProcess", "ServiceStartError", "sst_command"]


class ServiceStartError(RuntimeError):
    """A service exited or stayed silent instead of announcing that it listens."""


def sst_command(*args: str) -> list[str]:
    """The command line for ``sst ARGS`` with the current interpreter."""
    return [sys.executable, "-m", "sst", *args]


class ServiceProcess:
    def __init__(self, name: str, argv: list[str], *, log_path: str | Path,
                 env: dict[str, str] | None = None) -> None:
        self.name = name
        self.argv = argv
        self.log_path = Path(log_path)
        self.env = env
        self.proc: subprocess.Popen[bytes] | None = None
        self.info: dict[str, Any] = {}

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def start(self, *, timeout: float = 30.0) -> dict[str, Any]:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("ab")
        env = dict(os.environ if self.env is None else self.env)
        env.setdefault("PYTHONUNBUFFERED", "1")
        self.proc = subprocess.Popen(self.argv, stdout=subprocess.PIPE, stderr=log,  # noqa: S603 - argv is our own command (sst_command), never user input
                                     stdin=subprocess.DEVNULL, env=env)
        log.close()
        assert self.proc.stdout is not None
        deadline = time.monotonic() + timeout
        buf = b""
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise ServiceStartError(f"{self.name} exited with {self.proc.returncode}; "
                                        f"see {self.log_path}")
            r, _, _ = select.select([self.proc.stdout], [], [], 0.1)
            if not r:
                continue
            chunk = os.read(self.proc.stdout.fileno(), 4096)
            buf += chunk
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                try:
                    msg = json.loads(line)
                except json.JSONDecodeError:
                    continue
                if isinstance(msg, dict) and msg.get("event") == "listening":
                    self.info = msg
                    return msg
        self.stop()
        raise ServiceStartError(f"{self.name} did not report listening within {timeout}s; "
                                f"see {self.log_path}")

    def stop(self, *, timeout: float = 10.0) -> int | None:
        if self.proc is None or self.proc.poll() is not None:
            return None if self.proc is None else self.proc.returncode
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait(timeout)
        finally:
            if self.proc.stdout:
                self.proc.stdout.close()

    def kill9(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def __enter__(self) -> ServiceProcess:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
