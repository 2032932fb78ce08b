"""Cryptogram versions (CVN) as data: how a card computes its AC and checks the ARPC.

The card holds only its ICC master key (derived at personalisation from the issuer MK-AC);
the issuer side recomputes everything from the issuer MK-AC with the ``hsm_sim.crypto``
``visa_cvn*`` / ``mastercard_cvn*`` functions. The AC input is always::

    9F02 || 9F03 || 9F1A || 95 || 5F2A || 9A || 9C || 9F37 || 82 || 9F36 || suffix

where *suffix* is the CVR (CVN 10, Mastercard 16, PBOC) or the whole IAD 9F10 (CVN 18).

Examples
--------
>>> CVNS[Cvn.VISA_18].arpc_method
2
>>> build_iad(CVNS[Cvn.VISA_10], bytes.fromhex("03A00000")).hex().upper()
'06010A03A00000'
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from hsm_sim.crypto import (
    derive_common_session_key,
    generate_arpc_1,
    generate_arpc_2,
    generate_arqc,
)

__all__ = [
    "AC_DATA_TAGS",
    "CVNS",
    "Cvn",
    "CvnSpec",
    "SessionKey",
    "ac_input",
    "build_iad",
    "card_ac",
    "card_session_key",
    "check_arpc",
]

AC_DATA_TAGS: tuple[int, ...] = (0x9F02, 0x9F03, 0x9F1A, 0x95, 0x5F2A, 0x9A, 0x9C, 0x9F37)
"""Terminal data the card takes from CDOL1/CDOL2, in this order, then 82 and 9F36."""


class Cvn(StrEnum):
    """Supported cryptogram versions (profile ``cvn`` values)."""

    VISA_10 = "visa-cvn10"
    VISA_18 = "visa-cvn18"
    MASTERCARD_16 = "mastercard-cvn16"
    PBOC_01 = "pboc-cvn01"


class SessionKey(StrEnum):
    """How the AC key comes from the ICC MK."""

    NONE = "none"  # ICC MK used directly (Visa CVN 10)
    COMMON_ATC = "common-atc"  # EMV common session key, R = ATC || 00*6
    MASTERCARD_SKD = "mastercard-skd"  # R = ATC || 0000 || UN


@dataclass(frozen=True, kw_only=True)
class CvnSpec:
    """One CVN: derivation option, session key, padding, AC suffix and ARPC method."""

    cvn: Cvn
    cvn_byte: int
    mk_option: str  # "A" or "B"
    session: SessionKey
    padding: int  # ISO 9797-1 padding method (1 zeros, 2 = 80..)
    suffix_is_iad: bool  # True: whole 9F10; False: CVR
    cvr_length: int
    arpc_method: int  # 1: ARPC(8)||ARC(2); 2: ARPC(4)||CSU(4)[||prop]
    arpc_with_session_key: bool


# fmt: off
CVNS: dict[Cvn, CvnSpec] = {
    Cvn.VISA_10: CvnSpec(cvn=Cvn.VISA_10, cvn_byte=0x0A, mk_option="A", session=SessionKey.NONE,
                         padding=1, suffix_is_iad=False, cvr_length=4, arpc_method=1,
                         arpc_with_session_key=False),
    Cvn.VISA_18: CvnSpec(cvn=Cvn.VISA_18, cvn_byte=0x12, mk_option="B",
                         session=SessionKey.COMMON_ATC, padding=2, suffix_is_iad=True,
                         cvr_length=4, arpc_method=2, arpc_with_session_key=True),
    Cvn.MASTERCARD_16: CvnSpec(cvn=Cvn.MASTERCARD_16, cvn_byte=0x10, mk_option="A",
                               session=SessionKey.MASTERCARD_SKD, padding=2, suffix_is_iad=False,
                               cvr_length=6, arpc_method=1, arpc_with_session_key=False),
    # PBOC-style: UNVERIFIED against UnionPay specifications (none are carried).
    Cvn.PBOC_01: CvnSpec(cvn=Cvn.PBOC_01, cvn_byte=0x01, mk_option="A",
                         session=SessionKey.COMMON_ATC, padding=2, suffix_is_iad=False,
                         cvr_length=4, arpc_method=1, arpc_with_session_key=True),
}
# fmt: on


def build_iad(spec: CvnSpec, cvr: bytes) -> bytes:
    """Issuer Application Data 9F10 for ``cvr``.

    Visa / PBOC: ``06 01 CVN CVR(4)``; Mastercard: ``01 CVN CVR(6) 0000`` (DAC/IDN zero).
    """
    if spec.cvn is Cvn.MASTERCARD_16:
        return bytes((0x01, spec.cvn_byte)) + cvr + bytes(2)
    return bytes((0x06, 0x01, spec.cvn_byte)) + cvr


def card_session_key(spec: CvnSpec, icc_mk: bytes, *, atc: bytes, un: bytes) -> bytes:
    """The AC key for this ATC (and UN for Mastercard SKD)."""
    if spec.session is SessionKey.NONE:
        return icc_mk
    if spec.session is SessionKey.MASTERCARD_SKD:
        return derive_common_session_key(icc_mk, atc + bytes(2) + un)
    return derive_common_session_key(icc_mk, atc + bytes(6))


def ac_input(
    spec: CvnSpec, terminal: Mapping[int, bytes], *, aip: bytes, atc: bytes, iad: bytes, cvr: bytes
) -> bytes:
    """The MAC input: terminal data, AIP, ATC, then CVR or IAD."""
    data = b"".join(terminal.get(t, b"") for t in AC_DATA_TAGS) + aip + atc
    return data + (iad if spec.suffix_is_iad else cvr)


def card_ac(
    spec: CvnSpec, icc_mk: bytes, terminal: Mapping[int, bytes], *,
    aip: bytes, atc: bytes, iad: bytes, cvr: bytes,
) -> bytes:  # fmt: skip
    """The card's application cryptogram (ARQC, TC or AAC alike)."""
    sk = card_session_key(spec, icc_mk, atc=atc, un=terminal.get(0x9F37, bytes(4)))
    return generate_arqc(
        sk, ac_input(spec, terminal, aip=aip, atc=atc, iad=iad, cvr=cvr), padding=spec.padding
    )


def check_arpc(
    spec: CvnSpec, icc_mk: bytes, *, atc: bytes, un: bytes, arqc: bytes, issuer_auth_data: bytes
) -> bool:
    """Card-side check of tag 91 (EXTERNAL AUTHENTICATE data)."""
    key = card_session_key(spec, icc_mk, atc=atc, un=un) if spec.arpc_with_session_key else icc_mk
    if spec.arpc_method == 1:
        if len(issuer_auth_data) < 10:
            return False
        return generate_arpc_1(key, arqc, issuer_auth_data[8:10]) == issuer_auth_data[:8]
    if len(issuer_auth_data) < 8:
        return False
    csu, prop = issuer_auth_data[4:8], issuer_auth_data[8:]
    return generate_arpc_2(key, arqc, csu, prop) == issuer_auth_data[:4]
