"""EMV issuer cryptography: ICC master keys, session keys, ARQC and ARPC, Visa / Mastercard CVNs.

Tag values are raw ``bytes`` named after their EMV tags (``tag_9f02`` = amount authorised).

Examples
--------
>>> imk = bytes.fromhex("0123456789ABCDEFFEDCBA9876543210")
>>> mk = derive_icc_mk_a(imk, "12345678901234567", "45")
>>> sk = derive_common_session_key(mk, bytes.fromhex("1234567890123456"))
>>> arqc = generate_arqc(sk, bytes.fromhex("0123456789ABCDEF0123456789ABCDEF"))
>>> arqc.hex().upper()
'19C1FBC83EBDC0D5'
>>> generate_arpc_1(mk, arqc, bytes.fromhex("0000")).hex().upper()
'78A372523FA35A03'
"""

from __future__ import annotations

import hashlib

from hsm_sim.crypto import _primitives as _p
from hsm_sim.crypto import _validate as _v
from hsm_sim.crypto.errors import CryptoError, KeyLengthError
from hsm_sim.crypto.keys import adjust_key_parity
from hsm_sim.crypto.mac import MacPadding, mac_iso9797_alg3

__all__ = [
    "derive_common_session_key",
    "derive_icc_mk_a",
    "derive_icc_mk_b",
    "generate_arpc_1",
    "generate_arpc_2",
    "generate_arqc",
    "mastercard_cvn16_arqc",
    "mastercard_cvn17_arqc",
    "mastercard_cvn20_arpc",
    "mastercard_cvn20_arqc",
    "mastercard_cvn21_arpc",
    "mastercard_cvn21_arqc",
    "mastercard_session_key",
    "visa_cvn10_arpc",
    "visa_cvn10_arqc",
    "visa_cvn18_arpc",
    "visa_cvn18_arqc",
    "visa_cvn22_arpc",
    "visa_cvn22_arqc",
]


def _mk(key: bytes, what: str) -> bytes:
    if not isinstance(key, bytes | bytearray) or len(key) != 16:
        raise KeyLengthError(f"{what} must be 16 bytes")
    return bytes(key)


def _psn(psn: str | None) -> str:
    psn = "00" if psn is None else psn
    _v.digits(psn, "PSN", 1, 2)
    return psn.rjust(2, "0")


def _mk_from_y(iss_mk: bytes, y: bytes) -> bytes:
    left = _p.tdes_encrypt_ecb(iss_mk, y)
    right = _p.tdes_encrypt_ecb(iss_mk, _p.xor(y, b"\xff" * 8))
    return adjust_key_parity(left + right)


def derive_icc_mk_a(iss_mk: bytes, pan: str, psn: str | None = None) -> bytes:
    """ICC master key, EMV option A: ``Y`` = right 16 digits of PAN || PSN.

    Parameters
    ----------
    iss_mk : bytes
        16-byte issuer master key.
    pan : str
        1-19 digit PAN.
    psn : str, optional
        PAN sequence number, 1-2 digits (default ``00``).

    Examples
    --------
    >>> from hsm_sim.crypto.keys import kcv_tdes
    >>> mk = derive_icc_mk_a(bytes.fromhex("0123456789ABCDEFFEDCBA9876543210"),
    ...                      "9901234567890123", "45")
    >>> kcv_tdes(mk, 2).hex().upper()
    '1DA5'
    """
    iss_mk = _mk(iss_mk, "issuer master key")
    _v.digits(pan, "PAN", 1, 19)
    y = (pan + _psn(psn))[-16:].rjust(16, "0")
    return _mk_from_y(iss_mk, bytes.fromhex(y))


