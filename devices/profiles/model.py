"""Card profile model and loader (TOML, one file per test card).

A profile names a test card once; from it come, consistently, the magstripe tracks (PVV and CVV
computed with ``hsm_sim.crypto``), the EMV personalisation of the virtual card (ICC master keys
derived from the issuer MK-AC/SMI/SMC of ``keys.toml``, records, AIP/AFL, CDOLs, CVM list,
counters) and the host's customer, account and card records. The schema is documented in
``docs/cards.md``. TEST KEYS AND CARDS ONLY.
"""

from __future__ import annotations

import calendar
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from devices.cardreader.track import Track1, Track2, build_track1, build_track2, luhn_valid
from devices.emv.cvn import CVNS, Cvn
from hsm_sim.crypto import (
    derive_icc_mk_a,
    derive_icc_mk_b,
    generate_cvv,
    generate_visa_pvv,
    kcv_tdes,
)
from sst.common.redact import Secret, mask_pan
from sst.common.tlv import Tlv, encode_tlv

__all__ = [
    "ChipApplication",
    "IssuerKeys",
    "ProfileError",
    "TestCardProfile",
    "default_profiles_dir",
    "load_card_profiles",
    "load_issuer_keys",
    "load_profiles",
]

WARNING = "TEST KEYS AND CARDS ONLY - never use in production"


class ProfileError(ValueError):
    """A profile or keys file is invalid; ``profile`` names the file."""

    def __init__(self, profile: str, message: str) -> None:
        super().__init__(f"{profile}: {message}")
        self.profile = profile
        self.message = message

    def __reduce__(self) -> tuple[object, ...]:
        return (type(self), (self.profile, self.message))


def default_profiles_dir() -> Path:
    """The shipped library: ``devices/profiles/cards``."""
    return Path(__file__).resolve().parent / "cards"


@dataclass(frozen=True, kw_only=True)
class IssuerKeys:
    """Clear issuer master keys (TEST ONLY); ``repr`` shows KCVs only."""

    name: str
    mk_ac: bytes = field(repr=False)
    mk_smi: bytes = field(repr=False)
    mk_smc: bytes = field(repr=False)

    @property
    def mk_ac_kcv(self) -> str:
        """KCV (6 hex) of the MK-AC."""
        return kcv_tdes(self.mk_ac).hex().upper()


@dataclass(frozen=True, kw_only=True)
class _KeyFile:
    issuers: dict[str, IssuerKeys]
    pvks: dict[str, bytes]
    cvks: dict[str, bytes]


def _key(hexs: object, where: str) -> bytes:
    try:
        k = bytes.fromhex(str(hexs))
    except ValueError:
        raise ProfileError(where, "key is not hex") from None
    if len(k) != 16:
        raise ProfileError(where, "key must be 16 bytes")
    return k


def load_issuer_keys(path: Path) -> _KeyFile:
    """Read ``keys.toml`` (issuer MK-AC/SMI/SMC, PVK, CVK; all TEST ONLY)."""
    raw = tomllib.loads(path.read_text(encoding="utf-8"))
    issuers = {
        n: IssuerKeys(name=n, mk_ac=_key(v["mk_ac"], n), mk_smi=_key(v["mk_smi"], n),
                      mk_smc=_key(v["mk_smc"], n))
        for n, v in raw.get("issuers", {}).items()
    }  # fmt: skip
    pvks = {n: _key(v["pvk"], n) for n, v in raw.get("pvks", {}).items()}
    cvks = {n: _key(v["cvk"], n) for n, v in raw.get("cvks", {}).items()}
    return _KeyFile(issuers=issuers, pvks=pvks, cvks=cvks)


# ---- scheme defaults (data) -----------------------------------------------------------------

_CDOL1 = "9F02069F03069F1A0295055F2A029A039C019F37049F35019F3403"
_CDOL2 = "8A029F02069F03069F1A0295055F2A029A039C019F3704"
# online PIN if unattended cash (else next) / plaintext offline PIN if supported (else next) /
# signature if supported (else next) / no CVM required
_CVM_DEFAULT = "00000000" "00000000" "4201" "4103" "5E03" "1F00"
_SCHEMES: dict[str, dict[str, str]] = {
    "visa": {"aid": "A0000000031010", "label": "VISA DEBIT", "app_version": "0096"},
    "mastercard": {"aid": "A0000000041010", "label": "MASTERCARD", "app_version": "0002"},
    "unionpay": {"aid": "A000000333010101", "label": "UNIONPAY DEBIT", "app_version": "0030"},
}
_ATR_T1 = "3B80800101"


