"""The SoftHsm key cache: same answers with and without it, bounded, never shows clear keys."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from hsm_sim.crypto import encipher_pinblock, generate_visa_pvv
from hsm_sim.crypto.lmk import VariantLmk
from hsm_sim.soft_hsm import SoftHsm

ACCOUNT = "401234567890"


def _dc(hsm_keys: Any, pin: str = "1234") -> bytes:
    block = encipher_pinblock(hsm_keys.tpk, pin, ACCOUNT, "01").hex().upper()
    pvv = generate_visa_pvv(hsm_keys.pvk, ACCOUNT, 1, "1234")
    return f"DC{hsm_keys.tpk_lmk}{hsm_keys.pvk_lmk}{block}01{ACCOUNT}1{pvv}".encode()


@pytest.mark.parametrize("size", [0, 1, 1024])
def test_cache_does_not_change_answers(hsm_lmk: VariantLmk, hsm_keys: Any, size: int) -> None:
    hsm = SoftHsm(hsm_lmk, key_cache_size=size)
    for _ in range(3):
        assert hsm.handle(_dc(hsm_keys)) == b"DD00"
        assert hsm.handle(_dc(hsm_keys, "9999")) == b"DD01"
    bad = hsm_lmk.encrypt_key("002", bytes([hsm_keys.tpk[0] ^ 1]) + hsm_keys.tpk[1:], "U")
    req = _dc(hsm_keys).replace(hsm_keys.tpk_lmk.encode(), bad.encode())
    assert hsm.handle(req) == b"DD10"
    assert hsm.handle(req) == b"DD10"  # a cached parity failure still fails


def test_cache_is_bounded(hsm_lmk: VariantLmk, hsm_keys: Any) -> None:
    hsm = SoftHsm(hsm_lmk, key_cache_size=2)
    assert hsm.handle(_dc(hsm_keys)) == b"DD00"
    assert len(hsm._cache) == 2
    hsm.handle(f"BU021{hsm_keys.zpk2_lmk}".encode())
    assert len(hsm._cache) == 2
    assert "redacted" in repr(next(iter(hsm._cache.values())))


def test_cache_size_exception(hsm_lmk: VariantLmk) -> None:
    with pytest.raises(ValueError, match="key_cache_size must be >= 0"):
        SoftHsm(hsm_lmk, key_cache_size=-1)


def test_command_log_has_no_secrets(
    hsm_lmk: VariantLmk, hsm_keys: Any, caplog: pytest.LogCaptureFixture
) -> None:
    hsm = SoftHsm(hsm_lmk, log_commands=True)
    with caplog.at_level(logging.DEBUG, logger="hsm_sim"):
        hsm.handle(_dc(hsm_keys))
    assert [r.command for r in caplog.records] == ["DC"]  # type: ignore[attr-defined]
    text = " ".join(str(r.__dict__) for r in caplog.records)
    for secret in (hsm_keys.tpk.hex().upper(), hsm_keys.pvk.hex().upper(), ACCOUNT):
        assert secret not in text
