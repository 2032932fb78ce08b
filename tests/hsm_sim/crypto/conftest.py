"""Fixtures for the hsm_sim.crypto tests: the known-answer vectors, grouped by kind."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest


@pytest.fixture(scope="session")
def vectors(shared_dir: Path) -> dict[str, list[dict[str, Any]]]:
    """Every entry of shared/vectors/payment-crypto.json keyed by its ``kind``."""
    data = json.loads((shared_dir / "vectors" / "payment-crypto.json").read_text("utf-8"))
    by_kind: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for v in data:
        by_kind[v["kind"]].append(v)
    return dict(by_kind)