def derive_icc_mk_b(iss_mk: bytes, pan: str, psn: str | None = None) -> bytes:
    """ICC master key, EMV option B (for PANs longer than 16 digits; otherwise option A).

    ``Y`` = the first 16 decimal digits of SHA-1(PAN || PSN), topped up with A-F minus 10.

    Examples
    --------
    >>> from hsm_sim.crypto.keys import kcv_tdes
    >>> mk = derive_icc_mk_b(bytes.fromhex("0123456789ABCDEFFEDCBA9876543210"),
    ...                      "12345678901234567")
    >>> kcv_tdes(mk, 2).hex().upper()
    '4626'
    """
    iss_mk = _mk(iss_mk, "issuer master key")
    _v.digits(pan, "PAN", 1, 19)
    if len(pan) <= 16:
        return derive_icc_mk_a(iss_mk, pan, psn)
    data = pan + _psn(psn)
    if len(data) % 2:
        data = "0" + data
    digest = hashlib.sha1(bytes.fromhex(data)).hexdigest().upper()  # noqa: S324 - EMV option B
    digits = [c for c in digest if c.isdigit()]
    letters = [str(int(c, 16) - 10) for c in digest if not c.isdigit()]
    y = "".join((digits + letters)[:16])
    return _mk_from_y(iss_mk, bytes.fromhex(y))


def derive_common_session_key(icc_mk: bytes, r: bytes) -> bytes:
    """EMV common session key (EMV Book 2 A1.3): ``TDES(MK, R|F0) || TDES(MK, R|0F)``, odd parity.

    ``R`` is 8 bytes; its byte 2 is replaced by ``F0`` / ``0F``.

    Examples
    --------
    >>> from hsm_sim.crypto.keys import kcv_tdes
    >>> mk = derive_icc_mk_a(bytes.fromhex("0123456789ABCDEFFEDCBA9876543210"),
    ...                      "12345678901234567", "45")
    >>> sk = derive_common_session_key(mk, bytes.fromhex("1234567890123456"))
    >>> kcv_tdes(sk, 2).hex().upper()
    'DF82'
    """
    icc_mk = _mk(icc_mk, "ICC master key")
    if not isinstance(r, bytes | bytearray) or len(r) != 8:
        raise CryptoError("R must be 8 bytes")
    left = _p.tdes_encrypt_ecb(icc_mk, bytes(r[:2]) + b"\xf0" + bytes(r[3:]))
    right = _p.tdes_encrypt_ecb(icc_mk, bytes(r[:2]) + b"\x0f" + bytes(r[3:]))
    return adjust_key_parity(left + right)


def generate_arqc(sk_ac: bytes, data: bytes, *, padding: int = MacPadding.METHOD_2) -> bytes:
    """Application cryptogram (ARQC/TC/AAC): ISO 9797-1 alg 3 with the session key.

    ``padding`` 2 (``80``) is EMV; Visa CVN 10 uses 1 (zeros).
    """
    return mac_iso9797_alg3(_mk(sk_ac, "session key"), data, padding=padding)


def generate_arpc_1(key: bytes, arqc: bytes, arc: bytes) -> bytes:
    """ARPC method 1: ``TDES(key, ARQC XOR (ARC || 00...))``; key is the ICC MK or a session key."""
    key = _mk(key, "ARPC key")
    if len(arqc) != 8:
        raise CryptoError("ARQC must be 8 bytes")
    if len(arc) != 2:
        raise CryptoError("ARC must be 2 bytes")
    return _p.tdes_encrypt_ecb(key, _p.xor(bytes(arqc), bytes(arc) + bytes(6)))


