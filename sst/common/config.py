"""TOML configuration loaded into frozen dataclasses, with CLI overrides.

``load_config(cls, path, overrides)`` reads an optional TOML file, applies ``section.key=value``
style overrides (already parsed by argparse into a flat dict), and builds the frozen dataclass,
recursing into nested dataclass fields. Unknown keys are an error, so typos are caught at start.
"""

from __future__ import annotations

import dataclasses
import tomllib
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

__all__ = ["ConfigError", "load_config", "parse_override"]

C = TypeVar("C")


class ConfigError(ValueError):
    """A configuration file or override is invalid."""


def parse_override(text: str) -> tuple[str, Any]:
    """Parse ``a.b=value`` where value is TOML (falls back to a bare string).

    Examples
    --------
    >>> parse_override("host.port=9000")
    ('host.port', 9000)
    >>> parse_override("log.level=DEBUG")
    ('log.level', 'DEBUG')
    """
    if "=" not in text:
        raise ConfigError(f"override must look like key=value: {text!r}")
    key, raw = text.split("=", 1)
    try:
        value = tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw
    return key.strip(), value


def _set_path(data: dict[str, Any], dotted: str, value: Any) -> None:
    parts = dotted.split(".")
    cur = data
    for p in parts[:-1]:
        cur = cur.setdefault(p, {})
        if not isinstance(cur, dict):
            raise ConfigError(f"cannot override {dotted!r}: {p!r} is not a table")
    cur[parts[-1]] = value


def _build(cls: type[C], data: dict[str, Any], where: str) -> C:
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = set(data) - names
    if unknown:
        raise ConfigError(f"unknown key(s) in [{where or 'top'}]: {', '.join(sorted(unknown))}")
    kwargs: dict[str, Any] = {}
    for name, value in data.items():
        tp = hints[name]
        if dataclasses.is_dataclass(tp) and isinstance(tp, type):
            if not isinstance(value, dict):
                raise ConfigError(f"[{where}.{name}] must be a table")
            kwargs[name] = _build(tp, value, f"{where}.{name}".strip("."))
        else:
            kwargs[name] = _coerce(tp, value, f"{where}.{name}".strip("."))
    try:
        return cls(**kwargs)
    except TypeError as e:
        raise ConfigError(f"[{where or 'top'}]: {e}") from e


def _coerce(tp: Any, value: Any, where: str) -> Any:  # noqa: PLR0911 - type dispatcher: one return per supported type
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if value is None:
            return None
        return _coerce(args[0], value, where) if len(args) == 1 else value
    if tp is int and isinstance(value, str) and value.lstrip("-").isdigit():
        return int(value)
    if tp is float and isinstance(value, (int, str)):
        return float(value)
    if tp is bool and isinstance(value, str):
        return value.lower() in {"1", "true", "yes", "on"}
    if tp is Path or tp == "Path":
        return Path(value)
    if origin is tuple and isinstance(value, list):
        return tuple(value)
    if tp is str and not isinstance(value, str):
        raise ConfigError(f"{where}: expected a string, got {value!r}")
    if tp is int and not isinstance(value, int):
        raise ConfigError(f"{where}: expected an integer, got {value!r}")
    return value


def load_config(
    cls: type[C], path: str | Path | None = None, overrides: dict[str, Any] | None = None
) -> C:
    """Load ``cls`` from an optional TOML file plus dotted overrides (CLI wins)."""
    data: dict[str, Any] = {}
    if path is not None:
        try:
            data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
        except FileNotFoundError as e:
            raise ConfigError(f"config file not found: {path}") from e
        except tomllib.TOMLDecodeError as e:
            raise ConfigError(f"{path}: {e}") from e
    for k, v in (overrides or {}).items():
        if v is not None:
            _set_path(data, k, v)
    return _build(cls, data, "")
