"""docs/iso8583.md is generated, current, and every example in it decodes back to its fields."""

from __future__ import annotations

from pathlib import Path

import pytest

from host.iso8583 import codec
from host.iso8583.docgen import EXAMPLES, main, parse_examples, render
from host.iso8583.framing import make_framer
from host.iso8583.spec import FIELDS, NETWORK_CODES, RESPONSE_CODES, TRANSACTIONS

DOC = Path(__file__).resolve().parents[2] / "docs" / "iso8583.md"


def test_committed_document_is_current() -> None:
    assert main(["--check", str(DOC)]) == 0, (
        "run: python -m host.iso8583.docgen --write docs/iso8583.md")


def test_every_documented_example_decodes_back_to_its_fields() -> None:
    found = parse_examples(DOC.read_text(encoding="utf-8"))
    assert [ex.name for ex, _ in found] == [ex.name for ex in EXAMPLES]
    for ex, raw in found:
        framer = make_framer(ex.framing)
        framer.receive_data(raw)
        body = framer.next_frame()
        assert body is not None and framer.buffered == 0, ex.name
        assert codec.decode(body, ex.spec) == ex.fields, ex.name


def test_document_lists_every_code_and_field() -> None:
    text = render()
    for code in [*RESPONSE_CODES, *NETWORK_CODES]:
        assert f"| {code} |" in text
    for t in TRANSACTIONS.values():
        assert f"| {t.code} | {t.name} |" in text
    for num in FIELDS:
        assert f"\n| {num} | " in text


def test_check_reports_stale_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    stale = tmp_path / "iso8583.md"
    stale.write_text("old\n")
    assert main(["--check", str(stale)]) == 1
    assert "is stale" in capsys.readouterr().err
    assert main(["--write", str(stale)]) == 0 and main(["--check", str(stale)]) == 0
