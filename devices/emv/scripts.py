"""Issuer script commands with secure messaging (issuer side builder and card side check).

MAC: ISO 9797-1 alg 3, padding 2, 8 bytes, under the SMI session key
``derive_common_session_key(ICC MK-SMI, ARQC)`` (EMV Book 2 A1.3 with R = the ARQC) over
``CLA INS P1 P2 Lc || ATC || ARQC || data`` where Lc counts the MAC. PIN change carries a
format-2 PIN block TDES-ECB enciphered under ``derive_common_session_key(ICC MK-SMC, ARQC)``
(a simplification of EMV Book 2 A1.3/§9.3; the card profile documents it). TEST use only.

Examples
--------
>>> mk = bytes.fromhex("0123456789ABCDEFFEDCBA9876543210")
>>> cmd = build_script_command(0x1E, b"", icc_mk_smi=mk, atc=b"\\x00\\x01", arqc=bytes(8))
>>> cmd[:5].hex().upper(), len(cmd)
('841E000008', 13)
>>> check_script_mac(cmd, icc_mk_smi=mk, atc=b"\\x00\\x01", arqc=bytes(8))
b''
"""

from __future__ import annotations

from devices.emv.errors import CardDataError
from hsm_sim.crypto import (
    derive_common_session_key,
    mac_iso9797_alg3,
    tdes_decrypt_ecb,
    tdes_encrypt_ecb,
)

__all__ = ["build_script_command", "check_script_mac", "decipher_pin_block", "encipher_pin_block"]

_MAC_LEN = 8


def _mac(icc_mk_smi: bytes, header: bytes, atc: bytes, arqc: bytes, data: bytes) -> bytes:
    sk = derive_common_session_key(icc_mk_smi, arqc)
    return mac_iso9797_alg3(sk, header + atc + arqc + data, padding=2)[:_MAC_LEN]


def build_script_command(
    ins: int, data: bytes, *, icc_mk_smi: bytes, atc: bytes, arqc: bytes, p1: int = 0, p2: int = 0
) -> bytes:
    """An ``84 INS P1 P2 Lc data MAC`` issuer script command (tag 86 value)."""
    header = bytes((0x84, ins, p1, p2, len(data) + _MAC_LEN))
    return header + data + _mac(icc_mk_smi, header, atc, arqc, data)


def check_script_mac(command: bytes, *, icc_mk_smi: bytes, atc: bytes, arqc: bytes) -> bytes:
    """Card side: verify the MAC of a script command; returns its data without the MAC.

    Raises
    ------
    CardDataError
        ``"script MAC mismatch"`` or ``"script command too short"``.
    """
    if len(command) < 5 + _MAC_LEN or command[4] != len(command) - 5:
        raise CardDataError("script command too short")
    header, body = command[:5], command[5:]
    data, mac = body[:-_MAC_LEN], body[-_MAC_LEN:]
    if _mac(icc_mk_smi, header, atc, arqc, data) != mac:
        raise CardDataError("script MAC mismatch")
    return data


def encipher_pin_block(pin_block: bytes, *, icc_mk_smc: bytes, arqc: bytes) -> bytes:
    """Issuer side: encipher a format-2 PIN block for PIN CHANGE."""
    return tdes_encrypt_ecb(derive_common_session_key(icc_mk_smc, arqc), pin_block)


def decipher_pin_block(data: bytes, *, icc_mk_smc: bytes, arqc: bytes) -> bytes:
    """Card side: decipher the PIN CHANGE data."""
    return tdes_decrypt_ecb(derive_common_session_key(icc_mk_smc, arqc), data)
