"""EMV key derivation, ARQC and ARPC against the vectors and pyemv, with a KCV at each step."""

from __future__ import annotations

from typing import Any

import pyemv
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hsm_sim.crypto import CryptoError, KeyLengthError, kcv_tdes
from hsm_sim.crypto.emv import (
    derive_common_session_key,
    derive_icc_mk_a,
    derive_icc_mk_b,
    generate_arpc_1,
    generate_arpc_2,
    generate_arqc,
    mastercard_cvn16_arqc,
    mastercard_cvn17_arqc,
    visa_cvn10_arpc,
    visa_cvn10_arqc,
    visa_cvn18_arpc,
    visa_cvn18_arqc,
    visa_cvn22_arqc,
)

Vectors = dict[str, list[dict[str, Any]]]

# pyemv is a test-only oracle on cryptography's deprecated TripleDES.
pytestmark = pytest.mark.filterwarnings("ignore:.*TripleDES")

COUNTS = {"emv_arqc_arpc": 3, "emv_visa_cvn10": 1, "emv_visa_cvn18": 1}
TAGS = ("9f02", "9f03", "9f1a", "95", "5f2a", "9a", "9c", "9f37", "82", "9f36")


def h(s: str) -> bytes:
    return bytes.fromhex(s)


def kcv2(key: bytes) -> str:
    return kcv_tdes(key, 2).hex().upper()


def test_vector_counts(vectors: Vectors) -> None:
    assert {k: len(vectors[k]) for k in COUNTS} == COUNTS


@pytest.mark.parametrize("i", range(COUNTS["emv_arqc_arpc"]))
def test_emv_arqc_arpc(vectors: Vectors, i: int) -> None:
    v = vectors["emv_arqc_arpc"][i]
    inp, exp = v["inputs"], v["expected"]
    psn = inp["psn"] if inp["psn"].isdigit() else None
    derive = derive_icc_mk_a if inp["mk_derivation"] == "option A" else derive_icc_mk_b
    icc_mk = derive(h(inp["issuer_mk_ac"]), inp["pan"], psn)
    assert kcv2(icc_mk) == exp["icc_mk_kcv"]
    r = h(inp["session_key"].rpartition("R=")[2])
    sk = derive_common_session_key(icc_mk, r)
    assert kcv2(sk) == exp["session_key_kcv"]
    arqc = generate_arqc(sk, h(inp["ac_data"]), padding=2)
    assert arqc.hex().upper() == exp["arqc"]
    if inp["arpc_method"] == 1:
        key = icc_mk if inp["arpc_key"] == "ICC MK" else sk
        arpc = generate_arpc_1(key, arqc, h(inp["arc_or_csu"]))
    else:
        arpc = generate_arpc_2(sk, arqc, h(inp["arc_or_csu"]))
    assert arpc.hex().upper() == exp["arpc"]


def _tags(inp: dict[str, str]) -> dict[str, bytes]:
    return {f"tag_{t}": h(inp[f"tag_{t}"]) for t in TAGS}


@pytest.mark.parametrize("i", range(COUNTS["emv_visa_cvn10"]))
def test_emv_visa_cvn10(vectors: Vectors, i: int) -> None:
    v = vectors["emv_visa_cvn10"][i]
    inp, exp = v["inputs"], v["expected"]
    imk = h(inp["issuer_mk_ac"])
    assert kcv2(derive_icc_mk_a(imk, inp["pan"], inp["psn"])) == exp["icc_mk_kcv"]
    arqc = visa_cvn10_arqc(imk, inp["pan"], inp["psn"], **_tags(inp), cvr=h(inp["cvr"]))
    assert arqc.hex().upper() == exp["arqc"]
    arpc = visa_cvn10_arpc(imk, inp["pan"], inp["psn"], arqc=arqc, arc=h(inp["arc"]))
    assert arpc.hex().upper() == exp["arpc"]


@pytest.mark.parametrize("i", range(COUNTS["emv_visa_cvn18"]))
def test_emv_visa_cvn18(vectors: Vectors, i: int) -> None:
    v = vectors["emv_visa_cvn18"][i]
    inp, exp = v["inputs"], v["expected"]
    imk = h(inp["issuer_mk_ac"])
    sk = derive_common_session_key(derive_icc_mk_a(imk, inp["pan"], inp["psn"]),
                                   h(inp["tag_9f36"]) + bytes(6))
    assert kcv2(sk) == exp["session_key_kcv"]
    arqc = visa_cvn18_arqc(imk, inp["pan"], inp["psn"], **_tags(inp), tag_9f10=h(inp["tag_9f10"]))
    assert arqc.hex().upper() == exp["arqc"]
    assert visa_cvn22_arqc(imk, inp["pan"], inp["psn"], **_tags(inp),
                           tag_9f10=h(inp["tag_9f10"])) == arqc
    arpc = visa_cvn18_arpc(imk, inp["pan"], inp["psn"], tag_9f36=h(inp["tag_9f36"]), arqc=arqc,
                           csu=h(inp["csu"]))
    assert arpc.hex().upper() == exp["arpc"]


