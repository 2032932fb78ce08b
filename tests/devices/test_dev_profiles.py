"""Card profiles: the shipped library loads, is consistent, and feeds the host seeder."""

from __future__ import annotations

from pathlib import Path

import pytest

from devices.cardreader.track import parse_track1, parse_track2
from devices.profiles import ProfileError, load_card_profiles, load_profiles
from hsm_sim.crypto import derive_icc_mk_a, kcv_tdes, verify_visa_pvv
from sst.common.tlv import decode_tlv, to_dict

PROFILES = load_card_profiles()


def test_library_has_the_required_cards() -> None:
    ids = {p.id for p in PROFILES}
    assert len(ids) >= 15
    for needed in ("visa-cvn10", "visa-cvn18", "mastercard-cvn16", "unionpay-pboc",
                   "expired-card", "blocked-app", "pin-exhausted", "magstripe-only",
                   "chip-fails-fallback", "high-risk-customer", "expired-id-customer",
                   "class2-account"):
        assert needed in ids


@pytest.mark.parametrize("p", PROFILES, ids=lambda p: p.id)
def test_tracks_and_chip_agree(p) -> None:  # type: ignore[no-untyped-def]
    t2 = parse_track2(p.track2.raw())
    t1 = parse_track1(p.track1.raw())
    assert t2.pan == t1.pan == p.pan and t2.service_code == p.service_code
    assert p.pan not in repr(p)
    if not p.has_chip:
        assert p.service_code[0] not in "26"
        return
    assert p.service_code[0] in "26"
    for app in p.applications:
        rec = to_dict(decode_tlv(app.records[(1, 2)]))
        assert rec[0x5A].hex().upper().rstrip("F") == p.pan
        t2eq = to_dict(decode_tlv(app.records[(1, 1)]))[0x57].hex().upper().rstrip("F")
        assert t2eq.split("D")[1][:7] == p.expiry + p.service_code
        assert "ICC" not in repr(app) and app.icc_mk_ac.hex() not in repr(app)


def test_icc_key_derived_from_issuer_key() -> None:
    p = next(x for x in PROFILES if x.id == "visa-cvn10")
    mk = bytes.fromhex("0123456789ABCDEFFEDCBA9876543210")  # keys.toml ISS-VISA (TEST ONLY)
    assert kcv_tdes(p.applications[0].icc_mk_ac) == kcv_tdes(derive_icc_mk_a(mk, p.pan, p.psn))


def test_plain_data_for_the_seeder() -> None:
    d = load_profiles()
    assert d["warning"].startswith("TEST")
    assert {"ISS-VISA/MK-AC", "PVK-PROFILES", "CVK-PROFILES"} <= d["keys"].keys()
    cards = {c["profile"]: c for c in d["cards"]}
    assert cards["magstripe-only"]["chip"] is None
    assert cards["visa-cvn18"]["chip"]["arpc_method"] == 2
    customers = {c["customer_id"]: c for c in d["customers"]}
    assert customers["P-high-risk-customer"]["risk"] == "HIGH"
    accounts = {a["account_no"]: a for a in d["accounts"]}
    assert accounts[cards["class2-account"]["account_no"]]["account_class"] == "II"
    pvk = bytes.fromhex(d["keys"]["PVK-PROFILES"]["clear"])
    c = cards["visa-cvn10"]
    assert verify_visa_pvv(pvk, c["pan"], c["pvki"], c["pin"], c["pvv"])


def test_bad_profile_rejected(tmp_path: Path) -> None:
    (tmp_path / "bad.toml").write_text('id = "x"\nscheme = "visa"\npan = "4761739001010011"\n'
                                       'expiry = "3012"\nservice_code = "201"\nname = "A/B"\n'
                                       'pin = "1234"\n')
    with pytest.raises(ProfileError, match="Luhn"):
        load_card_profiles(tmp_path)
