"""Session-wide fixtures shared by every test package."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _find_shared() -> Path:
    env = os.environ.get("SST_SHARED_DIR")
    candidates = [Path(env)] if env else []
    candidates += [REPO.parent / "shared", REPO / "shared"]
    for c in candidates:
        if (c / "vectors" / "payment-crypto.json").is_file():
            return c
    raise FileNotFoundError(
        "shared/ (vectors and references) not found beside the repository; "
        "set SST_SHARED_DIR to its path"
    )


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """The project's shared/ folder (known-answer vectors live in shared/vectors)."""
    return _find_shared()


@pytest.fixture(scope="session")
def repo_dir() -> Path:
    return REPO
