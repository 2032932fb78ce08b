"""Chip withdrawals end to end over the real PC/SC path, with no fakes.

terminal (TerminalRuntime, headless, ``chip_reader = "pcsc://Virtual PCD 00 00"``)
  --pyscard--> pcscd (our child) --vpcd--> ``sst card serve PROFILE`` (a process per visit)
terminal --TCP ISO 8583--> host process --TCP payShield KW--> HSM process
host --SQLite--> ledger seeded with the card profiles (issuer MK-AC under the LMK)

Each approving profile: first GENERATE AC (ARQC) -> field 55 -> host checks the ARQC through
the HSM -> tag 91 -> EXTERNAL AUTHENTICATE + second GENERATE AC (TC) -> cash -> ledger debit.
Declining / fallback profiles get their outcome; faults run over the same path.

pcscd and vsmartcard-vpcd must be installed: a missing one FAILS this module.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from smartcard.Exceptions import CardConnectionException, NoCardException
from smartcard.System import readers

from devices.cardreader.pcsc import list_readers
from devices.profiles import default_profiles_dir
from host.store.sqlite import SqliteStore
from sst.common.procs import ServiceProcess, sst_command
from sst.common.tlv import decode_tlv, to_dict
from sst.stack import EmulatedStack
from terminal.customer import CardSpec, ScriptedCustomer, Visit, VisitResult
from terminal.runtime import TerminalRuntime, card_from_spec

pytestmark = pytest.mark.e2e

PCSCD_SOCKET = Path("/run/pcscd/pcscd.comm")
PCSCD_PIDFILE = Path("/run/pcscd/pcscd.pid")
VPCD_DRIVER = Path("/usr/lib/pcsc/drivers/serial/libifdvpcd.so")
VPCD_READER = "Virtual PCD 00 00"
AMOUNT = 50000  # CNY 500.00: one of the terminal's amount keys


def _ppid(pid: int) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(stat.rsplit(")", 1)[1].split()[1])


@pytest.fixture(scope="module")
def pcscd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """pcscd as our child (stopped by pid); reuses one the PC/SC device tests of this same
    pytest process started (its parent is us), refuses anyone else's."""
    exe = shutil.which("pcscd") or ("/usr/sbin/pcscd" if Path("/usr/sbin/pcscd").exists() else None)
    if exe is None:
        pytest.fail("pcscd is not installed: apt-get install pcscd vsmartcard-vpcd")
    if not VPCD_DRIVER.exists():
        pytest.fail(f"vsmartcard-vpcd is not installed ({VPCD_DRIVER} missing)")
    try:
        other = int(PCSCD_PIDFILE.read_text().strip())
    except (OSError, ValueError):
        other = 0
    if other and _ppid(other) is not None:
        if _ppid(other) != os.getpid():
            pytest.fail(f"another pcscd is already running (pid {other}); stop it first")
        yield other  # the session's own pcscd (tests/devices/pcsc): not ours to stop
        return
    log = tmp_path_factory.mktemp("pcscd") / "pcscd.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([exe, "-f"], stdout=out, stderr=subprocess.STDOUT)  # noqa: S603
    try:
        deadline = time.monotonic() + 10
        while not PCSCD_SOCKET.exists() or VPCD_READER not in list_readers():
            if proc.poll() is not None:
                pytest.fail(f"pcscd exited with {proc.returncode}: {log.read_text()[-2000:]}")
            if time.monotonic() > deadline:
                pytest.fail(f"pcscd did not list {VPCD_READER!r} within 10 s")
            time.sleep(0.02)
        yield proc.pid
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, 15)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.kill(proc.pid, 9)
                proc.wait()


@pytest.fixture(scope="module")
def chip_stack(tmp_path_factory: pytest.TempPathFactory, pcscd: int) -> Iterator[EmulatedStack]:
    del pcscd
    s = EmulatedStack(tmp_path_factory.mktemp("chipstack"), profiles_dir=default_profiles_dir(),
                      log_level="DEBUG")
    s.seed()
    s.start()
    try:
        yield s
    finally:
        s.stop()


