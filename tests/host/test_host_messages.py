"""Every message and processing code over TCP, with the independent pyiso8583 client.

Each test checks field 39 and, where the host answers balances, field 54 against the ledger;
``conserved`` checks that the sum of all balances did not move and postings sum to zero.
"""

from __future__ import annotations

from typing import Any

import iso8583
import pytest
from iso8583.specs import default_ascii

from hsm_sim.crypto import (
    MacPadding,
    TdesDukptKeyUsage,
    derive_transaction_key_tdes,
    derive_working_key_tdes,
    encode_pinblock_iso_0,
    mac_iso9797_alg3,
    tdes_decrypt_ecb,
    tdes_encrypt_ecb,
    visa_cvn10_arpc,
    visa_cvn10_arqc,
)
from hsm_sim.crypto.lmk import VariantLmk
from sst.common.tlv import Tlv, decode_tlv, encode_tlv, to_dict


def balance(rig: Any, account: str) -> int:
    acc = rig.store.account(account)
    assert acc is not None
    return int(acc.balance)


def available(rig: Any, account: str) -> int:
    acc = rig.store.account(account)
    assert acc is not None
    return int(acc.available)


def conserved(rig: Any, before: dict[str, int]) -> None:
    now = rig.store.totals()
    assert now["balances"] == before["balances"]
    assert now["postings"] == 0
    assert now["negative_available"] == 0
    assert now["held"] == now["open_holds"]


@pytest.mark.asyncio
async def test_withdrawal_balance_and_54(host_rig: Any, kit: Any) -> None:
    card, term = host_rig.card("visa-pvv-rich"), host_rig.terminal
    totals, before = host_rig.store.totals(), balance(host_rig, card["account"])
    c = await kit.connect(host_rig.port)
    r = await c.send(kit.financial(card, term, stan=1, amount=20000, pin=card["pin"]))
    assert (r["t"], r["39"]) == ("0210", "00")
    assert (
        kit.balance_54(r)
        == kit.balance_54(r, "01")
        == before - 20000
        == balance(host_rig, card["account"])
    )
    r = await c.send(kit.financial(card, term, stan=2, pc="310000", pin=card["pin"]))
    assert r["39"] == "00" and kit.balance_54(r) == before - 20000
    await c.close()
    conserved(host_rig, totals)
    assert balance(host_rig, f"SETTLE-{term['terminal_id']}") == 20000


@pytest.mark.asyncio
async def test_purchase_refund_deposit(host_rig: Any, kit: Any) -> None:
    card, term = host_rig.card("visa-pvv-rich"), host_rig.terminal
    totals, before = host_rig.store.totals(), balance(host_rig, card["account"])
    c = await kit.connect(host_rig.port)
    r = await c.send(kit.financial(card, term, stan=1, pc="000000", amount=3000))  # POS, no PIN
    assert r["39"] == "00" and kit.balance_54(r) == before - 3000
    r = await c.send(kit.financial(card, term, stan=2, pc="200000", amount=1000))
    assert r["39"] == "00" and kit.balance_54(r) == before - 2000
    r = await c.send(kit.financial(card, term, stan=3, pc="210000", amount=50000, pin=card["pin"]))
    assert r["39"] == "00" and kit.balance_54(r) == before + 48000 == balance(
        host_rig, card["account"]
    )
    r = await c.send(
        kit.financial(card, term, stan=4, pc="210000", amount=500)
    )  # deposit needs a PIN
    assert r["39"] == "30"
    await c.close()
    conserved(host_rig, totals)