@dataclass(frozen=True, kw_only=True)
class ChipApplication:
    """One EMV application's personalisation (what the virtual card holds).

    ``records`` maps ``(sfi, record)`` to the full ``70`` template. Keys are ICC keys already
    derived from the issuer keys; ``repr`` hides them.
    """

    aid: bytes
    label: str
    priority: int
    cvn: Cvn
    issuer: str
    aip: bytes
    afl: bytes
    pdol: bytes
    cdol1: bytes
    cdol2: bytes
    records: dict[tuple[int, int], bytes] = field(repr=False)
    icc_mk_ac: bytes = field(repr=False)
    icc_mk_smi: bytes = field(repr=False)
    icc_mk_smc: bytes = field(repr=False)
    lcol: int = 5
    ucol: int = 10
    blocked: bool = False


@dataclass(frozen=True, kw_only=True)
class TestCardProfile:
    """A test card: magstripe, chip personalisation and host records. PAN masked in ``repr``."""

    __test__ = False  # not a pytest test class despite the name

    id: str
    label: str
    scheme: str
    pan: str = field(repr=False)
    psn: str
    expiry: str  # YYMM
    effective: str  # YYMM
    service_code: str
    name: str = field(repr=False)
    pin: Secret[str] = field(repr=False)
    pvki: int
    pvv: str = field(repr=False)
    cvv: str = field(repr=False)
    icvv: str = field(repr=False)
    atr: bytes
    applications: tuple[ChipApplication, ...]
    faults: tuple[str, ...]
    atc: int
    pin_try_limit: int
    pin_tries: int
    host: dict[str, Any] = field(repr=False)

    @property
    def masked_pan(self) -> str:
        """First 6 + last 4."""
        return mask_pan(self.pan)

    @property
    def has_chip(self) -> bool:
        """False for magstripe-only cards."""
        return bool(self.applications)

    @property
    def discretionary(self) -> str:
        """Track discretionary data: PVKI, PVV, CVV, fill."""
        return f"{self.pvki}{self.pvv}{self.cvv}00000"

    @property
    def track2(self) -> Track2:
        """Track 2 as on the stripe."""
        return build_track2(self.pan, self.expiry, self.service_code, self.discretionary)

    @property
    def track1(self) -> Track1:
        """Track 1 as on the stripe."""
        return build_track1(self.pan, self.name, self.expiry, self.service_code, self.discretionary)

    @property
    def track2_equivalent(self) -> bytes:
        """Tag 57 (chip): PAN D YYMM SSS PVKI PVV iCVV, F-padded BCD."""
        s = f"{self.pan}D{self.expiry}{self.service_code}{self.pvki}{self.pvv}{self.icvv}"
        if len(s) % 2:
            s += "F"
        return bytes.fromhex(s)


def _bcd(digits: str) -> bytes:
    return bytes.fromhex(digits if len(digits) % 2 == 0 else "0" + digits)


def _cn(digits: str) -> bytes:
    return bytes.fromhex(digits + ("F" if len(digits) % 2 else ""))


def _last_day(yymm: str) -> str:
    return f"{calendar.monthrange(2000 + int(yymm[:2]), int(yymm[2:]))[1]:02d}"


def _rec(*objs: Tlv) -> bytes:
    return encode_tlv(Tlv(0x70, children=tuple(objs)))