# fmt: off
EMV_EXCEPTION_CASES: list[tuple[Any, type[Exception], str]] = [
    (lambda: derive_icc_mk_a(bytes(8), "1234567890123456"), KeyLengthError,
     "issuer master key must be 16 bytes"),
    (lambda: derive_icc_mk_a(bytes(16), "12345678901234567890"), CryptoError,
     "PAN must be 1 to 19 digits"),
    (lambda: derive_icc_mk_a(bytes(16), "1234567890123456", "123"), CryptoError,
     "PSN must be 1 to 2 digits"),
    (lambda: derive_common_session_key(bytes(16), bytes(7)), CryptoError, "R must be 8 bytes"),
    (lambda: generate_arpc_1(bytes(16), bytes(8), bytes(3)), CryptoError, "ARC must be 2 bytes"),
    (lambda: generate_arpc_2(bytes(16), bytes(7), bytes(4)), CryptoError, "ARQC must be 8 bytes"),
    (lambda: generate_arpc_2(bytes(16), bytes(8), bytes(3)), CryptoError, "CSU must be 4 bytes"),
]
# fmt: on


@pytest.mark.parametrize(("call", "error", "message"), EMV_EXCEPTION_CASES)
def test_emv_exception(call: Any, error: type[Exception], message: str) -> None:
    with pytest.raises(error) as e:
        call()
    assert str(e.value) == message


imks = st.binary(min_size=16, max_size=16).filter(lambda k: k[:8] != k[8:])
pans = st.text("0123456789", min_size=12, max_size=19)
psns = st.text("0123456789", min_size=2, max_size=2)


@settings(max_examples=50)
@given(imk=imks, pan=pans, psn=psns, r=st.binary(min_size=8, max_size=8),
       data=st.binary(min_size=1, max_size=48), arc=st.binary(min_size=2, max_size=2),
       csu=st.binary(min_size=4, max_size=4))
def test_chain_matches_pyemv(  # noqa: PLR0917 - hypothesis arguments
    imk: bytes, pan: str, psn: str, r: bytes, data: bytes, arc: bytes,
                             csu: bytes) -> None:
    mk_a = derive_icc_mk_a(imk, pan, psn)
    assert kcv2(mk_a) == kcv2(pyemv.kd.derive_icc_mk_a(imk, pan, psn))
    mk_b = derive_icc_mk_b(imk, pan, psn)
    assert kcv2(mk_b) == kcv2(pyemv.kd.derive_icc_mk_b(imk, pan, psn))
    sk = derive_common_session_key(mk_a, r)
    assert kcv2(sk) == kcv2(pyemv.kd.derive_common_sk(mk_a, r))
    arqc = generate_arqc(sk, data)
    assert arqc == pyemv.ac.generate_ac(sk, data)
    assert generate_arpc_1(mk_a, arqc, arc) == pyemv.ac.generate_arpc_1(mk_a, arqc, arc)
    assert generate_arpc_2(sk, arqc, csu) == pyemv.ac.generate_arpc_2(sk, arqc, csu)


tag_values = st.fixed_dictionaries({
    "tag_9f02": st.binary(min_size=6, max_size=6), "tag_9f03": st.binary(min_size=6, max_size=6),
    "tag_9f1a": st.binary(min_size=2, max_size=2), "tag_95": st.binary(min_size=5, max_size=5),
    "tag_5f2a": st.binary(min_size=2, max_size=2), "tag_9a": st.binary(min_size=3, max_size=3),
    "tag_9c": st.binary(min_size=1, max_size=1), "tag_9f37": st.binary(min_size=4, max_size=4),
    "tag_82": st.binary(min_size=2, max_size=2), "tag_9f36": st.binary(min_size=2, max_size=2),
})


@settings(max_examples=30)
@given(imk=imks, pan=pans, psn=psns, tags=tag_values, cvr=st.binary(min_size=6, max_size=6),
       counters=st.binary(min_size=8, max_size=8), iad=st.binary(min_size=7, max_size=32))
