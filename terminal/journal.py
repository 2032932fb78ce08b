"""The terminal's electronic journal: one JSON object per line, PANs masked, no secrets."""

from __future__ import annotations

import datetime as _dt
import json
from pathlib import Path
from typing import Any

from sst.common.redact import mask_pan, scrub

__all__ = ["ElectronicJournal"]

_FORBIDDEN = {"pin", "pin_block", "track2", "cvv", "key"}


class ElectronicJournal:
    def __init__(self, path: str | Path, *, terminal_id: str) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._tid = terminal_id

    def write(self, event: str, **data: Any) -> None:
        rec: dict[str, Any] = {
            "ts": _dt.datetime.now(_dt.UTC).isoformat(timespec="milliseconds"),
            "terminal_id": self._tid, "event": event}
        for k, v in data.items():
            if k in _FORBIDDEN:
                raise ValueError(f"the journal never stores {k}")
            if k == "pan" and isinstance(v, str):
                v = mask_pan(v)  # noqa: PLW2901 - masked in place before storing
            elif isinstance(v, str):
                v = scrub(v)  # noqa: PLW2901 - scrubbed in place before storing
            rec[k] = v
        with self.path.open("a", encoding="utf-8") as f:
            f.write(json.dumps(rec, ensure_ascii=False) + "\n")

    def read(self) -> list[dict[str, Any]]:
        if not self.path.exists():
            return []
        text = self.path.read_text(encoding="utf-8")
        return [json.loads(line) for line in text.splitlines() if line]
