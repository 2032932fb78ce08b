"""The EPP contract suite (STYLE DEV-1, TEST-4): one set of behaviour tests, every transport.

Each test runs three times, always through the real :class:`EppDriver`:

* ``inprocess``: the firmware in this process behind :class:`FirmwarePort` (``emuepp://``);
* ``pty``: ``python -m devices epp serve --pty`` in a subprocess, the driver on the pty slave;
* ``tcp``: the same emulator on ``--tcp 0``.

Keys are pressed through the matching keypad (in-process, or the emulator's control socket).
The subprocess emulators live for the module; each test starts with ``initialize`` (wipes
keys, tamper state and the PIN buffer) so tests stay independent.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import pytest
import pytest_asyncio

from devices.epp.base import (
    AmountEntryRequest,
    EncryptionState,
    EppErrorCode,
    FdkEvent,
    KeyAlgorithm,
    KeyEvent,
    KeyKind,
    KeyUsage,
    PinEntryOutcome,
    PinEntryRequest,
    PinPad,
    TamperStatus,
)
from devices.epp.driver import EppDriver
from devices.epp.errors import EppDeviceError
from devices.epp.inprocess import in_process_epp
from hsm_sim.crypto import (
    AesDukptKeyType,
    AesDukptKeyUsage,
    TdesDukptKeyUsage,
    adjust_key_parity,
    decipher_pinblock,
    derive_initial_key_aes,
    derive_ipek_tdes,
    derive_transaction_key_aes,
    derive_transaction_key_tdes,
    derive_working_key_aes,
    derive_working_key_tdes,
    kcv_aes_cmac,
    kcv_tdes,
    tdes_encrypt_ecb,
    xor_bytes,
)

C1 = adjust_key_parity(bytes.fromhex("0123456789ABCDEF0123456789ABCDEF"))
C2 = adjust_key_parity(bytes.fromhex("1111111111111111FEDCBA9876543210"))
TMK = adjust_key_parity(xor_bytes(C1, C2))
TPK = adjust_key_parity(bytes.fromhex("00112233445566778899AABBCCDDEEFF"))
PAN = "4012345678909"
TDES_BDK = bytes.fromhex("0123456789ABCDEFFEDCBA9876543210")
TDES_KSN = bytes.fromhex("FFFF9876543210E00000")
AES_BDK = bytes.fromhex("FEDCBA9876543210F1F1F1F1F1F1F1F1")
AES_IKID = bytes.fromhex("1234567890123456")
FAST = PinEntryRequest(min_length=4, max_length=12, inter_key_timeout_s=3.0, total_timeout_s=8.0)


class Keypad(Protocol):
    async def press(self, keys: str, *, wait_entry_s: float | None = 5.0) -> int: ...

    async def wait_entry(self, wait_s: float = 5.0) -> None: ...

    async def tamper(self) -> None: ...

    async def fault(self, name: str) -> None: ...

    async def status(self) -> dict[str, str]: ...


@dataclass
class Rig:
    driver: EppDriver
    keypad: Keypad
    fdks: list[FdkEvent] = field(default_factory=list)
    tampers: list[TamperStatus] = field(default_factory=list)


Spawner = Callable[..., AbstractContextManager[Any]]


@pytest.fixture(scope="module")
def pty_emu(
    repo_dir: Path, tmp_path_factory: pytest.TempPathFactory, epp_spawner: Spawner
) -> Iterator[Any]:
    with epp_spawner(repo_dir, tmp_path_factory.mktemp("pty"), "--pty") as emu:
        yield emu


@pytest.fixture(scope="module")
def tcp_emu(
    repo_dir: Path, tmp_path_factory: pytest.TempPathFactory, epp_spawner: Spawner
) -> Iterator[Any]:
    with epp_spawner(repo_dir, tmp_path_factory.mktemp("tcp"), "--tcp", "0") as emu:
        yield emu


@pytest_asyncio.fixture(params=["inprocess", "pty", "tcp"])
async def rig(request: pytest.FixtureRequest) -> AsyncIterator[Rig]:
    """A fresh, initialised EPP behind the real driver. Every frame goes through the
    redacting ``spy://`` trace, so every test also exercises the redaction."""
    fdks: list[FdkEvent] = []
    tampers: list[TamperStatus] = []
    kw: dict[str, Any] = {
        "timeout": 1.0, "retries": 2, "on_fdk": fdks.append, "on_tamper": tampers.append,
    }
    keypad: Keypad
    if request.param == "inprocess":
        port, keypad = in_process_epp()
        driver = EppDriver("spy://emuepp://", port=port, **kw)
    else:
        emu = request.getfixturevalue(f"{request.param}_emu")
        keypad = emu.control
        await keypad.fault("none")
        driver = EppDriver("spy://" + emu.url, **kw)
    async with driver:
        assert await driver.initialize() is EppErrorCode.OK
        await driver.enable_fdks(())
        await driver.backlight(True)
        yield Rig(driver=driver, keypad=keypad, fdks=fdks, tampers=tampers)


