"""Wire doctor: explain a captured ISO 8583 byte stream (``sst host wire-doctor FILE|-``).

Input is text holding the bytes of one or both directions, in any of these forms (mixed freely):

* plain hex, spaces and colons allowed: ``00 1E 30 38 30 30 ...``;
* ``hexdump -C`` lines: ``00000000  00 1e 30 38 ...  |..0800|``;
* pyserial ``spy://`` trace lines: ``000000.012 TX   0000  00 1E 30 38 ...  ..0800``;
* a direction marker (``TX``, ``RX``, ``>``, ``<``, ``->``, ``<-``) at the start of a line sets
  the direction of that line and the following ones. ``#`` starts a comment line.

The doctor guesses the framing and dialect (every catalogue framing times every spec, scored by
clean decodes), decodes every message with masked output (PAN 6+4; fields 35, 52, 53, 55 and
MACs are never shown), pairs requests with responses on MTI class + field 41 + field 11 and says
why a response matched nothing. Everything is a pure function of the text; ``main`` is the CLI.

Examples
--------
>>> from host.iso8583 import codec, framing
>>> tx = framing.TwoByteLengthFramer.frame(codec.encode({"t": "0800", "11": "000001", "70": "301"}))
>>> rx = framing.TwoByteLengthFramer.frame(
...     codec.encode({"t": "0810", "11": "000002", "70": "301", "39": "00"}))
>>> report = analyse(f"TX {tx.hex()}\\nRX {rx.hex()}")
>>> report.framing, report.spec, len(report.pairs)
('binary2', 'ascii', 0)
>>> print(report.problems[0])
#2 RX 0810 stan 000002 matches no request; closest #1 0800: different STAN (000002, request 000001)
"""

from __future__ import annotations

import argparse
import enum
import json
import re
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

from host.iso8583 import codec
from host.iso8583.errors import FramingError, Iso8583Error
from host.iso8583.framing import FRAMINGS, make_framer
from host.iso8583.spec import RESPONSE_CODES, SPECS

__all__ = ["CaptureError", "Direction", "Message", "Report", "analyse", "main", "parse_capture"]

_SPY = re.compile(r"^\s*\d+\.\d+\s+(TX|RX)\s+([0-9A-Fa-f]{4})  (.*)$")
_HEXDUMP = re.compile(r"^([0-9A-Fa-f]{8})\s\s(.*)$")
_OFFSET_ONLY = re.compile(r"^[0-9A-Fa-f]{8}$")
_MARK = re.compile(r"^(TX|RX|->|<-|>|<)(?::|\s|$)\s*(.*)$", re.IGNORECASE)
_PLAIN = re.compile(r"^[0-9A-Fa-f\s:]+$")
_SHOWN_ABSENT = ("35", "36", "45", "52", "53", "55", "64", "96", "128")


class CaptureError(ValueError):
    """The capture text is not in a form the doctor reads (``line`` is 1-based)."""

    def __init__(self, reason: str, *, line: int) -> None:
        super().__init__(reason, line)
        self.reason = reason
        self.line = line

    def __reduce__(self) -> tuple[object, ...]:
        return (_rebuild_capture_error, (self.reason, self.line))

    def __str__(self) -> str:
        return f"line {self.line}: {self.reason}"


def _rebuild_capture_error(reason: str, line: int) -> CaptureError:
    return CaptureError(reason, line=line)


class Direction(enum.Enum):
    """Which way bytes went (as seen from the capturing side)."""

    TX = "TX"
    RX = "RX"
    UNKNOWN = "??"


_MARKS = {"tx": Direction.TX, ">": Direction.TX, "->": Direction.TX,
          "rx": Direction.RX, "<": Direction.RX, "<-": Direction.RX}


def _hex_tokens(text: str, line: int) -> bytes:
    compact = re.sub(r"[\s:]", "", text)
    if len(compact) % 2:
        raise CaptureError("odd number of hex digits", line=line)
    try:
        return bytes.fromhex(compact)
    except ValueError:
        raise CaptureError("not hex", line=line) from None


