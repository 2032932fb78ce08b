"""Golden wire tests for A0 modes A/B (DUKPT IPEK), M0/M2 (data), KW (EMV CVNs), G0 with AES DUKPT
and ``S`` (key-block LMK) keys; each command also has negative tests for its main error codes.

Expected values come from the shared vectors (loaded through ``hsm_vectors``) and the
``hsm_sim.crypto`` functions; requests are built the way a payShield client would send them.
"""

from __future__ import annotations

from typing import Any

import pytest

from hsm_sim.crypto import (
    KeyBlockLmk,
    decipher_pinblock,
    derive_common_session_key,
    derive_icc_mk_a,
    encipher_pinblock,
    kcv_aes_cmac,
    kcv_tdes,
    mastercard_cvn16_arqc,
    mastercard_cvn20_arpc,
    mastercard_cvn20_arqc,
    tdes_decrypt_ecb,
    tdes_encrypt_ecb,
)
from hsm_sim.crypto import generate_arpc_1 as arpc_1
from hsm_sim.crypto.lmk import VariantLmk
from hsm_sim.soft_hsm import SoftHsm
from hsm_sim.thales.codec import Framer, encode_frame

HEADER = b"0001"
KB_LMK = KeyBlockLmk.test()

_TAGS = ("tag_9f02", "tag_9f03", "tag_9f1a", "tag_95", "tag_5f2a", "tag_9a", "tag_9c",
         "tag_9f37", "tag_82", "tag_9f36")  # fmt: skip


def wire(hsm: SoftHsm, request_body: bytes) -> bytes:
    f = Framer(header_length=len(HEADER))
    f.receive_data(encode_frame(HEADER, request_body))
    frame = f.next_frame()
    assert frame is not None and f.buffered == 0
    return encode_frame(frame.header, hsm.handle(frame.body))


def expect(body: bytes) -> bytes:
    return encode_frame(HEADER, body)


def body_of(out: bytes) -> bytes:
    return out[2 + len(HEADER) :]


@pytest.fixture
def kb_hsm(hsm_lmk: VariantLmk) -> SoftHsm:
    return SoftHsm(hsm_lmk, keyblock_lmk=KB_LMK)


def s_key(key: bytes, usage: str, algorithm: str, mode: str = "N") -> str:
    """``key`` as an S key, with fixed zero padding so that request bytes are reproducible."""
    block = 16 if KB_LMK.version == "1" else 8
    pad = bytes(-(2 + len(key)) % block)
    return KB_LMK.wrap(key, usage=usage, algorithm=algorithm, mode_of_use=mode, random_pad=pad)


def _tdes_bdk(hsm_vectors: Any) -> tuple[str, bytes]:
    v = hsm_vectors("dukpt_tdes_ipek")[0]
    field = next(
        x["inputs"]["key_under_lmk"]
        for x in hsm_vectors("thales_test_lmk_key")
        if x["expected"]["clear_key"] == v["inputs"]["bdk"] and x["inputs"]["key_type"] == "009"
    )
    return field, bytes.fromhex(v["inputs"]["bdk"])


# ------------------------------------------------------------------ A0 modes A / B


def test_a0_mode_a_tdes_ipek(hsm_vectors: Any, soft_hsm: SoftHsm, hsm_lmk: VariantLmk) -> None:
    v = hsm_vectors("dukpt_tdes_ipek")[0]
    bdk_field, _ = _tdes_bdk(hsm_vectors)
    ipek = bytes.fromhex(v["expected"]["ipek"])
    req = f"A0A302U01{bdk_field}{v['inputs']['ksn']}".encode()
    ipek_lmk = hsm_lmk.encrypt_key("302", ipek, "U")
    kcv = kcv_tdes(ipek).hex().upper()
    assert kcv == "AF8C07"  # hsm.md §7.1 anchor
    assert wire(soft_hsm, req) == expect(f"A100{ipek_lmk}{kcv}".encode())