async def _load_tmk_tpk(d: EppDriver) -> None:
    r = await d.load_tmk_components([C1, C2], kcv=kcv_tdes(TMK).hex())
    assert r.ok and r.kcv == kcv_tdes(TMK).hex().upper()
    r = await d.load_key_under(
        "TPK", under="TMK", encrypted_key=tdes_encrypt_ecb(TMK, TPK), kcv=kcv_tdes(TPK).hex()
    )
    assert r.ok and r.kcv == kcv_tdes(TPK).hex().upper()


async def _enter(
    rig: Rig, keys: list[str], req: PinEntryRequest = FAST
) -> tuple[object, list[KeyEvent]]:
    events: list[KeyEvent] = []

    async def customer() -> None:
        for k in keys:
            await rig.keypad.press(k)

    task = asyncio.create_task(customer())
    result = await rig.driver.enter_pin(req, events.append)
    await task
    return result, events


# ---------------------------------------------------------------------------- basics


@pytest.mark.asyncio
async def test_status_after_initialize(rig: Rig) -> None:
    assert isinstance(rig.driver, PinPad)
    st = await rig.driver.status()
    assert st.device.value == "online" and st.encryption is EncryptionState.NOT_INITIALIZED
    assert (st.tampered, st.pin_entry_active, st.key_count) == (False, False, 0)
    assert st.firmware.startswith("SSTEPP-")


@pytest.mark.asyncio
async def test_key_hierarchy_and_iso0_pin_block(rig: Rig) -> None:
    d = rig.driver
    await _load_tmk_tpk(d)
    assert (await d.status()).encryption is EncryptionState.READY
    assert [(k.name, k.usage, k.kcv) for k in await d.list_keys()] == [
        ("TMK", KeyUsage.KEK, kcv_tdes(TMK).hex().upper()),
        ("TPK", KeyUsage.PIN, kcv_tdes(TPK).hex().upper()),
    ]
    result, events = await _enter(rig, ["1234", "ENTER"])
    assert result.outcome is PinEntryOutcome.OK and result.digits == 4  # type: ignore[attr-defined]
    assert [(e.kind, e.digits, e.display) for e in events] == [
        (KeyKind.DIGIT, 1, "*"), (KeyKind.DIGIT, 2, "*"), (KeyKind.DIGIT, 3, "*"),
        (KeyKind.DIGIT, 4, "*"), (KeyKind.ENTER, 4, ""),
    ]
    for fmt in ("01", "05", "47"):
        block = await d.get_pin_block(key_name="TPK", fmt=fmt, pan=PAN)
        assert decipher_pinblock(TPK, block, PAN, fmt) == "1234"


@pytest.mark.asyncio
async def test_wrong_kcv_rejected(rig: Rig) -> None:
    d = rig.driver
    r = await d.load_tmk_components([C1, C2], kcv="000000")
    assert (r.code, r.ok, r.kcv) == (EppErrorCode.KCV_MISMATCH, False, "")
    await _load_tmk_tpk(d)
    r = await d.load_key_under(
        "TPK2", under="TMK", encrypted_key=tdes_encrypt_ecb(TMK, TPK), kcv="ABCDEF"
    )
    assert r.code is EppErrorCode.KCV_MISMATCH
    assert [k.name for k in await d.list_keys()] == ["TMK", "TPK"]


@pytest.mark.asyncio
async def test_delete_key_takes_dependants(rig: Rig) -> None:
    d = rig.driver
    await _load_tmk_tpk(d)
    assert await d.delete_key("NOPE") is EppErrorCode.KEY_NOT_FOUND
    assert await d.delete_key("TMK") is EppErrorCode.OK
    assert await d.list_keys() == []


