"""Golden wire tests: request frame bytes -> response frame bytes under the Thales test LMK.

Expected values come from the shared vectors and the ``hsm_sim.crypto`` functions; each command
also has a negative test for its main error codes.
"""

from __future__ import annotations

from typing import Any

import pytest

from hsm_sim.crypto import (
    adjust_key_parity,
    encipher_pinblock,
    kcv_tdes,
    tdes_decrypt_ecb,
    tdes_encrypt_ecb,
)
from hsm_sim.crypto.lmk import VariantLmk
from hsm_sim.soft_hsm import SoftHsm
from hsm_sim.thales.codec import Framer, encode_frame

HEADER = b"HDR1"
ACCOUNT = "401234567890"  # pan12 of 4012345678909 (ISO-0 vector PAN)


def wire(hsm: SoftHsm, request_body: bytes, header: bytes = HEADER) -> bytes:
    """Full frame in -> full frame out (through the framer)."""
    f = Framer(header_length=len(header))
    f.receive_data(encode_frame(header, request_body))
    frame = f.next_frame()
    assert frame is not None and f.buffered == 0
    return encode_frame(frame.header, hsm.handle(frame.body))


def expect(body: bytes, header: bytes = HEADER) -> bytes:
    return encode_frame(header, body)


def bad_parity(key: bytes) -> bytes:
    return bytes([key[0] ^ 0x01]) + key[1:]


def block(key: bytes, pin: str, account: str = ACCOUNT, fmt: str = "01") -> str:
    return encipher_pinblock(key, pin, account, fmt).hex().upper()


# ------------------------------------------------------------------ diagnostics


def test_nc_thales_frame_vector(hsm_vectors: Any, soft_hsm: SoftHsm, hsm_lmk: VariantLmk) -> None:
    v = hsm_vectors("thales_frame")[0]
    request = bytes.fromhex(v["inputs"]["request_hex"])
    header = v["inputs"]["header"].encode()
    out = wire(soft_hsm, request[2 + len(header) :], header)
    assert out == expect(b"ND00" + hsm_lmk.check_value().encode() + b"0007-E000", header)
    assert int.from_bytes(out[:2], "big") == v["expected"]["response_len"]
    assert out[2 + 4 : 2 + 6].decode() == v["expected"]["response_code"]


def test_nc_exception(soft_hsm: SoftHsm) -> None:
    assert wire(soft_hsm, b"NCjunk") == expect(b"ND15")


def test_no(soft_hsm: SoftHsm) -> None:
    assert wire(soft_hsm, b"NO00") == expect(b"NP00" + b"2164" + b"0007-E000")
    assert wire(soft_hsm, b"NO") == expect(b"NP00" + b"2164" + b"0007-E000")


def test_no_exception(soft_hsm: SoftHsm) -> None:
    assert wire(soft_hsm, b"NO99") == expect(b"NP15")
    assert wire(soft_hsm, b"NOZZ") == expect(b"NP15")


def test_b2_echo_and_trailer(soft_hsm: SoftHsm) -> None:
    assert wire(soft_hsm, b"B2000Bhello world") == expect(b"B300hello world")
    assert wire(soft_hsm, b"B20003a\x19b\x19TRL") == expect(b"B300a\x19b\x19TRL")


def test_b2_exception(soft_hsm: SoftHsm) -> None:
    assert wire(soft_hsm, b"B20010short") == expect(b"B380")
    assert wire(soft_hsm, b"B20002abc") == expect(b"B315")
    assert wire(soft_hsm, b"B2zz") == expect(b"B315")


# ------------------------------------------------------------------ key management


def test_a0_generate(soft_hsm: SoftHsm, hsm_lmk: VariantLmk) -> None:
    out = wire(soft_hsm, b"A00002U")
    body = out[6:]
    assert body[:4] == b"A100" and len(body) == 4 + 33 + 6
    key = hsm_lmk.decrypt_key("002", body[4:37].decode())
    assert body[37:].decode() == kcv_tdes(key).hex().upper()
    assert key == adjust_key_parity(key)


