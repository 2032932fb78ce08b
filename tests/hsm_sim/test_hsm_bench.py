"""Smoke test: bench/hsm.py runs end to end (subprocesses over TCP) and prints its figures."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench" / "hsm.py"

pytestmark = pytest.mark.e2e


def test_bench_quick_prints_figures() -> None:
    out = subprocess.run(  # noqa: S603 - our own script
        [sys.executable, str(BENCH), "--quick", "--seconds", "0.5", "--clients", "2"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    for name in ("echo", "DC", "CA", "CI"):
        row = re.search(
            rf"^{name}\s+\d+ cmd/s\s+p50\s+[\d.]+ ms\s+p95\s+[\d.]+ ms\s+p99\s+[\d.]+ ms",
            out.stdout,
            re.MULTILINE,
        )
        assert row, out.stdout
    assert re.search(r"^DC .*ratio-to-echo\s+[\d.]+\s+errors 0$", out.stdout, re.MULTILINE)
    assert "bench: measuring DC" in out.stderr


def test_bench_help() -> None:
    out = subprocess.run(  # noqa: S603
        [sys.executable, str(BENCH), "--help"], capture_output=True, text=True, check=True
    )
    assert "--clients" in out.stdout and "--seconds" in out.stdout and "--quick" in out.stdout
