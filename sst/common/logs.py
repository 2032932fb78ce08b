"""Structured JSON logging with redaction.

Handlers are configured only by composition roots (``__main__`` modules) through
``configure_logging``; library modules use ``logging.getLogger(__name__)``.
Extra fields passed with ``extra={...}`` become JSON keys. Keys that name sensitive data are
dropped, PAN-like strings are masked, and free text is scrubbed.
"""

from __future__ import annotations

import datetime as _dt
import json
import logging
import sys
from typing import IO, Any

from sst.common.redact import mask_pan, scrub

__all__ = ["JsonFormatter", "configure_logging"]

_STD_ATTRS = set(vars(logging.LogRecord("n", 0, "p", 0, "m", None, None))) | {"message", "asctime"}
_FORBIDDEN_KEYS = {
    "pin", "pin_block", "pinblock", "key", "clear_key", "track2", "track_2", "cvv", "cvv2",
    "icvv", "tpk", "tmk", "pvk", "cvk", "zpk", "bdk", "ipek", "component",
}


def _clean(key: str, value: Any) -> Any:  # noqa: PLR0911 - one return per redaction rule
    if key.lower() in _FORBIDDEN_KEYS:
        return "<redacted>"
    if key.lower() in {"pan", "account_number"} and isinstance(value, str):
        return mask_pan(value)
    if isinstance(value, str):
        return scrub(value)
    if isinstance(value, dict):
        return {k: _clean(str(k), v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean("", v) for v in value]
    if isinstance(value, (int, float, bool)) or value is None:
        return value
    return scrub(repr(value))


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, msg, then the record's extra fields."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": _dt.datetime.fromtimestamp(record.created, tz=_dt.UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname,
            "logger": record.name,
            "msg": scrub(record.getMessage()),
        }
        for k, v in vars(record).items():
            if k not in _STD_ATTRS and not k.startswith("_"):
                out[k] = _clean(k, v)
        if record.exc_info:
            out["exc"] = scrub(self.formatException(record.exc_info))
        return json.dumps(out, ensure_ascii=False, default=str)


def configure_logging(
    level: str = "INFO", *, stream: IO[str] | None = None, path: str | None = None
) -> None:
    """Install one JSON handler on the root logger (composition roots only)."""
    root = logging.getLogger()
    for h in list(root.handlers):
        root.removeHandler(h)
    handler: logging.Handler
    if path:
        handler = logging.FileHandler(path, encoding="utf-8")
    else:
        handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter())
    root.addHandler(handler)
    root.setLevel(level.upper())
    # transitions warns once per undeclared ``is_<state>`` query under model_override; noise.
    logging.getLogger("transitions.core").setLevel(logging.ERROR)