def test_a0_generate_and_export(soft_hsm: SoftHsm, hsm_lmk: VariantLmk, hsm_keys: Any) -> None:
    out = wire(soft_hsm, f"A01001U;0{hsm_keys.zmk_lmk}X".encode())[6:]
    assert out[:4] == b"A100"
    key_lmk, key_zmk, kcv = out[4:37].decode(), out[37:70].decode(), out[70:].decode()
    key = hsm_lmk.decrypt_key("001", key_lmk)
    assert key_zmk[0] == "X"
    assert tdes_decrypt_ecb(hsm_keys.zmk, bytes.fromhex(key_zmk[1:])) == key
    assert kcv == kcv_tdes(key).hex().upper()


def test_a0_exception(soft_hsm: SoftHsm, hsm_lmk: VariantLmk, hsm_keys: Any) -> None:
    assert wire(soft_hsm, b"A00002Q") == expect(b"A126")
    assert wire(soft_hsm, b"A000F2U") == expect(b"A104")
    assert wire(soft_hsm, b"A00002") == expect(b"A115")
    bad_zmk = hsm_lmk.encrypt_key("000", bad_parity(hsm_keys.zmk), "U")
    assert wire(soft_hsm, f"A01001U;0{bad_zmk}X".encode()) == expect(b"A110")
    assert wire(soft_hsm, b"A0A009U") == expect(b"A115")  # mode A: derivation fields missing


def test_a6_import(soft_hsm: SoftHsm, hsm_lmk: VariantLmk, hsm_keys: Any) -> None:
    under_zmk = "X" + tdes_encrypt_ecb(hsm_keys.zmk, hsm_keys.pvk).hex().upper()
    out = wire(soft_hsm, f"A6001{hsm_keys.zmk_lmk}{under_zmk}U".encode())
    assert out == expect(
        b"A700"
        + hsm_lmk.encrypt_key("001", hsm_keys.pvk, "U").encode()
        + kcv_tdes(hsm_keys.pvk).hex().upper().encode()
    )


def test_a6_exception(soft_hsm: SoftHsm, hsm_lmk: VariantLmk, hsm_keys: Any) -> None:
    bad = bad_parity(hsm_keys.pvk)
    under_zmk = "X" + tdes_encrypt_ecb(hsm_keys.zmk, bad).hex().upper()
    out = wire(soft_hsm, f"A6001{hsm_keys.zmk_lmk}{under_zmk}U".encode())
    assert out[6:10] == b"A701"  # parity warning, key still imported
    assert hsm_lmk.decrypt_key("001", out[10:43].decode()) == bad
    bad_zmk = hsm_lmk.encrypt_key("000", bad_parity(hsm_keys.zmk), "U")
    assert wire(soft_hsm, f"A6001{bad_zmk}{under_zmk}U".encode()) == expect(b"A710")
    assert wire(soft_hsm, f"A6001{hsm_keys.zmk_lmk}{under_zmk}Z".encode()) == expect(b"A727")


def test_a8_export(soft_hsm: SoftHsm, hsm_keys: Any) -> None:
    out = wire(soft_hsm, f"A8001{hsm_keys.zmk_lmk}{hsm_keys.zpk2_lmk}X".encode())
    assert out == expect(
        b"A900X"
        + tdes_encrypt_ecb(hsm_keys.zmk, hsm_keys.zpk2).hex().upper().encode()
        + kcv_tdes(hsm_keys.zpk2).hex().upper().encode()
    )
    out_u = wire(soft_hsm, f"A8001;0{hsm_keys.zmk_lmk}{hsm_keys.zpk2_lmk}U".encode())
    assert out_u[6:11] == b"A900U"


def test_a8_exception(soft_hsm: SoftHsm, hsm_lmk: VariantLmk, hsm_keys: Any) -> None:
    bad_key = hsm_lmk.encrypt_key("001", bad_parity(hsm_keys.zpk2), "U")
    assert wire(soft_hsm, f"A8001{hsm_keys.zmk_lmk}{bad_key}X".encode()) == expect(b"A911")
    bad_zmk = hsm_lmk.encrypt_key("000", bad_parity(hsm_keys.zmk), "U")
    assert wire(soft_hsm, f"A8001{bad_zmk}{hsm_keys.zpk2_lmk}X".encode()) == expect(b"A910")
    assert wire(soft_hsm, f"A8001{hsm_keys.zmk_lmk}{hsm_keys.zpk2_lmk}Z".encode()) == expect(
        b"A927"
    )


