"""Smoke test of ``bench/host.py --quick`` (real subprocesses on loopback; no timing assertions)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.e2e
def test_bench_host_quick_runs_and_reports() -> None:
    out = subprocess.run(  # noqa: S603 - our own interpreter and script
        [sys.executable, str(REPO / "bench" / "host.py"), "--quick", "--seconds", "0.5", "--quiet"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert "authorisations/s" in out.stdout
    assert "echo" in out.stdout and "p99" in out.stdout


def test_bench_host_help() -> None:
    out = subprocess.run(  # noqa: S603 - our own interpreter and script
        [sys.executable, str(REPO / "bench" / "host.py"), "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert out.returncode == 0 and "--clients" in out.stdout and "--quick" in out.stdout
