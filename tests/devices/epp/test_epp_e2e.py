"""End to end: `python -m devices epp serve` in a subprocess, the real EppDriver over a real pty."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import random
import select
import signal
import subprocess
import sys
import tty
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from devices.epp.base import (
    EppErrorCode,
    KeyEvent,
    KeyKind,
    PinEntryOutcome,
    PinEntryRequest,
    PinEntryResult,
    TamperStatus,
)
from devices.epp.codec import Frame, FrameType, encode_frame
from devices.epp.control import KeypadControl
from devices.epp.driver import EppDriver
from devices.epp.errors import EppDeviceError, EppLinkError
from hsm_sim.crypto import (
    adjust_key_parity,
    decipher_pinblock,
    kcv_tdes,
    tdes_encrypt_ecb,
    xor_bytes,
)

pytestmark = pytest.mark.e2e

C1 = adjust_key_parity(bytes.fromhex("0123456789ABCDEF0123456789ABCDEF"))
C2 = adjust_key_parity(bytes.fromhex("1111111111111111FEDCBA9876543210"))
TMK = adjust_key_parity(xor_bytes(C1, C2))
TPK = adjust_key_parity(bytes.fromhex("00112233445566778899AABBCCDDEEFF"))
PAN = "4012345678909"
FAST = PinEntryRequest(min_length=4, max_length=12, inter_key_timeout_s=2.0, total_timeout_s=5.0)


@dataclass
class Emu:
    proc: subprocess.Popen[bytes]
    ready: dict[str, object]
    stderr: Path

    @property
    def url(self) -> str:
        return (
            str(self.ready["pty"])
            if "pty" in self.ready
            else f"tcp://127.0.0.1:{self.ready['tcp']}"
        )

    @property
    def control(self) -> KeypadControl:
        return KeypadControl(int(self.ready["control_port"]))  # type: ignore[call-overload]


def _spawn(repo: Path, tmp: Path, *args: str) -> Iterator[Emu]:
    err = tmp / "emulator.log"
    with err.open("wb") as errf:
        proc = subprocess.Popen(  # noqa: S603 - runs our own module
            [
                sys.executable,
                "-m",
                "devices",
                "epp",
                "serve",
                *args,
                "--control-port",
                "0",
                "--log-level",
                "DEBUG",
            ],
            cwd=repo,
            stdout=subprocess.PIPE,
            stderr=errf,
        )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line, err.read_text()
    emu = Emu(proc=proc, ready=json.loads(line), stderr=err)
    try:
        yield emu
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
        proc.stdout.close()


@pytest.fixture
def emu(repo_dir: Path, tmp_path: Path) -> Iterator[Emu]:
    yield from _spawn(repo_dir, tmp_path, "--pty", "--key-file", str(tmp_path / "keys.json"))


def _driver(emu: Emu, **kw: object) -> EppDriver:
    return EppDriver(emu.url, timeout=1.0, retries=2, **kw)  # type: ignore[arg-type]


async def _load_keys(d: EppDriver) -> None:
    r = await d.load_tmk_components([C1, C2], kcv=kcv_tdes(TMK).hex())
    assert r.ok and r.kcv == kcv_tdes(TMK).hex().upper()
    r = await d.load_key_under(
        "TPK", under="TMK", encrypted_key=tdes_encrypt_ecb(TMK, TPK), kcv=kcv_tdes(TPK).hex()
    )
    assert r.ok


async def _enter(
    d: EppDriver, emu: Emu, keys: list[str], req: PinEntryRequest = FAST
) -> tuple[PinEntryResult, list[KeyEvent]]:
    events: list[KeyEvent] = []

    async def customer() -> None:
        for k in keys:
            await emu.control.press(k)

    task = asyncio.create_task(customer())
    result = await d.enter_pin(req, events.append)
    await task
    return result, events


@pytest.mark.asyncio
async def test_pin_block_iso0_end_to_end(emu: Emu) -> None:
    async with _driver(emu) as d:
        assert (await d.status()).key_count == 0
        await _load_keys(d)
        assert [(k.name, k.kcv) for k in await d.list_keys()] == [
            ("TMK", kcv_tdes(TMK).hex().upper()),
            ("TPK", kcv_tdes(TPK).hex().upper()),
        ]
        result, events = await _enter(d, emu, ["1234", "ENTER"])
        assert result.outcome is PinEntryOutcome.OK and result.digits == 4
        assert [e.display for e in events] == ["*", "*", "*", "*", ""]
        assert events[-1].kind is KeyKind.ENTER
        block = await d.get_pin_block(key_name="TPK", fmt="01", pan=PAN)
        assert len(block) == 8
        assert decipher_pinblock(TPK, block, PAN, "01") == "1234"


@pytest.mark.asyncio
async def test_wrong_kcv_rejected(emu: Emu) -> None:
    async with _driver(emu) as d:
        r = await d.load_tmk_components([C1, C2], kcv="000000")
        assert r.code is EppErrorCode.KCV_MISMATCH and not r.ok
        await _load_keys(d)
        r = await d.load_key_under(
            "TPK2", under="TMK", encrypted_key=tdes_encrypt_ecb(TMK, TPK), kcv="ABCDEF"
        )
        assert r.code is EppErrorCode.KCV_MISMATCH
        assert [k.name for k in await d.list_keys()] == ["TMK", "TPK"]


@pytest.mark.asyncio
async def test_pin_too_short_then_cancel(emu: Emu) -> None:
    async with _driver(emu) as d:
        await _load_keys(d)
        result, events = await _enter(d, emu, ["12", "ENTER", "CANCEL"])
        assert result.outcome is PinEntryOutcome.CANCELLED and result.digits == 2
        assert [e.kind for e in events] == [KeyKind.DIGIT, KeyKind.DIGIT, KeyKind.CANCEL]
        with pytest.raises(EppDeviceError) as exc:
            await d.get_pin_block(key_name="TPK", fmt="01", pan=PAN)
        assert exc.value.code == EppErrorCode.NO_PIN.value


@pytest.mark.asyncio
async def test_inter_key_timeout(emu: Emu) -> None:
    req = PinEntryRequest(inter_key_timeout_s=0.3, total_timeout_s=3.0)
    async with _driver(emu) as d:
        result, _ = await _enter(d, emu, ["1"], req)
        assert result.outcome is PinEntryOutcome.TIMEOUT and result.digits == 1
        assert not (await d.status()).pin_entry_active


@pytest.mark.asyncio
async def test_cancelling_the_task_cancels_entry(emu: Emu) -> None:
    async with _driver(emu) as d:
        task = asyncio.create_task(d.enter_pin(FAST, lambda e: None))
        await emu.control.wait_entry()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert not (await d.status()).pin_entry_active


@pytest.mark.asyncio
async def test_tamper_wipes_keys(emu: Emu) -> None:
    seen: list[TamperStatus] = []
    async with _driver(emu, on_tamper=seen.append) as d:
        await _load_keys(d)
        await emu.control.tamper()
        ts = await d.tamper_status()
        assert ts.tampered and ts.count == 1
        assert await d.list_keys() == []
        st = await d.status()
        assert st.tampered and st.key_count == 0
        assert seen and seen[0].tampered
        r = await d.load_tmk_components([C1, C2], kcv=kcv_tdes(TMK).hex())
        assert r.code is EppErrorCode.TAMPERED
        assert await d.initialize() is EppErrorCode.OK
        await _load_keys(d)


@pytest.mark.asyncio
async def test_link_faults(emu: Emu) -> None:
    async with _driver(emu) as d:
        await emu.control.fault("garbled")
        assert (await d.status()).key_count == 0  # recovered by NAK + resend
        await emu.control.fault("nak-storm")
        with pytest.raises(EppLinkError):
            await d.status()
        await emu.control.fault("silent")
        d._ack_timeout = 0.1  # keep the test fast
        with pytest.raises(EppLinkError, match="no reply after 3 attempts"):
            await d.status()
        await emu.control.fault("none")
        assert (await d.status()).device.value == "online"


def test_fuzz_pty_never_crashes(emu: Emu) -> None:
    rng = random.Random(1234)
    fd = os.open(str(emu.ready["pty"]), os.O_RDWR | os.O_NOCTTY)
    try:
        tty.setraw(fd)
        good = encode_frame(Frame(type=FrameType.COMMAND, seq=3, command="S"))
        got = b""
        for i in range(60):
            if i % 3 == 0:
                chunk = bytes(rng.getrandbits(8) for _ in range(rng.randint(1, 64)))
            elif i % 3 == 1:
                b = bytearray(good)
                b[rng.randrange(1, len(b))] ^= 1 << rng.randrange(7)
                chunk = bytes(b)
            else:
                chunk = b"\x02" + bytes(rng.getrandbits(8) for _ in range(rng.randint(0, 20)))
            os.write(fd, chunk)
        os.write(fd, b"\x02" * 1 + b"\x03" * 5)
        while select.select([fd], [], [], 0.3)[0]:
            got += os.read(fd, 4096)
        assert b"\x15" in got  # damaged frames were NAKed
    finally:
        os.close(fd)
    assert emu.proc.poll() is None

    async def still_works() -> None:
        async with _driver(emu) as d:
            assert (await d.status()).device.value == "online"

    asyncio.run(still_works())


@pytest.mark.asyncio
async def test_no_pin_in_logs_or_trace(emu: Emu, caplog: pytest.LogCaptureFixture) -> None:
    pin = "975318"
    caplog.set_level(logging.DEBUG)
    async with EppDriver("spy://" + emu.url, timeout=1.0) as d:
        await _load_keys(d)
        result, _ = await _enter(d, emu, [pin, "ENTER"])
        assert result.outcome is PinEntryOutcome.OK
        block = await d.get_pin_block(key_name="TPK", fmt="01", pan=PAN)
    assert any(r.name == "devices.epp.trace" for r in caplog.records)
    text = caplog.text + emu.stderr.read_text()
    forbidden = [
        pin,
        pin.encode().hex(" ").upper(),
        block.hex(" ").upper(),
        block.hex().upper(),
        C1.hex().upper(),
        C2.hex().upper(),
        TPK.hex().upper(),
        TMK.hex().upper(),
        tdes_encrypt_ecb(TMK, TPK).hex(" ").upper(),
        PAN,
    ]
    for secret in forbidden:
        assert secret not in text


@pytest.fixture
def tcp_emu(repo_dir: Path, tmp_path: Path) -> Iterator[Emu]:
    yield from _spawn(repo_dir, tmp_path, "--tcp", "0")


@pytest.mark.asyncio
async def test_tcp_transport(tcp_emu: Emu) -> None:
    async with _driver(tcp_emu) as d:
        await _load_keys(d)
        result, _ = await _enter(d, tcp_emu, ["4321", "ENTER"])
        assert result.outcome is PinEntryOutcome.OK
        block = await d.get_pin_block(key_name="TPK", fmt="47", pan=PAN)
        assert decipher_pinblock(TPK, block, PAN, "47") == "4321"
