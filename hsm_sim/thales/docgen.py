"""Generate the command reference of ``docs/hsm.md`` from the codec's :data:`LAYOUTS` data.

The generated part sits between two marker lines in the document; everything outside them is
hand-written and left alone::

    python -m hsm_sim.thales.docgen --write docs/hsm.md   # regenerate (creates the file if absent)
    python -m hsm_sim.thales.docgen --check docs/hsm.md   # exit 1 if the file is out of date

Pure: no I/O except in :func:`main`; :func:`render_commands` returns the Markdown text.

Examples
--------
>>> text = render_commands()
>>> text.splitlines()[0]
'## Command reference (generated)'
>>> "### `DC` → `DD`" in text
True
>>> describe_form(F(name="pin_block", kind=Kind.H, length=16, aes_length=32, key_from="bdk"))
'16H (32H if `bdk` is an AES key block)'
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path

from hsm_sim.thales.codec import (
    KNOWN_COMMANDS,
    LAYOUTS,
    UNKNOWN_RESPONSE_CODE,
    F,
    Group,
    Kind,
    Layout,
    Spec,
    response_code,
)

__all__ = [
    "BEGIN",
    "END",
    "describe_form",
    "main",
    "render_commands",
    "splice",
]

BEGIN = "<!-- BEGIN GENERATED: python -m hsm_sim.thales.docgen --write docs/hsm.md -->"
END = "<!-- END GENERATED -->"

_COMMON_ERRORS: tuple[tuple[str, str], ...] = (
    ("00", "no error"),
    ("15", "malformed input: bad field, bad delimiter, short message, unexpected data"),
    ("26", "an `S` key field but no key-block LMK configured"),
    ("27", "a key of the wrong length or algorithm for the command"),
    ("41", "internal error (a bug; the connection stays up)"),
    ("83 / A4 / A6", "`S` key: malformed key block / authentication failure / wrong key usage"),
)

_KEY_FORMS = "key: {bare}H bare, `Z`+16H, `U`/`X`+32H, `T`/`Y`+48H, or `S`+key block"


def describe_form(f: F) -> str:  # noqa: PLR0911 - one answer per field kind
    """How one field looks on the wire, e.g. ``2N``, ``16H``, ``length 4H + data``.

    Examples
    --------
    >>> describe_form(F(name="x", kind=Kind.N, length=2))
    '2N'
    >>> describe_form(F(name="m", kind=Kind.LEN_DATA, length=2, radix=10))
    'length 2N + that many bytes'
    """
    k = f.kind
    simple = {Kind.N: "N", Kind.H: "H", Kind.A: "A", Kind.B: "B"}
    if k in simple:
        if f.fit_lengths:
            opts = "/".join(str(n) for n in f.fit_lengths if n)
            return f"{opts}{simple[k]} or absent"
        text = f"{f.length}{simple[k]}"
        if f.aes_length is not None:
            text += f" ({f.aes_length}{simple[k]} if `{f.key_from}` is an AES key block)"
        return text
    if k is Kind.KEY:
        if f.bare_from is not None:
            return _KEY_FORMS.format(bare=f"16/32/48 (by `{f.bare_from}`)").replace("HH", "H")
        return _KEY_FORMS.format(bare=f.length)
    if k is Kind.PAN:
        return f"1-{f.length}N, up to the next delimiter"
    if k is Kind.LITERAL:
        return f"literal `{f.literal}`"
    if k is Kind.LEN_DATA:
        unit = "H" if f.radix == 16 else "N"
        return f"length {f.length}{unit} + that many bytes"
    if k is Kind.REST:
        return "the rest (text)"
    if k is Kind.REST_B:
        return "the rest (binary)"
    if k is Kind.VAR_TAIL:
        return "variable (all but the last fields)"
    return str(k.value)  # pragma: no cover - every kind is listed above


def _condition(f: F | Group) -> str:
    parts = []
    if f.when is not None:
        values = ", ".join(sorted(f.when[1]))
        parts.append(f"`{f.when[0]}` ∈ {{{values}}}")
    if isinstance(f, F) and f.if_longer_than is not None:
        parts.append("if more data follows" if f.if_longer_than == 0 else "optional")
    return "; ".join(parts) or "always"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _rows(specs: Iterable[Spec]) -> list[str]:
    out: list[str] = []
    for s in specs:
        if isinstance(s, Group):
            doc = f" — {s.doc}" if s.doc else ""
            out.append(
                f"| `{s.lead}` group | optional: all its fields or none{_cell(doc)} | "
                f"{_condition(s)} | |"
            )
            out += [
                f"| &nbsp;&nbsp;`{f.name}` | {_cell(describe_form(f))} | "
                f"{_condition(f)} | {_cell(f.doc)} |"
                for f in s.fields
            ]
            continue
        name = f"`{s.name}`" if s.name else "—"
        notes = s.doc
        if s.error_code != "15" and s.kind is Kind.LEN_DATA:
            notes = (notes + "; " if notes else "") + f"short data → {s.error_code}"
        out.append(f"| {name} | {_cell(describe_form(s))} | {_condition(s)} | {_cell(notes)} |")
    return out


def _fields_table(title: str, specs: tuple[Spec, ...]) -> list[str]:
    if not specs:
        return [f"{title}: none.", ""]
    return [
        f"{title}:",
        "",
        "| field | form | present | notes |",
        "|---|---|---|---|",
        *_rows(specs),
        "",
    ]


def _layout_section(layout: Layout) -> list[str]:
    rc = response_code(layout.code)
    title = layout.title.removeprefix(layout.code + " ")
    lines = [f"### `{layout.code}` → `{rc}`: {title}", ""]
    if layout.binary:
        lines += ["Binary fields: the frame is handled as bytes (no text assumptions).", ""]
    lines += _fields_table(f"Request (after `{layout.code}`)", layout.request)
    lines += _fields_table(f"Response (after `{rc}` + 2-digit error code)", layout.response)
    if layout.errors:
        lines += ["Error codes:", ""]
        lines += [f"* `{code}` — {_cell(text)}" for code, text in layout.errors]
        lines.append("")
    if layout.notes:
        lines += [layout.notes, ""]
    return lines


def render_commands(layouts: Mapping[str, Layout] | None = None) -> str:
    """The generated Markdown: common errors, every layout, then the ``68`` list."""
    layouts = LAYOUTS if layouts is None else layouts
    lines = [
        "## Command reference (generated)",
        "",
        "Generated from `hsm_sim.thales.codec.LAYOUTS`; do not edit by hand. Field forms: `N` "
        "digits, `H` hex characters, `A` printable characters, `B` raw bytes; lengths in "
        "characters (bytes for `B`). Fields are written only for answers `00`, `01` and `02`.",
        "",
        "Error codes every command can answer:",
        "",
        *[f"* `{code}` — {text}" for code, text in _COMMON_ERRORS],
        "",
    ]
    for code in sorted(layouts):
        lines += _layout_section(layouts[code])
    disabled = sorted(KNOWN_COMMANDS - set(layouts))
    lines += [
        "### Known commands without a layout (answer `68`)",
        "",
        "These payShield command codes are recognised and answered with `<response code>68` "
        "(command disabled); any other code gets "
        f"`{UNKNOWN_RESPONSE_CODE}15`:",
        "",
        " ".join(f"`{c}`" for c in disabled),
        "",
    ]
    return "\n".join(lines)


def splice(document: str, generated: str) -> str:
    """Replace the text between the marker lines (or append the markers and the block).

    Examples
    --------
    >>> out = splice(f"intro\\n{BEGIN}\\nold\\n{END}\\nend\\n", "new")
    >>> out == f"intro\\n{BEGIN}\\nnew\\n{END}\\nend\\n"
    True
    """
    block = f"{BEGIN}\n{generated.rstrip()}\n{END}"
    if BEGIN in document and END in document:
        head = document[: document.index(BEGIN)]
        tail = document[document.index(END) + len(END) :]
        return head + block + tail
    return document.rstrip() + ("\n\n" if document.strip() else "") + block + "\n"


def main(argv: list[str] | None = None) -> int:
    """``--write FILE`` regenerates the block; ``--check FILE`` exits 1 if it is stale."""
    parser = argparse.ArgumentParser(
        prog="python -m hsm_sim.thales.docgen",
        description="Generate the host-command reference in docs/hsm.md from the codec layouts.",
    )
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--write", metavar="FILE", help="regenerate the block in FILE")
    group.add_argument("--check", metavar="FILE", help="exit 1 if FILE's block is out of date")
    ns = parser.parse_args(argv)
    path = Path(ns.write or ns.check)
    current = path.read_text(encoding="utf-8") if path.exists() else ""
    wanted = splice(current, render_commands())
    if ns.check:
        if current != wanted:
            print(f"{path}: out of date; run python -m hsm_sim.thales.docgen --write {path}")
            return 1
        print(f"{path}: up to date")
        return 0
    path.write_text(wanted, encoding="utf-8")
    print(f"{path}: written")
    return 0


if __name__ == "__main__":
    sys.exit(main())
