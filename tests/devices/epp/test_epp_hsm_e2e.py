"""Acceptance: EPP over a real pty, end to end, checked by the software HSM over TCP.

Two subprocesses: ``python -m devices epp serve --pty`` (keys in a file) and
``python -m hsm_sim serve --port 0``. The real :class:`EppDriver` loads the TMK from two
components (KCV checked), the TPK under the TMK, takes PIN 1234 from key presses on the
control socket and returns a format 0 block, which the HSM verifies (DC, Visa PVV) and
translates (CA, TPK -> ZPK). The same with AES DUKPT: the ISO 4 block (format 48) and its KSN
go to G0, which translates it to a ZPK. Keys reach the HSM encrypted under its test LMKs.
"""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import pytest

from devices.epp.base import KeyAlgorithm, PinEntryOutcome, PinEntryRequest
from devices.epp.driver import EppDriver
from hsm_sim.client import HsmClient
from hsm_sim.crypto import (
    adjust_key_parity,
    decipher_pinblock,
    derive_initial_key_aes,
    derive_ipek_tdes,
    generate_visa_pvv,
    kcv_aes_cmac,
    kcv_tdes,
    tdes_encrypt_ecb,
    xor_bytes,
)
from hsm_sim.crypto.keyblock_lmk import KeyBlockLmk
from hsm_sim.crypto.lmk import VariantLmk

pytestmark = pytest.mark.e2e

C1 = adjust_key_parity(bytes.fromhex("0123456789ABCDEF0123456789ABCDEF"))
C2 = adjust_key_parity(bytes.fromhex("1111111111111111FEDCBA9876543210"))
TMK = adjust_key_parity(xor_bytes(C1, C2))
TPK = adjust_key_parity(bytes.fromhex("00112233445566778899AABBCCDDEEFF"))
PVK = adjust_key_parity(bytes.fromhex("0123456789ABCDEFFEDCBA9876543210"))
ZPK = adjust_key_parity(bytes.fromhex("1C1C1C1C1C1C1C1C2A2A2A2A2A2A2A2A"))
PAN = "4012345678909"
ACCOUNT = PAN[-13:-1]
PIN = "1234"
PVKI = 1
TDES_BDK = bytes.fromhex("0123456789ABCDEFFEDCBA9876543210")
TDES_KSN = bytes.fromhex("FFFF9876543210E00000")
AES_BDK = bytes.fromhex("FEDCBA9876543210F1F1F1F1F1F1F1F1")
AES_IKID = bytes.fromhex("1234567890123456")
REQ = PinEntryRequest(min_length=4, max_length=12, inter_key_timeout_s=5.0, total_timeout_s=10.0)
LMK = VariantLmk.test()


@pytest.fixture(scope="module")
def hsm_port(repo_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    err = tmp_path_factory.mktemp("hsm") / "hsm.log"
    with err.open("wb") as errf:
        proc = subprocess.Popen(
            [sys.executable, "-m", "hsm_sim", "serve", "--port", "0"],
            cwd=repo_dir,
            stdout=subprocess.PIPE,
            stderr=errf,
        )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line, err.read_text()
    ready = json.loads(line)
    assert ready["event"] == "listening"
    try:
        yield int(ready["port"])
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=10)
        proc.stdout.close()


@pytest.fixture
def emu(
    repo_dir: Path,
    tmp_path: Path,
    epp_spawner: Callable[..., AbstractContextManager[Any]],
) -> Iterator[Any]:
    with epp_spawner(repo_dir, tmp_path, "--pty", "--key-file", str(tmp_path / "keys.json")) as e:
        yield e


async def _load_tmk_tpk(d: EppDriver) -> None:
    r = await d.load_tmk_components([C1, C2], kcv=kcv_tdes(TMK).hex())
    assert r.ok and r.kcv == kcv_tdes(TMK).hex().upper()
    r = await d.load_key_under(
        "TPK", under="TMK", encrypted_key=tdes_encrypt_ecb(TMK, TPK), kcv=kcv_tdes(TPK).hex()
    )
    assert r.ok and r.kcv == kcv_tdes(TPK).hex().upper()


async def _enter_pin(d: EppDriver, emu: Any, pin: str) -> None:
    keys: list[str] = []

    async def customer() -> None:
        await emu.control.press(pin)
        await emu.control.press("ENTER")

    task = asyncio.create_task(customer())
    result = await d.enter_pin(REQ, lambda e: keys.append(e.display))
    await task
    assert result.outcome is PinEntryOutcome.OK and result.digits == len(pin)
    assert keys == ["*"] * len(pin) + [""]


