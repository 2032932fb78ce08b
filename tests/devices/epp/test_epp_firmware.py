"""The emulated firmware in process: a host-side EppConnection drives it, the clock is fake."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from devices.epp import messages as m
from devices.epp.base import (
    AmountEntryResult,
    EppErrorCode,
    FdkEvent,
    KeyAlgorithm,
    KeyUsage,
    PinEntryOutcome,
    PinEntryResult,
    TamperStatus,
)
from devices.epp.codec import Ack, EppConnection, Frame, FrameType, Nak, NeedData, Role
from devices.epp.firmware import EntryMode, EppFirmware, Fault, MemoryKeyStore
from devices.epp.keystore import FileKeyStore
from hsm_sim.crypto import (
    adjust_key_parity,
    decipher_pinblock,
    kcv_aes_cmac,
    kcv_tdes,
    tdes_encrypt_ecb,
    xor_bytes,
)

C1 = adjust_key_parity(bytes.fromhex("0123456789ABCDEF0123456789ABCDEF"))
C2 = adjust_key_parity(bytes.fromhex("1111111111111111FEDCBA9876543210"))
TMK = adjust_key_parity(xor_bytes(C1, C2))
TPK = adjust_key_parity(bytes.fromhex("00112233445566778899AABBCCDDEEFF"))
AES_PK = bytes.fromhex("3F419E1CB7079442AA37474C2EFBF8B8")
PAN = "4012345678909"


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class Host:
    """Host end in memory: sends commands, collects replies and events."""

    def __init__(self, fw: EppFirmware) -> None:
        self.fw = fw
        self.conn = EppConnection(Role.HOST)
        self.seq = 0
        self.events: list[object] = []
        self.link: list[object] = []

    def pump(self) -> list[Frame]:
        self.conn.receive_data(self.fw.data_to_send())
        replies = []
        while not isinstance(ev := self.conn.next_event(), NeedData):
            if isinstance(ev, Frame) and ev.type is FrameType.EVENT:
                self.events.append(m.decode_event(ev))
            elif isinstance(ev, Frame):
                replies.append(ev)
            else:
                self.link.append(ev)
        return replies

    def call(self, cmd: m.Command) -> Frame:
        self.seq = self.seq % 9 + 1
        self.fw.receive_data(self.conn.send(m.command_frame(cmd, seq=self.seq)))
        (reply,) = self.pump()
        return reply


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def fw(clock: Clock) -> EppFirmware:
    return EppFirmware(keystore=MemoryKeyStore(), clock=clock)


@pytest.fixture
def host(fw: EppFirmware) -> Host:
    return Host(fw)


def _load_keys(host: Host) -> None:
    r = host.call(m.LoadTmkComponents(kcv=kcv_tdes(TMK).hex().upper(), components=(C1, C2)))
    assert r.fields == ("00", kcv_tdes(TMK).hex().upper())
    r = host.call(
        m.LoadWorkingKey(
            name="TPK",
            under="TMK",
            algorithm=KeyAlgorithm.TDES,
            usage=KeyUsage.PIN,
            encrypted_key=tdes_encrypt_ecb(TMK, TPK),
            kcv=kcv_tdes(TPK).hex().upper(),
        )
    )
    assert m.reply_code(r) is EppErrorCode.OK


def _entry(host: Host, fw: EppFirmware, min_len: int = 4) -> None:
    cmd = m.StartPinEntry(min_length=min_len, max_length=12, inter_key_ms=1000, total_ms=5000)
    assert m.reply_code(host.call(cmd)) is EppErrorCode.OK
    assert fw.entry_active


def test_full_flow_iso0(host: Host, fw: EppFirmware) -> None:
    _load_keys(host)
    _entry(host, fw)
    assert [fw.press(k) for k in "1234"] == [True] * 4
    assert fw.press("ENTER")
    host.pump()
    assert [getattr(e, "display", None) for e in host.events[:4]] == ["*"] * 4
    assert host.events[-1] == PinEntryResult(outcome=PinEntryOutcome.OK, digits=4)
    r = host.call(m.GetPinBlock(key_name="TPK", fmt="01", pan=PAN))
    assert decipher_pinblock(TPK, bytes.fromhex(r.fields[1]), PAN, "01") == "1234"


def test_iso4_under_aes_key(host: Host, fw: EppFirmware) -> None:
    _load_keys(host)
    r = host.call(
        m.LoadWorkingKey(
            name="TPKA",
            under="TMK",
            algorithm=KeyAlgorithm.AES,
            usage=KeyUsage.PIN,
            encrypted_key=tdes_encrypt_ecb(TMK, AES_PK),
            kcv=kcv_aes_cmac(AES_PK, 3).hex(),
        )
    )
    assert m.reply_code(r) is EppErrorCode.OK
    _entry(host, fw)
    for k in ["9", "8", "7", "6", "5", "ENTER"]:
        fw.press(k)
    r = host.call(m.GetPinBlock(key_name="TPKA", fmt="48", pan=PAN))
    assert decipher_pinblock(AES_PK, bytes.fromhex(r.fields[1]), PAN, "48") == "98765"
    r = host.call(m.GetPinBlock(key_name="TPKA", fmt="01", pan=PAN))
    assert m.reply_code(r) is EppErrorCode.KEY_USAGE


@pytest.mark.parametrize(
    ("cmd", "code"),
    [
        (m.LoadTmkComponents(kcv="000000", components=(C1, C2)), EppErrorCode.KCV_MISMATCH),
        (m.LoadTmkComponents(kcv="000000", components=(C1, C2[:8])), EppErrorCode.BAD_KEY_SIZE),
        (m.LoadTmkComponents(kcv="000000", components=(C1, bytes(16))), EppErrorCode.PARITY),
        (
            m.LoadWorkingKey(
                name="TPK",
                under="TMK",
                algorithm=KeyAlgorithm.TDES,
                usage=KeyUsage.PIN,
                encrypted_key=bytes(16),
                kcv="000000",
            ),
            EppErrorCode.TMK_REQUIRED,
        ),
        (m.GetPinBlock(key_name="TPK", fmt="01", pan=PAN), EppErrorCode.KEY_NOT_FOUND),
        (m.DeleteKey(name="NOPE"), EppErrorCode.KEY_NOT_FOUND),
    ],
)
def test_rejections(host: Host, cmd: m.Command, code: EppErrorCode) -> None:
    assert m.reply_code(host.call(cmd)) is code


def test_unknown_command_gets_error_reply(host: Host) -> None:
    host.fw.receive_data(host.conn.send(Frame(type=FrameType.COMMAND, seq=1, command="q")))
    (reply,) = host.pump()
    assert reply.fields == ("EB",)


def test_wrong_working_key_kcv(host: Host) -> None:
    _load_keys(host)
    r = host.call(
        m.LoadWorkingKey(
            name="TAK",
            under="TMK",
            algorithm=KeyAlgorithm.TDES,
            usage=KeyUsage.MAC,
            encrypted_key=tdes_encrypt_ecb(TMK, TPK),
            kcv="123456",
        )
    )
    assert m.reply_code(r) is EppErrorCode.KCV_MISMATCH
    assert [k.name for k in host.fw.key_infos()] == ["TMK", "TPK"]


def test_short_pin_enter_ignored_then_cancel(host: Host, fw: EppFirmware) -> None:
    _load_keys(host)
    _entry(host, fw)
    fw.press("1")
    fw.press("2")
    assert not fw.press("ENTER")
    assert fw.entry_active
    assert fw.press("CANCEL")
    host.pump()
    assert host.events[-1] == PinEntryResult(outcome=PinEntryOutcome.CANCELLED, digits=2)
    r = host.call(m.GetPinBlock(key_name="TPK", fmt="01", pan=PAN))
    assert m.reply_code(r) is EppErrorCode.NO_PIN


def test_clear_and_max_length(host: Host, fw: EppFirmware) -> None:
    cmd = m.StartPinEntry(min_length=4, max_length=4, inter_key_ms=1000, total_ms=5000)
    host.call(cmd)
    assert [fw.press(k) for k in "12345"] == [True] * 4 + [False]
    assert fw.press("CLEAR")
    assert not fw.press("ENTER")


def test_inter_key_timeout(host: Host, fw: EppFirmware, clock: Clock) -> None:
    _entry(host, fw)
    fw.press("1")
    assert fw.next_deadline() == pytest.approx(clock.now + 1.0)
    clock.now += 1.0
    fw.tick()
    host.pump()
    assert host.events[-1] == PinEntryResult(outcome=PinEntryOutcome.TIMEOUT, digits=1)
    assert not fw.entry_active


def test_total_timeout(host: Host, fw: EppFirmware, clock: Clock) -> None:
    _entry(host, fw)
    for _ in range(6):
        clock.now += 0.9
        fw.press("1")
    fw.tick()
    host.pump()
    assert host.events[-1].outcome is PinEntryOutcome.TIMEOUT  # type: ignore[attr-defined]


def test_tamper_zeroises(host: Host, fw: EppFirmware) -> None:
    _load_keys(host)
    _entry(host, fw)
    fw.press("1")
    fw.tamper()
    host.pump()
    assert host.events[-2] == PinEntryResult(
        outcome=PinEntryOutcome.ERROR, digits=1, error=EppErrorCode.TAMPERED
    )
    assert host.events[-1] == TamperStatus(tampered=True, count=1)
    assert fw.key_infos() == []
    status = m.decode_status(host.call(m.GetStatus()))
    assert status.tampered and status.device.value == "fraudAttempt" and status.key_count == 0
    r = host.call(m.LoadTmkComponents(kcv=kcv_tdes(TMK).hex(), components=(C1, C2)))
    assert m.reply_code(r) is EppErrorCode.TAMPERED
    assert m.reply_code(host.call(m.Initialize())) is EppErrorCode.OK
    _load_keys(host)


def test_duplicate_command_answered_from_cache(host: Host, fw: EppFirmware) -> None:
    wire = host.conn.send(
        m.command_frame(
            m.StartPinEntry(min_length=4, max_length=12, inter_key_ms=1000, total_ms=5000), seq=5
        )
    )
    fw.receive_data(wire)
    first = host.pump()
    fw.receive_data(wire)  # host missed the reply and resends the same frame
    again = host.pump()
    assert first == again and m.reply_code(again[0]) is EppErrorCode.OK  # not BUSY


def test_nak_makes_firmware_resend(host: Host, fw: EppFirmware) -> None:
    host.call(m.GetStatus())
    fw.receive_data(host.conn.send(Nak()))
    (again,) = host.pump()
    assert again.command == "S"


def test_faults(host: Host, fw: EppFirmware) -> None:
    fw.set_fault(Fault.NAK_STORM)
    fw.receive_data(host.conn.send(m.command_frame(m.GetStatus(), seq=1)))
    assert host.pump() == [] and host.link == [Nak()]
    fw.set_fault(Fault.SILENT)
    fw.receive_data(host.conn.send(m.command_frame(m.GetStatus(), seq=2)))
    assert fw.data_to_send() == b""
    fw.set_fault(Fault.GARBLED)
    fw.receive_data(host.conn.send(m.command_frame(m.GetStatus(), seq=3)))
    assert host.pump() == []  # reply garbled
    fw.receive_data(host.conn.send(Nak()))
    assert len(host.pump()) == 1  # resent clean
    assert Ack() in host.link


def test_key_file_persists_encrypted(tmp_path, clock: Clock) -> None:  # type: ignore[no-untyped-def]
    store = FileKeyStore(tmp_path / "epp-keys.json")
    fw1 = EppFirmware(keystore=store, clock=clock)
    _load_keys(Host(fw1))
    text = (tmp_path / "epp-keys.json").read_text()
    assert TPK.hex().upper() not in text and TMK.hex().upper() not in text
    fw2 = EppFirmware(keystore=FileKeyStore(tmp_path / "epp-keys.json"), clock=clock)
    assert fw2.key_infos() == fw1.key_infos()
    assert (tmp_path / "epp-keys.json.devkey").stat().st_mode & 0o777 == 0o600


# ---------------------------------------------------------------------------- DUKPT, amounts, FDKs


def _vectors(shared_dir: Path, kind: str) -> list[dict[str, Any]]:
    doc = json.loads((shared_dir / "vectors" / "payment-crypto.json").read_text())
    return [v for v in doc if v["kind"] == kind]


def test_tdes_dukpt_known_answers(shared_dir: Path, host: Host, fw: EppFirmware) -> None:
    """X9.24-1 A.4: IPEK from the vectors, PIN 1234, the first transactions' blocks."""
    (ipek_v,) = _vectors(shared_dir, "dukpt_tdes_ipek")
    ipek = bytes.fromhex(ipek_v["expected"]["ipek"])
    ksn0 = bytes.fromhex(ipek_v["inputs"]["ksn"])
    cmd = m.LoadDukptKey(name="DK", under=None, algorithm=KeyAlgorithm.TDES, key=ipek, ksn=ksn0,
                         kcv=kcv_tdes(ipek).hex())
    assert host.call(cmd).fields == ("00", "AF8C07")
    _entry(host, fw)
    for k in ["1", "2", "3", "4", "ENTER"]:
        fw.press(k)
    expected = {
        v["inputs"]["ksn"]: v["expected"]["encrypted_pinblock"]
        for v in _vectors(shared_dir, "dukpt_tdes_transaction")
        if v["inputs"]["ksn"].startswith(ipek_v["inputs"]["ksn"][:15])
    }
    pan = "4012345678909"  # the A.4 clear block 041274EDCBA9876F is PIN 1234 with this PAN
    seen = 0
    for counter in range(1, 10):
        r = host.call(m.GetPinBlock(key_name="DK", fmt="01", pan=pan))
        assert r.fields[0] == "00" and r.fields[2] == f"FFFF9876543210E{counter:05X}"
        if r.fields[2] in expected:
            assert r.fields[1] == expected[r.fields[2]]
            seen += 1
    assert seen >= 4


