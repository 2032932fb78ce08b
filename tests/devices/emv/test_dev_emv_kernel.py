"""The EMV kernel against the in-process emulated reader and virtual card (fast)."""

from __future__ import annotations

from datetime import date
from types import ModuleType

import pytest

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
from sst.common.tlv import decode_tlv, to_dict

PROFILES = {p.id: p for p in load_card_profiles()}
ONLINE_CHIP = ["visa-cvn10", "visa-cvn18", "mastercard-cvn16", "unionpay-pboc",
               "high-risk-customer", "expired-id-customer", "class2-account"]
TXN = TransactionRequest(amount=10000, when=date(2026, 3, 1))
POS = TerminalConfig(terminal_type=0x21, capabilities=bytes.fromhex("E0E820"))


async def _reader(profile: TestCardProfile, faults: list[CardFault] | None = None,
                  store: MemoryStateStore | None = None,
                  ) -> tuple[EmulatedChipReader, VirtualEmvCard]:
    reader = EmulatedChipReader()
    card = VirtualEmvCard(profile, store=store or MemoryStateStore(), faults=faults)
    reader.insert(card)
    return reader, card


@pytest.mark.asyncio
@pytest.mark.parametrize("pid", ONLINE_CHIP)
async def test_online_withdrawal_each_chip_profile(pid: str, oracle: ModuleType) -> None:
    p = PROFILES[pid]
    reader, card = await _reader(p)
    ch = oracle.TestCardholder()
    k = EmvKernel(reader, TerminalConfig(), ch)
    first = await k.start(TXN)
    assert first.outcome is KernelOutcome.ONLINE_REQUEST, first
    assert first.online_pin and ch.asked_online_pin == 1
    assert first.pan == p.pan and first.service_code == p.service_code
    auth = oracle.authorise(p, first.field55)
    assert auth.arqc_ok
    second = await k.complete(HostResponse(approved=True, arc=b"00",
                                           issuer_auth_data=auth.issuer_auth_data))
    assert second.outcome is SecondOutcome.APPROVED, second
    assert second.issuer_authenticated is True and not second.reversal_required
    assert card.state.atc == p.atc + 1 and card.state.last_online_atc == card.state.atc


@pytest.mark.asyncio
async def test_wrong_arpc_card_declines_and_reversal_required(oracle: ModuleType) -> None:
    p = PROFILES["visa-cvn18"]
    reader, _ = await _reader(p)
    k = EmvKernel(reader, TerminalConfig(), oracle.TestCardholder())
    first = await k.start(TXN)
    auth = oracle.authorise(p, first.field55, corrupt_arpc=True)
    second = await k.complete(HostResponse(approved=True, issuer_auth_data=auth.issuer_auth_data))
    assert second.outcome is SecondOutcome.DECLINED
    assert second.issuer_authenticated is False and second.reversal_required
    assert second.tvr[4] & 0x40


@pytest.mark.asyncio
async def test_host_decline_gives_aac(oracle: ModuleType) -> None:
    p = PROFILES["mastercard-cvn16"]
    reader, _ = await _reader(p)
    k = EmvKernel(reader, TerminalConfig(), oracle.TestCardholder())
    first = await k.start(TXN)
    auth = oracle.authorise(p, first.field55, approve=False)
    second = await k.complete(HostResponse(approved=False, arc=b"05",
                                           issuer_auth_data=auth.issuer_auth_data))
    assert second.outcome is SecondOutcome.DECLINED and not second.reversal_required
    assert second.cid is not None and second.cid & 0xC0 == 0


@pytest.mark.asyncio
async def test_cardholder_chooses_between_two_apps(oracle: ModuleType) -> None:
    p = PROFILES["dual-app-choice"]
    reader, _ = await _reader(p)
    ch = oracle.TestCardholder(choice=1)
    first = await EmvKernel(reader, TerminalConfig(), ch).start(TXN)
    assert [c.label for c in ch.candidates] == ["VISA DEBIT", "UNIONPAY DEBIT"]
    assert first.aid.hex().upper() == "A000000333010101"
    assert oracle.authorise(p, first.field55).arqc_ok


