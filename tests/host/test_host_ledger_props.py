"""Ledger invariants under random interleavings, and a fuzz test of live connections.

The HSM here is a stub that approves every PIN after yielding to the event loop, so concurrent
messages really interleave; everything else (codec, dispatcher, ledger rules, SQLite) is real.
Messages are built with pyiso8583 directly, not with the host's views.
"""

from __future__ import annotations

import asyncio
import struct
from dataclasses import dataclass
from typing import Any, cast

import iso8583
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from iso8583.specs import default_ascii

from host.auth.dispatch import MessageHandler
from host.auth.pipeline import Authoriser, default_participants
from host.seed import catalogue, load_demo, seed_store
from host.server import HostServer
from host.store.sqlite import SqliteStore
from hsm_sim.protocol import HsmResult, HsmService

DEMO = load_demo()
CAT = catalogue(DEMO)
TERM = CAT["terminals"][0]
CARDS = CAT["cards"]


class _ApprovingHsm:
    async def verify_terminal_pin_pvv(self, **_: Any) -> HsmResult:
        await asyncio.sleep(0)
        return HsmResult(error_code="00")

    async def verify_terminal_pin_ibm(self, **_: Any) -> HsmResult:
        await asyncio.sleep(0)
        return HsmResult(error_code="00")


def _rig() -> tuple[SqliteStore, MessageHandler]:
    store = SqliteStore(":memory:")
    seed_store(store, DEMO)
    hsm = cast(HsmService, _ApprovingHsm())
    return store, MessageHandler(
        authoriser=Authoriser(store, default_participants(store, hsm)), store=store, hsm=hsm
    )


def _fields(card: dict[str, Any], *, mti: str, stan: int, pc: str, amount: int) -> dict[str, str]:
    s = f"{stan:06d}"
    f = {
        "t": mti,
        "2": card["pan"],
        "3": pc,
        "4": f"{amount:012d}",
        "7": "1129120000",
        "11": s,
        "12": "120000",
        "13": "1129",
        "14": card["expiry"],
        "22": "021",
        "35": card["track2"],
        "37": f"33341200{s[-4:]}",
        "41": TERM["terminal_id"],
        "42": TERM["merchant_id"],
        "49": "156",
        "52": "0123456789ABCDEF",
    }
    return f


@dataclass(frozen=True)
class Op:
    kind: str  # withdraw, purchase, auth, duplicate, reverse, partial, repeat
    card: int
    amount: int
    target: int  # which earlier request a reversal/duplicate refers to


OPS = st.builds(
    Op,
    kind=st.sampled_from(
        ["withdraw", "purchase", "auth", "deposit", "duplicate", "reverse", "partial", "repeat"]
    ),
    card=st.integers(0, len(CARDS) - 1),
    amount=st.integers(1, 400_000),
    target=st.integers(0, 30),
)


async def _run_ops(ops: list[Op]) -> None:  # noqa: PLR0915 - one scenario
    store, handler = _rig()
    try:
        start = store.totals()
        sent: list[dict[str, str]] = []
        msgs: list[dict[str, str]] = []
        stan = 0
        for op in ops:
            stan += 1
            card = CARDS[op.card]
            if op.kind in ("withdraw", "purchase", "auth", "deposit"):
                pc = {
                    "withdraw": "010000",
                    "purchase": "000000",
                    "auth": "000000",
                    "deposit": "210000",
                }[op.kind]
                f = _fields(
                    card,
                    mti="0100" if op.kind == "auth" else "0200",
                    stan=stan,
                    pc=pc,
                    amount=op.amount,
                )
                sent.append(f)
                msgs.append(f)
            elif sent:
                orig = sent[op.target % len(sent)]
                if op.kind == "duplicate":
                    msgs.append(orig)
                    continue
                rev = {k: orig[k] for k in ("2", "3", "4", "7", "12", "13", "37", "41", "42", "49")}
                rev |= {
                    "t": "0421" if op.kind == "repeat" else "0420",
                    "11": f"{stan:06d}",
                    "90": orig["t"] + orig["11"] + orig["7"] + "0" * 22,
                }
                if op.kind == "partial":
                    rev["95"] = f"{int(orig['4']) // 3:012d}" + "0" * 30
                msgs.append(rev)
        raws = [bytes(iso8583.encode(dict(m), default_ascii)[0]) for m in msgs]
        replies = await asyncio.gather(*(handler.handle(r) for r in raws))
        for raw in replies:
            assert raw is not None
            doc, _ = iso8583.decode(bytearray(raw), default_ascii)
            assert doc["39"] in {"00", "51", "13"}, doc
        # Invariants: conservation, nothing negative, holds consistent.
        end = store.totals()
        assert end["balances"] == start["balances"]
        assert end["postings"] == 0
        assert end["negative_available"] == 0
        assert end["held"] == end["open_holds"]
        # Reversal idempotence: now reverse everything fully, twice; every customer ends where it
        # started except for deposits and withdrawals that were not reversed... so reverse all.
        stan += 1000
        for again in range(2):
            for orig in reversed(sent):  # newest first: each original finds its money back
                stan += 1
                rev = {k: orig[k] for k in ("2", "3", "4", "7", "12", "13", "37", "41", "42", "49")}
                rev |= {
                    "t": "0400",
                    "11": f"{stan:06d}",
                    "90": orig["t"] + orig["11"] + orig["7"] + "0" * 22,
                }
                raw = await handler.handle(bytes(iso8583.encode(rev, default_ascii)[0]))
                assert (
                    raw is not None
                    and iso8583.decode(bytearray(raw), default_ascii)[0]["39"] == "00"
                )
            if again == 0:
                snapshot = {
                    a["account_no"]: (a["balance"], a["held"]) for a in store.list_rows("accounts")
                }
        after = {a["account_no"]: (a["balance"], a["held"]) for a in store.list_rows("accounts")}
        assert after == snapshot
        for a in DEMO["accounts"]:
            bal, held = after[a["account_no"]]
            assert held == 0
            # A deposit reversal may be refused only if the money was spent since; otherwise exact.
            if not any(
                CARDS[o.card]["account"] == a["account_no"] and o.kind == "deposit" for o in ops
            ):
                assert bal == a["balance"], a["account_no"]
        assert store.totals()["balances"] == start["balances"]
    finally:
        store.close()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops=st.lists(OPS, min_size=1, max_size=25))