def test_aes_dukpt_known_answer(shared_dir: Path, host: Host, fw: EppFirmware) -> None:
    (ik_v,) = _vectors(shared_dir, "dukpt_aes_ik")
    ik = bytes.fromhex(ik_v["expected"]["initial_key"])
    ikid = bytes.fromhex(ik_v["inputs"]["initial_key_id"])
    cmd = m.LoadDukptKey(name="AK", under=None, algorithm=KeyAlgorithm.AES, key=ik,
                         ksn=ikid + bytes(4), kcv=kcv_aes_cmac(ik, 3).hex())
    assert m.reply_code(host.call(cmd)) is EppErrorCode.OK
    _entry(host, fw)
    for k in ["1", "2", "3", "4", "ENTER"]:
        fw.press(k)
    (first,) = [
        v for v in _vectors(shared_dir, "dukpt_aes_transaction")
        if v["inputs"]["ksn"] == ikid.hex().upper() + "00000001"
    ]
    r = host.call(m.GetPinBlock(key_name="AK", fmt="48", pan=PAN))
    assert r.fields[2] == first["inputs"]["ksn"]
    pin_key = bytes.fromhex(first["expected"]["pin_key_aes128"])
    assert decipher_pinblock(pin_key, bytes.fromhex(r.fields[1]), PAN, "48") == "1234"