@pytest.mark.asyncio
async def test_cardholder_cancels_choice(oracle: ModuleType) -> None:
    reader, _ = await _reader(PROFILES["dual-app-choice"])
    first = await EmvKernel(reader, TerminalConfig(), oracle.TestCardholder(choice=None)).start(TXN)
    assert first.outcome is KernelOutcome.CANCELED


@pytest.mark.asyncio
async def test_expired_card_declined_offline_no_fallback(oracle: ModuleType) -> None:
    reader, _ = await _reader(PROFILES["expired-card"])
    first = await EmvKernel(reader, TerminalConfig(), oracle.TestCardholder()).start(TXN)
    assert first.outcome is KernelOutcome.OFFLINE_DECLINED
    assert first.tvr[1] & 0x40


@pytest.mark.asyncio
async def test_blocked_app_not_accepted_no_fallback(oracle: ModuleType) -> None:
    reader, _ = await _reader(PROFILES["blocked-app"])
    first = await EmvKernel(reader, TerminalConfig(), oracle.TestCardholder()).start(TXN)
    assert first.outcome is KernelOutcome.NOT_ACCEPTED
    assert first.reason == "application blocked"


@pytest.mark.asyncio
async def test_pin_exhausted_card_declines(oracle: ModuleType) -> None:
    reader, _ = await _reader(PROFILES["pin-exhausted"])
    first = await EmvKernel(reader, TerminalConfig(), oracle.TestCardholder()).start(TXN)
    assert first.outcome is KernelOutcome.OFFLINE_DECLINED
    assert first.cid == 0x02  # AAC, reason: PIN try limit exceeded


@pytest.mark.asyncio
@pytest.mark.parametrize(("allow", "expected"), [(True, KernelOutcome.FALLBACK),
                                                 (False, KernelOutcome.TERMINATED)])
async def test_mute_card_fallback_per_policy(allow: bool, expected: KernelOutcome,
                                             oracle: ModuleType) -> None:
    p = PROFILES["chip-fails-fallback"]
    reader, _ = await _reader(p)
    cfg = TerminalConfig(fallback=FallbackPolicy(allow_fallback=allow))
    first = await EmvKernel(reader, cfg, oracle.TestCardholder()).start(TXN)
    assert first.outcome is expected
    if allow:
        assert first.pos_entry_mode == "801"


@pytest.mark.asyncio
async def test_corrupt_atr_is_a_technical_failure(oracle: ModuleType) -> None:
    reader, _ = await _reader(PROFILES["corrupt-atr"])
    first = await EmvKernel(reader, TerminalConfig(), oracle.TestCardholder()).start(TXN)
    assert first.outcome is KernelOutcome.FALLBACK
    assert "atrNotObtained" in first.reason


@pytest.mark.asyncio
async def test_wrong_sw_on_read_record_falls_back(oracle: ModuleType) -> None:
    reader, _ = await _reader(PROFILES["visa-cvn10"], [CardFault.WRONG_SW])
    first = await EmvKernel(reader, TerminalConfig(), oracle.TestCardholder()).start(TXN)
    assert first.outcome is KernelOutcome.FALLBACK and "6F00" in first.reason


@pytest.mark.asyncio
async def test_card_pulled_during_first_generate_ac(oracle: ModuleType) -> None:
    reader, _ = await _reader(PROFILES["visa-cvn10"], [CardFault.PULL_ON_GENERATE_AC])
    first = await EmvKernel(reader, TerminalConfig(), oracle.TestCardholder()).start(TXN)
    assert first.outcome is KernelOutcome.CARD_REMOVED


@pytest.mark.asyncio
async def test_card_pulled_during_second_ac_requires_reversal(oracle: ModuleType) -> None:
    p = PROFILES["visa-cvn18"]
    reader, _ = await _reader(p, [CardFault.PULL_ON_SECOND_AC])
    k = EmvKernel(reader, TerminalConfig(), oracle.TestCardholder())
    first = await k.start(TXN)
    auth = oracle.authorise(p, first.field55)
    second = await k.complete(HostResponse(approved=True, issuer_auth_data=auth.issuer_auth_data))
    assert second.outcome is SecondOutcome.CARD_REMOVED and second.reversal_required


