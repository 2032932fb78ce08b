"""``sst card serve`` as a process: JSON ready line, PC/SC sees the card, counters persist."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from devices.cardreader.chip import ChipOutcome, ChipPowerAction
from devices.cardreader.pcsc import PcscChipReader
from devices.common.events import null_sink
from devices.emv.apdu import get_data_command, gpo_command, select_command

pytestmark = pytest.mark.pcsc
REPO = Path(__file__).resolve().parents[3]


@pytest.mark.asyncio
async def test_card_serve_process(pcscd, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    async def one_run() -> bytes:
        proc = subprocess.Popen(  # noqa: S603, ASYNC220 -- the card is a separate process
            [sys.executable, "-m", "devices", "card", "serve", "visa-cvn10",
             "--state-dir", str(tmp_path), "--log-level", "WARNING"],
            cwd=REPO, stdout=subprocess.PIPE, text=True)
        try:
            assert proc.stdout is not None
            line = await asyncio.wait_for(asyncio.to_thread(proc.stdout.readline), 20)
            ready = json.loads(line)
            assert ready["event"] == "listening" and ready["port"] == 35963
            assert ready["pan"] == "476173******0003" or "*" in ready["pan"]
            reader = PcscChipReader(reader=pcscd.reader)
            await reader.open()
            try:
                assert (await reader.wait_for_card(null_sink, timeout=10)).outcome is ChipOutcome.OK
                assert (await reader.chip_power(ChipPowerAction.COLD)).outcome is ChipOutcome.OK
                await reader.chip_io(select_command(bytes.fromhex("A0000000031010")).encode())
                await reader.chip_io(gpo_command(bytes(5)).encode())
                r = await reader.chip_io(get_data_command(0x9F36).encode())
                return r.response
            finally:
                await reader.close()
        finally:
            os.kill(proc.pid, 15)
            assert proc.wait(timeout=10) == 0

    assert (await one_run())[:5] == bytes.fromhex("9F36020001")
    await asyncio.sleep(0.5)  # let pcscd see the first card leave
    assert (await one_run())[:5] == bytes.fromhex("9F36020002")
    assert json.loads((tmp_path / "visa-cvn10.json").read_text())["atc"] == 2
