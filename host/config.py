"""Host configuration (TOML file + CLI overrides, frozen)."""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["HostConfig", "HsmLink", "RiskSettings"]


@dataclass(frozen=True, kw_only=True)
class HsmLink:
    host: str = "127.0.0.1"
    port: int = 1500
    header_length: int = 4
    timeout_s: float = 5.0
    pool_size: int = 4


@dataclass(frozen=True, kw_only=True)
class RiskSettings:
    """``[risk]``: the per-customer risk engine (``host.risk``, docs/risk.md).

    ``id_key`` (hex AES key) and ``id_salt`` protect ID numbers at rest; the defaults are TEST
    values shared with ``sst host seed --demo``. ``limits`` = "" is the packaged limits file.
    """

    limits: str = ""
    id_expiry_grace_days: int = 30
    stepup_high_grade_amount: int = 200000
    transfer_delay_hours: int = 24
    id_key: str = field(default="53535420544553542049442044415441", repr=False)  # TEST only
    id_salt: str = field(default="sst-demo-id-salt", repr=False)
    otp_secret: str = field(default="sst-otp-test-secret", repr=False)


@dataclass(frozen=True, kw_only=True)
class HostConfig:
    host: str = "127.0.0.1"
    port: int = 8583
    #: A SQLite file path, or a PostgreSQL URL (``postgresql://user@/dbname?host=/socket/dir``).
    db: str = "host.db"
    durability: str = "full"  # SQLite synchronous: "full" (fsync per commit) or "normal" (WAL)
    db_pool_size: int = 10  # PostgreSQL: connections in the pool of one host instance
    #: SQLite group commit: event-loop turns a batch stays open for more messages (>= 1); every
    #: answer still waits for the COMMIT of its batch (see host.store.sqlite).
    group_commit_ticks: int = 2
    log_level: str = "INFO"
    log_file: str = ""
    hsm: HsmLink = field(default_factory=HsmLink)
    #: Authorisation participants in order (``host.auth.pipeline.PARTICIPANTS``); the risk
    #: engine runs after the PIN check. It needs the SQLite store (see docs/risk.md).
    participants: tuple[str, ...] = (
        "terminal", "card", "transaction-type", "chip", "pin", "risk", "pin-change",
    )
    risk: RiskSettings = field(default_factory=RiskSettings)
