"""``sst crypto`` calculator: one known answer per subcommand, --json, error paths."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from hsm_sim.calculator import main


@pytest.fixture(scope="module")
def vec(shared_dir: Path) -> Any:
    data = json.loads((shared_dir / "vectors" / "payment-crypto.json").read_text("utf-8"))
    return lambda kind, i=0: [v for v in data if v["kind"] == kind][i]


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> dict[str, str]:
    assert main([*argv, "--json"]) == 0
    out, err = capsys.readouterr()
    assert err == ""
    result: dict[str, str] = json.loads(out)
    return result


def test_pinblock_encode_decode(capsys: pytest.CaptureFixture[str], vec: Any) -> None:
    v = vec("pinblock_iso0")
    i, e = v["inputs"], v["expected"]
    assert run(capsys, "pinblock", "encode", "--format", "0", "--pin", i["pin"], "--pan",
               i["pan"])["pin_block"] == e["pinblock"]
    assert run(capsys, "pinblock", "decode", "--format", "0", "--block", e["pinblock"],
               "--pan", i["pan"])["pin"] == i["pin"]
    v1 = vec("pinblock_iso1")
    assert run(capsys, "pinblock", "encode", "--format", "1", "--pin", v1["inputs"]["pin"],
               "--fill", v1["inputs"]["fill_hex"])["pin_block"] == v1["expected"]["pinblock"]
    v4 = vec("pinblock_iso4_decipher")
    assert run(capsys, "pinblock", "decode", "--format", "4", "--key", v4["inputs"]["key"],
               "--block", v4["inputs"]["encrypted_pinblock"],
               "--pan", v4["inputs"]["pan"])["pin"] == v4["expected"]["pin"]
    enc = run(capsys, "pinblock", "encode", "--format", "3", "--pin", "1234", "--pan",
              "4012345678909", "--key", "0123456789ABCDEFFEDCBA9876543210")
    assert run(capsys, "pinblock", "decode", "--format", "3", "--key",
               "0123456789ABCDEFFEDCBA9876543210", "--block", enc["encrypted_pin_block"],
               "--pan", "4012345678909")["pin"] == "1234"


def test_pvv(capsys: pytest.CaptureFixture[str], vec: Any) -> None:
    i, e = vec("visa_pvv")["inputs"], vec("visa_pvv")["expected"]
    assert run(capsys, "pvv", "--pvk", i["pvk"], "--pan", i["pan"], "--pvki", i["pvki"],
               "--pin", i["pin"])["pvv"] == e["pvv"]


def test_offset(capsys: pytest.CaptureFixture[str], vec: Any) -> None:
    i, e = vec("ibm3624_offset")["inputs"], vec("ibm3624_offset")["expected"]
    out = run(capsys, "offset", "--pvk", i["pvk"], "--validation-data", i["validation_data"],
              "--dec-table", i["decimalization_table"], "--pin", i["pin"])
    assert out == {"natural_pin": e["natural_pin"], "offset": e["offset"]}


def test_cvv(capsys: pytest.CaptureFixture[str], vec: Any) -> None:
    i, e = vec("visa_cvv")["inputs"], vec("visa_cvv")["expected"]
    assert run(capsys, "cvv", "--cvk", i["cvk_a"] + i["cvk_b"], "--pan", i["pan"], "--expiry",
               i["expiry"], "--service-code", i["service_code"])["cvv"] == e["cvv"]


def test_kcv(capsys: pytest.CaptureFixture[str], vec: Any) -> None:
    v = vec("kcv_tdes")
    assert run(capsys, "kcv", "--key", v["inputs"]["key"])["kcv"] == v["expected"]["kcv"]
    a = vec("kcv_aes_cmac")
    assert run(capsys, "kcv", "--key", a["inputs"]["key"], "--algorithm",
               "aes")["kcv"] == a["expected"]["kcv"]


@pytest.mark.parametrize(("kind", "alg"), [("mac_iso9797_alg1_tdes", "alg1"),
                                           ("mac_aes_cmac", "aes-cmac"),
                                           ("mac_tdes_cmac", "tdes-cmac")])
def test_mac(capsys: pytest.CaptureFixture[str], vec: Any, kind: str, alg: str) -> None:
    i, e = vec(kind)["inputs"], vec(kind)["expected"]
    data = i.get("data", i.get("message", ""))
    args = ["mac", "--algorithm", alg, "--key", i["key"], "--data", data]
    if "method 2" in i.get("padding", ""):
        args += ["--padding", "2"]
    assert run(capsys, *args)["mac"] == e["mac"]


def test_mac_alg3_ascii(capsys: pytest.CaptureFixture[str], vec: Any) -> None:
    i, e = vec("mac_iso9797_alg3")["inputs"], vec("mac_iso9797_alg3")["expected"]
    out = run(capsys, "mac", "--algorithm", "alg3", "--key", i["key"], "--data-ascii",
              i["data_ascii"])
    assert out["mac"][:8] == e["mac_left4"]


def test_dukpt_tdes(capsys: pytest.CaptureFixture[str], vec: Any) -> None:
    v = vec("dukpt_tdes_transaction")
    i, e = v["inputs"], v["expected"]
    out = run(capsys, "dukpt", "keys", "--bdk", i["bdk"], "--ksn", i["ksn"])
    assert out["ipek"] == vec("dukpt_tdes_ipek")["expected"]["ipek"]
    assert out["transaction_key"] == e["transaction_key"]
    pe = run(capsys, "dukpt", "pin-encrypt", "--bdk", i["bdk"], "--ksn", i["ksn"], "--pin",
             "1234", "--pan", "4012345678909")
    assert pe["encrypted_pin_block"] == e["encrypted_pinblock"]
    pd = run(capsys, "dukpt", "pin-decrypt", "--bdk", i["bdk"], "--ksn", i["ksn"], "--block",
             e["encrypted_pinblock"], "--pan", "4012345678909")
    assert pd["pin"] == "1234"


def test_dukpt_aes(capsys: pytest.CaptureFixture[str], vec: Any) -> None:
    v = vec("dukpt_aes_transaction")
    i, e = v["inputs"], v["expected"]
    out = run(capsys, "dukpt", "keys", "--bdk", i["bdk"], "--ksn", i["ksn"])
    assert out["initial_key"] == vec("dukpt_aes_ik")["expected"]["initial_key"]
    assert out["transaction_key"] == e["transaction_key"]
    assert out["pin_key"] == e["pin_key_aes128"]
    assert out["mac-generate_key"] == e["mac_gen_key_aes128"]
    assert out["data-encrypt_key"] == e["data_encrypt_key_aes128"]
    fill = i["pin_field"][-16:]
    pe = run(capsys, "dukpt", "pin-encrypt", "--bdk", i["bdk"], "--ksn", i["ksn"], "--pin",
             "1234", "--pan", "4111111111111111", "--fill", fill)
    assert pe["encrypted_pin_block"] == e["encrypted_pinblock"]
    assert run(capsys, "dukpt", "pin-decrypt", "--bdk", i["bdk"], "--ksn", i["ksn"], "--block",
               e["encrypted_pinblock"], "--pan", "4111111111111111")["pin"] == "1234"


def test_emv_chain(capsys: pytest.CaptureFixture[str], vec: Any) -> None:
    v = vec("emv_arqc_arpc")
    i, e = v["inputs"], v["expected"]
    mk = run(capsys, "emv", "icc-mk", "--imk", i["issuer_mk_ac"], "--pan", i["pan"], "--psn",
             i["psn"])
    assert mk["icc_mk_kcv"][:4] == e["icc_mk_kcv"]
    sk = run(capsys, "emv", "session-key", "--mk", mk["icc_mk"], "--r",
             i["session_key"].rpartition("R=")[2])
    assert sk["session_key_kcv"][:4] == e["session_key_kcv"]
    arqc = run(capsys, "emv", "arqc", "--sk", sk["session_key"], "--data", i["ac_data"])["arqc"]
    assert arqc == e["arqc"]
    assert i["arpc_method"] == 1 and i["arpc_key"] == "ICC MK"
    assert run(capsys, "emv", "arpc", "--method", "1", "--key", mk["icc_mk"], "--arqc", arqc,
               "--arc", i["arc_or_csu"])["arpc"] == e["arpc"]


def test_tr31(capsys: pytest.CaptureFixture[str], vec: Any) -> None:
    for n in range(6):
        v = vec("tr31_unwrap", n)
        out = run(capsys, "tr31", "unwrap", "--kbpk", v["inputs"]["kbpk"], "--block",
                  v["inputs"]["key_block"])
        assert out["key"] == v["expected"]["key"]
    v = vec("tr31_unwrap", 2)
    block = run(capsys, "tr31", "wrap", "--kbpk", v["inputs"]["kbpk"], "--header",
                "D0000K0AB00N0000", "--key", v["expected"]["key"])["key_block"]
    out = run(capsys, "tr31", "unwrap", "--kbpk", v["inputs"]["kbpk"], "--block", block)
    assert (out["key"], out["key_usage"], out["key_kcv"]) == (v["expected"]["key"], "K0",
                                                              "08793E25AB")


def test_lmk(capsys: pytest.CaptureFixture[str], vec: Any) -> None:
    for n in range(5):
        v = vec("thales_test_lmk_key", n)
        i, e = v["inputs"], v["expected"]
        assert run(capsys, "lmk", "decrypt", "--key-type", i["key_type"], "--key-field",
                   i["key_under_lmk"])["key"] == e["clear_key"]
        scheme = i["key_under_lmk"][0] if len(i["key_under_lmk"]) > 16 else "Z"
        assert run(capsys, "lmk", "encrypt", "--key-type", i["key_type"], "--scheme", scheme,
                   "--key", e["clear_key"])["key_under_lmk"] == i["key_under_lmk"]


def test_human_readable_output(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["offset", "--pvk", "0123456789ABCDEFFEDCBA9876543210", "--validation-data",
                 "1122334455667788", "--dec-table", "1234567890123456"]) == 0
    assert capsys.readouterr().out == "natural_pin: 4524\n"


def test_help_has_example(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["pvv", "--help"]) == 0
    out = capsys.readouterr().out
    assert "example:" in out and "sst crypto pvv" in out


@pytest.mark.parametrize(("argv", "message"), [
    (["kcv", "--key", "XYZ"], "--key must be an even number of hexadecimal characters"),
    (["kcv"], "the following arguments are required: --key"),
    (["nope"], "argument COMMAND: invalid choice: 'nope'"),
    (["pinblock", "encode", "--format", "0", "--pin", "12", "--pan", "4012345678909"],
     "PIN must be 4 to 12 digits"),
    (["pinblock", "encode", "--format", "0", "--pin", "1234"], "--pan is required for format 0"),
    (["cvv", "--cvk", "00", "--pan", "1", "--expiry", "1", "--service-code", "1"],
     "--cvk must be 32 hex characters"),
    (["tr31", "unwrap", "--kbpk", "00" * 16, "--block",
      "A0072P0TE00E0000F5161ED902807AF26F1D62263644BD24192FDB3193C730301CEE8701"],
     "key block MAC verification failed"),
    (["dukpt", "keys", "--bdk", "00" * 16, "--ksn", "00" * 10, "--usage", "bogus"],
     "TDES DUKPT usage must be one of pin, mac-request, mac-response, data-request, "
     "data-response"),
    (["lmk", "decrypt", "--key-type", "999", "--key-field", "00" * 8], None),
])
def test_errors_are_one_line(capsys: pytest.CaptureFixture[str], argv: list[str],
                             message: str | None) -> None:
    assert main(argv) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.count("\n") == 1
    assert err.startswith("sst crypto: error: ")
    assert "Traceback" not in err
    if message is not None:
        assert message in err