@pytest.mark.asyncio
async def test_transfer_between_own_and_other_accounts(host_rig: Any, kit: Any) -> None:
    card, term = host_rig.card("visa-pvv-rich"), host_rig.terminal
    other = host_rig.card("ibm-offset-poor")["account"]
    totals = host_rig.store.totals()
    src_before, dst_before = balance(host_rig, card["account"]), balance(host_rig, other)
    c = await kit.connect(host_rig.port)
    r = await c.send(
        kit.financial(
            card,
            term,
            stan=1,
            pc="401000",
            amount=7000,
            pin=card["pin"],
            extra={"102": card["account"], "103": other},
        )
    )
    assert r["39"] == "00" and kit.balance_54(r) == src_before - 7000
    assert balance(host_rig, other) == dst_before + 7000
    # Not the cardholder's account as the source: 57.
    r = await c.send(
        kit.financial(
            card,
            term,
            stan=2,
            pc="401000",
            amount=1,
            pin=card["pin"],
            extra={"102": other, "103": card["account"]},
        )
    )
    assert r["39"] == "57"
    # Missing field 103: format error.
    r = await c.send(
        kit.financial(
            card,
            term,
            stan=3,
            pc="401000",
            amount=1,
            pin=card["pin"],
            extra={"102": card["account"]},
        )
    )
    assert r["39"] == "30"
    r = await c.send(
        kit.financial(
            card,
            term,
            stan=4,
            pc="401000",
            amount=10**10,
            pin=card["pin"],
            extra={"102": card["account"], "103": other},
        )
    )
    assert r["39"] == "51"
    await c.close()
    conserved(host_rig, totals)


@pytest.mark.asyncio
async def test_mini_statement_lists_the_last_postings(host_rig: Any, kit: Any) -> None:
    card, term = host_rig.card("visa-pvv-rich"), host_rig.terminal
    c = await kit.connect(host_rig.port)
    for i, amount in enumerate((1000, 2000, 3000), start=1):
        assert (await c.send(kit.financial(card, term, stan=i, amount=amount, pin=card["pin"])))[
            "39"
        ] == "00"
    r = await c.send(kit.financial(card, term, stan=9, pc="380000", pin=card["pin"]))
    assert r["39"] == "00"
    entries = [r["48"][i : i + 19] for i in range(0, len(r["48"]), 19)]
    assert entries[:3] == ["112901D000000003000", "112901D000000002000", "112901D000000001000"]
    assert kit.balance_54(r) == balance(host_rig, card["account"])
    await c.close()


@pytest.mark.asyncio
async def test_pin_change_pvv_and_ibm(host_rig: Any, kit: Any) -> None:
    term = host_rig.terminal
    c = await kit.connect(host_rig.port)
    for label in ("visa-pvv-rich", "ibm-offset-poor"):
        card = host_rig.card(label)
        new = kit.pin_block(term["tpk"], "9753", card["pan"])
        r = await c.send(
            kit.financial(
                card,
                term,
                stan=1 if label.startswith("visa") else 11,
                pc="920000",
                pin=card["pin"],
                extra={"120": new},
            )
        )
        assert r["39"] == "00", label
        old = await c.send(
            kit.financial(
                card, term, stan=2 if label.startswith("visa") else 12, pc="310000", pin=card["pin"]
            )
        )
        assert old["39"] == "55", label
        fresh = await c.send(
            kit.financial(
                card, term, stan=3 if label.startswith("visa") else 13, pc="310000", pin="9753"
            )
        )
        assert fresh["39"] == "00", label
    # Wrong old PIN: 55 and the PIN is not changed.
    card = host_rig.card("unionpay-pvv")
    r = await c.send(
        kit.financial(
            card,
            term,
            stan=21,
            pc="920000",
            pin="0000",
            extra={"120": kit.pin_block(term["tpk"], "1111", card["pan"])},
        )
    )
    assert r["39"] == "55"
    r = await c.send(kit.financial(card, term, stan=22, pc="310000", pin=card["pin"]))
    assert r["39"] == "00"
    await c.close()


