"""Persistent card counters (ATC, PIN try counter, last online ATC, blocked applications)."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Protocol

__all__ = ["CardState", "FileStateStore", "MemoryStateStore", "StateStore"]


@dataclass(frozen=True, kw_only=True)
class CardState:
    """What a card remembers between transactions and power cycles."""

    atc: int
    pin_tries: int
    last_online_atc: int = 0
    blocked_aids: tuple[str, ...] = field(default=())


class StateStore(Protocol):
    """Where a card keeps its :class:`CardState`."""

    def load(self) -> CardState | None: ...

    def save(self, state: CardState) -> None: ...


class MemoryStateStore:
    """In-memory store (tests, the emulated reader)."""

    def __init__(self, state: CardState | None = None) -> None:
        self._state = state

    def load(self) -> CardState | None:
        """The last saved state."""
        return self._state

    def save(self, state: CardState) -> None:
        """Remember ``state``."""
        self._state = state


class FileStateStore:
    """A JSON file, replaced atomically on every change (``<state-dir>/<profile>.json``)."""

    def __init__(self, path: Path | str) -> None:
        self._path = Path(path)

    @property
    def path(self) -> Path:
        """The state file."""
        return self._path

    def load(self) -> CardState | None:
        """Read the file; None when it does not exist yet."""
        try:
            raw = json.loads(self._path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        return CardState(atc=int(raw["atc"]), pin_tries=int(raw["pin_tries"]),
                         last_online_atc=int(raw.get("last_online_atc", 0)),
                         blocked_aids=tuple(raw.get("blocked_aids", ())))  # fmt: skip

    def save(self, state: CardState) -> None:
        """Write to a temporary file, then rename over the old one."""
        self._path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self._path.with_suffix(".tmp")
        d = asdict(state)
        d["blocked_aids"] = list(state.blocked_aids)
        tmp.write_text(json.dumps(d, sort_keys=True) + "\n", encoding="utf-8")
        os.replace(tmp, self._path)
