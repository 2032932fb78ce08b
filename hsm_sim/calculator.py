"""``sst crypto``: a command-line payment-crypto calculator for a developer's own test data.

One subcommand per operation (PIN blocks, PVV, IBM 3624 offset, CVV, KCV, MACs, DUKPT, EMV,
TR-31, test-LMK key encryption), in the spirit of BP-Tools. Keys and data are hex options, PANs
and PINs decimal. Results print as ``name: value`` lines, or as one JSON object with ``--json``.
Bad input prints a one-line error on stderr and exits with status 2.

This is a calculator: it prints the clear results it is asked for (that is its job) but never
logs them. Use it with test keys only.

Examples
--------
>>> main(["kcv", "--key", "0123456789ABCDEFFEDCBA9876543210"])
kcv: 08D7B4
0
>>> main(["pinblock", "encode", "--format", "0", "--pin", "1234", "--pan", "4012345678909",
...       "--json"])
{"format": "0", "pin_block": "041274EDCBA9876F"}
0
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from typing import NoReturn

from hsm_sim.crypto import (
    AesDukptKeyType,
    AesDukptKeyUsage,
    CryptoError,
    MacPadding,
    TdesDukptKeyUsage,
    VariantLmk,
    decode_pin_field_iso_4,
    decode_pinblock_iso_0,
    decode_pinblock_iso_1,
    decode_pinblock_iso_3,
    derive_common_session_key,
    derive_icc_mk_a,
    derive_icc_mk_b,
    derive_initial_key_aes,
    derive_ipek_tdes,
    derive_transaction_key_aes,
    derive_transaction_key_tdes,
    derive_working_key_aes,
    derive_working_key_tdes,
    encode_pan_field_iso_4,
    encode_pin_field_iso_4,
    encode_pinblock_iso_0,
    encode_pinblock_iso_1,
    encode_pinblock_iso_3,
    generate_arpc_1,
    generate_arpc_2,
    generate_arqc,
    generate_cvv,
    generate_ibm3624_natural_pin,
    generate_ibm3624_offset,
    generate_visa_pvv,
    kcv_aes_cmac,
    kcv_tdes,
    mac_aes_cmac,
    mac_iso9797_alg1,
    mac_iso9797_alg3,
    mac_tdes_cmac,
    tdes_decrypt_ecb,
    tdes_encrypt_ecb,
    unwrap_tr31,
    wrap_tr31,
)
from hsm_sim.crypto import _primitives as _p

__all__ = ["main"]

PROG = "sst crypto"

Result = dict[str, str]


class UsageError(Exception):
    """Bad command-line input (reported as one line, exit status 2)."""


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors raise :class:`UsageError` instead of exiting."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(message)


# --- input helpers --------------------------------------------------------------------------


def _hex(value: str | None, name: str, sizes: tuple[int, ...] = ()) -> bytes:
    if value is None:
        raise UsageError(f"{name} is required")
    text = value.replace(" ", "")
    if len(text) % 2 or any(c not in "0123456789abcdefABCDEF" for c in text):
        raise UsageError(f"{name} must be an even number of hexadecimal characters")
    data = bytes.fromhex(text)
    if sizes and len(data) not in sizes:
        raise UsageError(f"{name} must be {' or '.join(str(2 * n) for n in sizes)} hex characters")
    return data


def _out(data: bytes) -> str:
    return data.hex().upper()


def _data(args: argparse.Namespace) -> bytes:
    if args.data_ascii is not None:
        return str(args.data_ascii).encode("utf-8")
    return _hex(args.data, "--data")


# --- commands -------------------------------------------------------------------------------


def _pinblock_encode(a: argparse.Namespace) -> Result:
    fill = _hex(a.fill, "--fill") if a.fill is not None else None
    fmt = a.format
    if fmt == "4":
        key = _hex(a.key, "--key (AES)", (16, 24, 32))
        pin_field = encode_pin_field_iso_4(a.pin, fill=fill)
        pan_field = encode_pan_field_iso_4(a.pan)
        block = _p.aes_encrypt_ecb(key, _p.xor(_p.aes_encrypt_ecb(key, pin_field), pan_field))
        return {"format": "4", "pin_field": _out(pin_field), "pan_field": _out(pan_field),
                "encrypted_pin_block": _out(block)}  # fmt: skip
    if fmt == "0":
        clear = encode_pinblock_iso_0(a.pin, _pan(a))
    elif fmt == "1":
        clear = encode_pinblock_iso_1(a.pin, fill=fill)
    else:
        clear = encode_pinblock_iso_3(a.pin, _pan(a), fill=fill)
    out = {"format": fmt, "pin_block": _out(clear)}
    if a.key is not None:
        out["encrypted_pin_block"] = _out(tdes_encrypt_ecb(_hex(a.key, "--key", (8, 16, 24)),
                                                           clear))  # fmt: skip
    return out


def _pan(a: argparse.Namespace) -> str:
    if a.pan is None:
        raise UsageError(f"--pan is required for format {a.format}")
    return str(a.pan)


def _pinblock_decode(a: argparse.Namespace) -> Result:
    block = _hex(a.block, "--block", (16,) if a.format == "4" else (8,))
    if a.format == "4":
        key = _hex(a.key, "--key (AES)", (16, 24, 32))
        pan_field = encode_pan_field_iso_4(_pan(a))
        pin_field = _p.aes_decrypt_ecb(key, _p.xor(_p.aes_decrypt_ecb(key, block), pan_field))
        return {"format": "4", "pin_field": _out(pin_field),
                "pin": decode_pin_field_iso_4(pin_field)}  # fmt: skip
    out: Result = {"format": a.format}
    if a.key is not None:
        block = tdes_decrypt_ecb(_hex(a.key, "--key", (8, 16, 24)), block)
        out["pin_block"] = _out(block)
    if a.format == "0":
        pin = decode_pinblock_iso_0(block, _pan(a))
    elif a.format == "1":
        pin = decode_pinblock_iso_1(block)
    else:
        pin = decode_pinblock_iso_3(block, _pan(a))
    out["pin"] = pin
    return out


def _pvv(a: argparse.Namespace) -> Result:
    pvk = _hex(a.pvk, "--pvk", (16, 24))
    return {"pvv": generate_visa_pvv(pvk, a.pan, a.pvki, a.pin)}


def _offset(a: argparse.Namespace) -> Result:
    pvk = _hex(a.pvk, "--pvk", (8, 16, 24))
    length = a.check_length or (len(a.pin) if a.pin else 4)
    out = {"natural_pin": generate_ibm3624_natural_pin(pvk, a.validation_data, a.dec_table,
                                                       length)}  # fmt: skip
    if a.pin is not None:
        out["offset"] = generate_ibm3624_offset(pvk, a.pin, a.validation_data, a.dec_table, length)
    return out


def _cvv(a: argparse.Namespace) -> Result:
    cvk = _hex(a.cvk, "--cvk", (16,))
    return {"cvv": generate_cvv(cvk, a.pan, a.expiry, a.service_code)}


def _kcv(a: argparse.Namespace) -> Result:
    key = _hex(a.key, "--key")
    if a.algorithm == "aes":
        return {"algorithm": "AES (CMAC of zeros)", "kcv": _out(kcv_aes_cmac(key, a.length or 5))}
    return {"kcv": _out(kcv_tdes(key, a.length or 3))}


def _mac(a: argparse.Namespace) -> Result:
    data, alg = _data(a), a.algorithm
    if alg == "alg1":
        mac = mac_iso9797_alg1(_hex(a.key, "--key"), data, padding=a.padding)
    elif alg == "alg3":
        mac = mac_iso9797_alg3(_hex(a.key, "--key", (16,)), data, padding=a.padding)
    elif alg == "aes-cmac":
        mac = mac_aes_cmac(_hex(a.key, "--key"), data)
    else:
        mac = mac_tdes_cmac(_hex(a.key, "--key"), data)
    return {"algorithm": alg, "mac": _out(mac)}


_TDES_USAGES = {
    "pin": TdesDukptKeyUsage.PIN,
    "mac-request": TdesDukptKeyUsage.MAC_REQUEST,
    "mac-response": TdesDukptKeyUsage.MAC_RESPONSE,
    "data-request": TdesDukptKeyUsage.DATA_REQUEST,
    "data-response": TdesDukptKeyUsage.DATA_RESPONSE,
}
_AES_USAGES = {
    "pin": AesDukptKeyUsage.PIN_ENCRYPTION,
    "mac-generate": AesDukptKeyUsage.MAC_GENERATION,
    "mac-verify": AesDukptKeyUsage.MAC_VERIFICATION,
    "mac-both": AesDukptKeyUsage.MAC_BOTH_WAYS,
    "data-encrypt": AesDukptKeyUsage.DATA_ENCRYPTION_ENCRYPT,
    "data-decrypt": AesDukptKeyUsage.DATA_ENCRYPTION_DECRYPT,
    "data-both": AesDukptKeyUsage.DATA_ENCRYPTION_BOTH_WAYS,
    "kek": AesDukptKeyUsage.KEY_ENCRYPTION_KEY,
}
_AES_TYPES = {t.name: t for t in AesDukptKeyType}
_AES_BY_LEN = {16: AesDukptKeyType.AES128, 24: AesDukptKeyType.AES192,
               32: AesDukptKeyType.AES256}  # fmt: skip


def _dukpt_ksn(a: argparse.Namespace) -> tuple[bytes, bool]:
    ksn = _hex(a.ksn, "--ksn", (10, 12))
    return ksn, len(ksn) == 12


def _dukpt_keys(a: argparse.Namespace) -> tuple[bytes, bytes, bool, Result]:
    ksn, aes = _dukpt_ksn(a)
    bdk = _hex(a.bdk, "--bdk", (16, 24, 32) if aes else (16,))
    if aes:
        ik = derive_initial_key_aes(bdk, ksn[:8])
        tk = derive_transaction_key_aes(bdk, ksn)
        info = {"dukpt": "AES (X9.24-3)", "initial_key": _out(ik), "initial_key_kcv":
                _out(kcv_aes_cmac(ik)), "transaction_key": _out(tk)}  # fmt: skip
    else:
        ipek = derive_ipek_tdes(bdk, ksn)
        tk = derive_transaction_key_tdes(bdk, ksn)
        info = {"dukpt": "TDES (X9.24-1:2009)", "ipek": _out(ipek),
                "ipek_kcv": _out(kcv_tdes(ipek)), "transaction_key": _out(tk)}  # fmt: skip
    return ksn, tk, aes, info


def _aes_key_type(a: argparse.Namespace, tk: bytes) -> AesDukptKeyType:
    if a.key_type is None:
        return _AES_BY_LEN[len(tk)]
    try:
        return _AES_TYPES[a.key_type.upper()]
    except KeyError:
        raise UsageError(f"--key-type must be one of {', '.join(_AES_TYPES)}") from None


def _working_key(a: argparse.Namespace, ksn: bytes, tk: bytes, aes: bool, usage: str) -> bytes:
    if aes:
        if usage not in _AES_USAGES:
            raise UsageError(f"AES DUKPT usage must be one of {', '.join(_AES_USAGES)}")
        return derive_working_key_aes(tk, ksn, _AES_USAGES[usage], _aes_key_type(a, tk))
    if usage not in _TDES_USAGES:
        raise UsageError(f"TDES DUKPT usage must be one of {', '.join(_TDES_USAGES)}")
    return derive_working_key_tdes(tk, _TDES_USAGES[usage])


def _dukpt_derive(a: argparse.Namespace) -> Result:
    ksn, tk, aes, out = _dukpt_keys(a)
    usages = [a.usage] if a.usage else list(_AES_USAGES if aes else _TDES_USAGES)
    for usage in usages:
        out[f"{usage}_key"] = _out(_working_key(a, ksn, tk, aes, usage))
    return out


def _dukpt_pin(a: argparse.Namespace) -> Result:
    ksn, tk, aes, out = _dukpt_keys(a)
    key = _working_key(a, ksn, tk, aes, "pin")
    out["pin_key"] = _out(key)
    if a.action == "pin-encrypt":
        fill = _hex(a.fill, "--fill") if a.fill is not None else None
        if aes:
            field = encode_pin_field_iso_4(a.pin, fill=fill)
            if len(key) != 16:
                raise UsageError("AES DUKPT PIN blocks need an AES-128 PIN key (--key-type)")
            block = _p.aes_encrypt_ecb(key, _p.xor(_p.aes_encrypt_ecb(key, field),
                                                   encode_pan_field_iso_4(a.pan)))  # fmt: skip
            out.update(format="4", encrypted_pin_block=_out(block))
        else:
            block = tdes_encrypt_ecb(key, encode_pinblock_iso_0(a.pin, a.pan))
            out.update(format="0", encrypted_pin_block=_out(block))
        return out
    block = _hex(a.block, "--block", (16,) if aes else (8,))
    if aes:
        field = _p.aes_decrypt_ecb(key, _p.xor(_p.aes_decrypt_ecb(key, block),
                                               encode_pan_field_iso_4(a.pan)))  # fmt: skip
        out.update(format="4", pin=decode_pin_field_iso_4(field))
    else:
        out.update(format="0", pin=decode_pinblock_iso_0(tdes_decrypt_ecb(key, block), a.pan))
    return out


def _emv_icc_mk(a: argparse.Namespace) -> Result:
    imk = _hex(a.imk, "--imk", (16,))
    mk = (derive_icc_mk_b if a.option == "b" else derive_icc_mk_a)(imk, a.pan, a.psn)
    return {"icc_mk": _out(mk), "icc_mk_kcv": _out(kcv_tdes(mk))}


def _emv_session_key(a: argparse.Namespace) -> Result:
    sk = derive_common_session_key(_hex(a.mk, "--mk", (16,)), _hex(a.r, "--r", (8,)))
    return {"session_key": _out(sk), "session_key_kcv": _out(kcv_tdes(sk))}


def _emv_arqc(a: argparse.Namespace) -> Result:
    arqc = generate_arqc(_hex(a.sk, "--sk", (16,)), _hex(a.data, "--data"), padding=a.padding)
    return {"arqc": _out(arqc)}


def _emv_arpc(a: argparse.Namespace) -> Result:
    key, arqc = _hex(a.key, "--key", (16,)), _hex(a.arqc, "--arqc", (8,))
    if a.method == 1:
        return {"arpc": _out(generate_arpc_1(key, arqc, _hex(a.arc, "--arc", (2,))))}
    prop = _hex(a.prop_data, "--prop-data") if a.prop_data else b""
    return {"arpc": _out(generate_arpc_2(key, arqc, _hex(a.csu, "--csu", (4,)), prop))}


def _tr31_wrap(a: argparse.Namespace) -> Result:
    kbpk, key = _hex(a.kbpk, "--kbpk"), _hex(a.key, "--key")
    block = wrap_tr31(kbpk, a.header, key, masked_key_length=a.masked_length)
    return {"key_block": block}


def _tr31_unwrap(a: argparse.Namespace) -> Result:
    header, key = unwrap_tr31(_hex(a.kbpk, "--kbpk"), a.block)
    kcv = kcv_aes_cmac(key) if header.algorithm == "A" else kcv_tdes(key)
    out = {
        "version": header.version,
        "key_usage": header.key_usage,
        "algorithm": header.algorithm,
        "mode_of_use": header.mode_of_use,
        "key_version": header.key_version,
        "exportability": header.exportability,
    }
    for block_id, data in header.optional_blocks:
        out[f"block_{block_id}"] = data
    out.update(key=_out(key), key_kcv=_out(kcv))
    return out


def _lmk(a: argparse.Namespace) -> Result:
    lmk = VariantLmk.test()
    if a.action == "encrypt":
        key = _hex(a.key, "--key", (8, 16, 24))
        scheme = a.scheme or {8: "Z", 16: "U", 24: "T"}[len(key)]
        field = lmk.encrypt_key(a.key_type, key, scheme)
        return {"key_under_lmk": field, "kcv": _out(kcv_tdes(key))}
    key = lmk.decrypt_key(a.key_type, a.key_field)
    return {"key": _out(key), "kcv": _out(kcv_tdes(key))}


# --- parser ---------------------------------------------------------------------------------


def _leaf(
    sub: argparse._SubParsersAction[_Parser],
    name: str,
    func: Callable[[argparse.Namespace], Result],
    help_text: str,
    example: str,
) -> _Parser:
    p: _Parser = sub.add_parser(
        name, help=help_text, description=help_text, epilog=f"example:\n  {PROG} {example}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )  # fmt: skip
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=func)
    return p


def _build_parser() -> _Parser:  # noqa: PLR0915 - one flat declaration of the CLI
    parser = _Parser(
        prog=PROG,
        description="Payment cryptography calculator (test data only; results are printed, "
        "never logged).",
        epilog=f"example:\n  {PROG} pvv --pvk 0123456789ABCDEFFEDCBA9876543210 "
        "--pan 1122334455667788 --pvki 3 --pin 4524",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND",
                                parser_class=_Parser)  # fmt: skip

    pb = sub.add_parser("pinblock", help="ISO 9564 PIN blocks (formats 0, 1, 3, 4)")
    pb_sub = pb.add_subparsers(dest="action", required=True, parser_class=_Parser)
    enc = _leaf(pb_sub, "encode", _pinblock_encode,
                "Build a PIN block; with --key also encrypt it (TDES for 0/1/3, AES for 4).",
                "pinblock encode --format 0 --pin 1234 --pan 4012345678909")  # fmt: skip
    dec = _leaf(pb_sub, "decode", _pinblock_decode,
                "Recover the PIN from a PIN block; with --key decrypt it first.",
                "pinblock decode --format 0 --block 041274EDCBA9876F --pan 4012345678909")
    for p in (enc, dec):
        p.add_argument("--format", required=True, choices=["0", "1", "3", "4"],
                       help="ISO 9564-1 format")  # fmt: skip
        p.add_argument("--pan", help="full PAN (decimal); not used by format 1")
        p.add_argument("--key", help="PIN encryption key (hex)")
    enc.add_argument("--pin", required=True, help="4-12 digit PIN")
    enc.add_argument("--fill", help="fill/random bytes (hex) for formats 1, 3, 4; default random")
    dec.add_argument("--block", required=True, help="PIN block (hex)")

    p = _leaf(sub, "pvv", _pvv, "Visa PIN verification value.",
              "pvv --pvk 0123456789ABCDEFFEDCBA9876543210 --pan 1122334455667788 --pvki 3 "
              "--pin 4524")  # fmt: skip
    p.add_argument("--pvk", required=True, help="PVK pair (32 hex)")
    p.add_argument("--pan", required=True, help="full PAN")
    p.add_argument("--pvki", required=True, type=int, help="PVK index 0-6")
    p.add_argument("--pin", required=True, help="PIN")

    p = _leaf(sub, "offset", _offset,
              "IBM 3624 natural PIN and (with --pin) the PIN offset.",
              "offset --pvk 0123456789ABCDEFFEDCBA9876543210 --validation-data 1122334455667788"
              " --dec-table 1234567890123456 --pin 4524")  # fmt: skip
    p.add_argument("--pvk", required=True, help="PVK (hex)")
    p.add_argument("--validation-data", required=True, help="16 hex validation data")
    p.add_argument("--dec-table", required=True, help="16-digit decimalisation table")
    p.add_argument("--pin", help="customer PIN (omit for the natural PIN only)")
    p.add_argument("--check-length", type=int, help="digits checked (default: PIN length or 4)")

    p = _leaf(sub, "cvv", _cvv, "Visa CVV / Mastercard CVC (CVV2 with service code 000).",
              "cvv --cvk 0123456789ABCDEFFEDCBA9876543210 --pan 4123456789012345 --expiry 8701"
              " --service-code 101")  # fmt: skip
    p.add_argument("--cvk", required=True, help="CVK A || CVK B (32 hex)")
    p.add_argument("--pan", required=True, help="PAN")
    p.add_argument("--expiry", required=True, help="YYMM")
    p.add_argument("--service-code", required=True, help="3 digits")

    p = _leaf(sub, "kcv", _kcv, "Key check value: TDES (encrypt zeros) or AES (CMAC of zeros).",
              "kcv --key 3F419E1CB7079442AA37474C2EFBF8B8 --algorithm aes")
    p.add_argument("--key", required=True, help="key (hex)")
    p.add_argument("--algorithm", choices=["tdes", "aes"], default="tdes", help="default tdes")
    p.add_argument("--length", type=int, help="KCV bytes (default 3 TDES, 5 AES)")

    p = _leaf(sub, "mac", _mac, "MACs: ISO 9797-1 alg 1 / alg 3 (retail), AES-CMAC, TDES-CMAC.",
              "mac --algorithm alg3 --key 0123456789ABCDEFFEDCBA9876543210 "
              "--data-ascii 'Now is the time for all '")  # fmt: skip
    p.add_argument("--algorithm", required=True, choices=["alg1", "alg3", "aes-cmac", "tdes-cmac"])
    p.add_argument("--key", required=True, help="MAC key (hex)")
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--data", help="message (hex)")
    g.add_argument("--data-ascii", help="message (text, UTF-8)")
    p.add_argument("--padding", type=int, choices=[1, 2], default=MacPadding.METHOD_1,
                   help="ISO 9797-1 padding for alg1/alg3 (default 1 = zeros)")  # fmt: skip

    dk = sub.add_parser("dukpt", help="DUKPT: TDES (10-byte KSN) or AES (12-byte KSN)")
    dk_sub = dk.add_subparsers(dest="action", required=True, parser_class=_Parser)
    der = _leaf(dk_sub, "keys", _dukpt_derive,
                "Initial key (IPEK/IK), transaction key and working keys for a KSN.",
                "dukpt keys --bdk 0123456789ABCDEFFEDCBA9876543210 --ksn FFFF9876543210E00001")
    pe = _leaf(dk_sub, "pin-encrypt", _dukpt_pin,
               "Encrypt a PIN: ISO 0 under the TDES PIN key, ISO 4 under the AES PIN key.",
               "dukpt pin-encrypt --bdk 0123456789ABCDEFFEDCBA9876543210 "
               "--ksn FFFF9876543210E00001 --pin 1234 --pan 4012345678909")  # fmt: skip
    pd = _leaf(dk_sub, "pin-decrypt", _dukpt_pin, "Decrypt a DUKPT-encrypted PIN block.",
               "dukpt pin-decrypt --bdk 0123456789ABCDEFFEDCBA9876543210 "
               "--ksn FFFF9876543210E00001 --block 1B9C1845EB993A7A --pan 4012345678909")
    for p in (der, pe, pd):
        p.add_argument("--bdk", required=True, help="BDK (hex; 16 bytes TDES, AES 16/24/32)")
        p.add_argument("--ksn", required=True, help="KSN: 20 hex (TDES) or 24 hex (AES)")
        p.add_argument("--key-type", help="AES working key type: " + ", ".join(_AES_TYPES)
                       + " (default: the BDK's AES size)")  # fmt: skip
    der.add_argument("--usage", help="one working key only: TDES " + ", ".join(_TDES_USAGES)
                     + "; AES " + ", ".join(_AES_USAGES))  # fmt: skip
    pe.add_argument("--pin", required=True, help="PIN")
    pe.add_argument("--fill", help="ISO 4 fill (16 hex); default random")
    pd.add_argument("--block", required=True, help="encrypted PIN block (hex)")
    for p in (pe, pd):
        p.add_argument("--pan", required=True, help="PAN")

    em = sub.add_parser("emv", help="EMV: ICC master key, session key, ARQC, ARPC")
    em_sub = em.add_subparsers(dest="action", required=True, parser_class=_Parser)
    p = _leaf(em_sub, "icc-mk", _emv_icc_mk, "ICC master key (EMV option A or B).",
              "emv icc-mk --imk 0123456789ABCDEFFEDCBA9876543210 --pan 12345678901234567 "
              "--psn 45")  # fmt: skip
    p.add_argument("--imk", required=True, help="issuer master key (32 hex)")
    p.add_argument("--pan", required=True, help="PAN")
    p.add_argument("--psn", default="00", help="PAN sequence number (default 00)")
    p.add_argument("--option", choices=["a", "b"], default="a",
                   help="derivation option (b = option B for PANs over 16 digits)")
    p = _leaf(em_sub, "session-key", _emv_session_key, "EMV common session key from R.",
              "emv session-key --mk <ICC MK> --r 1234567890123456")
    p.add_argument("--mk", required=True, help="ICC master key (32 hex)")
    p.add_argument("--r", required=True, help="R, 8 bytes (e.g. ATC || 000000000000)")
    p = _leaf(em_sub, "arqc", _emv_arqc, "Application cryptogram (ISO 9797-1 alg 3).",
              "emv arqc --sk <session key> --data 0123456789ABCDEF0123456789ABCDEF")
    p.add_argument("--sk", required=True, help="AC session key (or ICC MK for Visa CVN 10)")
    p.add_argument("--data", required=True, help="transaction data (hex)")
    p.add_argument("--padding", type=int, choices=[1, 2], default=2,
                   help="2 = 80 padding (EMV, default), 1 = zeros (Visa CVN 10)")
    p = _leaf(em_sub, "arpc", _emv_arpc, "ARPC method 1 (ARC) or method 2 (CSU).",
              "emv arpc --method 1 --key <ICC MK> --arqc 19C1FBC83EBDC0D5 --arc 0000")
    p.add_argument("--method", type=int, choices=[1, 2], default=1)
    p.add_argument("--key", required=True, help="method 1: ICC MK or session key; 2: session key")
    p.add_argument("--arqc", required=True, help="ARQC (16 hex)")
    p.add_argument("--arc", help="method 1: authorisation response code (4 hex)")
    p.add_argument("--csu", help="method 2: card status update (8 hex)")
    p.add_argument("--prop-data", help="method 2: proprietary authentication data (hex)")

    tr = sub.add_parser("tr31", help="TR-31 / X9.143 key blocks (versions A, B, C, D)")
    tr_sub = tr.add_subparsers(dest="action", required=True, parser_class=_Parser)
    p = _leaf(tr_sub, "wrap", _tr31_wrap, "Wrap a key into a TR-31 key block.",
              "tr31 wrap --kbpk 89E88CF7931444F334BD7547FC3F380C --header B0000P0TE00N0000 "
              "--key F039121BEC83D26B169BDCD5B22AAF8F")  # fmt: skip
    p.add_argument("--kbpk", required=True, help="key block protection key (hex)")
    p.add_argument("--header", required=True, help="header text; length field is recomputed")
    p.add_argument("--key", required=True, help="key to wrap (hex)")
    p.add_argument("--masked-length", type=int, help="X9.143 length obfuscation (key bytes)")
    p = _leaf(tr_sub, "unwrap", _tr31_unwrap, "Verify and unwrap a TR-31 key block.",
              "tr31 unwrap --kbpk 89E88CF7931444F334BD7547FC3F380C --block A0072P0TE...")
    p.add_argument("--kbpk", required=True, help="key block protection key (hex)")
    p.add_argument("--block", required=True, help="the key block")

    lm = sub.add_parser("lmk", help="keys under the Thales TEST variant LMK set")
    lm_sub = lm.add_subparsers(dest="action", required=True, parser_class=_Parser)
    p = _leaf(lm_sub, "encrypt", _lmk, "Encrypt a clear key under the test LMK (variant).",
              "lmk encrypt --key-type 001 --scheme U --key 0123456789ABCDEFFEDCBA9876543210")
    p.add_argument("--key-type", required=True, help="3-digit key type code (000 ZMK, 001 ZPK...)")
    p.add_argument("--key", required=True, help="clear key (hex)")
    p.add_argument("--scheme", choices=["Z", "U", "T", "X", "Y"],
                   help="key scheme (default Z/U/T by key length)")
    p = _leaf(lm_sub, "decrypt", _lmk, "Decrypt a key field under the test LMK (variant).",
              "lmk decrypt --key-type 001 --key-field BAB32D775A38E4AB")
    p.add_argument("--key-type", required=True, help="3-digit key type code")
    p.add_argument("--key-field", required=True, help="key under LMK (16H or scheme + hex)")
    return parser


def _render(result: Result, as_json: bool) -> str:
    if as_json:
        return json.dumps(result)
    return "\n".join(f"{name}: {value}" for name, value in result.items())


def main(argv: list[str] | None = None) -> int:
    """Run the calculator; returns the exit status (0 ok, 2 bad input)."""
    parser = _build_parser()
    try:
        args = parser.parse_args(argv)
        result = args.func(args)
    except SystemExit as e:  # --help
        return int(e.code or 0) if not isinstance(e.code, str) else 2
    except (UsageError, CryptoError) as e:
        print(f"{PROG}: error: {e}", file=sys.stderr)
        return 2
    except ValueError:
        print(f"{PROG}: error: invalid input", file=sys.stderr)
        return 2
    print(_render(result, args.json))
    return 0


if __name__ == "__main__":
    sys.exit(main())