@pytest.mark.asyncio
async def test_authorisation_hold_completion_and_release(host_rig: Any, kit: Any) -> None:
    card, term = host_rig.card("unionpay-pvv"), host_rig.terminal
    totals, before = host_rig.store.totals(), balance(host_rig, card["account"])
    c = await kit.connect(host_rig.port)
    auth = kit.financial(
        card, term, stan=1, mti="0100", pc="000000", amount=10000, extra={"25": "06"}
    )
    r = await c.send(auth)
    assert (r["t"], r["39"]) == ("0110", "00")
    assert kit.balance_54(r, "01") == before and kit.balance_54(r) == before - 10000
    assert available(host_rig, card["account"]) == before - 10000
    # Completion for less than the hold: posts 8000, the hold is gone.
    comp = kit.financial(
        card,
        term,
        stan=2,
        mti="0220",
        pc="000000",
        amount=8000,
        extra={"90": "0100" + auth["11"] + auth["7"] + "0" * 22, "38": r["38"]},
    )
    r2 = await c.send(comp)
    assert (r2["t"], r2["39"]) == ("0230", "00")
    assert kit.balance_54(r2, "01") == kit.balance_54(r2) == before - 8000
    # A repeat advice (0221) is a duplicate: same answer, nothing posted twice.
    r3 = await c.send(comp | {"t": "0221"})
    assert r3["39"] == "00" and balance(host_rig, card["account"]) == before - 8000
    # A second authorisation, then its reversal releases the hold entirely.
    auth2 = kit.financial(card, term, stan=3, mti="0100", pc="000000", amount=5000)
    assert (await c.send(auth2))["39"] == "00"
    assert available(host_rig, card["account"]) == before - 13000
    rv = await c.send(kit.reversal(auth2, stan=4, mti="0400"))
    assert (rv["t"], rv["39"]) == ("0410", "00")
    assert (
        available(host_rig, card["account"]) == balance(host_rig, card["account"]) == before - 8000
    )
    # A hold beyond the available balance is 51.
    big = kit.financial(card, term, stan=5, mti="0100", pc="000000", amount=before)
    assert (await c.send(big))["39"] == "51"
    await c.close()
    conserved(host_rig, totals)


@pytest.mark.asyncio
async def test_reversal_full_partial_repeat_unknown_and_void(host_rig: Any, kit: Any) -> None:
    card, term = host_rig.card("visa-pvv-rich"), host_rig.terminal
    totals, before = host_rig.store.totals(), balance(host_rig, card["account"])
    c = await kit.connect(host_rig.port)
    wd = kit.financial(card, term, stan=1, amount=40000, pin=card["pin"])
    assert (await c.send(wd))["39"] == "00"
    # Partial: only 15000 dispensed, 25000 restored.
    r = await c.send(kit.reversal(wd, stan=2, actual=15000))
    assert (r["t"], r["39"]) == ("0430", "00")
    assert balance(host_rig, card["account"]) == before - 15000
    # Repeat (0421, same STAN) and an 0400 for the same original: nothing more moves.
    assert (await c.send(kit.reversal(wd, stan=2, mti="0421", actual=15000)))["t"] == "0430"
    assert (await c.send(kit.reversal(wd, stan=3, mti="0400", actual=15000)))["39"] == "00"
    assert balance(host_rig, card["account"]) == before - 15000
    # Then a full reversal restores the rest exactly once.
    assert (await c.send(kit.reversal(wd, stan=4)))["39"] == "00"
    assert (await c.send(kit.reversal(wd, stan=5)))["39"] == "00"
    assert balance(host_rig, card["account"]) == before
    # Reversal of an unknown transaction: acknowledged and recorded.
    ghost = kit.financial(card, term, stan=77, amount=999, pin=card["pin"])
    r = await c.send(kit.reversal(ghost, stan=6))
    assert r["39"] == "00"
    assert host_rig.store.journal(limit=1)[0]["reason"].startswith("original not found")
    # Void = reversal (0400) of an approved purchase; without field 90 the STAN names the original.
    buy = kit.financial(card, term, stan=8, pc="000000", amount=1234)
    assert (await c.send(buy))["39"] == "00"
    r = await c.send(kit.reversal(buy, stan=8, mti="0400", with_90=False))
    assert (r["t"], r["39"]) == ("0410", "00")
    assert balance(host_rig, card["account"]) == before
    await c.close()
    conserved(host_rig, totals)