def test_bu_kcv(soft_hsm: SoftHsm, hsm_keys: Any) -> None:
    kcv16 = kcv_tdes(hsm_keys.zpk, 8).hex().upper().encode()
    assert wire(soft_hsm, f"BU010{hsm_keys.zpk_lmk}".encode()) == expect(b"BV00" + kcv16)
    assert wire(soft_hsm, f"BU010{hsm_keys.zpk_lmk};001".encode()) == expect(b"BV00" + kcv16[:6])
    cvk_kcv = kcv_tdes(hsm_keys.cvk).hex().upper().encode()
    assert wire(soft_hsm, f"BUFF1{hsm_keys.cvk_lmk};402;001%00".encode()) == expect(
        b"BV00" + cvk_kcv
    )


def test_bu_exception(soft_hsm: SoftHsm, hsm_lmk: VariantLmk, hsm_keys: Any) -> None:
    bad = hsm_lmk.encrypt_key("001", bad_parity(hsm_keys.zpk2), "U")
    assert wire(soft_hsm, f"BU011{bad}".encode()) == expect(b"BV10")
    assert wire(soft_hsm, f"BU010{hsm_keys.zpk_lmk};002".encode()) == expect(b"BV15")
    assert wire(soft_hsm, f"BU013{hsm_keys.zpk_lmk}".encode()) == expect(b"BV15")


def test_fa_zmk_to_lmk(soft_hsm: SoftHsm, hsm_lmk: VariantLmk, hsm_keys: Any) -> None:
    under_zmk = "X" + tdes_encrypt_ecb(hsm_keys.zmk, hsm_keys.zpk2).hex().upper()
    out = wire(soft_hsm, f"FA{hsm_keys.zmk_lmk}{under_zmk};0U1".encode())
    assert out == expect(
        b"FB00"
        + hsm_lmk.encrypt_key("001", hsm_keys.zpk2, "U").encode()
        + kcv_tdes(hsm_keys.zpk2).hex().upper().encode()
    )


def test_fa_exception(soft_hsm: SoftHsm, hsm_lmk: VariantLmk, hsm_keys: Any) -> None:
    bad_zmk = hsm_lmk.encrypt_key("000", bad_parity(hsm_keys.zmk), "U")
    under_zmk = "X" + tdes_encrypt_ecb(hsm_keys.zmk, hsm_keys.zpk2).hex().upper()
    assert wire(soft_hsm, f"FA{bad_zmk}{under_zmk}".encode()) == expect(b"FB10")
    assert wire(soft_hsm, f"FA{hsm_keys.zmk_lmk}{under_zmk};0U7".encode()) == expect(b"FB15")


def test_gc_lmk_to_zmk(soft_hsm: SoftHsm, hsm_keys: Any) -> None:
    out = wire(soft_hsm, f"GC{hsm_keys.zmk_lmk}{hsm_keys.zpk2_lmk};X01".encode())
    assert out == expect(
        b"GD00X"
        + tdes_encrypt_ecb(hsm_keys.zmk, hsm_keys.zpk2).hex().upper().encode()
        + kcv_tdes(hsm_keys.zpk2).hex().upper().encode()
    )


def test_gc_exception(soft_hsm: SoftHsm, hsm_lmk: VariantLmk, hsm_keys: Any) -> None:
    bad = hsm_lmk.encrypt_key("001", bad_parity(hsm_keys.zpk2), "U")
    assert wire(soft_hsm, f"GC{hsm_keys.zmk_lmk}{bad}".encode()) == expect(b"GD11")


def test_hc_new_tpk(soft_hsm: SoftHsm, hsm_lmk: VariantLmk, hsm_keys: Any) -> None:
    out = wire(soft_hsm, f"HC{hsm_keys.tpk_lmk};XU0".encode())[6:]
    assert out[:4] == b"HD00"
    under_tmk, under_lmk = out[4:37].decode(), out[37:].decode()
    key = hsm_lmk.decrypt_key("002", under_lmk)
    assert tdes_decrypt_ecb(hsm_keys.tpk, bytes.fromhex(under_tmk[1:])) == key


def test_hc_exception(soft_hsm: SoftHsm, hsm_lmk: VariantLmk, hsm_keys: Any) -> None:
    bad = hsm_lmk.encrypt_key("002", bad_parity(hsm_keys.tpk), "U")
    assert wire(soft_hsm, f"HC{bad}".encode()) == expect(b"HD10")


