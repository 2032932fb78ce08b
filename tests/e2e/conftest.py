"""End-to-end fixtures: the whole emulated stack as real processes (TCP + pty)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from sst.stack import EmulatedStack


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatedStack]:
    s = EmulatedStack(tmp_path_factory.mktemp("stack"), log_level="DEBUG")
    s.seed()
    s.start()
    try:
        yield s
    finally:
        s.stop()


def files_written(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file() and p.suffix != ".png"]
