"""Store-and-forward of reversal advices: persisted first, repeated as 0421, removed on 0430."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from terminal.saf import ReversalQueue

ADVICE = {"t": "0420", "2": "4761739001010010", "3": "010000", "4": "000000050000",
          "11": "000002", "41": "ATM00001"}


@pytest.mark.asyncio
async def test_advice_survives_a_restart_and_is_repeated_until_acknowledged(tmp_path: Path) -> None:
    sent: list[dict[str, str]] = []
    fail = {"n": 2}

    async def sender(fields: dict[str, str]) -> dict[str, str]:
        sent.append(dict(fields))
        if fail["n"]:
            fail["n"] -= 1
            raise ConnectionRefusedError("host down")
        return {"t": "0430", "39": "00", "11": fields["11"], "41": fields["41"]}

    path = tmp_path / "saf.jsonl"
    first = ReversalQueue(path, sender, retry_s=0.01)
    first.enqueue(ADVICE)           # persisted before anything is sent
    assert ReversalQueue(path, sender).pending() == [ADVICE]
    second = ReversalQueue(path, sender, retry_s=0.01)   # "after a restart"
    second.start()
    assert await second.drain(timeout=5)
    await second.stop()
    assert [s["t"] for s in sent] == ["0420", "0421", "0421"]
    assert second.pending() == []


def test_a_reversal_never_carries_secrets(tmp_path: Path) -> None:
    async def sender(fields: dict[str, str]) -> dict[str, str]:
        return {}
    q = ReversalQueue(tmp_path / "saf.jsonl", sender)
    with pytest.raises(AssertionError):
        q.enqueue(ADVICE | {"52": "0123456789ABCDEF"})
    asyncio.run(asyncio.sleep(0))