def test_dukpt_ksn_survives_restart(tmp_path: Path, clock: Clock) -> None:
    ipek = bytes.fromhex("6AC292FAA1315B4D858AB3A3D7D5933A")
    path = tmp_path / "keys.json"
    fw1 = EppFirmware(keystore=FileKeyStore(path), clock=clock)
    h1 = Host(fw1)
    h1.call(m.LoadDukptKey(name="DK", under=None, algorithm=KeyAlgorithm.TDES, key=ipek,
                           ksn=bytes.fromhex("FFFF9876543210E00000"), kcv="AF8C07"))
    _entry(h1, fw1)
    for k in ["1", "2", "3", "4", "ENTER"]:
        fw1.press(k)
    assert h1.call(m.GetPinBlock(key_name="DK", fmt="01", pan=PAN)).fields[2].endswith("00001")
    assert ipek.hex().upper() not in path.read_text()
    fw2 = EppFirmware(keystore=FileKeyStore(path), clock=clock)
    (info,) = fw2.key_infos()
    assert info.ksn == "FFFF9876543210E00001"


def test_amount_entry_echoes_and_pin_entry_never_does(host: Host, fw: EppFirmware) -> None:
    cmd = m.StartAmountEntry(min_digits=1, max_digits=4, inter_key_ms=1000, total_ms=5000)
    assert m.reply_code(host.call(cmd)) is EppErrorCode.OK
    assert fw.entry_mode is EntryMode.AMOUNT
    pin_cmd = m.StartPinEntry(min_length=4, max_length=12, inter_key_ms=1000, total_ms=5000)
    assert m.reply_code(host.call(pin_cmd)) is EppErrorCode.BUSY
    assert [fw.press(k) for k in ["5", "0", "0", "0", "1", "ENTER"]] == [True] * 4 + [False, True]
    host.pump()
    digits = [e.event.display for e in host.events if isinstance(e, m.AmountKeyEvent)]
    assert digits == ["5", "0", "0", "0", ""]
    assert host.events[-1] == AmountEntryResult(outcome=PinEntryOutcome.OK, value="5000")
    r = host.call(m.GetPinBlock(key_name="TPK", fmt="01", pan=PAN))
    assert m.reply_code(r) in (EppErrorCode.KEY_NOT_FOUND, EppErrorCode.NO_PIN)
    host.events.clear()
    _entry(host, fw)
    assert m.reply_code(host.call(cmd)) is EppErrorCode.BUSY
    for k in ["7", "3", "9", "1", "ENTER"]:
        fw.press(k)
    wire = fw.data_to_send()
    host.conn.receive_data(wire)
    host.pump()
    assert not any(isinstance(e, m.AmountKeyEvent) for e in host.events)
    assert b"7391" not in wire and b"\x1c7\x03" not in wire