def test_cvns_match_pyemv(  # noqa: PLR0917 - hypothesis arguments
    imk: bytes, pan: str, psn: str, tags: dict[str, bytes], cvr: bytes,
                          counters: bytes, iad: bytes) -> None:
    zero = bytes(16)
    visa10 = pyemv.cvn.VisaCVN10(imk, zero, zero, pan, psn)
    assert kcv2(visa10.icc_mk_ac) == kcv2(derive_icc_mk_a(imk, pan, psn))
    assert visa_cvn10_arqc(imk, pan, psn, **tags, cvr=cvr[:4]) == visa10.generate_ac(
        **tags, cvr=cvr[:4])
    visa18 = pyemv.cvn.VisaCVN18(imk, zero, zero, pan, psn)
    arqc = visa_cvn18_arqc(imk, pan, psn, **tags, tag_9f10=iad)
    assert arqc == visa18.generate_ac(**tags, tag_9f10=iad)
    assert visa_cvn18_arpc(imk, pan, psn, tag_9f36=tags["tag_9f36"], arqc=arqc,
                           csu=cvr[:4]) == visa18.generate_arpc(arqc, tags["tag_9f36"], cvr[:4])
    mc16 = pyemv.cvn.MasterCardCVN16(imk, zero, zero, pan, psn)
    assert mastercard_cvn16_arqc(imk, pan, psn, **tags, cvr=cvr) == mc16.generate_ac(**tags,
                                                                                     cvr=cvr)
    mc17 = pyemv.cvn.MasterCardCVN17(imk, zero, zero, pan, psn)
    assert mastercard_cvn17_arqc(imk, pan, psn, **tags, cvr=cvr,
                                 counters=counters) == mc17.generate_ac(**tags, cvr=cvr,
                                                                       counters=counters)


# --- Mastercard CVN 20 / 21 (established from pyemv; pyemv is the oracle) -------------------

from hsm_sim.crypto.emv import (  # noqa: E402 - appended section
    mastercard_cvn20_arpc,
    mastercard_cvn20_arqc,
    mastercard_cvn21_arpc,
    mastercard_cvn21_arqc,
)


@settings(max_examples=30)
@given(imk=imks, pan=pans, psn=psns, tags=tag_values, cvr=st.binary(min_size=6, max_size=6),
       counters=st.binary(min_size=8, max_size=8), arc=st.binary(min_size=2, max_size=2))
def test_mastercard_cvn20_21_match_pyemv(  # noqa: PLR0917 - hypothesis arguments
    imk: bytes, pan: str, psn: str, tags: dict[str, bytes], cvr: bytes, counters: bytes,
    arc: bytes,
) -> None:
    zero = bytes(16)
    atc = tags["tag_9f36"]
    mc20 = pyemv.cvn.MasterCardCVN20(imk, zero, zero, pan, psn)
    arqc = mastercard_cvn20_arqc(imk, pan, psn, **tags, cvr=cvr)
    assert arqc == mc20.generate_ac(**tags, cvr=cvr)
    arpc = mastercard_cvn20_arpc(imk, pan, psn, tag_9f36=atc, arqc=arqc, arc=arc)
    assert arpc == mc20.generate_arpc(arqc, atc, arc)
    # CVN 20 ARPC uses the session key, not the ICC MK as CVN 16 does
    assert arpc != generate_arpc_1(derive_icc_mk_a(imk, pan, psn), arqc, arc)
    mc21 = pyemv.cvn.MasterCardCVN21(imk, zero, zero, pan, psn)
    arqc21 = mastercard_cvn21_arqc(imk, pan, psn, **tags, cvr=cvr, counters=counters)
    assert arqc21 == mc21.generate_ac(**tags, cvr=cvr, counters=counters)
    assert mastercard_cvn21_arpc(imk, pan, psn, tag_9f36=atc, arqc=arqc21,
                                 arc=arc) == mc21.generate_arpc(arqc21, atc, arc)


def test_mastercard_cvn20_session_key_is_common_sk_with_atc() -> None:
    imk = h("0123456789ABCDEFFEDCBA9876543210")
    mk = derive_icc_mk_a(imk, "5413330089020011", "00")
    sk = derive_common_session_key(mk, h("001C") + bytes(6))
    ref = pyemv.kd.derive_common_sk(pyemv.kd.derive_icc_mk_a(imk, "5413330089020011", "00"),
                                    h("001C") + bytes(6))
    assert kcv2(sk) == kcv2(ref)
    with pytest.raises(CryptoError, match=r"^ATC must be 2 bytes$"):
        mastercard_cvn20_arpc(imk, "5413330089020011", "00", tag_9f36=h("1C"), arqc=bytes(8),
                              arc=bytes(2))