@pytest.mark.asyncio
async def test_pos_offline_pin_verified(oracle: ModuleType) -> None:
    p = PROFILES["mastercard-offline-pin"]
    reader, card = await _reader(p)
    ch = oracle.TestCardholder(pin="1111")
    first = await EmvKernel(reader, POS, ch).start(TransactionRequest(
        amount=2500, when=date(2026, 3, 1), transaction_type=0x00))
    assert ch.offline_attempts == 1 and first.cvm_results == bytes.fromhex("010302")
    assert card.state.pin_tries == 3


@pytest.mark.asyncio
async def test_pos_offline_pin_wrong_decrements_counter(oracle: ModuleType) -> None:
    p = PROFILES["mastercard-offline-pin"]
    store = MemoryStateStore()
    reader, card = await _reader(p, store=store)
    first = await EmvKernel(reader, POS, oracle.TestCardholder(pin="9999")).start(
        TransactionRequest(amount=2500, when=date(2026, 3, 1), transaction_type=0x00))
    assert card.state.pin_tries == 2
    assert first.cvm_results[:2] != bytes.fromhex("0103")


@pytest.mark.asyncio
async def test_pos_signature(oracle: ModuleType) -> None:
    reader, _ = await _reader(PROFILES["visa-signature"])
    first = await EmvKernel(reader, POS, oracle.TestCardholder()).start(
        TransactionRequest(amount=2500, when=date(2026, 3, 1), transaction_type=0x00))
    assert first.signature_required and first.cvm_results == bytes.fromhex("5E0300")


@pytest.mark.asyncio
async def test_issuer_script_blocks_application(oracle: ModuleType) -> None:
    p = PROFILES["visa-cvn10"]
    store = MemoryStateStore()
    reader, card = await _reader(p, store=store)
    k = EmvKernel(reader, TerminalConfig(), oracle.TestCardholder())
    first = await k.start(TXN)
    auth = oracle.authorise(p, first.field55, approve=False)
    script = oracle.script_71(p, first.field55, 0x1E)
    second = await k.complete(HostResponse(approved=False, arc=b"05",
                                           issuer_auth_data=auth.issuer_auth_data, scripts=script))
    assert second.script_results == bytes.fromhex("2000000001")
    assert p.applications[0].aid.hex().upper() in card.state.blocked_aids
    reader.remove()
    reader.insert(VirtualEmvCard(p, store=store))
    again = await EmvKernel(reader, TerminalConfig(), oracle.TestCardholder()).start(TXN)
    assert again.outcome is KernelOutcome.NOT_ACCEPTED


@pytest.mark.asyncio
async def test_bad_script_mac_reported(oracle: ModuleType) -> None:
    p = PROFILES["visa-cvn10"]
    reader, card = await _reader(p)
    k = EmvKernel(reader, TerminalConfig(), oracle.TestCardholder())
    first = await k.start(TXN)
    script = bytearray(oracle.script_71(p, first.field55, 0x1E))
    script[-1] ^= 1
    iad = oracle.authorise(p, first.field55).issuer_auth_data
    second = await k.complete(HostResponse(approved=True, scripts=bytes(script),
                                           issuer_auth_data=iad))
    assert second.script_results[0] >> 4 == 1 and second.tvr[4] & 0x20
    assert not card.state.blocked_aids


@pytest.mark.asyncio
async def test_field55_content(oracle: ModuleType) -> None:
    reader, _ = await _reader(PROFILES["visa-cvn18"])
    first = await EmvKernel(reader, TerminalConfig(), oracle.TestCardholder(),
                            random_bytes=lambda n: bytes(range(1, n + 1))).start(TXN)
    d = to_dict(decode_tlv(first.field55))
    assert d[0x9F37] == b"\x01\x02\x03\x04" and d[0x9F02] == bytes.fromhex("000000010000")
    assert d[0x9F27] == b"\x80" and d[0x9A] == bytes.fromhex("260301")
    assert 0x5A not in d and 0x57 not in d
    assert "476173" in repr(first) and PROFILES["visa-cvn18"].pan not in repr(first)


@pytest.mark.asyncio
async def test_atc_and_velocity_persist(oracle: ModuleType) -> None:
    p = PROFILES["visa-cvn10"]
    store = MemoryStateStore()
    for n in range(1, 4):
        reader, card = await _reader(p, store=store)
        first = await EmvKernel(reader, TerminalConfig(), oracle.TestCardholder()).start(TXN)
        assert card.state.atc == n
        assert first.tvr[1] & 0x08  # new card: never online
