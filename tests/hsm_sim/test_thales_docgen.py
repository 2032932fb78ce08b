"""docs/hsm.md's command reference is generated from the codec layouts and must be current."""

from __future__ import annotations

from pathlib import Path

from hsm_sim.thales import codec as c
from hsm_sim.thales.docgen import BEGIN, END, main, render_commands, splice

DOC = Path(__file__).resolve().parents[2] / "docs" / "hsm.md"


def test_committed_doc_is_current() -> None:
    text = DOC.read_text(encoding="utf-8")
    assert splice(text, render_commands()) == text, (
        "docs/hsm.md is stale: run python -m hsm_sim.thales.docgen --write docs/hsm.md"
    )
    assert main(["--check", str(DOC)]) == 0


def test_every_layout_and_error_code_is_documented() -> None:
    text = render_commands()
    for code, layout in c.LAYOUTS.items():
        assert f"### `{code}` → `{c.response_code(code)}`" in text
        for err, _ in layout.errors:
            assert f"* `{err}` —" in text
    assert "`ZZ15`" in text and "`KU`" in text  # the 68 list and the unknown answer


def test_write_and_check(tmp_path: Path) -> None:
    doc = tmp_path / "hsm.md"
    doc.write_text("# hand-written\n\nintro\n", encoding="utf-8")
    assert main(["--check", str(doc)]) == 1
    assert main(["--write", str(doc)]) == 0
    text = doc.read_text(encoding="utf-8")
    assert text.startswith("# hand-written\n\nintro\n") and BEGIN in text and END in text
    doc.write_text(text.replace("### `DC`", "### `XX`"), encoding="utf-8")
    assert main(["--check", str(doc)]) == 1