def generate_arpc_2(
    sk_ac: bytes, arqc: bytes, csu: bytes, prop_auth_data: bytes = b""
) -> bytes:
    """ARPC method 2: left 4 bytes of alg 3 over ``ARQC || CSU || proprietary data``, padding 2.

    Examples
    --------
    >>> imk = bytes.fromhex("0123456789ABCDEFFEDCBA9876543210")
    >>> sk = derive_common_session_key(derive_icc_mk_b(imk, "12345678901234567"),
    ...                                bytes.fromhex("1234567890123456"))
    >>> arqc = generate_arqc(sk, bytes.fromhex("0123456789ABCDEF0123456789ABCDEF"))
    >>> generate_arpc_2(sk, arqc, bytes(4)).hex().upper()
    'C1C41F3A'
    """
    if len(arqc) != 8:
        raise CryptoError("ARQC must be 8 bytes")
    if len(csu) != 4:
        raise CryptoError("CSU must be 4 bytes")
    if len(prop_auth_data) > 8:
        raise CryptoError("proprietary authentication data must be at most 8 bytes")
    data = bytes(arqc) + bytes(csu) + bytes(prop_auth_data)
    return mac_iso9797_alg3(_mk(sk_ac, "session key"), data, padding=MacPadding.METHOD_2)[:4]


def _visa_data(  # noqa: PLR0917 - the EMV tag order is the data layout
    tag_9f02: bytes, tag_9f03: bytes, tag_9f1a: bytes, tag_95: bytes, tag_5f2a: bytes,
    tag_9a: bytes, tag_9c: bytes, tag_9f37: bytes, tag_82: bytes, tag_9f36: bytes,
) -> bytes:  # fmt: skip
    return b"".join(
        (tag_9f02, tag_9f03, tag_9f1a, tag_95, tag_5f2a, tag_9a, tag_9c, tag_9f37, tag_82, tag_9f36)
    )


def visa_cvn10_arqc(
    iss_mk_ac: bytes, pan: str, psn: str | None = None, *,
    tag_9f02: bytes, tag_9f03: bytes, tag_9f1a: bytes, tag_95: bytes, tag_5f2a: bytes,
    tag_9a: bytes, tag_9c: bytes, tag_9f37: bytes, tag_82: bytes, tag_9f36: bytes, cvr: bytes,
) -> bytes:  # fmt: skip
    """Visa CVN 10 ARQC: ICC MK-AC (option A, no session key), data || CVR, zero padding."""
    mk = derive_icc_mk_a(iss_mk_ac, pan, psn)
    data = _visa_data(tag_9f02, tag_9f03, tag_9f1a, tag_95, tag_5f2a, tag_9a, tag_9c,
                      tag_9f37, tag_82, tag_9f36) + bytes(cvr)  # fmt: skip
    return generate_arqc(mk, data, padding=MacPadding.METHOD_1)


def visa_cvn10_arpc(
    iss_mk_ac: bytes, pan: str, psn: str | None = None, *, arqc: bytes, arc: bytes
) -> bytes:
    """Visa CVN 10 ARPC: method 1 with the ICC MK-AC."""
    return generate_arpc_1(derive_icc_mk_a(iss_mk_ac, pan, psn), arqc, arc)


def visa_cvn18_arqc(
    iss_mk_ac: bytes, pan: str, psn: str | None = None, *,
    tag_9f02: bytes, tag_9f03: bytes, tag_9f1a: bytes, tag_95: bytes, tag_5f2a: bytes,
    tag_9a: bytes, tag_9c: bytes, tag_9f37: bytes, tag_82: bytes, tag_9f36: bytes,
    tag_9f10: bytes,
) -> bytes:  # fmt: skip
    """Visa CVN 18 (and 22) ARQC.

    ICC MK option B, common session key with ``R = ATC || 00*6``, full IAD 9F10, 80 padding.
    """
    sk = derive_common_session_key(
        derive_icc_mk_b(iss_mk_ac, pan, psn), bytes(tag_9f36) + bytes(6)
    )
    data = _visa_data(tag_9f02, tag_9f03, tag_9f1a, tag_95, tag_5f2a, tag_9a, tag_9c,
                      tag_9f37, tag_82, tag_9f36) + bytes(tag_9f10)  # fmt: skip
    return generate_arqc(sk, data, padding=MacPadding.METHOD_2)


