"""The host over real TCP, with the real software HSM verifying PINs (DC and DA).

The client side here is built directly on pyiso8583 and asyncio streams, not on the host's own
channel code, so a bug shared by both sides cannot hide.
"""

from __future__ import annotations

import asyncio
import struct
from typing import Any

import iso8583
import pytest
from iso8583.specs import default_ascii


async def exchange(port: int, fields: dict[str, str] | bytes) -> dict[str, Any] | None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        if isinstance(fields, bytes):
            body = fields
        else:
            raw, _ = iso8583.encode(dict(fields), default_ascii)
            body = bytes(raw)
        writer.write(struct.pack(">H", len(body)) + body)
        await writer.drain()
        head = await asyncio.wait_for(reader.readexactly(2), 10)
        n = struct.unpack(">H", head)[0]
        doc, _ = iso8583.decode(bytearray(await reader.readexactly(n)), default_ascii)
        return doc
    except asyncio.IncompleteReadError:
        return None
    finally:
        writer.close()


def balance_of(store: Any, account: str) -> int:
    acc = store.account(account)
    assert acc is not None
    return int(acc.balance)


@pytest.mark.asyncio
async def test_withdrawal_right_pin_debits_and_answers_balance(host_rig: Any) -> None:
    card = host_rig.card("visa-pvv-rich")
    before = balance_of(host_rig.store, card["account"])
    resp = await exchange(host_rig.port, host_rig.request(card, amount=50000).to_fields())
    assert resp is not None and resp["t"] == "0210" and resp["39"] == "00"
    assert len(resp["38"]) == 6
    assert balance_of(host_rig.store, card["account"]) == before - 50000
    assert resp["54"].endswith(f"C{before - 50000:012d}")


@pytest.mark.asyncio
async def test_ibm_offset_card_is_verified_with_da(host_rig: Any) -> None:
    card = host_rig.card("ibm-offset-poor")
    ok = await exchange(host_rig.port, host_rig.request(card, pc="310000", amount=0).to_fields())
    assert ok is not None and ok["39"] == "00"
    bad = await exchange(
        host_rig.port, host_rig.request(card, pin="9999", pc="310000", amount=0).to_fields()
    )
    assert bad is not None and bad["39"] == "55"


@pytest.mark.asyncio
async def test_wrong_pin_is_55_without_debit_and_third_is_75(host_rig: Any) -> None:
    card = host_rig.card("visa-pvv-lockable")
    before = balance_of(host_rig.store, card["account"])
    codes = []
    for _ in range(3):
        r = await exchange(host_rig.port, host_rig.request(card, pin="0000").to_fields())
        assert r is not None
        codes.append(r["39"])
    assert codes == ["55", "55", "75"]
    # Locked: even the right PIN is refused now, and nothing was ever debited.
    r = await exchange(host_rig.port, host_rig.request(card).to_fields())
    assert r is not None and r["39"] == "75"
    assert balance_of(host_rig.store, card["account"]) == before


@pytest.mark.asyncio
async def test_over_balance_is_51_and_no_debit(host_rig: Any) -> None:
    card = host_rig.card("ibm-offset-poor")
    before = balance_of(host_rig.store, card["account"])
    r = await exchange(host_rig.port, host_rig.request(card, amount=before + 100).to_fields())
    assert r is not None and r["39"] == "51" and "54" not in r
    assert balance_of(host_rig.store, card["account"]) == before


@pytest.mark.asyncio
async def test_unknown_card_is_14(host_rig: Any) -> None:
    card = dict(host_rig.card("visa-pvv-rich"))
    card["pan"] = "4000000000000002"
    card["track2"] = "4000000000000002=3012101"
    r = await exchange(host_rig.port, host_rig.request(card).to_fields())
    assert r is not None and r["39"] == "14"


@pytest.mark.asyncio
async def test_duplicate_is_answered_with_the_original_and_debited_once(host_rig: Any) -> None:
    card = host_rig.card("visa-pvv-rich")
    before = balance_of(host_rig.store, card["account"])
    req = host_rig.request(card, amount=10000)
    first = await exchange(host_rig.port, req.to_fields())
    again = await exchange(host_rig.port, req.to_fields())
    assert first is not None and again is not None
    assert first["39"] == again["39"] == "00" and first["38"] == again["38"]
    assert balance_of(host_rig.store, card["account"]) == before - 10000


@pytest.mark.asyncio
async def test_malformed_message_gets_30_and_host_keeps_serving(host_rig: Any) -> None:
    card = host_rig.card("visa-pvv-rich")
    # A 0200 whose field 4 is not numeric: decodes, fails the typed view.
    fields = host_rig.request(card).to_fields() | {"4": "00000000ABCD"}
    r = await exchange(host_rig.port, fields)
    assert r is not None and r["t"] == "0210" and r["39"] == "30"
    # A 0200 whose body is garbage after the MTI: does not decode at all.
    r = await exchange(host_rig.port, b"0200" + b"\xff" * 30)
    assert r is not None and r["t"] == "0210" and r["39"] == "30"
    # Missing PIN block.
    fields = host_rig.request(card).to_fields()
    del fields["52"]
    r = await exchange(host_rig.port, fields)
    assert r is not None and r["39"] == "30"
    # Not even an MTI: the connection is closed cleanly.
    assert await exchange(host_rig.port, b"\x00\x01garbage") is None
    # And the host still serves.
    r = await exchange(host_rig.port, host_rig.request(card, pc="310000", amount=0).to_fields())
    assert r is not None and r["39"] == "00"


@pytest.mark.asyncio
async def test_hsm_failure_is_96_and_nothing_moves(host_rig: Any) -> None:
    card = host_rig.card("visa-pvv-rich")
    before = balance_of(host_rig.store, card["account"])
    await host_rig.hsm_server.close()
    r = await exchange(host_rig.port, host_rig.request(card).to_fields())
    assert r is not None and r["39"] == "96"
    assert balance_of(host_rig.store, card["account"]) == before


@pytest.mark.asyncio
async def test_network_echo(host_rig: Any) -> None:
    r = await exchange(
        host_rig.port,
        {"t": "0800", "7": "1129120000", "11": "000001", "41": "ATM00001", "70": "301"},
    )
    assert r is not None and r["t"] == "0810" and r["39"] == "00"
