"""Wire doctor over captured streams built here (plain hex, hexdump -C, spy://)."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from host.iso8583 import codec
from host.iso8583.doctor import CaptureError, Direction, analyse, main, parse_capture, render
from host.iso8583.framing import make_framer

PAN = "4761739001010010"
PIN_BLOCK = "0123456789ABCDEF"
TRACK2 = PAN + "=30121011123456700000"


def request(stan: str = "000001", tid: str = "ATM00001", mti: str = "0200") -> dict[str, str]:
    return {"t": mti, "2": PAN, "3": "010000", "4": "000000050000", "7": "1129120000",
            "11": stan, "22": "021", "35": TRACK2, "41": tid, "52": PIN_BLOCK,
            "55": "9F02060000000500009F360200015A08" + PAN}


def response(stan: str = "000001", tid: str = "ATM00001", rc: str | None = "00",
             mti: str = "0210") -> dict[str, str]:
    f = {"t": mti, "2": PAN, "3": "010000", "4": "000000050000", "7": "1129120000", "11": stan,
         "41": tid, "38": "123456"}
    if rc is not None:
        f["39"] = rc
    return f


def wire(msgs: list[dict[str, str]], framing: str = "binary2", spec: str = "ascii") -> bytes:
    f = make_framer(framing)
    return b"".join(f.frame(codec.encode(m, spec)) for m in msgs)


def hexdump_c(data: bytes) -> str:
    lines = []
    for off in range(0, len(data), 16):
        chunk = data[off : off + 16]
        hexes = (" ".join(f"{b:02x}" for b in chunk[:8]) + "  "
                 + " ".join(f"{b:02x}" for b in chunk[8:]))
        text = "".join(chr(b) if 32 <= b < 127 else "." for b in chunk)
        lines.append(f"{off:08x}  {hexes:<48} |{text}|")
    lines.append(f"{len(data):08x}")
    return "\n".join(lines)


def spy(direction: str, data: bytes, t: float = 0.0) -> str:
    lines = []
    for off in range(0, len(data), 16):
        chunk = data[off : off + 16]
        values = "".join(f"{b:02X} " for b in chunk).ljust(48)
        text = "".join(chr(b) if 32 <= b < 127 else "." for b in chunk)
        lines.append(f"{t:010.3f} {direction:4} {off:04X}  {values} {text}")
    return "\n".join(lines)


def test_clean_exchange_plain_hex_with_markers() -> None:
    text = ("# captured on the terminal\nTX:\n"
            f"{wire([request('000001'), request('000002')]).hex(' ')}\n"
            f"RX: {wire([response('000002'), response('000001', rc='51')]).hex()}\n")
    r = analyse(text)
    assert (r.framing, r.spec, r.problems) == ("binary2", "ascii", ())
    assert r.pairs == ((2, 3), (1, 4))
    assert [m.mti for m in r.messages] == ["0200", "0200", "0210", "0210"]
    assert "51 (insufficient funds)" not in render(r) and "(insufficient funds)" in render(r)


def test_bcd_with_tpdu_in_a_spy_trace() -> None:
    tx = wire([request()], "bcd2+tpdu", "bcd")
    rx = wire([response()], "bcd2+tpdu", "bcd")
    text = "\n".join([spy("TX", tx), "000000.010 RTS  active", spy("RX", rx, 0.02),
                      "000000.030 RX   <empty>"])
    r = analyse(text)
    assert (r.framing, r.spec, r.pairs, r.problems) == ("bcd2+tpdu", "bcd", ((1, 2),), ())


@pytest.mark.parametrize("framing", ["ascii4", "bcd2", "binary2+tpdu"])
def test_hexdump_single_stream_guesses_framing(framing: str) -> None:
    data = wire([request("000005"), response("000005")], framing)
    r = analyse(hexdump_c(data))
    assert r.framing == framing and r.pairs == ((1, 2),) and r.problems == ()
    assert {m.direction for m in r.messages} == {"??"}


# fmt: off
@pytest.mark.parametrize(("resp", "problem"), [
    (response("000009"),
     "#2 RX 0210 stan 000009 matches no request; closest #1 0200: "
     "different STAN (000009, request 000001)"),
    (response(tid="ATM00002"),
     "#2 RX 0210 stan 000001 matches no request; closest #1 0200: "
     "different terminal id (ATM00002, request ATM00001)"),
    (response(mti="0110"),
     "#2 RX 0110 stan 000001 matches no request; closest #1 0200: "
     "wrong MTI class (0110 does not answer 0200; expected 0210)"),
    (response(rc=None), "#2 RX 0210 answers #1 but has no field 39"),
])
def test_mismatch_is_explained(resp: dict[str, str], problem: str) -> None:
    r = analyse(f"> {wire([request()]).hex()}\n< {wire([resp]).hex()}")
    assert problem in r.problems
    if "no field 39" not in problem:
        assert "#1 TX 0200 stan 000001 got no response in the capture" in r.problems
# fmt: on


def test_framing_mismatch_between_directions() -> None:
    r = analyse(f"TX {wire([request()], 'binary2').hex()}\nRX {wire([response()], 'ascii4').hex()}")
    assert "framing mismatch: TX decodes as binary2/ascii; RX decodes as ascii4/ascii" in r.problems


def test_trailing_bytes_reported() -> None:
    data = wire([request(), response()])
    r = analyse(data[:-5].hex())
    assert r.messages[0].mti == "0200"
    assert any("trailing bytes after the last complete frame" in p for p in r.problems)


def test_undecodable_message_reported() -> None:
    r = analyse(make_framer("binary2").frame(b"0200FFFFFFFFFFFFFFFFxx").hex(), framing="binary2",
                spec="ascii")
    assert r.messages[0].error is not None
    assert r.problems[0].startswith("#1 ?? does not decode as ascii:")


def test_output_is_masked_human_and_json() -> None:
    text = f"TX {wire([request()]).hex()}\nRX {wire([response()]).hex()}"
    r = analyse(text)
    for out in (render(r), json.dumps(r.to_json())):
        assert PAN not in out and PIN_BLOCK not in out and "=3012" not in out
        assert "9F0206" not in out
        assert "476173******0010" in out
    assert r.messages[0].fields["52"] == "<omitted>" and r.messages[0].fields["55"] == "<omitted>"


# fmt: off
@pytest.mark.parametrize(("text", "line", "reason"), [
    ("TX 00 04 3\n", 1, "odd number of hex digits"),
    ("\nhello world\n", 2, "neither hex, hexdump -C nor a spy:// trace"),
    ("00000000  00 04 30 38 30 30 00 00  00 00 00 00 00 00 00 00  |..0800..........|\n*\n", 2,
     "hexdump collapsed repeated lines ('*'); use hexdump -Cv"),
])
def test_unreadable_capture_exception(text: str, line: int, reason: str) -> None:
    with pytest.raises(CaptureError) as e:
        parse_capture(text)
    assert (e.value.line, e.value.reason) == (line, reason)
# fmt: on


def test_parse_keeps_directions_apart() -> None:
    got = parse_capture("TX 0001\nRX 0002\n0003\n-> 04\n")
    assert got == {Direction.TX: b"\x00\x01\x04", Direction.RX: b"\x00\x02\x00\x03"}
    assert parse_capture("00043038") == {Direction.UNKNOWN: b"\x00\x04\x30\x38"}


def test_main_file_stdin_json_and_exit_codes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    good = tmp_path / "good.hex"
    good.write_text(hexdump_c(wire([request(), response()])))
    assert main([str(good)]) == 0
    assert "framing binary2, spec ascii" in capsys.readouterr().out
    monkeypatch.setattr("sys.stdin", io.StringIO(wire([request()]).hex()))
    assert main(["-", "--json"]) == 1
    doc = json.loads(capsys.readouterr().out)
    assert doc["problems"] == ["#1 ?? 0200 stan 000001 got no response in the capture"]
    assert main([str(tmp_path / "missing.hex")]) == 2
    bad = tmp_path / "bad.hex"
    bad.write_text("zz\n")
    assert main([str(bad)]) == 2
    assert "line 1:" in capsys.readouterr().err