def parse_capture(text: str) -> dict[Direction, bytes]:
    """The bytes of each direction, in order. Unmarked bytes are ``Direction.UNKNOWN``.

    >>> parse_capture("> 00 04\\n30383030\\n<- 0004 30383130")[Direction.RX]
    b'\\x00\\x040810'
    >>> parse_capture("00000000  00 04 30 38 30 30              |..0800|\\n00000006")
    {<Direction.UNKNOWN: '??'>: b'\\x00\\x040800'}
    """
    out: dict[Direction, bytearray] = {}
    current = Direction.UNKNOWN
    seen_hexdump = False
    for n, raw_line in enumerate(text.splitlines(), start=1):
        line = raw_line.rstrip()
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if seen_hexdump and _OFFSET_ONLY.match(stripped):
            continue  # hexdump's closing offset line
        if m := _SPY.match(line):
            direction = Direction(m.group(1))
            out.setdefault(direction, bytearray()).extend(_hex_tokens(m.group(3)[:48], n))
            continue
        if re.match(r"^\s*\d+\.\d+\s+\S+", line):
            continue  # spy control lines (RTS, DTR, <empty>)
        if (m := _HEXDUMP.match(stripped)) and not _PLAIN.match(stripped):
            body = m.group(2).split("|", 1)[0]
            seen_hexdump = True
            out.setdefault(current, bytearray()).extend(_hex_tokens(body, n))
            continue
        if stripped == "*":
            raise CaptureError("hexdump collapsed repeated lines ('*'); use hexdump -Cv", line=n)
        if m := _MARK.match(stripped):
            current = _MARKS[m.group(1).lower()]
            stripped = m.group(2)
            if not stripped:
                continue
        if not _PLAIN.match(stripped):
            raise CaptureError("neither hex, hexdump -C nor a spy:// trace", line=n)
        out.setdefault(current, bytearray()).extend(_hex_tokens(stripped, n))
    return {d: bytes(b) for d, b in out.items() if b}


@dataclass(frozen=True, kw_only=True)
class _Attempt:
    framing: str
    spec: str
    bodies: tuple[tuple[int, bytes], ...]
    decoded: tuple[dict[str, str] | str, ...]  # fields, or the decode error text
    trailing: int
    framing_error: str | None

    @property
    def clean(self) -> int:
        return sum(1 for d in self.decoded if isinstance(d, dict))

    @property
    def score(self) -> tuple[int, int, int, int]:
        errors = len(self.decoded) - self.clean
        return (self.clean, -errors, -int(self.framing_error is not None), -self.trailing)


def _attempt(data: bytes, framing: str, spec: str) -> _Attempt:
    framer = make_framer(framing)
    framer.receive_data(data)
    bodies: list[tuple[int, bytes]] = []
    consumed = 0
    error = None
    try:
        while (body := framer.next_frame()) is not None:
            bodies.append((consumed, body))
            consumed = len(data) - framer.buffered
    except FramingError as e:
        error = str(e)
    decoded: list[dict[str, str] | str] = []
    for _, body in bodies:
        try:
            decoded.append(codec.decode(body, spec))
        except Iso8583Error as e:
            decoded.append(str(e))
    return _Attempt(framing=framing, spec=spec, bodies=tuple(bodies), decoded=tuple(decoded),
                    trailing=len(data) - consumed, framing_error=error)


def _best(data: bytes, framings: Sequence[str], specs: Sequence[str]) -> _Attempt:
    attempts = [_attempt(data, f, s) for f in framings for s in specs]
    return max(attempts, key=lambda a: a.score)  # max keeps the first of equals: catalogue order


