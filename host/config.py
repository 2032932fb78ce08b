"""Host configuration (TOML file + CLI overrides, frozen)."""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["HostConfig", "HsmLink"]


@dataclass(frozen=True, kw_only=True)
class HsmLink:
    host: str = "127.0.0.1"
    port: int = 1500
    header_length: int = 4
    timeout_s: float = 5.0
    pool_size: int = 4


@dataclass(frozen=True, kw_only=True)
class HostConfig:
    host: str = "127.0.0.1"
    port: int = 8583
    db: str = "host.db"
    durability: str = "full"  # SQLite synchronous: "full" (fsync per commit) or "normal" (WAL)
    log_level: str = "INFO"
    log_file: str = ""
    hsm: HsmLink = field(default_factory=HsmLink)