def test_a0_mode_b_tdes_ipek_exported(
    hsm_vectors: Any, soft_hsm: SoftHsm, hsm_lmk: VariantLmk, hsm_keys: Any
) -> None:
    v = hsm_vectors("dukpt_tdes_ipek")[0]
    bdk_field, _ = _tdes_bdk(hsm_vectors)
    ipek = bytes.fromhex(v["expected"]["ipek"])
    req = f"A0B302U01{bdk_field}{v['inputs']['ksn']};0{hsm_keys.zmk_lmk}X%00".encode()
    under_zmk = "X" + tdes_encrypt_ecb(hsm_keys.zmk, ipek).hex().upper()
    ipek_lmk = hsm_lmk.encrypt_key("302", ipek, "U")
    assert wire(soft_hsm, req) == expect(f"A100{ipek_lmk}{under_zmk}AF8C07".encode())


def test_a0_mode_a_aes_ik(hsm_vectors: Any, kb_hsm: SoftHsm) -> None:
    v = hsm_vectors("dukpt_aes_ik")[0]
    bdk = s_key(bytes.fromhex(v["inputs"]["bdk"]), "B0", "A", "X")
    ksn = v["inputs"]["initial_key_id"] + "00000000"
    out = body_of(wire(kb_hsm, f"A0A302S04{bdk}{ksn}".encode()))
    assert out[:4] == b"A100"
    ik_field, kcv = out[4:-6].decode(), out[-6:].decode()
    header, ik = KB_LMK.unwrap(ik_field)
    assert ik.hex().upper() == v["expected"]["initial_key"]
    assert (header.key_usage, header.algorithm) == ("B1", "A")
    assert kcv == kcv_aes_cmac(ik, 3).hex().upper()


def test_a0_generate_s_key(kb_hsm: SoftHsm) -> None:
    out = body_of(wire(kb_hsm, b"A00FFFS#D0A1N00E00"))
    assert out[:4] == b"A100"
    header, key = KB_LMK.unwrap(out[4:-6].decode())
    assert (header.key_usage, header.algorithm, header.mode_of_use) == ("D0", "A", "N")
    assert len(key) == 16 and out[-6:].decode() == kcv_aes_cmac(key, 3).hex().upper()


def test_a0_mode_ab_exception(
    hsm_vectors: Any, soft_hsm: SoftHsm, kb_hsm: SoftHsm, hsm_lmk: VariantLmk
) -> None:
    ksn = hsm_vectors("dukpt_tdes_ipek")[0]["inputs"]["ksn"]
    bdk_field, bdk = _tdes_bdk(hsm_vectors)
    assert wire(soft_hsm, f"A0A302U11{bdk_field}{ksn}".encode()) == expect(b"A115")  # derive mode
    assert wire(soft_hsm, f"A0A302U09{bdk_field}{ksn}".encode()) == expect(b"A115")  # BDK type
    bad = hsm_lmk.encrypt_key("009", bytes([bdk[0] ^ 1]) + bdk[1:], "U")
    assert wire(soft_hsm, f"A0A302U01{bad}{ksn}".encode()) == expect(b"A110")
    single = hsm_lmk.encrypt_key("009", bdk[:8], "Z")
    assert wire(soft_hsm, f"A0A302U01Z{single}{ksn}".encode()) == expect(b"A127")
    aes_bdk = s_key(bytes(range(16)), "B0", "A", "X")
    assert wire(soft_hsm, f"A0A302S04{aes_bdk}{ksn}0000".encode()) == expect(b"A126")  # no KB LMK
    wrong_usage = s_key(bytes(range(16)), "D0", "A", "X")
    assert wire(kb_hsm, f"A0A302S04{wrong_usage}{ksn}0000".encode()) == expect(b"A1A6")
    tampered = aes_bdk[:-1] + ("0" if aes_bdk[-1] != "0" else "1")
    assert wire(kb_hsm, f"A0A302S04{tampered}{ksn}0000".encode()) == expect(b"A1A4")
    assert wire(kb_hsm, f"A0A302U04{aes_bdk}{ksn}0000".encode()) == expect(b"A126")  # AES under U


# ------------------------------------------------------------------ M0 / M2


def _dek(hsm_lmk: VariantLmk, hsm_keys: Any) -> tuple[bytes, str]:
    return hsm_keys.pvk, hsm_lmk.encrypt_key("00B", hsm_keys.pvk, "U")