def _application(
    src: str, p: dict[str, Any], app: dict[str, Any], prof: dict[str, Any], keys: _KeyFile,
    *, pan: str, psn: str, t2eq: bytes,
) -> ChipApplication:  # fmt: skip
    scheme = app.get("scheme", prof["scheme"])
    d = _SCHEMES[scheme]
    try:
        cvn = Cvn(app["cvn"])
    except (KeyError, ValueError):
        raise ProfileError(src, f"chip cvn must be one of {[c.value for c in Cvn]}") from None
    issuer = app.get("issuer", "")
    if issuer not in keys.issuers:
        raise ProfileError(src, f"unknown issuer key {issuer!r}")
    ik = keys.issuers[issuer]
    derive = derive_icc_mk_b if CVNS[cvn].mk_option == "B" else derive_icc_mk_a
    h = bytes.fromhex
    country = app.get("country", "0840")
    currency = app.get("currency", "0840")
    rec1 = _rec(Tlv(0x57, t2eq), Tlv(0x5F20, p["name"].encode()),
                Tlv(0x9F1F, b"0000000000"))  # fmt: skip
    rec2 = _rec(
        Tlv(0x5A, _cn(pan)), Tlv(0x5F24, h(p["expiry"] + _last_day(p["expiry"]))),
        Tlv(0x5F25, h(p.get("effective", "2401") + "01")), Tlv(0x5F28, h(country)),
        Tlv(0x5F34, _bcd(psn)), Tlv(0x9F07, h(app.get("auc", "FF00"))),
        Tlv(0x9F08, h(app.get("app_version", d["app_version"]))),
        Tlv(0x8C, h(app.get("cdol1", _CDOL1))), Tlv(0x8D, h(app.get("cdol2", _CDOL2))),
        Tlv(0x8E, h(app.get("cvm_list", _CVM_DEFAULT))),
        Tlv(0x9F0D, h(app.get("iac_default", "F040BC8000"))),
        Tlv(0x9F0E, h(app.get("iac_denial", "0040000000"))),
        Tlv(0x9F0F, h(app.get("iac_online", "F040BC9800"))),
        Tlv(0x9F42, h(currency)), Tlv(0x9F14, bytes((int(app.get("lcol", 5)),))),
        Tlv(0x9F23, bytes((int(app.get("ucol", 10)),))),
    )
    rec3 = _rec(Tlv(0x5F30, _bcd(p["service_code"])), Tlv(0x9F4A, b"\x82"))
    return ChipApplication(
        aid=h(app.get("aid", d["aid"])), label=app.get("label", d["label"]),
        priority=int(app.get("priority", 1)), cvn=cvn, issuer=issuer,
        aip=h(app.get("aip", "1C00")), afl=h("0801020010010100"),
        pdol=h(app.get("pdol", "9F35019F1A025F2A02")), cdol1=h(app.get("cdol1", _CDOL1)),
        cdol2=h(app.get("cdol2", _CDOL2)),
        records={(1, 1): rec1, (1, 2): rec2, (2, 1): rec3},
        icc_mk_ac=derive(ik.mk_ac, pan, psn), icc_mk_smi=derive_icc_mk_a(ik.mk_smi, pan, psn),
        icc_mk_smc=derive_icc_mk_a(ik.mk_smc, pan, psn),
        lcol=int(app.get("lcol", 5)), ucol=int(app.get("ucol", 10)),
        blocked=bool(app.get("blocked", False)),
    )  # fmt: skip


def _profile(path: Path, keys: _KeyFile) -> TestCardProfile:
    src = path.name
    try:
        p = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as e:
        raise ProfileError(src, f"bad TOML: {e}") from None
    for k in ("id", "scheme", "pan", "expiry", "service_code", "name", "pin"):
        if k not in p:
            raise ProfileError(src, f"missing {k!r}")
    pan, psn = str(p["pan"]), str(p.get("psn", "00"))
    if not luhn_valid(pan):
        raise ProfileError(src, "PAN fails the Luhn check")
    if p["scheme"] not in _SCHEMES:
        raise ProfileError(src, f"scheme must be one of {sorted(_SCHEMES)}")
    pvk = keys.pvks[p.get("pvk", "PVK-PROFILES")]
    cvk = keys.cvks[p.get("cvk", "CVK-PROFILES")]
    pvki = int(p.get("pvki", 1))
    pvv = generate_visa_pvv(pvk, pan, pvki, str(p["pin"]))
    cvv = generate_cvv(cvk, pan, p["expiry"], p["service_code"])
    icvv = generate_cvv(cvk, pan, p["expiry"], "999")
    t2eq = f"{pan}D{p['expiry']}{p['service_code']}{pvki}{pvv}{icvv}"
    t2eq_b = bytes.fromhex(t2eq + ("F" if len(t2eq) % 2 else ""))
    chip = p.get("chip", {})
    apps = tuple(
        _application(src, p, a, p, keys, pan=pan, psn=psn, t2eq=t2eq_b)
        for a in chip.get("applications", [])
    )
    host = p.get("host", {})
    cust = {"customer_id": f"P-{p['id']}", "name": p["name"], "risk": "LOW",
            "id_document_expiry": "2035-12-31", "kyc_status": "verified",
            **host.get("customer", {})}  # fmt: skip
    acct = {"account_no": host.get("account", {}).get("account_no", "63" + pan[-14:]),
            "customer_id": cust["customer_id"], "currency": "840", "balance": 100000,
            "account_class": "I", **host.get("account", {})}  # fmt: skip
    card = {"pan": pan, "psn": psn, "account_no": acct["account_no"], "expiry": p["expiry"],
            "service_code": p["service_code"], "pin_method": "pvv",
            "pvk_name": p.get("pvk", "PVK-PROFILES"), "pvki": pvki, "pvv": pvv,
            "cvk_name": p.get("cvk", "CVK-PROFILES"), "status": host.get("card_status", "active"),
            "label": p["id"]}  # fmt: skip
    return TestCardProfile(
        id=str(p["id"]), label=str(p.get("label", p["id"])), scheme=p["scheme"], pan=pan, psn=psn,
        expiry=p["expiry"], effective=p.get("effective", "2401"),
        service_code=p["service_code"], name=p["name"], pin=Secret(str(p["pin"])), pvki=pvki,
        pvv=pvv, cvv=cvv, icvv=icvv, atr=bytes.fromhex(chip.get("atr", _ATR_T1)),
        applications=apps, faults=tuple(chip.get("faults", [])),
        atc=int(chip.get("atc", 0)), pin_try_limit=int(chip.get("pin_try_limit", 3)),
        pin_tries=int(chip.get("pin_tries", chip.get("pin_try_limit", 3))),
        host={"customer": cust, "account": acct, "card": card},
    )  # fmt: skip