def test_ledger_invariants_under_random_interleavings(ops: list[Op]) -> None:
    asyncio.run(_run_ops(ops))


# ------------------------------------------------------------------------------------------------
def _mutated(base: dict[str, str], key: str, value: str) -> bytes:
    max_len = int(cast(int, default_ascii[key]["max_len"]))
    if default_ascii[key]["len_type"] == 0:
        value = (value * max_len)[:max_len]
    return bytes(iso8583.encode(base | {key: value[:max_len]}, default_ascii)[0])


FRAMES = st.one_of(
    st.binary(min_size=1, max_size=300),
    st.builds(
        lambda mti, tail: mti + tail,
        st.sampled_from([b"0200", b"0100", b"0420", b"0800", b"0220"]),
        st.binary(max_size=200),
    ),
    st.builds(
        _mutated,
        st.just(_fields(CARDS[0], mti="0200", stan=1, pc="010000", amount=100)),
        st.sampled_from(
            ["3", "4", "7", "11", "13", "14", "22", "35", "41", "49", "52", "90", "95", "102"]
        ),
        st.text(alphabet="0123456789ABCDEFZ=", min_size=1, max_size=20),
    ),
)


async def _fuzz(frames: list[bytes]) -> None:
    store, handler = _rig()
    server = HostServer(handler)
    port = await server.start("127.0.0.1", 0)
    try:
        start = store.totals()
        for body in frames:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(struct.pack(">H", len(body)) + body)
            await writer.drain()
            try:
                head = await asyncio.wait_for(reader.readexactly(2), 5)
                raw = await reader.readexactly(struct.unpack(">H", head)[0])
                doc, _ = iso8583.decode(bytearray(raw), default_ascii)
                assert doc["39"] in {
                    "00",
                    "03",
                    "12",
                    "13",
                    "14",
                    "30",
                    "51",
                    "55",
                    "57",
                    "62",
                    "75",
                }, doc
            except asyncio.IncompleteReadError:
                pass  # a clean close
            writer.close()
        end = store.totals()
        assert (
            end["balances"] == start["balances"]
            and end["postings"] == 0
            and end["held"] == end["open_holds"]
        )
        # Still serving.
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        body = bytes(
            iso8583.encode(
                _fields(CARDS[0], mti="0200", stan=999, pc="310000", amount=0), default_ascii
            )[0]
        )
        writer.write(struct.pack(">H", len(body)) + body)
        head = await asyncio.wait_for(reader.readexactly(2), 5)
        doc, _ = iso8583.decode(
            bytearray(await reader.readexactly(struct.unpack(">H", head)[0])), default_ascii
        )
        assert doc["39"] == "00"
        writer.close()
    finally:
        await server.close()
        store.close()


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(frames=st.lists(FRAMES, min_size=1, max_size=8))
def test_fuzzed_live_connections_never_crash_nor_post_partially(frames: list[bytes]) -> None:
    asyncio.run(_fuzz(frames))
