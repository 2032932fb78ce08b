"""Golden wire tests for the DUKPT (CI, G0), MAC (M6, M8) and EMV (KQ) host commands."""

from __future__ import annotations

from typing import Any

from hsm_sim.crypto import encipher_pinblock
from hsm_sim.crypto.lmk import VariantLmk
from hsm_sim.soft_hsm import SoftHsm
from hsm_sim.thales.codec import Framer, encode_frame

HEADER = b"0000"


def wire(hsm: SoftHsm, request_body: bytes) -> bytes:
    f = Framer(header_length=len(HEADER))
    f.receive_data(encode_frame(HEADER, request_body))
    frame = f.next_frame()
    assert frame is not None
    return encode_frame(frame.header, hsm.handle(frame.body))


def expect(body: bytes) -> bytes:
    return encode_frame(HEADER, body)


def _dukpt(hsm_vectors: Any) -> tuple[str, str, str, str]:
    """BDK field under the LMK (from the test-LMK vector), KSN, encrypted block, account."""
    v = hsm_vectors("dukpt_tdes_transaction")[0]
    bdk_clear = v["inputs"]["bdk"]
    bdk_field = next(
        x["inputs"]["key_under_lmk"]
        for x in hsm_vectors("thales_test_lmk_key")
        if x["expected"]["clear_key"] == bdk_clear and x["inputs"]["key_type"] == "009"
    )
    pan = hsm_vectors("pinblock_iso0")[0]["inputs"]["pan"]  # the X9.24 A.4 PAN
    return bdk_field, v["inputs"]["ksn"], v["expected"]["encrypted_pinblock"], pan[-13:-1]


def test_ci_dukpt_to_zpk(hsm_vectors: Any, soft_hsm: SoftHsm, hsm_keys: Any) -> None:
    bdk, ksn, block, acct = _dukpt(hsm_vectors)
    out_block = encipher_pinblock(hsm_keys.zpk, "1234", acct, "01").hex().upper()
    req = f"CI{bdk}{hsm_keys.zpk_lmk}A05{ksn}{block}01{acct}".encode()
    assert wire(soft_hsm, req) == expect(f"CJ0004{out_block}01".encode())


def test_g0_dukpt_to_zpk(hsm_vectors: Any, soft_hsm: SoftHsm, hsm_keys: Any) -> None:
    bdk, ksn, block, acct = _dukpt(hsm_vectors)
    out_block = encipher_pinblock(hsm_keys.zpk2, "1234", acct, "01").hex().upper()
    req = f"G0{bdk}{hsm_keys.zpk2_lmk}A05{ksn}{block}0101{acct}%00".encode()
    assert wire(soft_hsm, req) == expect(f"G10004{out_block}01".encode())


def test_ci_g0_exception(
    hsm_vectors: Any, soft_hsm: SoftHsm, hsm_lmk: VariantLmk, hsm_keys: Any
) -> None:
    bdk, ksn, block, acct = _dukpt(hsm_vectors)
    assert wire(soft_hsm, f"G0{bdk}{hsm_keys.zpk_lmk}A05{ksn}{block}4201{acct}".encode()) == expect(
        b"G123"
    )
    bad_zpk = hsm_lmk.encrypt_key("001", bytes([hsm_keys.zpk2[0] ^ 1]) + hsm_keys.zpk2[1:], "U")
    assert wire(soft_hsm, f"CI{bdk}{bad_zpk}A05{ksn}{block}01{acct}".encode()) == expect(b"CJ11")
    single_bdk = hsm_lmk.encrypt_key("009", hsm_keys.zpk, "Z")
    assert wire(
        soft_hsm, f"CIZ{single_bdk}{hsm_keys.zpk_lmk}A05{ksn}{block}01{acct}".encode()
    ) == expect(b"CJ27")
    assert wire(
        soft_hsm, f"CI{bdk}{hsm_keys.zpk_lmk}A05{ksn[:-2]}{block}01{acct}".encode()
    ) == expect(b"CJ15")


def _tak(hsm_lmk: VariantLmk, key_hex: str) -> str:
    return hsm_lmk.encrypt_key("003", bytes.fromhex(key_hex), "U")


def test_m6_m8_alg3(hsm_vectors: Any, soft_hsm: SoftHsm, hsm_lmk: VariantLmk) -> None:
    v = hsm_vectors("mac_iso9797_alg3")[0]
    tak = _tak(hsm_lmk, v["inputs"]["key"])
    msg = v["inputs"]["data_ascii"].encode()
    mac8 = v["expected"]["mac_left4"]
    req = b"M6" + b"00031003" + tak.encode() + f"{len(msg):04X}".encode() + msg
    assert wire(soft_hsm, req) == expect(f"M700{mac8}".encode())
    full = wire(soft_hsm, req.replace(b"M600031003", b"M600131003", 1))
    assert full[6:10] == b"M700" and full[10:18] == mac8.encode() and len(full) == 6 + 4 + 16
    m8 = b"M8" + b"00031003" + tak.encode() + f"{len(msg):04X}".encode() + msg + mac8.encode()
    assert wire(soft_hsm, m8) == expect(b"M900")