def load_card_profiles(directory: Path | str | None = None) -> list[TestCardProfile]:
    """Every ``*.toml`` profile in ``directory`` (default: the shipped library), sorted by id.

    Keys come from ``keys.toml`` in ``directory``, else the shipped one.
    """
    d = Path(directory) if directory is not None else default_profiles_dir()
    kf = d / "keys.toml"
    if not kf.is_file():
        kf = Path(__file__).resolve().parent / "keys.toml"
    keys = load_issuer_keys(kf)
    out = [_profile(f, keys) for f in sorted(d.glob("*.toml")) if f.name != "keys.toml"]
    ids = [p.id for p in out]
    if len(set(ids)) != len(ids):
        raise ProfileError(str(d), "duplicate profile ids")
    return sorted(out, key=lambda p: p.id)


def load_profiles(directory: Path | str | None = None) -> dict[str, Any]:
    """Plain data for the host seeder (schema in ``docs/cards.md``). TEST ONLY.

    Returns ``{"warning", "keys", "customers", "accounts", "cards"}``: ``keys`` maps a key
    name to ``{"usage", "clear", "kcv"}`` (clear TEST keys for the seeder to import under the
    LMK), and each card carries its ``chip`` block (``cvn``, ``aid``, ``mk_ac_name``,
    ``arpc_method``) or None, the PIN, both tracks and its fault defaults.
    """
    d = Path(directory) if directory is not None else default_profiles_dir()
    kf = d / "keys.toml"
    if not kf.is_file():
        kf = Path(__file__).resolve().parent / "keys.toml"
    keys = load_issuer_keys(kf)
    key_out: dict[str, dict[str, str]] = {}
    for n, ik in keys.issuers.items():
        for usage, k in (("MK-AC", ik.mk_ac), ("MK-SMI", ik.mk_smi), ("MK-SMC", ik.mk_smc)):
            key_out[f"{n}/{usage}"] = {"usage": usage, "clear": k.hex().upper(),
                                       "kcv": kcv_tdes(k).hex().upper()}  # fmt: skip
    for n, k in keys.pvks.items():
        key_out[n] = {"usage": "PVK", "clear": k.hex().upper(), "kcv": kcv_tdes(k).hex().upper()}
    for n, k in keys.cvks.items():
        key_out[n] = {"usage": "CVK", "clear": k.hex().upper(), "kcv": kcv_tdes(k).hex().upper()}
    customers, accounts, cards = [], [], []
    for p in load_card_profiles(d):
        customers.append(dict(p.host["customer"]))
        accounts.append(dict(p.host["account"]))
        chip = None
        if p.applications:
            a = p.applications[0]
            chip = {"cvn": a.cvn.value, "aid": a.aid.hex().upper(), "issuer": a.issuer,
                    "mk_ac_name": f"{a.issuer}/MK-AC", "arpc_method": CVNS[a.cvn].arpc_method,
                    "mk_option": CVNS[a.cvn].mk_option,
                    "applications": [x.aid.hex().upper() for x in p.applications]}  # fmt: skip
        cards.append({**p.host["card"], "pin": p.pin.reveal(), "track2": p.track2.encode(),
                      "track1": p.track1.encode(), "chip": chip, "faults": list(p.faults),
                      "profile": p.id, "description": p.label})  # fmt: skip
    return {"warning": WARNING, "keys": key_out, "customers": customers, "accounts": accounts,
            "cards": cards}  # fmt: skip