@pytest.mark.asyncio
async def test_network_sign_on_off_echo_and_unknown(host_rig: Any, kit: Any) -> None:
    c = await kit.connect(host_rig.port)
    base = {"t": "0800", "7": "1129120000", "11": "000001", "41": host_rig.terminal["terminal_id"]}
    for code in ("001", "301", "002"):
        r = await c.send(base | {"70": code})
        assert (r["t"], r["39"], r["70"]) == ("0810", "00", code)
    assert (await c.send(base | {"70": "999"}))["39"] == "12"
    assert (await c.send(base | {"41": "NOSUCH01", "70": "001"}))["39"] == "03"
    await c.close()


@pytest.mark.asyncio
async def test_key_change_returns_tpk_under_tmk_and_host_uses_it(host_rig: Any, kit: Any) -> None:
    term = host_rig.terminal
    tmk = bytes(
        a ^ b for a, b in zip(*(bytes.fromhex(x) for x in term["tmk_components"]), strict=True)
    )
    c = await kit.connect(host_rig.port)
    r = await c.send(
        {
            "t": "0800",
            "7": "1129120000",
            "11": "000002",
            "41": term["terminal_id"],
            "70": "161",
            "48": "TPKTAK",
        }
    )
    assert r["39"] == "00" and len(r["48"]) == 82
    assert [r["48"][0:3], r["48"][41:44]] == ["TPK", "TAK"]
    new_tpk = tdes_decrypt_ecb(tmk, bytes.fromhex(r["48"][3:35]))
    assert tdes_encrypt_ecb(new_tpk, bytes(8)).hex().upper()[:6] == r["48"][35:41]
    card = host_rig.card("visa-pvv-rich")
    ok = await c.send(
        kit.financial(card, term, stan=3, pc="310000", pin=card["pin"], tpk=new_tpk.hex())
    )
    assert ok["39"] == "00"
    old = await c.send(kit.financial(card, term, stan=4, pc="310000", pin=card["pin"]))
    assert old["39"] != "00"
    await c.close()


@pytest.mark.asyncio
async def test_mac_required_terminal(host_rig: Any, kit: Any) -> None:
    term = host_rig.terminal
    tmk = bytes(
        a ^ b for a, b in zip(*(bytes.fromhex(x) for x in term["tmk_components"]), strict=True)
    )
    tak = tdes_decrypt_ecb(tmk, bytes.fromhex(term["tak_under_tmk"]))
    assert host_rig.store.update("terminals", term["terminal_id"], {"mac_required": 1})
    card = host_rig.card("visa-pvv-rich")
    c = await kit.connect(host_rig.port)
    req = kit.financial(card, term, stan=1, pc="310000", pin=card["pin"]) | {"64": "0" * 16}
    raw = bytes(iso8583.encode(req, default_ascii)[0])
    mac = mac_iso9797_alg3(tak, raw[:-16], padding=MacPadding.METHOD_1).hex().upper()
    r = await c.send_raw(raw[:-16] + mac.encode())
    assert r is not None and r["39"] == "00" and "64" in r
    expect = mac_iso9797_alg3(tak, r["_raw"][:-16], padding=MacPadding.METHOD_1).hex().upper()
    assert r["64"] == expect
    bad = await c.send_raw(raw[:-16] + b"0123456789ABCDEF")
    assert bad is not None and bad["39"] == "63" and "64" not in bad
    none = await c.send(kit.financial(card, term, stan=2, pc="310000", pin=card["pin"]))
    assert none["39"] == "63"
    await c.close()


@pytest.mark.asyncio
async def test_unsupported_processing_code_and_unknown_mti(host_rig: Any, kit: Any) -> None:
    card, term = host_rig.card("visa-pvv-rich"), host_rig.terminal
    c = await kit.connect(host_rig.port)
    assert (
        await c.send(kit.financial(card, term, stan=1, pc="500000", amount=5, pin=card["pin"]))
    )["39"] == "12"
    r = await c.send({"t": "0600", "11": "000002", "41": term["terminal_id"]})
    assert (r["t"], r["39"]) == ("0610", "12")
    await c.close()


