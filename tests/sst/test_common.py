"""Shared leaf utilities: redaction, JSON logs, TOML configuration."""

from __future__ import annotations

import io
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sst.common.config import ConfigError, load_config, parse_override
from sst.common.logs import JsonFormatter, configure_logging
from sst.common.redact import Secret, mask_pan, scrub


@dataclass(frozen=True, kw_only=True)
class Inner:
    port: int = 1
    name: str = "x"


@dataclass(frozen=True, kw_only=True)
class Outer:
    level: str = "INFO"
    ratio: float = 1.0
    inner: Inner = field(default_factory=Inner)


def test_toml_then_cli_overrides(tmp_path: Path) -> None:
    f = tmp_path / "c.toml"
    f.write_text('level = "DEBUG"\n[inner]\nport = 9\n')
    cfg = load_config(Outer, f, {"inner.port": 10, "ratio": "2.5"})
    assert cfg == Outer(level="DEBUG", ratio=2.5, inner=Inner(port=10))
    with pytest.raises(Exception):  # noqa: B017 - frozen; which error it raises is not the point
        cfg.level = "x"  # type: ignore[misc]


# fmt: off
@pytest.mark.parametrize(("text", "message"), [
    ('levle = "DEBUG"\n', "unknown key(s) in [top]: levle"),
    ("[inner]\nport = 'abc'\n", "inner.port: expected an integer, got 'abc'"),
    ("level = \n", "c.toml"),
])
def test_config_errors_exception(tmp_path: Path, text: str, message: str) -> None:
    f = tmp_path / "c.toml"
    f.write_text(text)
    with pytest.raises(ConfigError) as e:
        load_config(Outer, f)
    assert message in str(e.value)
# fmt: on


def test_missing_file_exception(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(Outer, tmp_path / "nope.toml")


def test_parse_override() -> None:
    assert parse_override("a.b=[1, 2]") == ("a.b", [1, 2])
    assert parse_override("name=plain text") == ("name", "plain text")
    with pytest.raises(ConfigError):
        parse_override("novalue")


def test_json_log_masks_and_drops_secrets() -> None:
    buf = io.StringIO()
    configure_logging("DEBUG", stream=buf)
    try:
        logging.getLogger("t").info("card 4761739001010010 read", extra={
            "pan": "4761739001010010", "pin_block": "0123456789ABCDEF", "stan": "000001",
            "track2": "4761739001010010=30121010000", "note": "t2 4761739001010010=30121010000"})
    finally:
        logging.getLogger().handlers.clear()
    rec = json.loads(buf.getvalue())
    assert rec["msg"] == "card 476173******0010 read"
    assert rec["pan"] == "476173******0010"
    assert rec["pin_block"] == "<redacted>" and rec["track2"] == "<redacted>"
    assert rec["note"] == "t2 <track2>" and rec["stan"] == "000001"
    assert "4761739001010010" not in buf.getvalue()


def test_secret_never_prints() -> None:
    s = Secret("1234")
    assert "1234" not in repr(s) + str(s) + f"{s}" + repr([s])


@given(st.from_regex(r"\A[0-9]{13,19}\Z"))
def test_mask_pan_keeps_6_and_4(pan: str) -> None:
    m = mask_pan(pan)
    assert m[:6] == pan[:6] and m[-4:] == pan[-4:] and set(m[6:-4]) == {"*"} and len(m) == len(pan)
    assert pan not in scrub(f"x {pan} y")


def test_formatter_handles_exceptions() -> None:
    try:
        raise ValueError("bad 4761739001010010")
    except ValueError:
        rec = logging.LogRecord("t", logging.ERROR, "f", 1, "boom", None,
                                exc_info=__import__("sys").exc_info())
    out = JsonFormatter().format(rec)
    assert "4761739001010010" not in out and "476173******0010" in out