def test_ia_new_zpk(soft_hsm: SoftHsm, hsm_lmk: VariantLmk, hsm_keys: Any) -> None:
    out = wire(soft_hsm, f"IA{hsm_keys.zmk_lmk};XU1".encode())[6:]
    assert out[:4] == b"IB00"
    under_zmk, under_lmk, kcv = out[4:37].decode(), out[37:70].decode(), out[70:].decode()
    key = hsm_lmk.decrypt_key("001", under_lmk)
    assert tdes_decrypt_ecb(hsm_keys.zmk, bytes.fromhex(under_zmk[1:])) == key
    assert kcv == kcv_tdes(key).hex().upper()


def test_ia_exception(soft_hsm: SoftHsm, hsm_lmk: VariantLmk, hsm_keys: Any) -> None:
    bad_zmk = hsm_lmk.encrypt_key("000", bad_parity(hsm_keys.zmk), "U")
    assert wire(soft_hsm, f"IA{bad_zmk};XU1".encode()) == expect(b"IB10")
    assert wire(soft_hsm, f"IA{hsm_keys.zmk_lmk};XQ1".encode()) == expect(b"IB26")


# ------------------------------------------------------------------ PIN translation


def test_ca_tpk_to_zpk(soft_hsm: SoftHsm, hsm_keys: Any) -> None:
    src = block(hsm_keys.tpk, "1234")
    req = f"CA{hsm_keys.tpk_lmk}{hsm_keys.zpk_lmk}12{src}0101{ACCOUNT}".encode()
    assert wire(soft_hsm, req) == expect(f"CB0004{block(hsm_keys.zpk, '1234')}01".encode())


def test_ca_exception(soft_hsm: SoftHsm, hsm_lmk: VariantLmk, hsm_keys: Any) -> None:
    src = block(hsm_keys.tpk, "1234")
    t, z = hsm_keys.tpk_lmk, hsm_keys.zpk_lmk
    assert wire(soft_hsm, f"CA{t}{z}10{src}0101{ACCOUNT}".encode()) == expect(b"CB15")
    assert wire(soft_hsm, f"CA{t}{z}12{src}9901{ACCOUNT}".encode()) == expect(b"CB23")
    bad_t = hsm_lmk.encrypt_key("002", bad_parity(hsm_keys.tpk), "U")
    assert wire(soft_hsm, f"CA{bad_t}{z}12{src}0101{ACCOUNT}".encode()) == expect(b"CB10")
    bad_z = hsm_lmk.encrypt_key("001", bad_parity(hsm_keys.zpk), "Z")
    assert wire(soft_hsm, f"CA{t}{bad_z}12{src}0101{ACCOUNT}".encode()) == expect(b"CB11")
    clear = bytes.fromhex("03123FFFFFFFFFFF")
    pan_block = bytes.fromhex("0000" + ACCOUNT)
    short = tdes_encrypt_ecb(
        hsm_keys.tpk, bytes(a ^ b for a, b in zip(clear, pan_block, strict=True))
    )
    req = f"CA{t}{z}12{short.hex().upper()}0101{ACCOUNT}".encode()
    assert wire(soft_hsm, req) == expect(b"CB24")
    assert wire(soft_hsm, f"CA{t}{z}12{src}01".encode()) == expect(b"CB15")


def test_cc_zpk_to_zpk(soft_hsm: SoftHsm, hsm_keys: Any) -> None:
    src = block(hsm_keys.zpk, "98765")
    req = f"CC{hsm_keys.zpk_lmk}{hsm_keys.zpk2_lmk}12{src}0101{ACCOUNT}".encode()
    assert wire(soft_hsm, req) == expect(f"CD0005{block(hsm_keys.zpk2, '98765')}01".encode())


def test_cc_exception(soft_hsm: SoftHsm, hsm_lmk: VariantLmk, hsm_keys: Any) -> None:
    src = block(hsm_keys.zpk, "98765")
    z1, z2 = hsm_keys.zpk_lmk, hsm_keys.zpk2_lmk
    assert wire(soft_hsm, f"CC{z1}{z2}12{src}0199{ACCOUNT}".encode()) == expect(b"CD23")
    bad = hsm_lmk.encrypt_key("001", bad_parity(hsm_keys.zpk2), "U")
    assert wire(soft_hsm, f"CC{z1}{bad}12{src}0101{ACCOUNT}".encode()) == expect(b"CD11")


