"""Terminal configuration: TOML file + CLI overrides, loaded into frozen dataclasses."""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["DevicesConfig", "HostLink", "KeysConfig", "TerminalConfig", "TimeoutsConfig"]


@dataclass(frozen=True, kw_only=True)
class HostLink:
    host: str = "127.0.0.1"
    port: int = 8583
    timeout_s: float = 15.0


@dataclass(frozen=True, kw_only=True)
class DevicesConfig:
    #: EPP serial URL: a pty path, serial:///dev/ttyUSB0?baud=9600, tcp://h:p, spy://...
    epp_url: str = ""
    #: control socket of the emulated EPP's keypad (tcp://127.0.0.1:PORT); empty on hardware
    epp_control: str = ""
    card_reader: str = "emulated://"
    #: chip (EMV contact) reader: "" for none, "emulated://" (in-process slot for tests and
    #: demos) or "pcsc://<reader name>" (any PC/SC reader, e.g. "pcsc://Virtual PCD 00 00")
    chip_reader: str = ""
    #: seconds to wait for the chip contacts after a chip card (service code 2xx/6xx) entered
    chip_detect_s: float = 3.0
    #: fall back to the magstripe when the chip of a chip card fails (entry mode 80x)
    chip_fallback: bool = True
    dispenser: str = "emulated://"
    printer: str = "emulated://"
    #: cassette fill for the emulated dispenser: denomination (minor units) -> notes
    cassettes: dict[str, int] = field(default_factory=lambda: {
        "10000": 500, "5000": 500, "2000": 500, "1000": 500})


@dataclass(frozen=True, kw_only=True)
class TimeoutsConfig:
    pin_inter_key_s: float = 15.0
    pin_total_s: float = 60.0
    menu_s: float = 30.0
    amount_s: float = 30.0
    message_s: float = 10.0
    eject_s: float = 30.0


@dataclass(frozen=True, kw_only=True)
class KeysConfig:
    """TEST key material for the emulated EPP: TMK as clear components and the TPK under it."""

    tmk_components: tuple[str, ...] = field(default=(), repr=False)
    tmk_kcv: str = ""
    tpk_under_tmk: str = field(default="", repr=False)
    tpk_kcv: str = ""


@dataclass(frozen=True, kw_only=True)
class TerminalConfig:
    terminal_id: str = "ATM00001"
    merchant_id: str = "SSTBANK00000001"
    currency: str = "156"
    #: ISO 4217 alphabetic code of ``currency`` (the dispenser's cassettes are labelled with it)
    currency_alpha: str = "CNY"
    #: ISO 3166 numeric country code of the terminal (EMV 9F1A)
    country: str = "156"
    currency_exponent: int = 2
    language: str = "en"
    data_dir: str = "data"
    screenshots_dir: str = ""
    headless: bool = True
    log_level: str = "INFO"
    log_file: str = ""
    amounts: tuple[int, ...] = (10000, 50000, 100000, 200000)
    host: HostLink = field(default_factory=HostLink)
    devices: DevicesConfig = field(default_factory=DevicesConfig)
    timeouts: TimeoutsConfig = field(default_factory=TimeoutsConfig)
    keys: KeysConfig = field(default_factory=KeysConfig)