@pytest.mark.asyncio
async def test_iso0_block_verified_by_hsm_dc_and_translated_by_ca(emu: Any, hsm_port: int) -> None:
    async with EppDriver(emu.url, timeout=2.0) as d:
        await _load_tmk_tpk(d)
        await _enter_pin(d, emu, PIN)
        block = (await d.get_pin_block(key_name="TPK", fmt="01", pan=PAN)).hex().upper()
    tpk_lmk = LMK.encrypt_key("002", TPK, "U")
    pvk_lmk = LMK.encrypt_key("002", PVK, "U")
    pvv = generate_visa_pvv(PVK, PAN, PVKI, PIN)
    wrong_pvv = f"{(int(pvv) + 1) % 10000:04d}"
    async with HsmClient("127.0.0.1", hsm_port, timeout=5.0) as hsm:
        ok = await hsm.verify_terminal_pin_pvv(
            tpk=tpk_lmk, pvk=pvk_lmk, pin_block=block, pin_block_format="01",
            account=ACCOUNT, pvki=PVKI, pvv=pvv,
        )
        assert ok.error_code == "00"
        bad = await hsm.verify_terminal_pin_pvv(
            tpk=tpk_lmk, pvk=pvk_lmk, pin_block=block, pin_block_format="01",
            account=ACCOUNT, pvki=PVKI, pvv=wrong_pvv,
        )
        assert bad.error_code == "01"
        t = await hsm.translate_pin_tpk_to_zpk(
            tpk=tpk_lmk, zpk=LMK.encrypt_key("001", ZPK, "U"), pin_block=block,
            source_format="01", destination_format="01", account=ACCOUNT,
        )
    assert t.error_code == "00" and t.pin_length == 4 and t.pin_block is not None
    assert decipher_pinblock(ZPK, bytes.fromhex(t.pin_block), PAN, "01") == PIN


@pytest.mark.asyncio
async def test_tdes_dukpt_block_translated_by_hsm_g0(emu: Any, hsm_port: int) -> None:
    ipek = derive_ipek_tdes(TDES_BDK, TDES_KSN)
    async with EppDriver(emu.url, timeout=2.0) as d:
        r = await d.load_dukpt_key(
            "DUKPT", algorithm=KeyAlgorithm.TDES, initial_key=ipek, ksn=TDES_KSN,
            kcv=kcv_tdes(ipek).hex(),
        )
        assert r.ok
        await _enter_pin(d, emu, PIN)
        got = await d.get_dukpt_pin_block(key_name="DUKPT", fmt="01", pan=PAN)
    assert got.ksn == bytes.fromhex("FFFF9876543210E00001")
    async with HsmClient("127.0.0.1", hsm_port, timeout=5.0) as hsm:
        t = await hsm.translate_pin_dukpt_to_zpk(
            bdk=LMK.encrypt_key("009", TDES_BDK, "U"), zpk=LMK.encrypt_key("001", ZPK, "U"),
            ksn=got.ksn.hex().upper(), pin_block=got.block.hex().upper(),
            source_format="01", destination_format="01", account=ACCOUNT,
        )
    assert t.error_code == "00" and t.pin_block is not None
    assert decipher_pinblock(ZPK, bytes.fromhex(t.pin_block), PAN, "01") == PIN


@pytest.mark.asyncio
async def test_aes_dukpt_iso4_block_translated_by_hsm_g0(emu: Any, hsm_port: int) -> None:
    ik = derive_initial_key_aes(AES_BDK, AES_IKID)
    async with EppDriver(emu.url, timeout=2.0) as d:
        await _load_tmk_tpk(d)
        r = await d.load_dukpt_key(
            "AESDUKPT", algorithm=KeyAlgorithm.AES, initial_key=tdes_encrypt_ecb(TMK, ik),
            ksn=AES_IKID, kcv=kcv_aes_cmac(ik, 3).hex(), under="TMK",
        )
        assert r.ok
        await _enter_pin(d, emu, PIN)
        got = await d.get_dukpt_pin_block(key_name="AESDUKPT", fmt="48", pan=PAN)
    assert got.ksn == AES_IKID + bytes.fromhex("00000001") and len(got.block) == 16
    bdk_s = KeyBlockLmk.test().wrap(AES_BDK, usage="B0", algorithm="A", mode_of_use="X")
    async with HsmClient("127.0.0.1", hsm_port, timeout=5.0) as hsm:
        t = await hsm.translate_pin_dukpt_to_zpk(
            bdk=bdk_s, zpk=LMK.encrypt_key("001", ZPK, "U"), ksn=got.ksn.hex().upper(),
            pin_block=got.block.hex().upper(), source_format="48", destination_format="01",
            account=PAN,
        )
    assert t.error_code == "00" and t.pin_block is not None
    assert decipher_pinblock(ZPK, bytes.fromhex(t.pin_block), PAN, "01") == PIN