def test_jc_je_jg(soft_hsm: SoftHsm, hsm_lmk: VariantLmk, hsm_keys: Any) -> None:
    pin_lmk = hsm_lmk.encrypt_pin("1234", ACCOUNT)
    jc = f"JC{hsm_keys.tpk_lmk}{block(hsm_keys.tpk, '1234')}01{ACCOUNT}".encode()
    assert wire(soft_hsm, jc) == expect(f"JD00{pin_lmk}".encode())
    je = f"JE{hsm_keys.zpk_lmk}{block(hsm_keys.zpk, '1234')}01{ACCOUNT}".encode()
    assert wire(soft_hsm, je) == expect(f"JF00{pin_lmk}".encode())
    jg = f"JG{hsm_keys.zpk_lmk}01{ACCOUNT}{pin_lmk}".encode()
    assert wire(soft_hsm, jg) == expect(f"JH00{block(hsm_keys.zpk, '1234')}".encode())


def test_jc_je_jg_exception(soft_hsm: SoftHsm, hsm_keys: Any) -> None:
    jc = f"JC{hsm_keys.tpk_lmk}{block(hsm_keys.tpk, '1234')}02{ACCOUNT}".encode()
    assert wire(soft_hsm, jc) == expect(b"JD23")
    je = f"JE{hsm_keys.zpk_lmk}{block(hsm_keys.tpk, '1234')}01{ACCOUNT}".encode()
    assert wire(soft_hsm, je)[6:8] == b"JF" and wire(soft_hsm, je)[8:10] != b"00"
    jg = f"JG{hsm_keys.zpk_lmk}01{ACCOUNT}123".encode()
    assert wire(soft_hsm, jg) == expect(b"JH14")


# ------------------------------------------------------------------ PIN verification


def test_dc_ec_visa_pvv(hsm_vectors: Any, soft_hsm: SoftHsm, hsm_keys: Any) -> None:
    v = hsm_vectors("visa_pvv")[0]
    pan, pin, pvki = v["inputs"]["pan"], v["inputs"]["pin"], v["inputs"]["pvki"]
    pvv = v["expected"]["pvv"]
    acct = pan[-13:-1]
    dc = (
        f"DC{hsm_keys.tpk_lmk}{hsm_keys.pvk_lmk}{block(hsm_keys.tpk, pin, acct)}01{acct}{pvki}{pvv}"
    )
    assert wire(soft_hsm, dc.encode()) == expect(b"DD00")
    ec = (
        f"EC{hsm_keys.zpk_lmk}{hsm_keys.pvk_lmk}{block(hsm_keys.zpk, pin, acct)}01{acct}{pvki}{pvv}"
    )
    assert wire(soft_hsm, ec.encode()) == expect(b"ED00")


def test_dc_ec_exception(
    hsm_vectors: Any, soft_hsm: SoftHsm, hsm_lmk: VariantLmk, hsm_keys: Any
) -> None:
    v = hsm_vectors("visa_pvv")[0]["inputs"]
    acct = v["pan"][-13:-1]
    pb = block(hsm_keys.tpk, v["pin"], acct)
    t, p = hsm_keys.tpk_lmk, hsm_keys.pvk_lmk
    assert wire(soft_hsm, f"DC{t}{p}{pb}01{acct}{v['pvki']}0000".encode()) == expect(b"DD01")
    bad_p = hsm_lmk.encrypt_key("002", bad_parity(hsm_keys.pvk), "U")
    assert wire(soft_hsm, f"DC{t}{bad_p}{pb}01{acct}{v['pvki']}0000".encode()) == expect(b"DD11")
    bad_t = hsm_lmk.encrypt_key("002", bad_parity(hsm_keys.tpk), "U")
    assert wire(soft_hsm, f"DC{bad_t}{p}{pb}01{acct}{v['pvki']}0000".encode()) == expect(b"DD10")
    single = hsm_lmk.encrypt_key("002", hsm_keys.zpk, "Z")
    assert wire(soft_hsm, f"DC{t}Z{single}{pb}01{acct}30000".encode()) == expect(b"DD27")
    z = hsm_keys.zpk_lmk
    ec = f"EC{z}{p}{block(hsm_keys.zpk, '1111', acct)}01{acct}{v['pvki']}0000"
    assert wire(soft_hsm, ec.encode()) == expect(b"ED01")