def _clear_key(rig: Any, name: str, key_type: str) -> bytes:
    key_lmk = rig.store.get_row("keys", name)["key_lmk"]
    return VariantLmk.test().decrypt_key(key_type, key_lmk)


@pytest.mark.asyncio
async def test_dukpt_terminal_pin_verified_through_g0(host_rig: Any, kit: Any) -> None:
    term = host_rig.terminal
    assert host_rig.store.update(
        "terminals", term["terminal_id"], {"pin_mode": "dukpt", "bdk_name": "BDK1"}
    )
    bdk = _clear_key(host_rig, "BDK1", "009")
    ksn = "FFFF9876543210E00008"
    pin_key = derive_working_key_tdes(
        derive_transaction_key_tdes(bdk, bytes.fromhex(ksn)), TdesDukptKeyUsage.PIN
    )
    c = await kit.connect(host_rig.port)
    for label in ("visa-pvv-rich", "ibm-offset-poor"):
        card = host_rig.card(label)
        block = (
            tdes_encrypt_ecb(pin_key, encode_pinblock_iso_0(card["pin"], card["pan"])).hex().upper()
        )
        stan = 1 if label.startswith("visa") else 3
        r = await c.send(
            kit.financial(card, term, stan=stan, pc="310000", extra={"52": block, "62": ksn})
        )
        assert r["39"] == "00", label
        bad = tdes_encrypt_ecb(pin_key, encode_pinblock_iso_0("0000", card["pan"])).hex().upper()
        r = await c.send(
            kit.financial(card, term, stan=stan + 1, pc="310000", extra={"52": bad, "62": ksn})
        )
        assert r["39"] == "55", label
    card = host_rig.card("unionpay-pvv")  # no KSN: format error
    r = await c.send(kit.financial(card, term, stan=9, pc="310000", pin=card["pin"]))
    assert r["39"] == "30"
    await c.close()


@pytest.mark.asyncio
async def test_chip_arqc_verified_and_arpc_returned(host_rig: Any, kit: Any) -> None:
    card, term = host_rig.card("visa-pvv-rich"), host_rig.terminal
    imk = _clear_key(host_rig, "MKAC1", "109")
    tags = {
        0x9F02: bytes.fromhex("000000010000"),
        0x9F03: bytes(6),
        0x9F1A: bytes.fromhex("0156"),
        0x95: bytes(5),
        0x5F2A: bytes.fromhex("0156"),
        0x9A: bytes.fromhex("261129"),
        0x9C: b"\x01",
        0x9F37: bytes.fromhex("11223344"),
        0x82: bytes.fromhex("1800"),
        0x9F36: bytes.fromhex("0007"),
    }
    cvr = bytes.fromhex("03A00000")
    arqc = visa_cvn10_arqc(
        imk, card["pan"], "00", **{f"tag_{t:x}": v for t, v in tags.items()}, cvr=cvr
    )
    icc = {**tags, 0x9F10: bytes.fromhex("06010A") + cvr, 0x9F26: arqc, 0x5F34: b"\x00"}
    field55 = encode_tlv([Tlv(t, v) for t, v in icc.items()]).hex().upper()
    c = await kit.connect(host_rig.port)
    r = await c.send(
        kit.financial(card, term, stan=1, amount=10000, pin=card["pin"], extra={"55": field55})
    )
    assert r["39"] == "00"
    t91 = to_dict(decode_tlv(bytes.fromhex(r["55"])))[0x91]
    assert t91 == visa_cvn10_arpc(imk, card["pan"], "00", arqc=arqc, arc=b"00") + b"00"
    bad = dict(icc) | {0x9F26: bytes(8)}
    field55 = encode_tlv([Tlv(t, v) for t, v in bad.items()]).hex().upper()
    r = await c.send(
        kit.financial(card, term, stan=2, amount=10000, pin=card["pin"], extra={"55": field55})
    )
    assert r["39"] == "05"
    await c.close()