def test_m0_m2_tdes_ecb_cbc(soft_hsm: SoftHsm, hsm_lmk: VariantLmk, hsm_keys: Any) -> None:
    key, field = _dek(hsm_lmk, hsm_keys)
    data = b"4012345678909D987\x00\x00\x00\x00\x00\x00\x00"
    ecb = tdes_encrypt_ecb(key, data)
    req = b"M0" + b"0000" + b"00B" + field.encode() + f"{len(data):04X}".encode() + data
    assert wire(soft_hsm, req) == expect(b"M100" + f"{len(ecb):04X}".encode() + ecb)
    # CBC, hex in / hex out, IV returned for chaining
    iv = bytes(range(8))
    cbc = bytearray()
    prev = iv
    for i in range(0, len(data), 8):
        prev = tdes_encrypt_ecb(
            key, bytes(a ^ b for a, b in zip(prev, data[i : i + 8], strict=True))
        )
        cbc += prev
    hex_in = data.hex().upper().encode()
    hex_out = bytes(cbc).hex().upper().encode()
    req = b"M0" + b"0111" + b"00B" + field.encode() + iv.hex().upper().encode()
    req += f"{len(hex_in):04X}".encode() + hex_in
    assert wire(soft_hsm, req) == expect(
        b"M100" + prev.hex().upper().encode() + f"{len(hex_out):04X}".encode() + hex_out
    )
    back = b"M2" + b"0111" + b"00B" + field.encode() + iv.hex().upper().encode()
    back += f"{len(hex_out):04X}".encode() + hex_out
    assert wire(soft_hsm, back) == expect(
        b"M300" + prev.hex().upper().encode() + f"{len(hex_in):04X}".encode() + hex_in
    )


def test_m2_dukpt_data_request(hsm_vectors: Any, soft_hsm: SoftHsm) -> None:
    bdk_field, _ = _tdes_bdk(hsm_vectors)
    for v in hsm_vectors("dukpt_tdes_data_encryption"):
        enc = v["expected"]["encrypted_request_data"].encode()
        plain = v["inputs"]["data_plain_hex"].encode()
        last = enc[-16:]
        req = b"M2" + b"0111" + b"009" + bdk_field.encode() + b"A05" + v["inputs"]["ksn"].encode()
        req += v["inputs"]["iv"].encode() + f"{len(enc):04X}".encode() + enc
        assert wire(soft_hsm, req) == expect(b"M300" + last + f"{len(plain):04X}".encode() + plain)


def test_m0_m2_aes_key_block(kb_hsm: SoftHsm) -> None:
    key = bytes.fromhex("2B7E151628AED2A6ABF7158809CF4F3C")
    field = s_key(key, "D0", "A", "B")
    data = bytes(range(32))
    out = body_of(wire(kb_hsm, b"M00000FFF" + field.encode() + b"0020" + data))
    assert out[:8] == b"M1000020"
    enc = out[8:]
    back = wire(kb_hsm, b"M20000FFF" + field.encode() + b"0020" + enc)
    assert back == expect(b"M3000020" + data)
    iv = "00" * 16
    out = body_of(wire(kb_hsm, b"M00100FFF" + field.encode() + iv.encode() + b"0020" + data))
    assert out[:4] == b"M100" and out[4:36] == out[-16:].hex().upper().encode()


def test_m0_m2_exception(
    soft_hsm: SoftHsm, kb_hsm: SoftHsm, hsm_lmk: VariantLmk, hsm_keys: Any
) -> None:
    key, field = _dek(hsm_lmk, hsm_keys)
    f = field.encode()
    d8 = b"0008ABCDEFGH"
    assert wire(soft_hsm, b"M0" + b"0500" + b"00B" + f + d8) == expect(b"M102")
    assert wire(soft_hsm, b"M0" + b"0070" + b"00B" + f + d8) == expect(b"M103")
    assert wire(soft_hsm, b"M2" + b"0005" + b"00B" + f + d8) == expect(b"M304")
    zpk = hsm_lmk.encrypt_key("001", key, "U").encode()
    assert wire(soft_hsm, b"M0" + b"0000" + b"001" + zpk + d8) == expect(b"M105")
    assert wire(soft_hsm, b"M0" + b"0000" + b"00B" + f + b"0005ABCDE") == expect(b"M106")
    assert wire(soft_hsm, b"M0" + b"0000" + b"00B" + f + b"0010ABCDEFGH") == expect(b"M106")
    bad = hsm_lmk.encrypt_key("00B", bytes([key[0] ^ 1]) + key[1:], "U").encode()
    assert wire(soft_hsm, b"M0" + b"0000" + b"00B" + bad + d8) == expect(b"M110")
    assert wire(soft_hsm, b"M0" + b"0010" + b"00B" + f + b"000AZZZZZZZZZZ") == expect(b"M115")
    pin_key = s_key(key, "P0", "T").encode()
    assert wire(kb_hsm, b"M0" + b"0000" + b"FFF" + pin_key + d8) == expect(b"M1A6")