def _ibm(hsm_vectors: Any) -> tuple[str, str, str, str, str]:
    v = hsm_vectors("ibm3624_offset")[0]
    vd = v["inputs"]["validation_data"]  # 16H: 11 digits + the 5 account digits substituted for N
    account = "0000000" + vd[11:]
    return (
        v["inputs"]["pin"],
        account,
        vd[:11] + "N",
        v["inputs"]["decimalization_table"],
        v["expected"]["offset"],
    )


def test_da_ea_ibm_offset(hsm_vectors: Any, soft_hsm: SoftHsm, hsm_keys: Any) -> None:
    pin, acct, vdata, table, offset = _ibm(hsm_vectors)
    tail = f"01{len(offset):02d}{acct}{table}{vdata}{offset.ljust(12, 'F')}"
    da = f"DA{hsm_keys.tpk_lmk}{hsm_keys.pvk_lmk}12{block(hsm_keys.tpk, pin, acct)}{tail}"
    assert wire(soft_hsm, da.encode()) == expect(b"DB00")
    ea = f"EA{hsm_keys.zpk_lmk}{hsm_keys.pvk_lmk}12{block(hsm_keys.zpk, pin, acct)}{tail}"
    assert wire(soft_hsm, ea.encode()) == expect(b"EB00")


def test_da_ea_exception(
    hsm_vectors: Any, soft_hsm: SoftHsm, hsm_lmk: VariantLmk, hsm_keys: Any
) -> None:
    pin, acct, vdata, table, _ = _ibm(hsm_vectors)
    pb = block(hsm_keys.tpk, pin, acct)
    t, p = hsm_keys.tpk_lmk, hsm_keys.pvk_lmk
    wrong = "1111FFFFFFFF"
    assert wire(soft_hsm, f"DA{t}{p}12{pb}0104{acct}{table}{vdata}{wrong}".encode()) == expect(
        b"DB01"
    )
    assert wire(soft_hsm, f"DA{t}{p}08{pb}0104{acct}{table}{vdata}{wrong}".encode()) == expect(
        b"DB15"
    )
    bad_p = hsm_lmk.encrypt_key("002", bad_parity(hsm_keys.pvk), "U")
    assert wire(soft_hsm, f"DA{t}{bad_p}12{pb}0104{acct}{table}{vdata}{wrong}".encode()) == expect(
        b"DB11"
    )
    z = hsm_keys.zpk_lmk
    zb = block(hsm_keys.zpk, pin, acct)
    assert wire(soft_hsm, f"EA{z}{p}11{zb}0104{acct}{table}{vdata}{wrong}".encode()) == expect(
        b"EB15"
    )
    assert wire(soft_hsm, f"EA{z}{p}12{zb}0104{acct}{table}{vdata}{wrong}".encode()) == expect(
        b"EB01"
    )


def test_de_dg_generate(
    hsm_vectors: Any, soft_hsm: SoftHsm, hsm_lmk: VariantLmk, hsm_keys: Any
) -> None:
    pin, acct, vdata, table, offset = _ibm(hsm_vectors)
    pin_lmk = hsm_lmk.encrypt_pin(pin, acct)
    de = f"DE{hsm_keys.pvk_lmk}{pin_lmk}{len(offset):02d}{acct}{table}{vdata}%00"
    assert wire(soft_hsm, de.encode()) == expect(f"DF00{offset.ljust(12, 'F')}".encode())
    v = hsm_vectors("visa_pvv")[0]
    acct2 = v["inputs"]["pan"][-13:-1]
    pin_lmk2 = hsm_lmk.encrypt_pin(v["inputs"]["pin"], acct2)
    dg = f"DG{hsm_keys.pvk_lmk}{pin_lmk2}{acct2}{v['inputs']['pvki']}"
    assert wire(soft_hsm, dg.encode()) == expect(f"DH00{v['expected']['pvv']}".encode())