@dataclass(frozen=True, kw_only=True)
class Message:
    """One decoded (or undecodable) message, masked."""

    index: int
    direction: str
    offset: int
    mti: str
    fields: dict[str, str]
    error: str | None = None
    _raw: dict[str, str] = field(default_factory=dict, repr=False, compare=False)

    @property
    def is_request(self) -> bool:
        return len(self.mti) == 4 and self.mti.isdigit() and int(self.mti[2]) % 2 == 0

    @property
    def is_response(self) -> bool:
        return len(self.mti) == 4 and self.mti.isdigit() and int(self.mti[2]) % 2 == 1

    def label(self) -> str:
        return f"#{self.index} {self.direction} {self.mti or '????'}"

    def to_json(self) -> dict[str, object]:
        d = asdict(self)
        d.pop("_raw")
        return d


@dataclass(frozen=True, kw_only=True)
class Report:
    """What the doctor found."""

    framing: str
    spec: str
    per_direction: dict[str, str]
    messages: tuple[Message, ...]
    pairs: tuple[tuple[int, int], ...]
    problems: tuple[str, ...]

    def to_json(self) -> dict[str, object]:
        return {"framing": self.framing, "spec": self.spec, "per_direction": self.per_direction,
                "messages": [m.to_json() for m in self.messages],
                "pairs": [list(p) for p in self.pairs], "problems": list(self.problems)}


def _shown(fields: dict[str, str]) -> dict[str, str]:
    out = codec.masked_dump(fields)
    for k in _SHOWN_ABSENT:
        if k in fields:
            out[k] = "<omitted>"
    if "48" in fields and "48" not in out:
        out["48"] = "<omitted>"
    return dict(sorted(out.items(),
                       key=lambda kv: (kv[0] != "t", int(kv[0]) if kv[0].isdigit() else 0)))


def _response_mti(mti: str) -> str:
    origin = mti[3] if mti[3] in "02468" else str(int(mti[3]) - 1)
    return mti[:2] + str(int(mti[2]) + 1) + origin


def _explain(resp: Message, candidates: list[Message]) -> str:
    r = resp._raw
    head = f"{resp.label()} stan {r.get('11', '-')} matches no request"
    if not candidates:
        return head + " (no request in the capture)"

    def diffs(q: Message) -> list[str]:
        f = q._raw
        out = []
        if _response_mti(q.mti) != resp.mti:
            out.append(f"wrong MTI class ({resp.mti} does not answer {q.mti}; expected "
                       f"{_response_mti(q.mti)})")
        if f.get("11") != r.get("11"):
            out.append(f"different STAN ({r.get('11', 'absent')}, request {f.get('11', 'absent')})")
        if f.get("41") != r.get("41"):
            out.append(f"different terminal id ({r.get('41', 'absent')}, request "
                       f"{f.get('41', 'absent')})")
        return out

    best = min(candidates, key=lambda q: (len(diffs(q)), q.index))
    return f"{head}; closest {best.label().split(' ')[0]} {best.mti}: {', '.join(diffs(best))}"


def analyse(text: str, *, framing: str | None = None, spec: str | None = None) -> Report:
    """Guess framing and dialect, decode, pair and explain (see the module docstring)."""
    streams = parse_capture(text)
    framings = [framing] if framing else list(FRAMINGS)
    specs = [spec] if spec else list(SPECS)
    best = {d: _best(data, framings, specs) for d, data in streams.items()}
    problems: list[str] = []
    names = {(a.framing, a.spec) for a in best.values()}
    if len(names) > 1:
        problems.append("framing mismatch: " + "; ".join(
            f"{d.value} decodes as {a.framing}/{a.spec}" for d, a in best.items()))
    overall = max(best.values(), key=lambda a: a.score) if best else None
    messages: list[Message] = []
    for d, a in best.items():
        if a.framing_error:
            problems.append(f"{d.value}: framing error after {len(a.bodies)} frames: "
                            f"{a.framing_error} ({a.trailing} bytes left)")
        elif a.trailing:
            problems.append(f"{d.value}: {a.trailing} trailing bytes after the last complete frame "
                            "(truncated capture or wrong framing)")
        for (offset, body), dec in zip(a.bodies, a.decoded, strict=True):
            idx = len(messages) + 1
            if isinstance(dec, dict):
                messages.append(Message(index=idx, direction=d.value, offset=offset,
                                        mti=dec.get("t", ""), fields=_shown(dec), _raw=dec))
            else:
                head = body[:4].decode("ascii", "replace") if a.spec == "ascii" else body[:2].hex()
                messages.append(Message(index=idx, direction=d.value, offset=offset, mti=head,
                                        fields={}, error=dec))
                problems.append(f"#{idx} {d.value} does not decode as {a.spec}: {dec}")
    pairs, pending = _pair(messages, problems)
    for q in pending:
        problems.append(f"{q.label()} stan {q._raw.get('11', '-')} got no response in the capture")
    return Report(framing=overall.framing if overall else "-",
                  spec=overall.spec if overall else "-",
                  per_direction={d.value: f"{a.framing}/{a.spec} {a.clean}/{len(a.bodies)} clean"
                                 for d, a in best.items()},
                  messages=tuple(messages), pairs=tuple(pairs), problems=tuple(problems))


