"""Fixtures for the HSM wire-side tests (test LMK, keys built from the shared vectors)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from hsm_sim.crypto.lmk import VariantLmk
from hsm_sim.soft_hsm import SoftHsm


def _vectors(shared_dir: Path, kind: str) -> list[dict[str, Any]]:
    data = json.loads((shared_dir / "vectors" / "payment-crypto.json").read_text())
    return [v for v in data if v["kind"] == kind]


@dataclass(frozen=True, kw_only=True)
class HsmKeys:
    """Clear test keys (from the vectors) and their key fields under the test LMK."""

    zmk: bytes
    zmk_lmk: str
    zpk: bytes
    zpk_lmk: str
    tpk: bytes
    tpk_lmk: str
    pvk: bytes
    pvk_lmk: str
    cvk: bytes
    cvk_lmk: str
    zpk2: bytes
    zpk2_lmk: str


@pytest.fixture(scope="session")
def hsm_vectors(shared_dir: Path) -> Any:
    return lambda kind: _vectors(shared_dir, kind)


@pytest.fixture(scope="session")
def hsm_lmk() -> VariantLmk:
    return VariantLmk.test()


@pytest.fixture
def soft_hsm(hsm_lmk: VariantLmk) -> SoftHsm:
    return SoftHsm(hsm_lmk)


@pytest.fixture(scope="session")
def hsm_keys(shared_dir: Path, hsm_lmk: VariantLmk) -> HsmKeys:
    lmk_keys = {
        v["inputs"]["key_under_lmk"]: v for v in _vectors(shared_dir, "thales_test_lmk_key")
    }
    zmk_field = next(
        k for k, v in lmk_keys.items() if k.startswith("U") and v["inputs"]["key_type"] == "000"
    )
    zpk_field = next(
        k for k, v in lmk_keys.items() if len(k) == 16 and v["inputs"]["key_type"] == "001"
    )
    pvv = _vectors(shared_dir, "visa_pvv")[0]["inputs"]
    cvv = _vectors(shared_dir, "visa_cvv")[0]["inputs"]
    pvk = bytes.fromhex(pvv["pvk"])
    cvk = bytes.fromhex(cvv["cvk_a"] + cvv["cvk_b"])
    # a TPK and a second ZPK: the KCV-vector key (odd parity) under the test LMK
    tpk = bytes.fromhex(_vectors(shared_dir, "kcv_tdes")[1]["inputs"]["key"])
    zpk2 = pvk
    return HsmKeys(
        zmk=bytes.fromhex(lmk_keys[zmk_field]["expected"]["clear_key"]),
        zmk_lmk=zmk_field,
        zpk=bytes.fromhex(lmk_keys[zpk_field]["expected"]["clear_key"]),
        zpk_lmk=zpk_field,
        tpk=tpk,
        tpk_lmk=hsm_lmk.encrypt_key("002", tpk, "U"),
        pvk=pvk,
        pvk_lmk=hsm_lmk.encrypt_key("002", pvk, "U"),
        cvk=cvk,
        cvk_lmk=hsm_lmk.encrypt_key("402", cvk, "U"),
        zpk2=zpk2,
        zpk2_lmk=hsm_lmk.encrypt_key("001", zpk2, "U"),
    )
