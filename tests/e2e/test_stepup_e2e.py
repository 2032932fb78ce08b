"""Step-up over real parts: a HIGH-grade customer above the threshold gets 1A, reads the SMS
code the host "sent" (QA reads it with `sst host otp`), types it, and the retry is approved;
a wrong code is declined."""

from __future__ import annotations

from typing import Any

import pytest

from sst.stack import EmulatedStack
from terminal.customer import CardSpec, Visit
from terminal.runtime import TerminalRuntime

pytestmark = pytest.mark.e2e


def spec(card: dict[str, Any]) -> CardSpec:
    return CardSpec(pan=card["pan"], expiry=card["expiry"], service_code=card["service_code"],
                    discretionary=card["track2"].split("=", 1)[1][7:])


@pytest.mark.asyncio
@pytest.mark.parametrize(("typed", "expected"), [("right", "00"), ("wrong", "63")])
async def test_otp_step_up_at_the_terminal(stack: EmulatedStack, typed: str, expected: str) -> None:
    card = next(c for c in stack.catalogue["cards"] if c["label"] == "high-grade")

    async def otp(visit: Visit, challenge: str) -> str:
        code = await stack.sms_code(card["customer_id"], challenge)
        return code if typed == "right" else str((int(code) + 1) % 10**6).zfill(6)

    rt = TerminalRuntime(stack.terminal_config(headless=True, screenshots=False))
    await rt.start()
    try:
        [res] = await rt.play([Visit(label="step-up", card=spec(card), pin=card["pin"],
                                     action="withdrawal", amount=250000)],
                              step_timeout=60, otp_source=otp)
    finally:
        await rt.stop()
    assert "stepup" in res.states
    assert res.response_code == expected
    events = [e["event"] for e in rt.model.journal.read()]
    assert "stepup_required" in events and "stepup_evidence" in events
