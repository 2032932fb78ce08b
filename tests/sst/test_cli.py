"""The ``sst`` command: help texts, dispatch, and the packaged demo catalogue."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from hsm_sim.ceremony import build_demo, to_toml
from sst.__main__ import COMMANDS, main


def test_top_level_help(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 0
    out = capsys.readouterr().out
    for name in COMMANDS:
        assert name in out


def test_unknown_command_is_an_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["frobnicate"]) == 2
    assert "unknown command" in capsys.readouterr().err


@pytest.mark.parametrize("cmd", sorted(COMMANDS))
def test_every_subcommand_explains_itself(cmd: str) -> None:
    r = subprocess.run([sys.executable, "-m", "sst", cmd, "--help"], capture_output=True,
                       text=True, timeout=60, check=False)
    assert r.returncode == 0, r.stderr
    assert "usage:" in r.stdout.lower() and len(r.stdout) > 200


def test_packaged_demo_catalogue_is_what_the_ceremony_generates(repo_dir: Path) -> None:
    """host/seeds/demo.toml is generated, never hand-edited (`sst keys demo --write ...`)."""
    assert (repo_dir / "host" / "seeds" / "demo.toml").read_text() == to_toml(build_demo())


def test_seed_prints_the_catalogue(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["host", "seed", "--demo", "--db", str(tmp_path / "h.db"), "--json"]) == 0
    cat = json.loads(capsys.readouterr().out)
    card = cat["cards"][0]
    assert set(card) >= {"pan", "pin", "expiry", "service_code", "track2", "account", "balance"}
    assert card["track2"].startswith(card["pan"] + "=" + card["expiry"] + card["service_code"])
    assert isinstance(card["balance"], int)
    term = cat["terminals"][0]
    assert len(term["terminal_id"]) == 8 and len(term["tpk"]) == 32 and term["test_keys"] is True
    assert "TEST" in cat["warning"]


def test_journal_is_masked(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = str(tmp_path / "h.db")
    assert main(["host", "seed", "--demo", "--db", db]) == 0
    assert main(["host", "journal", "--db", db, "--json"]) == 0
    assert json.loads(capsys.readouterr().out.split("\n", 1)[1]) == []


def test_bad_config_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "h.toml"
    bad.write_text("prot = 1\n")
    assert main(["host", "serve", "--config", str(bad)]) == 2
    assert "unknown key(s) in [top]: prot" in capsys.readouterr().err