def visa_cvn18_arpc(
    iss_mk_ac: bytes, pan: str, psn: str | None = None, *,
    tag_9f36: bytes, arqc: bytes, csu: bytes, prop_auth_data: bytes = b"",
) -> bytes:  # fmt: skip
    """Visa CVN 18 (and 22) ARPC: method 2 with the AC session key."""
    sk = derive_common_session_key(
        derive_icc_mk_b(iss_mk_ac, pan, psn), bytes(tag_9f36) + bytes(6)
    )
    return generate_arpc_2(sk, arqc, csu, prop_auth_data)


visa_cvn22_arqc = visa_cvn18_arqc
visa_cvn22_arpc = visa_cvn18_arpc


def mastercard_session_key(
    iss_mk_ac: bytes, pan: str, psn: str | None = None, *, tag_9f36: bytes, tag_9f37: bytes
) -> bytes:
    """Mastercard SKD session key: common session key with ``R = ATC || 0000 || UN``."""
    if len(tag_9f36) != 2 or len(tag_9f37) != 4:
        raise CryptoError("ATC must be 2 bytes and UN 4 bytes")
    mk = derive_icc_mk_a(iss_mk_ac, pan, psn)
    return derive_common_session_key(mk, bytes(tag_9f36) + bytes(2) + bytes(tag_9f37))


def mastercard_cvn16_arqc(
    iss_mk_ac: bytes, pan: str, psn: str | None = None, *,
    tag_9f02: bytes, tag_9f03: bytes, tag_9f1a: bytes, tag_95: bytes, tag_5f2a: bytes,
    tag_9a: bytes, tag_9c: bytes, tag_9f37: bytes, tag_82: bytes, tag_9f36: bytes, cvr: bytes,
) -> bytes:  # fmt: skip
    """Mastercard CVN 16 ARQC: SKD session key, data || CVR, 80 padding.

    The ARPC is :func:`generate_arpc_1` with the ICC MK-AC (:func:`derive_icc_mk_a`).
    UNVERIFIED against Mastercard vectors (none are carried); cross-checked with pyemv.
    """
    sk = mastercard_session_key(iss_mk_ac, pan, psn, tag_9f36=tag_9f36, tag_9f37=tag_9f37)
    data = _visa_data(tag_9f02, tag_9f03, tag_9f1a, tag_95, tag_5f2a, tag_9a, tag_9c,
                      tag_9f37, tag_82, tag_9f36) + bytes(cvr)  # fmt: skip
    return generate_arqc(sk, data, padding=MacPadding.METHOD_2)


def mastercard_cvn17_arqc(
    iss_mk_ac: bytes, pan: str, psn: str | None = None, *,
    tag_9f02: bytes, tag_9f03: bytes, tag_9f1a: bytes, tag_95: bytes, tag_5f2a: bytes,
    tag_9a: bytes, tag_9c: bytes, tag_9f37: bytes, tag_82: bytes, tag_9f36: bytes, cvr: bytes,
    counters: bytes,
) -> bytes:  # fmt: skip
    """Mastercard CVN 17 ARQC: as CVN 16 with the IAD counters appended after the CVR."""
    sk = mastercard_session_key(iss_mk_ac, pan, psn, tag_9f36=tag_9f36, tag_9f37=tag_9f37)
    data = _visa_data(tag_9f02, tag_9f03, tag_9f1a, tag_95, tag_5f2a, tag_9a, tag_9c,
                      tag_9f37, tag_82, tag_9f36) + bytes(cvr) + bytes(counters)  # fmt: skip
    return generate_arqc(sk, data, padding=MacPadding.METHOD_2)


def _mastercard_csk(iss_mk_ac: bytes, pan: str, psn: str | None, tag_9f36: bytes) -> bytes:
    if len(tag_9f36) != 2:
        raise CryptoError("ATC must be 2 bytes")
    mk = derive_icc_mk_a(iss_mk_ac, pan, psn)
    return derive_common_session_key(mk, bytes(tag_9f36) + bytes(6))