@pytest.mark.asyncio
async def test_pin_too_short_then_cancel_key(rig: Rig) -> None:
    await _load_tmk_tpk(rig.driver)
    result, events = await _enter(rig, ["12", "ENTER", "CANCEL"])
    assert result.outcome is PinEntryOutcome.CANCELLED  # type: ignore[attr-defined]
    assert [e.kind for e in events] == [KeyKind.DIGIT, KeyKind.DIGIT, KeyKind.CANCEL]
    with pytest.raises(EppDeviceError) as exc:
        await rig.driver.get_pin_block(key_name="TPK", fmt="01", pan=PAN)
    assert exc.value.code == EppErrorCode.NO_PIN.value


@pytest.mark.asyncio
async def test_clear_key_restarts_entry(rig: Rig) -> None:
    await _load_tmk_tpk(rig.driver)
    result, events = await _enter(rig, ["99", "CLEAR", "4321", "ENTER"])
    assert result.outcome is PinEntryOutcome.OK and result.digits == 4  # type: ignore[attr-defined]
    assert events[2].kind is KeyKind.CLEAR and events[2].digits == 0
    block = await rig.driver.get_pin_block(key_name="TPK", fmt="01", pan=PAN)
    assert decipher_pinblock(TPK, block, PAN, "01") == "4321"


@pytest.mark.asyncio
async def test_inter_key_timeout(rig: Rig) -> None:
    req = PinEntryRequest(inter_key_timeout_s=0.3, total_timeout_s=5.0)
    result, _ = await _enter(rig, ["1"], req)
    assert result.outcome is PinEntryOutcome.TIMEOUT and result.digits == 1  # type: ignore[attr-defined]
    assert not (await rig.driver.status()).pin_entry_active


@pytest.mark.asyncio
async def test_cancelling_the_task_stops_entry(rig: Rig) -> None:
    task = asyncio.create_task(rig.driver.enter_pin(FAST, lambda e: None))
    await rig.keypad.wait_entry()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert not (await rig.driver.status()).pin_entry_active


@pytest.mark.asyncio
async def test_tamper_wipes_keys(rig: Rig) -> None:
    d = rig.driver
    await _load_tmk_tpk(d)
    await rig.keypad.tamper()
    ts = await d.tamper_status()
    assert ts.tampered and ts.count >= 1
    assert await d.list_keys() == []
    st = await d.status()
    assert st.tampered and st.key_count == 0 and st.device.value == "fraudAttempt"
    assert rig.tampers and rig.tampers[0].tampered
    r = await d.load_tmk_components([C1, C2], kcv=kcv_tdes(TMK).hex())
    assert r.code is EppErrorCode.TAMPERED
    assert await d.initialize() is EppErrorCode.OK
    await _load_tmk_tpk(d)


# ---------------------------------------------------------------------------- DUKPT


@pytest.mark.asyncio
async def test_tdes_dukpt_format_01_returns_advancing_ksn(rig: Rig) -> None:
    d = rig.driver
    ipek = derive_ipek_tdes(TDES_BDK, TDES_KSN)
    r = await d.load_dukpt_key(
        "DUKPT1", algorithm=KeyAlgorithm.TDES, initial_key=ipek, ksn=TDES_KSN,
        kcv=kcv_tdes(ipek).hex(),
    )
    assert r.ok and r.kcv == "AF8C07"
    (info,) = await d.list_keys()
    assert (info.usage, info.ksn) == (KeyUsage.DUKPT, TDES_KSN.hex().upper())
    result, _ = await _enter(rig, ["1234", "ENTER"])
    assert result.outcome is PinEntryOutcome.OK  # type: ignore[attr-defined]
    for counter in (1, 2, 3):
        got = await d.get_dukpt_pin_block(key_name="DUKPT1", fmt="01", pan=PAN)
        assert got.ksn == TDES_KSN[:-1] + bytes([counter])
        assert "block" not in repr(got)
        key = derive_working_key_tdes(
            derive_transaction_key_tdes(TDES_BDK, got.ksn), TdesDukptKeyUsage.PIN
        )
        assert decipher_pinblock(key, got.block, PAN, "01") == "1234"
    assert (await d.list_keys())[0].ksn == (TDES_KSN[:-1] + b"\x03").hex().upper()
    with pytest.raises(EppDeviceError) as exc:
        await d.get_dukpt_pin_block(key_name="DUKPT1", fmt="48", pan=PAN)
    assert exc.value.code == EppErrorCode.KEY_USAGE.value