def _card(stack: EmulatedStack, profile: str) -> dict[str, Any]:
    return next(c for c in stack.catalogue["cards"] if c.get("profile") == profile)


def _balance(stack: EmulatedStack, account: str) -> int:
    store = SqliteStore(stack.db_path)
    try:
        acc = store.find_account(account)
        assert acc is not None
        return acc.balance
    finally:
        store.close()


def _chip_slot(stack: EmulatedStack, faults: tuple[str, ...], served: list[ServiceProcess],
               ) -> Callable[[Visit], Awaitable[Callable[[], Awaitable[None]]]]:
    """Start ``sst card serve PROFILE`` (connected to vpcd) before the card goes in; stop it by
    pid when the card comes back."""
    async def slot(v: Visit) -> Callable[[], Awaitable[None]]:
        args = ["card", "serve", v.chip_profile, "--state-dir", str(stack.data_dir / "cards"),
                "--log-level", "DEBUG"]
        for f in faults:
            args += ["--fault", f]
        proc = ServiceProcess(f"card-{v.chip_profile}", sst_command(*args),
                              log_path=stack.data_dir / f"card-{v.chip_profile}.log")
        await asyncio.to_thread(proc.start)
        served.append(proc)

        async def take() -> None:
            await asyncio.to_thread(proc.stop)
            # The next visit's card must not meet this one's removal still in flight in pcscd.
            await asyncio.to_thread(_wait_slot_empty)
        return take
    return slot