def test_de_dg_exception(soft_hsm: SoftHsm, hsm_lmk: VariantLmk, hsm_keys: Any) -> None:
    de = f"DE{hsm_keys.pvk_lmk}99999104{ACCOUNT}1234567890123456{ACCOUNT}"
    assert wire(soft_hsm, de.encode()) == expect(b"DF14")
    single = hsm_lmk.encrypt_key("002", hsm_keys.zpk, "Z")
    dg = f"DGZ{single}{hsm_lmk.encrypt_pin('1234', ACCOUNT)}{ACCOUNT}1"
    assert wire(soft_hsm, dg.encode()) == expect(b"DH27")


# ------------------------------------------------------------------ card verification


def test_cw_cy_cvv(hsm_vectors: Any, soft_hsm: SoftHsm, hsm_keys: Any) -> None:
    v = hsm_vectors("visa_cvv")[0]
    i, cvv = v["inputs"], v["expected"]["cvv"]
    cw = f"CW{hsm_keys.cvk_lmk}{i['pan']};{i['expiry']}{i['service_code']}"
    assert wire(soft_hsm, cw.encode()) == expect(f"CX00{cvv}".encode())
    cy = f"CY{hsm_keys.cvk_lmk}{cvv}{i['pan']};{i['expiry']}{i['service_code']}"
    assert wire(soft_hsm, cy.encode()) == expect(b"CZ00")
    # unprefixed 32H CVK pair (X9.17 encryption under the LMK)
    bare = VariantLmk.test().encrypt_key("402", hsm_keys.cvk, "X")[1:]
    assert wire(
        soft_hsm, f"CW{bare}{i['pan']};{i['expiry']}{i['service_code']}".encode()
    ) == expect(f"CX00{cvv}".encode())


def test_cw_cy_exception(
    hsm_vectors: Any, soft_hsm: SoftHsm, hsm_lmk: VariantLmk, hsm_keys: Any
) -> None:
    i = hsm_vectors("visa_cvv")[0]["inputs"]
    cy = f"CY{hsm_keys.cvk_lmk}000{i['pan']};{i['expiry']}{i['service_code']}"
    assert wire(soft_hsm, cy.encode()) in (expect(b"CZ01"), expect(b"CZ00"))
    bad = hsm_lmk.encrypt_key("402", bad_parity(hsm_keys.cvk), "U")
    assert wire(soft_hsm, f"CW{bad}{i['pan']};{i['expiry']}{i['service_code']}".encode()) == expect(
        b"CX10"
    )
    assert wire(
        soft_hsm, f"CW{hsm_keys.cvk_lmk}{i['pan']}{i['expiry']}{i['service_code']}".encode()
    ) == expect(b"CX15")


def test_cy_wrong_cvv(hsm_vectors: Any, soft_hsm: SoftHsm, hsm_keys: Any) -> None:
    v = hsm_vectors("visa_cvv")[0]
    i = v["inputs"]
    wrong = f"{(int(v['expected']['cvv']) + 1) % 1000:03d}"
    cy = f"CY{hsm_keys.cvk_lmk}{wrong}{i['pan']};{i['expiry']}{i['service_code']}"
    assert wire(soft_hsm, cy.encode()) == expect(b"CZ01")


# ------------------------------------------------------------------ dispatch


@pytest.mark.parametrize(
    ("request_body", "response_body"),
    [
        (b"XQ", b"ZZ15"),  # unknown command code
        (b"\xff\xfe", b"ZZ15"),  # not even ASCII
        (b"N", b"ZZ15"),  # shorter than a command code
        (b"", b"ZZ15"),
        (b"A2", b"A368"),  # known, not implemented: disabled
        (b"EE0000", b"EF68"),
        (b"NCx\x19T", b"ND15\x19T"),  # junk after the fields; trailer still echoed
    ],
)
def test_dispatch_answers(soft_hsm: SoftHsm, request_body: bytes, response_body: bytes) -> None:
    assert wire(soft_hsm, request_body) == expect(response_body)


def test_trailer_and_lmk_block_are_echoed_and_ignored(
    soft_hsm: SoftHsm, hsm_lmk: VariantLmk
) -> None:
    out = wire(soft_hsm, b"NC%00\x19TRAILER")
    assert out == expect(b"ND00" + hsm_lmk.check_value().encode() + b"0007-E000\x19TRAILER")