def test_timeout_and_cancel_end_amount_entry(host: Host, fw: EppFirmware, clock: Clock) -> None:
    cmd = m.StartAmountEntry(min_digits=1, max_digits=4, inter_key_ms=500, total_ms=5000)
    host.call(cmd)
    fw.press("1")
    clock.now += 1
    fw.tick()
    host.pump()
    assert host.events[-1] == AmountEntryResult(outcome=PinEntryOutcome.TIMEOUT)
    host.call(cmd)
    assert m.reply_code(host.call(m.CancelPinEntry())) is EppErrorCode.OK
    host.pump()
    assert host.events[-1] == AmountEntryResult(outcome=PinEntryOutcome.CANCELLED)


def test_fdks_and_dukpt_refused_by_w(host: Host, fw: EppFirmware) -> None:
    assert not fw.press("F3")
    host.call(m.EnableFdks(keys=("F3",)))
    assert fw.press("F3") and not fw.press("F4")
    host.pump()
    assert host.events == [FdkEvent(key="F3")]
    _load_keys(host)
    r = host.call(m.LoadWorkingKey(name="X", under="TMK", algorithm=KeyAlgorithm.TDES,
                                   usage=KeyUsage.DUKPT, encrypted_key=bytes(16), kcv="000000"))
    assert m.reply_code(r) is EppErrorCode.KEY_USAGE