# ------------------------------------------------------------------ KW


def _emv(v: dict[str, Any], hsm_lmk: VariantLmk) -> tuple[bytes, bytes, bytes, bytes]:
    """(MK-AC field, PAN/PSN field, ATC, tag data) of a CVN vector."""
    i = v["inputs"]
    mk = hsm_lmk.encrypt_key("109", bytes.fromhex(i["issuer_mk_ac"]), "U").encode()
    digits = i["pan"] + i["psn"]
    packed = bytes.fromhex(digits + ("F" if len(digits) % 2 else ""))
    pan_psn = f"{len(packed):02d}".encode() + packed
    data = bytes.fromhex("".join(i[t] for t in _TAGS))
    return mk, pan_psn, bytes.fromhex(i["tag_9f36"]), data


def _data(d: bytes) -> bytes:
    return f"{len(d):02X}".encode() + d + b";"


def test_kw_visa_cvn10(hsm_vectors: Any, soft_hsm: SoftHsm, hsm_lmk: VariantLmk) -> None:
    v = hsm_vectors("emv_visa_cvn10")[0]
    mk, pan_psn, atc, tags = _emv(v, hsm_lmk)
    data = tags + bytes.fromhex(v["inputs"]["cvr"])
    arqc, arc = bytes.fromhex(v["expected"]["arqc"]), bytes.fromhex(v["inputs"]["arc"])
    head = mk + pan_psn + atc + _data(data) + arqc
    assert wire(soft_hsm, b"KW00" + head) == expect(b"KX00")
    assert wire(soft_hsm, b"KW10" + head + arc) == expect(
        b"KX00" + bytes.fromhex(v["expected"]["arpc"])
    )


def test_kw_visa_cvn18_csk_arpc_method_2(
    hsm_vectors: Any, soft_hsm: SoftHsm, hsm_lmk: VariantLmk
) -> None:
    v = hsm_vectors("emv_visa_cvn18")[0]
    mk, pan_psn, atc, tags = _emv(v, hsm_lmk)
    data = tags + bytes.fromhex(v["inputs"]["tag_9f10"])
    arqc = bytes.fromhex(v["expected"]["arqc"])
    csu = bytes.fromhex(v["inputs"]["csu"])
    req = b"KW33" + mk + pan_psn + atc + _data(data) + arqc + csu
    assert wire(soft_hsm, req) == expect(b"KX00" + bytes.fromhex(v["expected"]["arpc"]))
    assert wire(soft_hsm, req + b"0\x19TR") == expect(
        b"KX00" + bytes.fromhex(v["expected"]["arpc"]) + b"\x19TR"
    )


def _mc(hsm_vectors: Any) -> tuple[dict[str, bytes], str, str, bytes, bytes]:
    i = hsm_vectors("emv_visa_cvn10")[0]["inputs"]  # tag values reused for Mastercard checks
    tags = {t: bytes.fromhex(i[t]) for t in _TAGS}
    return tags, i["pan"], i["psn"], bytes.fromhex(i["issuer_mk_ac"]), bytes.fromhex("A00003220000")


