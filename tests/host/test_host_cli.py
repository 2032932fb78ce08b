"""``sst host`` operations CLI.

Seed (demo and profiles), list/show/add/block, journal, JSON output.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from host.__main__ import main

PROFILE = """
pan = "4000001234567899"
expiry = "3012"
service_code = "101"
pin_method = "pvv"
pvk_name = "PVK1"
pvki = 1
pvv = "1234"
[account]
account_no = "6299000000000001"
currency = "156"
balance = 4200
[customer]
customer_id = "C900001"
name = "TEST PROFILE"
"""


def test_seed_list_show_add_block(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = str(tmp_path / "h.db")
    assert main(["seed", "--demo", "--db", db]) == 0
    prof = tmp_path / "profiles"
    prof.mkdir()
    (prof / "card1.toml").write_text(PROFILE)
    assert main(["seed", "--profiles", str(prof), "--db", db]) == 0
    capsys.readouterr()
    assert main(["cards", "list", "--db", db, "--json"]) == 0
    cards = json.loads(capsys.readouterr().out)
    assert any(c["pan"] == "400000******7899" for c in cards)
    assert all("pvv" not in c for c in cards)
    assert main(["accounts", "show", "6299000000000001", "--db", db, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["balance"] == 4200
    assert main(["customers", "add", "customer_id=C777", "name=NEW", "--db", db]) == 0
    assert main(["cards", "block", "4000001234567899", "--db", db]) == 0
    capsys.readouterr()
    assert main(["cards", "show", "4000001234567899", "--db", db]) == 0
    text = capsys.readouterr().out
    assert "blocked" in text and "4000001234567899" not in text
    assert main(["customers", "list", "--db", db]) == 0
    assert "C777" in capsys.readouterr().out
    assert main(["cards", "show", "4111111111111111", "--db", db]) == 1
    assert main(["journal", "--db", db, "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == []


def test_bad_profile_is_an_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "bad.toml").write_text('pan = "1"\n')
    assert main(["seed", "--profiles", str(tmp_path), "--db", str(tmp_path / "h.db")]) == 2
    assert "misses" in capsys.readouterr().err
