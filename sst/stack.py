"""The whole emulated stack on loopback: HSM, host (SQLite), emulated EPP on a pty.

``EmulatedStack`` is what ``sst demo`` and the end-to-end tests start: three real processes
talking over TCP and a pty, plus a terminal configuration that points at them. Everything it
starts is stopped by pid.

Chip cards: ``EmulatedStack(dir, profiles_dir=devices.profiles.default_profiles_dir())`` also
seeds the card profiles (:mod:`sst.profiles`: issuer MK-ACs under the LMK, PVVs, KYC), and
``terminal_config(chip_reader="pcsc://Virtual PCD 00 00")`` gives a terminal that reads the
chip through PC/SC (pcscd and the virtual card are the caller's: ``sst card serve PROFILE``).
"""

from __future__ import annotations

import asyncio
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from devices.profiles import load_profiles
from host.seed import catalogue, load_demo, seed_store
from host.store.sqlite import SqliteStore
from sst.common.procs import ServiceProcess, sst_command
from terminal.config import DevicesConfig, HostLink, KeysConfig, TerminalConfig, TimeoutsConfig

__all__ = ["EmulatedStack"]


@dataclass
class EmulatedStack:
    data_dir: Path
    log_level: str = "INFO"
    hsm: ServiceProcess | None = None
    host: ServiceProcess | None = None
    epp: ServiceProcess | None = None
    catalogue: dict[str, Any] = field(default_factory=dict)
    #: a ``devices`` card-profile library to seed after the demo catalogue (None: demo only)
    profiles_dir: Path | None = None

    @property
    def db_path(self) -> Path:
        return self.data_dir / "host.db"

    def seed(self) -> dict[str, Any]:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        demo = load_demo()
        store = SqliteStore(self.db_path)
        try:
            seed_store(store, demo)
            self.catalogue = catalogue(demo)  # kept in memory only: it holds clear TEST keys
            if self.profiles_dir is not None:
                from sst import profiles  # noqa: PLC0415 - only stacks with chip cards need it

                data = profiles.seed_data(load_profiles(self.profiles_dir))
                profiles.seed_profiles(store, data)
                self.catalogue["cards"] += profiles.catalogue(data)["cards"]
        finally:
            store.close()
        return self.catalogue

    def start(self) -> None:
        d = self.data_dir
        d.mkdir(parents=True, exist_ok=True)
        if not self.catalogue:
            self.seed()
        try:
            self.hsm = ServiceProcess("hsm", sst_command(
                "hsm", "serve", "--host", "127.0.0.1", "--port", "0",
                "--log-level", self.log_level),
                log_path=d / "hsm.log")
            hsm_port = self.hsm.start()["port"]
            self.host = ServiceProcess("host", sst_command(
                "host", "serve", "--host", "127.0.0.1", "--port", "0",
                "--hsm", f"127.0.0.1:{hsm_port}",
                "--db", str(self.db_path), "--log-level", self.log_level), log_path=d / "host.log")
            self.host.start()
            self.epp = ServiceProcess("epp", sst_command(
                "epp", "serve", "--pty", "--control-port", "0",
                "--key-file", str(d / "epp-keys.bin"),
                "--log-level", self.log_level), log_path=d / "epp.log")
            self.epp.start()
        except BaseException:
            self.stop()
            raise

    def terminal_config(self, *, terminal_index: int = 0, headless: bool = True,
                        screenshots: bool = True, chip_reader: str = "",
                        chip_fallback: bool = True, **timeouts: float) -> TerminalConfig:
        """The configuration of a terminal on this stack.

        ``chip_reader``: ``""`` (magstripe only), ``"emulated://"`` or ``"pcsc://<reader>"``
        (e.g. ``"pcsc://Virtual PCD 00 00"`` for vpcd); ``chip_fallback``: magstripe fallback
        (entry mode 801) when the chip of a chip card fails.
        """
        assert self.host and self.epp
        t = self.catalogue["terminals"][terminal_index]
        return TerminalConfig(
            terminal_id=t["terminal_id"], merchant_id=t["merchant_id"], data_dir=str(self.data_dir),
            screenshots_dir=(str(self.data_dir / "screenshots" / t["terminal_id"])
                             if screenshots else ""),
            headless=headless, log_level=self.log_level,
            log_file=str(self.data_dir / "terminal.log"),
            host=HostLink(host="127.0.0.1", port=int(self.host.info["port"])),
            devices=DevicesConfig(epp_url=str(self.epp.info["pty"]),
                                  epp_control=f"tcp://127.0.0.1:{self.epp.info['control_port']}",
                                  chip_reader=chip_reader, chip_fallback=chip_fallback),
            timeouts=TimeoutsConfig(**timeouts),
            keys=KeysConfig(tmk_components=tuple(t["tmk_components"]), tmk_kcv=t["tmk_kcv"],
                            tpk_under_tmk=t["tpk_under_tmk"], tpk_kcv=t["tpk_kcv"]))

    async def sms_code(self, customer_id: str, challenge_id: str) -> str:
        """The step-up code the host "sent" by SMS, read as QA would: ``sst host otp``."""
        proc = await asyncio.create_subprocess_exec(
            *sst_command("host", "otp", "--db", str(self.db_path), "--customer", customer_id,
                         "--json"), stdout=asyncio.subprocess.PIPE)
        out, _ = await proc.communicate()
        for msg in reversed(json.loads(out)):
            if msg["challenge_id"] == challenge_id:
                m = re.search(r"\b(\d{6})\b", msg["text"])
                if m:
                    return m.group(1)
        raise LookupError(f"no SMS for challenge {challenge_id}")

    def stop(self) -> None:
        for p in (self.epp, self.host, self.hsm):
            if p is not None:
                p.stop()

    def logs(self) -> list[Path]:
        return sorted(self.data_dir.glob("*.log"))