def test_kw_mastercard_cvn16_and_cvn20(
    hsm_vectors: Any, soft_hsm: SoftHsm, hsm_lmk: VariantLmk
) -> None:
    tags, pan, psn, imk, cvr = _mc(hsm_vectors)
    mk = hsm_lmk.encrypt_key("109", imk, "U").encode()
    packed = bytes.fromhex(pan + psn)
    pan_psn = f"{len(packed):02d}".encode() + packed
    data = b"".join(tags[t] for t in _TAGS) + cvr
    arc = b"\x30\x30"
    # CVN 16: SKD session key (UN in the command), ARPC method 1 with the ICC MK
    arqc16 = mastercard_cvn16_arqc(imk, pan, psn, **tags, cvr=cvr)
    icc_mk = derive_icc_mk_a(imk, pan, psn)
    req = b"KW11" + mk + pan_psn + tags["tag_9f36"] + tags["tag_9f37"] + _data(data) + arqc16
    assert wire(soft_hsm, req + arc) == expect(b"KX00" + arpc_1(icc_mk, arqc16, arc))
    # CVN 20: common session key, ARPC method 1 with the session key
    arqc20 = mastercard_cvn20_arqc(imk, pan, psn, **tags, cvr=cvr)
    arpc20 = mastercard_cvn20_arpc(imk, pan, psn, tag_9f36=tags["tag_9f36"], arqc=arqc20, arc=arc)
    sk = derive_common_session_key(icc_mk, tags["tag_9f36"] + bytes(6))
    assert arpc20 == arpc_1(sk, arqc20, arc)
    req = b"KW13" + mk + pan_psn + tags["tag_9f36"] + _data(data) + arqc20
    assert wire(soft_hsm, req + arc) == expect(b"KX00" + arpc20)
    assert wire(soft_hsm, b"KW23" + req[4:] + arc) == expect(b"KX00" + arpc20)


def test_kw_exception(hsm_vectors: Any, soft_hsm: SoftHsm, hsm_lmk: VariantLmk) -> None:
    v = hsm_vectors("emv_visa_cvn10")[0]
    mk, pan_psn, atc, tags = _emv(v, hsm_lmk)
    data = tags + bytes.fromhex(v["inputs"]["cvr"])
    arqc = bytes.fromhex(v["expected"]["arqc"])
    tail = pan_psn + atc + _data(data)
    bad_arqc = bytes([arqc[0] ^ 1]) + arqc[1:]
    assert wire(soft_hsm, b"KW00" + mk + tail + bad_arqc) == expect(b"KX01")
    assert wire(soft_hsm, b"KW90" + mk + tail + arqc) == expect(b"KX04")
    assert wire(soft_hsm, b"KW07" + mk + tail + arqc) == expect(b"KX05")
    assert wire(soft_hsm, b"KW02" + mk + bytes(16) + tail + arqc) == expect(b"KX05")  # tree
    assert wire(soft_hsm, b"KW00" + mk + pan_psn + atc + b"00;" + arqc) == expect(b"KX81")
    imk = bytes.fromhex(v["inputs"]["issuer_mk_ac"])
    bad = hsm_lmk.encrypt_key("109", bytes([imk[0] ^ 1]) + imk[1:], "U").encode()
    assert wire(soft_hsm, b"KW00" + bad + tail + arqc) == expect(b"KX10")
    assert wire(soft_hsm, b"KW00" + mk + pan_psn + atc + b"FF" + data + b";" + arqc) == expect(
        b"KX80"
    )


# ------------------------------------------------------------------ G0 with AES DUKPT


def _aes_dukpt(hsm_vectors: Any) -> tuple[dict[str, Any], str]:
    v = hsm_vectors("dukpt_aes_transaction")[0]
    pan_field = v["inputs"]["pan_field"]
    pan = pan_field[1 : 1 + 12 + int(pan_field[0])]
    return v, pan


def test_g0_aes_dukpt_to_tdes_zpk(
    hsm_vectors: Any, kb_hsm: SoftHsm, hsm_lmk: VariantLmk, hsm_keys: Any
) -> None:
    v, pan = _aes_dukpt(hsm_vectors)
    bdk = s_key(bytes.fromhex(v["inputs"]["bdk"]), "B0", "A", "X")
    block = v["expected"]["encrypted_pinblock"]
    req = f"G0{bdk}{hsm_keys.zpk2_lmk}A05{v['inputs']['ksn']}{block}4801{pan}".encode()
    out_block = encipher_pinblock(hsm_keys.zpk2, "1234", pan, "01").hex().upper()
    assert wire(kb_hsm, req) == expect(f"G10004{out_block}01".encode())


def test_g0_aes_dukpt_to_iso4(hsm_vectors: Any, kb_hsm: SoftHsm) -> None:
    v, pan = _aes_dukpt(hsm_vectors)
    bdk = s_key(bytes.fromhex(v["inputs"]["bdk"]), "B0", "A", "X")
    zpk_key = bytes.fromhex(hsm_vectors("pinblock_iso4_decipher")[0]["inputs"]["key"])
    zpk = s_key(zpk_key, "P0", "A", "B")
    block = v["expected"]["encrypted_pinblock"]
    out = body_of(wire(kb_hsm, f"G0{bdk}{zpk}A05{v['inputs']['ksn']}{block}4848{pan}".encode()))
    assert out[:6] == b"G10004" and out[-2:] == b"48" and len(out) == 6 + 32 + 2
    assert decipher_pinblock(zpk_key, bytes.fromhex(out[6:38].decode()), pan, "48") == "1234"