def _wait_slot_empty(timeout: float = 10.0) -> None:
    """Block until pcscd reports no card in the vpcd slot (the card process was stopped)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        reader = next((r for r in readers() if str(r) == VPCD_READER), None)
        if reader is None:
            return
        conn = reader.createConnection()
        try:
            conn.connect()
        except (NoCardException, CardConnectionException):
            return
        conn.disconnect()
        time.sleep(0.05)
    raise AssertionError("pcscd still sees a card in the vpcd slot after the card was stopped")


class Run:
    """One visit's outcome: the result, the runtime, the ISO 8583 requests and answers the
    terminal exchanged with the real host (recorded on the real client), and the time."""

    def __init__(self, res: VisitResult, rt: TerminalRuntime, wire: list[tuple[dict[str, str],
                 dict[str, str]]], elapsed: float) -> None:
        self.res, self.rt, self.wire, self.elapsed = res, rt, wire, elapsed

    @property
    def financial(self) -> tuple[dict[str, str], dict[str, str]]:
        [pair] = [(q, a) for q, a in self.wire if q["t"] == "0200"]
        return pair


async def _withdraw(stack: EmulatedStack, profile: str, *, faults: tuple[str, ...] = (),
                    chip_fallback: bool = True) -> Run:
    c = _card(stack, profile)
    card = CardSpec(pan=c["pan"], expiry=c["expiry"], service_code=c["service_code"],
                    discretionary=c["track2"].split("=", 1)[1][7:])
    served: list[ServiceProcess] = []
    rt = TerminalRuntime(stack.terminal_config(
        headless=True, screenshots=False, chip_reader=f"pcsc://{VPCD_READER}",
        chip_fallback=chip_fallback))
    await rt.start()
    wire: list[tuple[dict[str, str], dict[str, str]]] = []
    real = rt.host.request

    async def recorded(fields: dict[str, str], **kw: Any) -> dict[str, str]:
        answer = await real(fields, **kw)
        wire.append((dict(fields), dict(answer)))
        return answer
    rt.host.request = recorded  # type: ignore[method-assign]  # a tap on the real client
    try:
        assert rt.keypad is not None
        customer = ScriptedCustomer(rt.model, rt.reader, rt.keypad, step_timeout=30,
                                    card_factory=card_from_spec,
                                    chip_slot=_chip_slot(stack, faults, served))
        t0 = time.perf_counter()
        visit = Visit(label=profile, card=card, pin=c["pin"], action="withdrawal", amount=AMOUNT,
                      chip_profile=profile)
        res = await customer.visit(visit)
        elapsed = time.perf_counter() - t0
        assert await rt.saf.drain(timeout=20)
    finally:
        await rt.stop()
        for p in served:  # by pid, whatever happened
            p.stop()
    return Run(res, rt, wire, elapsed)


def _events(run: Run) -> dict[str, dict[str, Any]]:
    return {e["event"]: e for e in run.rt.model.journal.read()}


def _tags(field55: str) -> dict[int, bytes]:
    return to_dict(decode_tlv(bytes.fromhex(field55)))


APPROVE = ["visa-cvn10", "visa-cvn18", "mastercard-cvn16", "unionpay-pboc", "dual-app-choice",
           "high-risk-customer", "class2-account", "mastercard-offline-pin", "visa-signature"]
#: tag 91 length per CVN: ARPC method 1 = ARPC(8) || ARC(2); method 2 = ARPC(4) || CSU(4)
ISSUER_AUTH_LEN = {"visa-cvn10": 10, "visa-cvn18": 8, "mastercard-cvn16": 10, "pboc-cvn01": 10}


@pytest.mark.asyncio
@pytest.mark.parametrize("profile", APPROVE)
async def test_chip_withdrawal_approved_over_pcscd(chip_stack: EmulatedStack, profile: str) -> None:
    c = _card(chip_stack, profile)
    before = _balance(chip_stack, c["account"])
    run = await _withdraw(chip_stack, profile)
    ev = _events(run)
    assert run.res.response_code == "00", ev
    req, resp = run.financial
    assert req["22"] == "051" and req["2"] == c["pan"]
    first = _tags(req["55"])
    assert first[0x9F27] == b"\x80"  # ARQC
    # The host checked the ARQC through the HSM and answered the ARPC in tag 91 ...
    issuer = _tags(resp["55"])[0x91]
    cvn = c["chip"]["cvn"] if profile != "dual-app-choice" else (
        "visa-cvn18" if first[0x84].hex().upper().startswith("A000000003") else "pboc-cvn01")
    assert len(issuer) == ISSUER_AUTH_LEN[cvn]
    # ... which the card accepted: second GENERATE AC gave a TC, no reversal.
    assert ev["chip_first_ac"]["outcome"] == "onlineRequest"
    assert ev["chip_second_ac"]["outcome"] == "approved" and not ev["chip_second_ac"]["reversal"]
    assert [q["t"] for q, _ in run.wire] == ["0200"]
    assert sum(d * n for d, n in run.res.notes) == AMOUNT
    assert _balance(chip_stack, c["account"]) == before - AMOUNT
    print(f"\n{profile}: chip withdrawal over pcscd in {run.elapsed * 1000:.0f} ms")


@pytest.mark.asyncio
@pytest.mark.parametrize(("profile", "rc", "online"), [
    ("blocked-app", None, False),          # every application answers SELECT 6283
    ("pin-exhausted", None, None),         # the card's PIN try counter is 0
    ("expired-id-customer", "62", True),   # ARQC fine, the risk engine declines (ID expired)
])
async def test_chip_declines(chip_stack: EmulatedStack, profile: str, rc: str | None,
                             online: bool | None) -> None:
    c = _card(chip_stack, profile)
    before = _balance(chip_stack, c["account"])
    run = await _withdraw(chip_stack, profile)
    ev = _events(run)
    print(f"\n{profile}: rc {run.res.response_code}, "
          f"wire {[(q['t'], a.get('39')) for q, a in run.wire]}")
    assert run.res.response_code != "00", ev
    if rc is not None:
        assert run.res.response_code == rc, ev
    if online is not None:
        assert bool(run.wire) is online, ev
    if run.wire:  # the host declined after checking the ARQC: the card ends with an AAC
        req, resp = run.financial
        assert req["22"] == "051" and 0x91 in _tags(resp["55"])
        assert ev["chip_second_ac"]["outcome"] == "declined"
    assert run.res.notes == ()
    assert _balance(chip_stack, c["account"]) == before


@pytest.mark.asyncio
async def test_expired_card_is_refused_before_the_chip(chip_stack: EmulatedStack) -> None:
    c = _card(chip_stack, "expired-card")
    before = _balance(chip_stack, c["account"])
    run = await _withdraw(chip_stack, "expired-card")
    assert run.res.response_code == "--" and run.wire == []
    assert _events(run)["card_bad"]["reason"] == "expired"
    assert _balance(chip_stack, c["account"]) == before


@pytest.mark.asyncio
@pytest.mark.parametrize(("profile", "faults"), [
    ("chip-fails-fallback", ()),            # the profile's default fault: mute
    ("visa-cvn10", ("mute",)),
    ("corrupt-atr", ()),
])
async def test_failing_chip_falls_back_to_magstripe(chip_stack: EmulatedStack, profile: str,
                                                    faults: tuple[str, ...]) -> None:
    c = _card(chip_stack, profile)
    before = _balance(chip_stack, c["account"])
    run = await _withdraw(chip_stack, profile, faults=faults)
    req, resp = run.financial
    assert req["22"] == "801" and "55" not in req and req["35"] == c["track2"]
    assert resp["39"] == "00" and run.res.response_code == "00"
    assert _balance(chip_stack, c["account"]) == before - AMOUNT


@pytest.mark.asyncio
async def test_mute_chip_without_fallback_is_refused(chip_stack: EmulatedStack) -> None:
    c = _card(chip_stack, "chip-fails-fallback")
    before = _balance(chip_stack, c["account"])
    run = await _withdraw(chip_stack, "chip-fails-fallback", chip_fallback=False)
    assert run.res.response_code != "00" and run.res.notes == ()
    assert _balance(chip_stack, c["account"]) == before


@pytest.mark.asyncio
async def test_card_pulled_during_second_generate_ac_is_reversed(chip_stack: EmulatedStack) -> None:
    """The host approved and debited; the card leaves during the second GENERATE AC: no cash,
    a reversal goes to the host and the ledger is back where it was."""
    c = _card(chip_stack, "visa-cvn18")
    before = _balance(chip_stack, c["account"])
    run = await _withdraw(chip_stack, "visa-cvn18", faults=("pull-on-second-ac",))
    ev = _events(run)
    _, resp = run.financial
    assert resp["39"] == "00"  # the host had authorised (and debited)
    assert run.res.response_code != "00" and "dispense" not in run.res.states
    assert ev["chip_second_ac"]["reversal"] is True
    [(rev, ack)] = [(q, a) for q, a in run.wire if q["t"] in ("0400", "0420", "0421")]
    assert ack["39"] == "00" and rev["11"] != resp["11"]
    assert _balance(chip_stack, c["account"]) == before


@pytest.mark.asyncio
async def test_card_pulled_during_first_generate_ac_is_not_authorised(
        chip_stack: EmulatedStack) -> None:
    c = _card(chip_stack, "mastercard-cvn16")
    before = _balance(chip_stack, c["account"])
    run = await _withdraw(chip_stack, "mastercard-cvn16", faults=("pull-on-generate-ac",))
    assert run.wire == [] and "dispense" not in run.res.states
    assert "declined" in run.res.states and run.res.response_code == "06"
    assert _events(run)["chip_first_ac"]["outcome"] == "cardRemoved"
    assert _balance(chip_stack, c["account"]) == before


def test_the_hsm_served_kw(chip_stack: EmulatedStack) -> None:
    """Runs last: the ARQCs above went through the HSM process's KW command."""
    lines = (chip_stack.data_dir / "hsm.log").read_text(encoding="utf-8").splitlines()
    kw = [json.loads(x) for x in lines if x.startswith("{") and '"KW"' in x]
    ok = [x for x in kw if x.get("msg") == "hsm command" and x.get("error_code") == "00"]
    assert len(ok) >= len(APPROVE)