def mastercard_cvn20_arqc(
    iss_mk_ac: bytes, pan: str, psn: str | None = None, *,
    tag_9f02: bytes, tag_9f03: bytes, tag_9f1a: bytes, tag_95: bytes, tag_5f2a: bytes,
    tag_9a: bytes, tag_9c: bytes, tag_9f37: bytes, tag_82: bytes, tag_9f36: bytes, cvr: bytes,
) -> bytes:  # fmt: skip
    """Mastercard CVN 20 ARQC: EMV common session key instead of the SKD key of CVN 16.

    ICC MK option A, session key ``R = ATC || 00*6``, data as CVN 16 (CDOL1 tags || CVR),
    80 padding. Established from pyemv's ``MasterCardCVN20`` and cross-checked with it in the
    tests; UNVERIFIED against Mastercard's own vectors (none are carried).

    Examples
    --------
    >>> imk = bytes.fromhex("0123456789ABCDEFFEDCBA9876543210")
    >>> tags = dict(tag_9f02=bytes.fromhex("000000001000"), tag_9f03=bytes(6),
    ...     tag_9f1a=bytes.fromhex("0840"), tag_95=bytes(5), tag_5f2a=bytes.fromhex("0840"),
    ...     tag_9a=bytes.fromhex("240101"), tag_9c=bytes(1), tag_9f37=bytes.fromhex("12345678"),
    ...     tag_82=bytes.fromhex("1980"), tag_9f36=bytes.fromhex("001C"))
    >>> arqc = mastercard_cvn20_arqc(imk, "5413330089020011", "00", **tags,
    ...                              cvr=bytes.fromhex("A00003220000"))
    >>> arqc.hex().upper()
    '6E6C811D650551CD'
    """
    sk = _mastercard_csk(iss_mk_ac, pan, psn, tag_9f36)
    data = _visa_data(tag_9f02, tag_9f03, tag_9f1a, tag_95, tag_5f2a, tag_9a, tag_9c,
                      tag_9f37, tag_82, tag_9f36) + bytes(cvr)  # fmt: skip
    return generate_arqc(sk, data, padding=MacPadding.METHOD_2)


def mastercard_cvn21_arqc(
    iss_mk_ac: bytes, pan: str, psn: str | None = None, *,
    tag_9f02: bytes, tag_9f03: bytes, tag_9f1a: bytes, tag_95: bytes, tag_5f2a: bytes,
    tag_9a: bytes, tag_9c: bytes, tag_9f37: bytes, tag_82: bytes, tag_9f36: bytes, cvr: bytes,
    counters: bytes,
) -> bytes:  # fmt: skip
    """Mastercard CVN 21 ARQC: as CVN 20 with the IAD counters appended after the CVR.

    Established from pyemv's ``MasterCardCVN21``; UNVERIFIED against Mastercard vectors.
    """
    sk = _mastercard_csk(iss_mk_ac, pan, psn, tag_9f36)
    data = _visa_data(tag_9f02, tag_9f03, tag_9f1a, tag_95, tag_5f2a, tag_9a, tag_9c,
                      tag_9f37, tag_82, tag_9f36) + bytes(cvr) + bytes(counters)  # fmt: skip
    return generate_arqc(sk, data, padding=MacPadding.METHOD_2)


def mastercard_cvn20_arpc(
    iss_mk_ac: bytes, pan: str, psn: str | None = None, *,
    tag_9f36: bytes, arqc: bytes, arc: bytes,
) -> bytes:  # fmt: skip
    """Mastercard CVN 20 / 21 ARPC: method 1 with the AC **session** key (not the ICC MK).

    Established from pyemv; UNVERIFIED against Mastercard vectors.
    """
    return generate_arpc_1(_mastercard_csk(iss_mk_ac, pan, psn, tag_9f36), arqc, arc)


mastercard_cvn21_arpc = mastercard_cvn20_arpc