def _pair(
    messages: list[Message], problems: list[str],
) -> tuple[list[tuple[int, int]], list[Message]]:
    pending: list[Message] = []
    pairs: list[tuple[int, int]] = []
    # requests first: with one stream per direction, a response may precede its request in order
    requests = [m for m in messages if m.error is None and m.is_request]
    responses = [m for m in messages if m.error is None and m.is_response]
    pending = list(requests)
    for resp in responses:
        key = (resp.mti, resp._raw.get("41"), resp._raw.get("11"))
        match = next((q for q in pending
                      if (_response_mti(q.mti), q._raw.get("41"), q._raw.get("11")) == key), None)
        if match is None:
            problems.append(_explain(resp, pending))
            continue
        pending.remove(match)
        pairs.append((match.index, resp.index))
        if "39" not in resp._raw:
            problems.append(f"{resp.label()} answers #{match.index} but has no field 39")
    return pairs, pending


def render(report: Report) -> str:
    """The human-readable report."""
    lines = [f"framing {report.framing}, spec {report.spec}"]
    lines += [f"  {d}: {s}" for d, s in report.per_direction.items()]
    lines.append("messages:")
    for m in report.messages:
        if m.error:
            lines.append(f"  {m.label()} @{m.offset}: undecodable: {m.error}")
            continue
        rc = m.fields.get("39")
        meaning = f" ({RESPONSE_CODES.get(rc, 'unknown code')})" if rc else ""
        lines.append(f"  {m.label()} @{m.offset} stan {m.fields.get('11', '-')} "
                     f"tid {m.fields.get('41', '-')}{meaning}")
        lines.append("    " + " ".join(f"{k}={v}" for k, v in m.fields.items() if k != "t"))
    lines.append("pairs:")
    lines += [f"  #{q} -> #{r}" for q, r in report.pairs] or ["  (none)"]
    lines.append("problems:")
    lines += [f"  - {p}" for p in report.problems] or ["  (none)"]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """``sst host wire-doctor FILE|- [--json] [--framing NAME] [--spec NAME]``.

    Exit status: 0 nothing to report, 1 problems found, 2 unreadable input.
    """
    p = argparse.ArgumentParser(prog="sst host wire-doctor",
                                description="Explain a captured ISO 8583 byte stream.")
    p.add_argument("file", help="capture file, or - for standard input")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--framing", choices=sorted(FRAMINGS), help="skip guessing the framing")
    p.add_argument("--spec", choices=sorted(SPECS), help="skip guessing the dialect")
    args = p.parse_args(argv)
    try:
        if args.file == "-":
            text = sys.stdin.read()
        else:
            with open(args.file, encoding="utf-8", errors="replace") as fh:
                text = fh.read()
        report = analyse(text, framing=args.framing, spec=args.spec)
    except (OSError, CaptureError) as e:
        print(f"wire-doctor: {e}", file=sys.stderr)
        return 2
    print(json.dumps(report.to_json(), indent=2) if args.json else render(report))
    return 1 if report.problems else 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
