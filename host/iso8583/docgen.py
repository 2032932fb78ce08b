"""Generate ``docs/iso8583.md``, the interface specification, from the spec data.

Every table comes from ``host.iso8583.spec`` and ``host.iso8583.framing``; every example is a
field dict encoded here with pyiso8583 and framed, so the bytes in the document are the bytes on
the wire. Examples use test card numbers and test PIN blocks only.

``python -m host.iso8583.docgen --write docs/iso8583.md`` regenerates the file;
``--check docs/iso8583.md`` exits 1 when it is stale (a test runs the same check).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from host.iso8583 import codec
from host.iso8583.framing import FRAMING_ALIASES, FRAMINGS, make_framer
from host.iso8583.spec import (
    FIELDS,
    MTIS,
    NETWORK_CODES,
    RESPONSE_CODES,
    SPECS,
    TRANSACTIONS,
)

__all__ = ["EXAMPLES", "Example", "main", "parse_examples", "render"]

TEST_PAN = "4761739001010010"  # Visa test card number; never a real card
TEST_PAN_2 = "5413330089010434"  # Mastercard test card number
TEST_PIN_BLOCK = "0123456789ABCDEF"  # not a real PIN block


@dataclass(frozen=True, kw_only=True)
class Example:
    """A documented message: its fields and the dialect and framing it is shown in."""

    name: str
    title: str
    spec: str
    framing: str
    fields: dict[str, str]

    def wire(self) -> bytes:
        return make_framer(self.framing).frame(codec.encode(self.fields, self.spec))


_COMMON = {"7": "1129120000", "12": "120000", "13": "1129", "41": "ATM00001",
           "42": "SSTBANK00000001", "49": "156"}

EXAMPLES: tuple[Example, ...] = (
    Example(name="withdrawal-request", title="Cash withdrawal request (01)", spec="ascii",
            framing="binary2", fields={
                "t": "0200", "2": TEST_PAN, "3": "010000", "4": "000000050000", **_COMMON,
                "11": "000042", "14": "3012", "22": "021",
                "35": TEST_PAN + "=30121011123456700000", "37": "333412000042",
                "52": TEST_PIN_BLOCK}),
    Example(name="withdrawal-response", title="Cash withdrawal approved", spec="ascii",
            framing="binary2", fields={
                "t": "0210", "2": TEST_PAN, "3": "010000", "4": "000000050000", "7": "1129120000",
                "11": "000042", "37": "333412000042", "38": "123456", "39": "00",
                "41": "ATM00001", "49": "156", "54": "0002156C000000950000"}),
    Example(name="balance-declined", title="Balance inquiry (31) declined, wrong PIN", spec="ascii",
            framing="binary2", fields={
                "t": "0210", "3": "310000", "4": "000000000000", "7": "1129120000", "11": "000043",
                "37": "333412000043", "39": "55", "41": "ATM00001"}),
    Example(name="transfer-request", title="Funds transfer request (40)", spec="ascii",
            framing="binary2", fields={
                "t": "0200", "2": TEST_PAN, "3": "401020", "4": "000000010000", **_COMMON,
                "11": "000044", "22": "021", "37": "333412000044", "52": TEST_PIN_BLOCK,
                "102": "6222000011112222", "103": "6222000033334444"}),
    Example(name="reversal-advice", title="Reversal advice after a dispense failure", spec="ascii",
            framing="binary2", fields={
                "t": "0420", "2": TEST_PAN, "3": "010000", "4": "000000050000", **_COMMON,
                "11": "000045", "37": "333412000042",
                "90": "0200" "000042" "1129120000" + "0" * 22,
                "95": "000000000000000000000000C00000000C00000000"}),
    Example(name="echo-request", title="Echo test (301)", spec="ascii", framing="binary2",
            fields={"t": "0800", "7": "1129120000", "11": "000046", "41": "ATM00001", "70": "301"}),
    Example(name="sign-on-response", title="Sign-on (001) approved", spec="ascii",
            framing="binary2", fields={"t": "0810", "7": "1129120000", "11": "000001",
                                       "39": "00", "41": "ATM00001", "70": "001"}),
    Example(name="purchase-bcd", title="POS chip purchase (00), BCD dialect with TPDU", spec="bcd",
            framing="bcd2+tpdu", fields={
                "t": "0200", "2": TEST_PAN_2, "3": "000000", "4": "000000002500", **_COMMON,
                "41": "POS00001", "11": "000101", "14": "2812", "22": "051", "23": "001",
                "35": TEST_PAN_2 + "=28122011234500000", "37": "333412000101",
                "52": TEST_PIN_BLOCK,
                "55": "9F02060000000025009F360200015F2A0201569F2608A1B2C3D4E5F60718"}),
)


def _esc(text: str) -> str:
    return text.replace("|", "\\|")


def _wire_format(f: dict[str, Any]) -> str:
    if f["max_len"] == 0:
        return "-"
    lp = {
        "bcd": f"{f['len_type']}-byte BCD length", "b": f"{f['len_type']}-byte binary length",
    }.get(f["len_enc"], f"{f['len_type']}-digit ASCII length")
    length = f"..{f['max_len']}" if f["len_type"] else str(f["max_len"])
    if f["data_enc"] == "b":
        kind = "BCD" if f.get("len_count") == "nibbles" else "binary"
        unit = "digits" if f.get("len_count") == "nibbles" else "bytes"
    else:
        kind, unit = f["data_enc"], "chars"
    pad = f.get("left_pad") or f.get("right_pad")
    text = f"{kind} {length} {unit}" + (f", pad {pad}" if pad else "")
    return text + (f", {lp}" if f["len_type"] else "")


_FRAMING_TEXT = {
    "binary2": ("2-byte big-endian binary length", "PostChannel", "the default (walking skeleton)"),
    "ascii4": ("4 ASCII decimal digits of length", "ASCIIChannel", ""),
    "bcd2": ("2-byte packed BCD length, 0000-9999", "BCDChannel", ""),
    "binary2+tpdu": ("2-byte binary length, 5-byte TPDU, message", "NACChannel", "alias `nac`"),
    "ascii4+tpdu": ("4 ASCII digits, 5-byte TPDU, message", "-", ""),
    "bcd2+tpdu": ("2-byte BCD length, 5-byte TPDU, message", "NCCChannel", "alias `ncc`"),
}


def _table(head: list[str], rows: list[list[str]]) -> list[str]:
    out = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    out += ["| " + " | ".join(_esc(c) for c in row) + " |" for row in rows]
    return out


def _ascii_view(raw: bytes) -> str:
    return "".join(chr(b) if 32 <= b < 127 else "." for b in raw)


def _hex_lines(raw: bytes) -> list[str]:
    return [f"{off:04X}  " + raw[off : off + 16].hex(" ").upper().ljust(48) + "  "
            + _ascii_view(raw[off : off + 16]) for off in range(0, len(raw), 16)]


def _ordered(fields: dict[str, str]) -> dict[str, str]:
    return dict(sorted(fields.items(), key=lambda kv: -1 if kv[0] == "t" else int(kv[0])))


def render() -> str:
    """The whole document (deterministic)."""
    mtis = list(MTIS)
    out: list[str] = [
        "# SST ISO 8583 interface specification",
        "",
        "<!-- Generated by `python -m host.iso8583.docgen --write docs/iso8583.md`; "
        "do not edit. -->",
        "",
        "This is the message interface between an acquiring terminal (ATM or POS) "
        "and the SST host.",
        "It is generated from the data the code runs on "
        "(`host/iso8583/spec.py`, `framing.py`), and",
        "every example below is encoded by the same codec and checked by the test suite.",
        "",
        "## 1. Transport",
        "",
        "* TCP, host port **8583**, one long-lived connection per terminal; "
        "requests may be pipelined",
        "  (several in flight) and responses can come back in any order.",
        "* Every message is preceded by a length (see Framing); the default is a 2-byte big-endian",
        "  binary length that excludes itself, with the ASCII dialect.",
        "* Receivers reassemble the stream and read exactly the announced length: one TCP read is",
        "  never assumed to be one message.",
        "",
        "## 2. Framing options",
        "",
        "The length always excludes itself and includes the TPDU when there is one. On a reply the",
        "host swaps the TPDU source and destination addresses.",
        "",
    ]
    out += _table(["Name", "Wire layout", "jPOS analogue", "Note"],
                  [[f"`{n}`", *_FRAMING_TEXT[n]] for n in FRAMINGS])
    out += ["", "Aliases: " + ", ".join(f"`{a}` = `{n}`" for a, n in FRAMING_ALIASES.items()) + ".",
            "", "## 3. Dialects", "",
            "* `ascii`: pyiso8583 `default_ascii`. ASCII MTI, primary and secondary bitmaps as 16",
            "  hex characters, ASCII length digits, binary fields (52, 53, 55, 64) as hex text.",
            "* `bcd`: binary MTI (2 bytes) and bitmaps (8 bytes), numeric fields packed BCD (odd",
            "  lengths left-padded with 0; PAN and track 2 right-padded with F, "
            "track 2 separator D),",
            "  BCD length prefixes, fields 52 and 53 as 8 bytes, field 55 as raw BER-TLV bytes.",
            "", "## 4. Message types", ""]
    out += _table(["MTI", "Meaning"], [[m, d] for m, d in MTIS.items()])
    out += ["", "## 5. Data elements", "",
            "M mandatory, C conditional (see the note), O optional, blank: not present.", ""]
    rows = []
    for num, info in FIELDS.items():
        rows.append([num, info.name, info.iso_format, _wire_format(SPECS["ascii"][num]),
                     _wire_format(SPECS["bcd"][num]),
                     *[info.usage[m].value if m in info.usage else "" for m in mtis], info.note])
    out += _table(["No", "Name", "Format", "ascii wire", "bcd wire", *mtis, "Note"], rows)
    out += ["", "## 6. Processing codes", "",
            "Field 3 is `TTFFTT`: transaction type, from-account type, to-account type "
            "(00 default,",
            "10 savings, 20 cheque/current, 30 credit).", ""]
    out += _table(["Code", "Transaction", "Channel", "MTI", "Extra request fields",
                   "Extra response fields", "Note"],
                  [[t.code, t.name, t.channel, t.mti, ", ".join(t.request_fields) or "-",
                    ", ".join(t.response_fields) or "-", t.note] for t in TRANSACTIONS.values()])
    out += ["", "## 7. Response codes (field 39)", ""]
    out += _table(["Code", "Meaning"], [[c, m] for c, m in RESPONSE_CODES.items()])
    out += ["", "## 8. Network management (0800/0810, field 70)", ""]
    out += _table(["Code", "Meaning"], [[c, m] for c, m in NETWORK_CODES.items()])
    out += [
        "", "## 9. Matching and connection lifecycle", "",
        "* **MUX key**: response MTI (request MTI with function digit + 1; a repeat 0421 is",
        "  answered by 0430) + field 41 + field 11. Field 41 and 11 are echoed unchanged.",
        "* **Timeout**: per request (terminal default 10 s). A response arriving later is a *late",
        "  response*: it is logged with the PAN masked and queued for the terminal, which must not",
        "  dispense on it; the terminal sends 0420 for the timed-out request.",
        "* **Unmatched responses** (no request with that key) are logged and dropped.",
        "* **Sign-on** (optional): 0800/001 on each new connection; the channel is ready only when",
        "  the 0810 carries 00. Sign-off 0800/002 on orderly close.",
        "* **Echo** (optional): 0800/301 after N seconds without traffic; a failed echo closes the",
        "  connection and the next request reconnects.",
        "* **Key change**: 0800/161; the 0810 field 48 carries the new TPK "
        "under the TMK and its KCV.",
        "", "## 10. Security", "",
        "* PANs appear in logs, traces and dumps as first 6 + last 4 digits.",
        "* Fields 35, 52, 53, 55, 64 (and 48 of a key change) are never logged or displayed.",
        "* The PIN block (field 52) is ISO 9564 format 0 under the terminal PIN key (TPK).",
        "", "## 11. Examples", "",
        "Test card numbers and test PIN blocks only. The hex dump is the complete frame as it",
        "travels on TCP, length prefix included.", "",
    ]
    for ex in EXAMPLES:
        out += [f"### {ex.title}", "",
                f"<!-- example: {ex.name} spec={ex.spec} framing={ex.framing} -->",
                f"Dialect `{ex.spec}`, framing `{ex.framing}`.", "",
                "```json", json.dumps(_ordered(ex.fields)), "```", "",
                "```hex", *_hex_lines(ex.wire()), "```", ""]
    return "\n".join(out).rstrip("\n") + "\n"


_EXAMPLE_RE = re.compile(
    r"<!-- example: (?P<name>\S+) spec=(?P<spec>\S+) framing=(?P<framing>\S+) -->.*?"
    r"```json\n(?P<json>.*?)\n```.*?```hex\n(?P<hex>.*?)\n```", re.S)


def parse_examples(markdown: str) -> list[tuple[Example, bytes]]:
    """Examples in a rendered document: the declared fields and the documented wire bytes."""
    out = []
    for m in _EXAMPLE_RE.finditer(markdown):
        raw = bytes.fromhex("".join(line[6:54] for line in m.group("hex").splitlines()))
        ex = Example(name=m.group("name"), title=m.group("name"), spec=m.group("spec"),
                     framing=m.group("framing"), fields=json.loads(m.group("json")))
        out.append((ex, raw))
    return out


def main(argv: list[str] | None = None) -> int:
    """``python -m host.iso8583.docgen [--write PATH | --check PATH]``."""
    p = argparse.ArgumentParser(prog="python -m host.iso8583.docgen")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--write", metavar="PATH", help="write the document")
    g.add_argument("--check", metavar="PATH", help="exit 1 if the document is not current")
    args = p.parse_args(argv)
    text = render()
    if args.write:
        Path(args.write).write_text(text, encoding="utf-8")
        return 0
    if args.check:
        path = Path(args.check)
        current = path.read_text(encoding="utf-8") if path.exists() else ""
        if current != text:
            print(f"{path} is stale: run python -m host.iso8583.docgen --write {path}",
                  file=sys.stderr)
            return 1
        return 0
    sys.stdout.write(text)
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
