"""The same kernel tests over the emulated reader and through pyscard -> pcscd -> vpcd -> card."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import date
from types import ModuleType

import pytest

from devices.cardreader.base import MediaRemovedEvent
from devices.cardreader.chip import ChipCardReader, ChipOutcome, ChipPowerAction
from devices.cardreader.pcsc import PcscChipReader
from devices.common.events import null_sink
from devices.emv.kernel import (
    EmvKernel,
    FallbackPolicy,
    HostResponse,
    KernelOutcome,
    SecondOutcome,
    TerminalConfig,
    TransactionRequest,
)
from devices.profiles import TestCardProfile, load_card_profiles
from devices.vcard.card import CardFault, VirtualEmvCard
from devices.vcard.reader import EmulatedChipReader
from devices.vcard.state import MemoryStateStore
from devices.vcard.vpcd import VpcdCardClient

pytestmark = pytest.mark.pcsc

PROFILES = {p.id: p for p in load_card_profiles()}
CHIP_ONLINE = sorted(p.id for p in PROFILES.values() if p.has_chip and not p.faults
                     and p.id not in ("expired-card", "blocked-app", "pin-exhausted",
                                      "dual-app-choice", "mastercard-offline-pin",
                                      "visa-signature"))
TXN = TransactionRequest(amount=20000, when=date(2026, 3, 1))
READERS = ["emulated", "pcsc"]
_Client = VpcdCardClient | None


@asynccontextmanager
async def chip_path(kind: str, request: pytest.FixtureRequest, profile: TestCardProfile,
                    faults: list[CardFault] | None = None,
                    ) -> AsyncIterator[tuple[ChipCardReader, VirtualEmvCard, _Client]]:
    card = VirtualEmvCard(profile, store=MemoryStateStore(), faults=faults)
    if kind == "emulated":
        er = EmulatedChipReader()
        er.insert(card)
        yield er, card, None
        return
    pcscd = request.getfixturevalue("pcscd")
    client = VpcdCardClient(card)
    client.start()
    reader = PcscChipReader(reader=pcscd.reader)
    await reader.open()
    try:
        r = await reader.wait_for_card(null_sink, timeout=10)
        assert r.outcome is ChipOutcome.OK
        yield reader, card, client
    finally:
        await reader.close()
        await asyncio.to_thread(client.stop)
        await _wait_absent(pcscd.reader)


async def _wait_absent(name: str) -> None:
    """Let pcscd see the card go before the next test inserts another one."""
    probe = PcscChipReader(reader=name)
    await probe.open()
    try:
        for _ in range(100):
            if probe.status.media.value == "notPresent":
                return
            await asyncio.sleep(0.05)
    finally:
        await probe.close()


@pytest.mark.asyncio
@pytest.mark.parametrize("kind", READERS)
@pytest.mark.parametrize("pid", CHIP_ONLINE)
async def test_withdrawal_first_and_second_ac(kind: str, pid: str, request: pytest.FixtureRequest,
                                              oracle: ModuleType) -> None:
    p = PROFILES[pid]
    async with chip_path(kind, request, p) as (reader, card, _):
        k = EmvKernel(reader, TerminalConfig(), oracle.TestCardholder())
        first = await k.start(TXN)
        assert first.outcome is KernelOutcome.ONLINE_REQUEST, first
        auth = oracle.authorise(p, first.field55)
        assert auth.arqc_ok
        second = await k.complete(HostResponse(approved=True,
                                               issuer_auth_data=auth.issuer_auth_data))
        assert second.outcome is SecondOutcome.APPROVED and second.issuer_authenticated
        assert card.state.last_online_atc == card.state.atc == 1


@pytest.mark.asyncio
@pytest.mark.parametrize("kind", READERS)
async def test_card_pulled_during_generate_ac(kind: str, request: pytest.FixtureRequest,
                                              oracle: ModuleType) -> None:
    async with chip_path(kind, request, PROFILES["visa-cvn18"],
                         [CardFault.PULL_ON_GENERATE_AC]) as (reader, _, _c):
        first = await EmvKernel(reader, TerminalConfig(), oracle.TestCardholder()).start(TXN)
        assert first.outcome is KernelOutcome.CARD_REMOVED


@pytest.mark.asyncio
@pytest.mark.parametrize("kind", READERS)
async def test_card_pulled_during_second_ac_requires_reversal(
        kind: str, request: pytest.FixtureRequest, oracle: ModuleType) -> None:
    p = PROFILES["visa-cvn10"]
    async with chip_path(kind, request, p, [CardFault.PULL_ON_SECOND_AC]) as (reader, _, _c):
        k = EmvKernel(reader, TerminalConfig(), oracle.TestCardholder())
        first = await k.start(TXN)
        auth = oracle.authorise(p, first.field55)
        second = await k.complete(HostResponse(approved=True,
                                               issuer_auth_data=auth.issuer_auth_data))
        assert second.outcome is SecondOutcome.CARD_REMOVED and second.reversal_required


@pytest.mark.asyncio
@pytest.mark.parametrize("kind", READERS)
@pytest.mark.parametrize(("allow", "expected"), [(True, KernelOutcome.FALLBACK),
                                                 (False, KernelOutcome.TERMINATED)])
async def test_mute_card_fallback_per_policy(kind: str, allow: bool, expected: KernelOutcome,
                                             request: pytest.FixtureRequest,
                                             oracle: ModuleType) -> None:
    async with chip_path(kind, request, PROFILES["chip-fails-fallback"]) as (reader, _, _c):
        cfg = TerminalConfig(fallback=FallbackPolicy(allow_fallback=allow))
        first = await EmvKernel(reader, cfg, oracle.TestCardholder()).start(TXN)
        assert first.outcome is expected, first


@pytest.mark.asyncio
@pytest.mark.parametrize("kind", READERS)
async def test_blocked_app_not_accepted(kind: str, request: pytest.FixtureRequest,
                                        oracle: ModuleType) -> None:
    async with chip_path(kind, request, PROFILES["blocked-app"]) as (reader, _, _c):
        first = await EmvKernel(reader, TerminalConfig(), oracle.TestCardholder()).start(TXN)
        assert first.outcome is KernelOutcome.NOT_ACCEPTED


@pytest.mark.asyncio
async def test_pcsc_removal_event_and_atr(request: pytest.FixtureRequest) -> None:
    async with chip_path("pcsc", request, PROFILES["visa-cvn10"]) as (reader, _, client):
        sub = reader.bus.subscribe()  # type: ignore[attr-defined]
        power = await reader.chip_power(ChipPowerAction.COLD)
        assert power.outcome is ChipOutcome.OK and power.atr == bytes.fromhex("3B80800101")
        assert client is not None
        await asyncio.to_thread(client.pull)
        ev = None
        for _ in range(60):
            ev = await asyncio.wait_for(sub.get(), 5)
            if isinstance(ev, MediaRemovedEvent):
                break
        assert isinstance(ev, MediaRemovedEvent)
        io = await reader.chip_io(bytes.fromhex("00A404000E315041592E5359532E444446303100"))
        assert io.outcome in (ChipOutcome.CARD_REMOVED, ChipOutcome.SEQUENCE_ERROR)
