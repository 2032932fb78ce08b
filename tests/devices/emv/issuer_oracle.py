"""Test-only issuer side: check the ARQC from field 55 and build the ARPC with hsm_sim.crypto.

Loaded by path from the emv and pcsc conftests (the lead's host does this through the HSM).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from devices.emv.kernel import Candidate, OfflinePinResult, PresentPin
from devices.emv.scripts import build_script_command
from devices.profiles import TestCardProfile, load_issuer_keys
from devices.profiles.model import default_profiles_dir
from hsm_sim.crypto import (
    derive_common_session_key,
    derive_icc_mk_a,
    generate_arpc_1,
    generate_arqc,
    mastercard_cvn16_arqc,
    visa_cvn10_arpc,
    visa_cvn10_arqc,
    visa_cvn18_arpc,
    visa_cvn18_arqc,
)
from sst.common.tlv import Tlv, decode_tlv, encode_tlv, to_dict

_TAGS = ("9f02", "9f03", "9f1a", "95", "5f2a", "9a", "9c", "9f37", "82", "9f36")


def issuer_keys() -> dict[str, bytes]:
    kf = load_issuer_keys(default_profiles_dir().parent / "keys.toml")
    return {n: k.mk_ac for n, k in kf.issuers.items()}


def smi_keys() -> dict[str, bytes]:
    kf = load_issuer_keys(default_profiles_dir().parent / "keys.toml")
    return {n: k.mk_smi for n, k in kf.issuers.items()}


@dataclass(frozen=True)
class Authorisation:
    arqc_ok: bool
    issuer_auth_data: bytes


def authorise(profile: TestCardProfile, field55: bytes, *, approve: bool = True,
              corrupt_arpc: bool = False) -> Authorisation:
    """Verify the ARQC with the issuer MK-AC and compute tag 91 (method 1 or 2)."""
    d = to_dict(decode_tlv(field55))
    app = next(a for a in profile.applications if a.aid == d[0x84])
    mk = issuer_keys()[app.issuer]
    tags = {f"tag_{t}": d[int(t, 16)] for t in _TAGS}
    pan, psn = profile.pan, profile.psn
    arqc, iad = d[0x9F26], d[0x9F10]
    arc = b"00" if approve else b"05"
    cvn = app.cvn.value
    if cvn == "visa-cvn10":
        ok = visa_cvn10_arqc(mk, pan, psn, **tags, cvr=iad[3:7]) == arqc
        data = visa_cvn10_arpc(mk, pan, psn, arqc=arqc, arc=arc) + arc
    elif cvn == "visa-cvn18":
        ok = visa_cvn18_arqc(mk, pan, psn, **tags, tag_9f10=iad) == arqc
        csu = b"\x00\x80\x00\x00" if approve else bytes(4)
        data = visa_cvn18_arpc(mk, pan, psn, tag_9f36=d[0x9F36], arqc=arqc, csu=csu) + csu
    elif cvn == "mastercard-cvn16":
        ok = mastercard_cvn16_arqc(mk, pan, psn, **tags, cvr=iad[2:8]) == arqc
        data = generate_arpc_1(derive_icc_mk_a(mk, pan, psn), arqc, arc) + arc
    else:  # PBOC-style: common session key, data || CVR, ARPC method 1 with the session key
        sk = derive_common_session_key(derive_icc_mk_a(mk, pan, psn), d[0x9F36] + bytes(6))
        raw = b"".join(tags[f"tag_{t}"] for t in _TAGS) + iad[3:7]
        ok = generate_arqc(sk, raw) == arqc
        data = generate_arpc_1(sk, arqc, arc) + arc
    if corrupt_arpc:
        data = bytes([data[0] ^ 0xFF]) + data[1:]
    return Authorisation(arqc_ok=ok, issuer_auth_data=data)


def script_71(profile: TestCardProfile, field55: bytes, ins: int, *, p2: int = 0,
              data: bytes = b"", script_id: bytes = b"\x00\x00\x00\x01") -> bytes:
    """One issuer script template 71 with a MACed command."""
    d = to_dict(decode_tlv(field55))
    app = next(a for a in profile.applications if a.aid == d[0x84])
    cmd = build_script_command(ins, data, icc_mk_smi=app.icc_mk_smi, atc=d[0x9F36],
                               arqc=d[0x9F26], p2=p2)
    return encode_tlv(Tlv(0x71, children=(Tlv(0x9F18, script_id), Tlv(0x86, cmd))))


class TestCardholder:
    """Scripted cardholder; the test PIN pad builds the format-2 block itself."""

    __test__ = False

    def __init__(self, *, pin: str = "1234", choice: int | None = 0, online_pin: bool = True,
                 signature: bool = True) -> None:
        self.pin, self.choice, self._online, self._sig = pin, choice, online_pin, signature
        self.candidates: list[Candidate] = []
        self.asked_online_pin = 0
        self.offline_attempts = 0

    async def choose_application(self, candidates: Sequence[Candidate]) -> int | None:
        self.candidates = list(candidates)
        return self.choice

    async def online_pin(self) -> bool:
        self.asked_online_pin += 1
        return self._online

    async def offline_pin(self, present: PresentPin, tries_left: int | None) -> OfflinePinResult:
        del tries_left
        block = bytes.fromhex(f"2{len(self.pin):X}{self.pin}".ljust(16, "F"))
        self.offline_attempts += 1
        sw = await present(block)
        if sw == 0x9000:
            return OfflinePinResult.VERIFIED
        if sw in (0x6983, 0x6984, 0x63C0):
            return OfflinePinResult.BLOCKED
        return OfflinePinResult.FAILED

    async def signature(self) -> bool:
        return self._sig