def test_m6_alg1_hex_input(hsm_vectors: Any, soft_hsm: SoftHsm, hsm_lmk: VariantLmk) -> None:
    v = hsm_vectors("mac_iso9797_alg1_tdes")[0]
    tak = _tak(hsm_lmk, v["inputs"]["key"])
    msg = v["inputs"]["data"].encode()
    req = b"M6" + b"01112003" + tak.encode() + f"{len(msg):04X}".encode() + msg
    assert wire(soft_hsm, req) == expect(f"M700{v['expected']['mac']}".encode())


def test_m6_m8_exception(hsm_vectors: Any, soft_hsm: SoftHsm, hsm_lmk: VariantLmk) -> None:
    v = hsm_vectors("mac_iso9797_alg3")[0]
    tak = _tak(hsm_lmk, v["inputs"]["key"]).encode()
    msg = v["inputs"]["data_ascii"].encode()
    n = f"{len(msg):04X}".encode()
    assert wire(soft_hsm, b"M8" + b"00031003" + tak + n + msg + b"00000000") == expect(b"M901")
    assert wire(soft_hsm, b"M6" + b"20031003" + tak + b"0123456789ABCDEF" + n + msg) == expect(
        b"M702"
    )
    assert wire(soft_hsm, b"M6" + b"00091003" + tak + n + msg) == expect(b"M704")
    assert wire(soft_hsm, b"M6" + b"00037003" + tak + n + msg) == expect(b"M709")
    assert wire(soft_hsm, b"M6" + b"00031001" + tak + n + msg) == expect(b"M705")
    assert wire(soft_hsm, b"M6" + b"00031003" + tak + b"0100" + msg) == expect(b"M780")


def _cvn10(hsm_vectors: Any, hsm_lmk: VariantLmk) -> tuple[bytes, bytes, bytes, bytes, bytes]:
    v = hsm_vectors("emv_visa_cvn10")[0]
    i = v["inputs"]
    tags = ("tag_9f02", "tag_9f03", "tag_9f1a", "tag_95", "tag_5f2a", "tag_9a", "tag_9c",
            "tag_9f37", "tag_82", "tag_9f36")  # fmt: skip
    data = bytes.fromhex("".join(i[t] for t in tags) + i["cvr"])
    y = bytes.fromhex((i["pan"] + i["psn"])[-16:])
    mk = hsm_lmk.encrypt_key("109", bytes.fromhex(i["issuer_mk_ac"]), "U").encode()
    head = mk + y + bytes.fromhex(i["tag_9f36"]) + bytes.fromhex(i["tag_9f37"])
    body = f"{len(data):02X}".encode() + data + b";" + bytes.fromhex(v["expected"]["arqc"])
    return head, body, bytes.fromhex(i["arc"]), bytes.fromhex(v["expected"]["arpc"]), data


def test_kq_visa_cvn10(hsm_vectors: Any, soft_hsm: SoftHsm, hsm_lmk: VariantLmk) -> None:
    head, body, arc, arpc, _ = _cvn10(hsm_vectors, hsm_lmk)
    assert wire(soft_hsm, b"KQ00" + head + body) == expect(b"KR00")
    assert wire(soft_hsm, b"KQ10" + head + body + arc) == expect(b"KR00" + arpc)
    assert wire(soft_hsm, b"KQ20" + head + body + arc + b"\x19T") == expect(
        b"KR00" + arpc + b"\x19T"
    )


def test_kq_exception(hsm_vectors: Any, soft_hsm: SoftHsm, hsm_lmk: VariantLmk) -> None:
    head, body, arc, _, data = _cvn10(hsm_vectors, hsm_lmk)
    tampered = body[:-1] + bytes([body[-1] ^ 1])
    assert wire(soft_hsm, b"KQ10" + head + tampered + arc) == expect(b"KR01")
    assert wire(soft_hsm, b"KQ90" + head + body) == expect(b"KR04")
    assert wire(soft_hsm, b"KQ07" + head + body) == expect(b"KR05")
    n = len(data)
    no_delim = body[: 2 + n] + b":" + body[3 + n :]
    assert wire(soft_hsm, b"KQ00" + head + no_delim) == expect(b"KR15")
    assert wire(soft_hsm, b"KQ00" + head + b"00;" + body[-8:]) == expect(b"KR81")