@pytest.mark.asyncio
async def test_aes_dukpt_format_48_under_tmk(rig: Rig) -> None:
    d = rig.driver
    await _load_tmk_tpk(d)
    ik = derive_initial_key_aes(AES_BDK, AES_IKID)
    r = await d.load_dukpt_key(
        "AESDK", algorithm=KeyAlgorithm.AES, initial_key=tdes_encrypt_ecb(TMK, ik),
        ksn=AES_IKID, kcv=kcv_aes_cmac(ik, 3).hex(), under="TMK",
    )
    assert r.ok and r.kcv == kcv_aes_cmac(ik, 3).hex().upper()
    result, _ = await _enter(rig, ["1234", "ENTER"])
    assert result.outcome is PinEntryOutcome.OK  # type: ignore[attr-defined]
    got = await d.get_dukpt_pin_block(key_name="AESDK", fmt="48", pan=PAN)
    assert got.ksn == AES_IKID + bytes.fromhex("00000001") and len(got.block) == 16
    key = derive_working_key_aes(
        derive_transaction_key_aes(AES_BDK, got.ksn), got.ksn,
        AesDukptKeyUsage.PIN_ENCRYPTION, AesDukptKeyType.AES128,
    )
    assert decipher_pinblock(key, got.block, PAN, "48") == "1234"
    with pytest.raises(EppDeviceError) as exc:
        await d.get_dukpt_pin_block(key_name="AESDK", fmt="01", pan=PAN)
    assert exc.value.code == EppErrorCode.KEY_USAGE.value
    with pytest.raises(EppDeviceError):  # a named TDES key has no KSN
        await d.get_dukpt_pin_block(key_name="TPK", fmt="01", pan=PAN)


# fmt: off
EXHAUSTION = [  # (algorithm, injected KSN, last usable KSN)
    (KeyAlgorithm.TDES, "FFFF9876543210FFF400", "FFFF9876543210FFF800"),
    (KeyAlgorithm.AES,  "1234567890123456FFFE8000", "1234567890123456FFFF0000"),
]
# fmt: on


@pytest.mark.asyncio
@pytest.mark.parametrize(("algorithm", "ksn", "last"), EXHAUSTION)
async def test_dukpt_counter_exhaustion(
    rig: Rig, algorithm: KeyAlgorithm, ksn: str, last: str
) -> None:
    d = rig.driver
    if algorithm is KeyAlgorithm.TDES:
        key, kcv = derive_ipek_tdes(TDES_BDK, TDES_KSN), kcv_tdes
    else:
        key, kcv = derive_initial_key_aes(AES_BDK, AES_IKID), kcv_aes_cmac
    r = await d.load_dukpt_key(
        "DK", algorithm=algorithm, initial_key=key, ksn=bytes.fromhex(ksn), kcv=kcv(key).hex()
    )
    assert r.ok
    await _enter(rig, ["1234", "ENTER"])
    fmt = "01" if algorithm is KeyAlgorithm.TDES else "48"
    got = await d.get_dukpt_pin_block(key_name="DK", fmt=fmt, pan=PAN)
    assert got.ksn.hex().upper() == last
    with pytest.raises(EppDeviceError) as exc:
        await d.get_dukpt_pin_block(key_name="DK", fmt=fmt, pan=PAN)
    assert exc.value.code == EppErrorCode.KSN_EXHAUSTED.value == "EE"


@pytest.mark.asyncio
async def test_dukpt_wrong_kcv_and_sizes(rig: Rig) -> None:
    d = rig.driver
    ipek = derive_ipek_tdes(TDES_BDK, TDES_KSN)
    r = await d.load_dukpt_key(
        "DK", algorithm=KeyAlgorithm.TDES, initial_key=ipek, ksn=TDES_KSN, kcv="000000"
    )
    assert r.code is EppErrorCode.KCV_MISMATCH
    r = await d.load_dukpt_key(
        "DK", algorithm=KeyAlgorithm.TDES, initial_key=ipek, ksn=TDES_KSN[:8],
        kcv=kcv_tdes(ipek).hex(),
    )
    assert r.code is EppErrorCode.BAD_LENGTH
    r = await d.load_dukpt_key(
        "DK", algorithm=KeyAlgorithm.TDES, initial_key=ipek, ksn=TDES_KSN,
        kcv=kcv_tdes(ipek).hex(), under="TMK",
    )
    assert r.code is EppErrorCode.TMK_REQUIRED
    assert await d.list_keys() == []