def test_g0_tdes_bdk_as_s_key(hsm_vectors: Any, kb_hsm: SoftHsm, hsm_keys: Any) -> None:
    v = hsm_vectors("dukpt_tdes_transaction")[0]
    bdk = s_key(bytes.fromhex(v["inputs"]["bdk"]), "B0", "T", "X")
    acct = hsm_vectors("pinblock_iso0")[0]["inputs"]["pan"][-13:-1]
    block = v["expected"]["encrypted_pinblock"]
    zpk = s_key(hsm_keys.zpk2, "P0", "T", "B")
    out_block = encipher_pinblock(hsm_keys.zpk2, "1234", acct, "01").hex().upper()
    req = f"G0{bdk}{zpk}A05{v['inputs']['ksn']}{block}0101{acct}".encode()
    assert wire(kb_hsm, req) == expect(f"G10004{out_block}01".encode())


def test_g0_aes_exception(hsm_vectors: Any, kb_hsm: SoftHsm, hsm_keys: Any) -> None:
    v, pan = _aes_dukpt(hsm_vectors)
    bdk = s_key(bytes.fromhex(v["inputs"]["bdk"]), "B0", "A", "X")
    ksn, block = v["inputs"]["ksn"], v["expected"]["encrypted_pinblock"]
    zpk = hsm_keys.zpk2_lmk
    assert wire(kb_hsm, f"G0{bdk}{zpk}A05{ksn}{block}0101{pan}".encode()) == expect(b"G123")
    assert wire(kb_hsm, f"G0{bdk}{zpk}A05{ksn}{block}4848{pan}".encode()) == expect(b"G123")
    assert wire(kb_hsm, f"G0{bdk}{zpk}A05{ksn[:-1]}Z{block}4801{pan}".encode()) == expect(b"G115")
    wrong = s_key(bytes.fromhex(v["inputs"]["bdk"]), "P0", "A", "X")
    assert wire(kb_hsm, f"G0{wrong}{zpk}A05{ksn}{block}4801{pan}".encode()) == expect(b"G1A6")
    block2 = v["expected"]["encrypted_pinblock"][:-2] + "00"
    assert wire(kb_hsm, f"G0{bdk}{zpk}A05{ksn}{block2}4801{pan}".encode()) in (
        expect(b"G120"),
        expect(b"G124"),
    )


# ------------------------------------------------------------------ S keys in the older commands


def test_s_keys_accepted_by_variant_commands(
    hsm_vectors: Any, kb_hsm: SoftHsm, hsm_lmk: VariantLmk, hsm_keys: Any
) -> None:
    acct = "401234567890"
    tpk = s_key(hsm_keys.tpk, "P0", "T", "B")
    zpk = s_key(hsm_keys.zpk2, "P0", "T", "B")
    blk = encipher_pinblock(hsm_keys.tpk, "1234", acct, "01").hex().upper()
    out_block = encipher_pinblock(hsm_keys.zpk2, "1234", acct, "01").hex().upper()
    assert wire(kb_hsm, f"CA{tpk}{zpk}12{blk}0101{acct}".encode()) == expect(
        f"CB0004{out_block}01".encode()
    )
    cvk = s_key(hsm_keys.cvk, "C0", "T", "C")
    cvv = hsm_vectors("visa_cvv")[0]
    i = cvv["inputs"]
    assert wire(kb_hsm, f"CW{cvk}{i['pan']};{i['expiry']}{i['service_code']}".encode()) == expect(
        f"CX00{cvv['expected']['cvv']}".encode()
    )
    # wrong usage for the key type, and S keys without a key-block LMK
    assert wire(kb_hsm, f"CA{cvk}{zpk}12{blk}0101{acct}".encode()) == expect(b"CBA6")
    plain = SoftHsm(hsm_lmk)
    assert wire(plain, f"CA{tpk}{zpk}12{blk}0101{acct}".encode()) == expect(b"CB26")
    assert tdes_decrypt_ecb(hsm_keys.zpk2, bytes.fromhex(out_block))  # keeps the import honest
