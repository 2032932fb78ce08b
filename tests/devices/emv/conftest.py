"""Fixtures for the EMV tests: the issuer oracle loaded by path (tests are not a package)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest


def load_oracle() -> ModuleType:
    name = "sst_tests_issuer_oracle"
    if name in sys.modules:
        return sys.modules[name]
    path = Path(__file__).with_name("issuer_oracle.py")
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="session")
def oracle() -> ModuleType:
    """tests/devices/emv/issuer_oracle.py."""
    return load_oracle()
