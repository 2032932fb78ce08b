"""A persistent STAN (field 11) counter, so a restarted terminal never repeats a STAN in a day."""

from __future__ import annotations

import json
import os
from pathlib import Path

__all__ = ["StanCounter"]


class StanCounter:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def next(self) -> str:
        n = 0
        if self.path.exists():
            try:
                n = int(json.loads(self.path.read_text())["stan"])
            except (ValueError, KeyError, json.JSONDecodeError):
                n = 0
        n = n % 999999 + 1
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"stan": n}))
        os.replace(tmp, self.path)
        return f"{n:06d}"