# ---------------------------------------------------------------------------- keypad extras


@pytest.mark.asyncio
async def test_amount_entry_echoes_digits(rig: Rig) -> None:
    events: list[KeyEvent] = []

    async def customer() -> None:
        await rig.keypad.press("125")
        await rig.keypad.press("5")
        await rig.keypad.press("0 ENTER")

    task = asyncio.create_task(customer())
    result = await rig.driver.enter_amount(AmountEntryRequest(max_digits=7), events.append)
    await task
    assert (result.outcome, result.value, result.error) == (PinEntryOutcome.OK, "12550", None)
    assert [e.display for e in events] == ["1", "2", "5", "5", "0", ""]
    assert events[-1].kind is KeyKind.ENTER


@pytest.mark.asyncio
async def test_amount_entry_cancel_and_busy(rig: Rig) -> None:
    pin = asyncio.create_task(rig.driver.enter_pin(FAST, lambda e: None))
    await rig.keypad.wait_entry()
    busy = await rig.driver.enter_amount(AmountEntryRequest(), lambda e: None)
    assert (busy.outcome, busy.error) == (PinEntryOutcome.ERROR, EppErrorCode.BUSY)
    await rig.keypad.press("CANCEL")
    assert (await pin).outcome is PinEntryOutcome.CANCELLED

    async def customer() -> None:
        await rig.keypad.press("9 CANCEL")

    task = asyncio.create_task(customer())
    result = await rig.driver.enter_amount(AmountEntryRequest(), lambda e: None)
    await task
    assert (result.outcome, result.value) == (PinEntryOutcome.CANCELLED, "")


@pytest.mark.asyncio
async def test_function_keys(rig: Rig) -> None:
    fdks = rig.fdks
    assert await rig.keypad.press("F1", wait_entry_s=None) == 0  # disabled
    await rig.driver.enable_fdks(["F1", "F8"])
    assert await rig.keypad.press("F1 F2 F8", wait_entry_s=None) == 2
    await rig.driver.status()  # a round trip: events sent before the reply have arrived
    assert fdks == [FdkEvent(key="F1"), FdkEvent(key="F8")]


@pytest.mark.asyncio
async def test_beep_and_backlight(rig: Rig) -> None:
    before = int((await rig.keypad.status())["beeps"])
    await rig.driver.beep(200)
    await rig.driver.backlight(False)
    st = await rig.keypad.status()
    assert (int(st["beeps"]) - before, st["backlight"]) == (1, "0")
    with pytest.raises(EppDeviceError) as exc:
        await rig.driver.beep(0)
    assert exc.value.code == EppErrorCode.BAD_DATA.value


@pytest.mark.asyncio
async def test_no_clear_pin_or_key_in_trace(rig: Rig, caplog: pytest.LogCaptureFixture) -> None:
    pin = "975318"
    caplog.set_level(logging.DEBUG)
    await _load_tmk_tpk(rig.driver)
    ipek = derive_ipek_tdes(TDES_BDK, TDES_KSN)
    await rig.driver.load_dukpt_key(
        "DK", algorithm=KeyAlgorithm.TDES, initial_key=ipek, ksn=TDES_KSN,
        kcv=kcv_tdes(ipek).hex(),
    )
    result, _ = await _enter(rig, [pin, "ENTER"])
    assert result.outcome is PinEntryOutcome.OK  # type: ignore[attr-defined]
    block = await rig.driver.get_pin_block(key_name="TPK", fmt="01", pan=PAN)
    dk = await rig.driver.get_dukpt_pin_block(key_name="DK", fmt="01", pan=PAN)
    assert any(r.name == "devices.epp.trace" for r in caplog.records)
    text = caplog.text
    for secret in (
        pin, pin.encode().hex(" ").upper(), block.hex(" ").upper(), block.hex().upper(),
        dk.block.hex(" ").upper(), C1.hex().upper(), C2.hex().upper(), TPK.hex().upper(),
        TMK.hex().upper(), ipek.hex(" ").upper(), tdes_encrypt_ecb(TMK, TPK).hex(" ").upper(),
        PAN, PAN.encode().hex(" ").upper(),
    ):
        assert secret not in text
