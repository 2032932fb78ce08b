"""A person at the window: keyboard and function keys drive a withdrawal end to end.

The window is opened for real (``headless=False``) on SDL's dummy video driver; key presses are
posted as pygame events, mapped by the display to UI events, and in the PIN state forwarded
to the emulated EPP's keypad -- the terminal never sees a digit.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pygame
import pytest

from sst.demo import offer_test_cards
from sst.stack import EmulatedStack
from terminal.runtime import TerminalRuntime

pytestmark = pytest.mark.e2e


def press(key: int) -> None:
    pygame.event.post(pygame.event.Event(pygame.KEYDOWN, key=key, mod=0, unicode="", scancode=0))


async def until(rt: TerminalRuntime, state: str, timeout: float = 30.0) -> None:
    async def wait() -> None:
        while rt.model.state != state:
            await asyncio.sleep(0.01)
    try:
        await asyncio.wait_for(wait(), timeout)
    except TimeoutError:
        raise AssertionError(f"still in {rt.model.state!r}, waiting for {state!r}; "
                             f"journal: {rt.model.journal.read()[-3:]}") from None


@pytest.mark.asyncio
async def test_keyboard_withdrawal_in_a_window(stack: EmulatedStack, monkeypatch: Any) -> None:
    monkeypatch.setenv("SDL_VIDEODRIVER", "dummy")
    cfg = stack.terminal_config(headless=False, screenshots=False)
    rt = TerminalRuntime(cfg)
    await rt.start()
    seen: list[str] = []
    rt.model.state_listeners.append(seen.append)
    try:
        assert not rt.display.headless
        offer_test_cards(rt, stack.catalogue)
        card = stack.catalogue["cards"][0]
        await until(rt, "idle")
        press(pygame.K_F1)  # "Insert visa-pvv-rich"
        await until(rt, "pin")
        for d in card["pin"]:
            press(getattr(pygame, f"K_{d}"))
            await asyncio.sleep(0.05)
        press(pygame.K_RETURN)
        await until(rt, "menu")
        assert rt.display.model is not None and rt.display.model.entry == ""
        press(pygame.K_F5)  # Cash withdrawal
        await until(rt, "amount")
        press(pygame.K_F2)  # 500.00

        async def back_to_idle() -> None:
            while seen[-1:] != ["idle"]:
                await asyncio.sleep(0.01)
        await asyncio.wait_for(back_to_idle(), 30)
    finally:
        await rt.stop()
    assert seen[:8] == ["card", "pin", "menu", "amount", "authorising", "dispense", "eject", "idle"]
