"""Card profiles: one TOML file per test card.

Each generates its tracks, chip personalisation and host records.
"""

from __future__ import annotations

from devices.profiles.model import (
    ChipApplication,
    IssuerKeys,
    ProfileError,
    TestCardProfile,
    default_profiles_dir,
    load_card_profiles,
    load_issuer_keys,
    load_profiles,
)

__all__ = [
    "ChipApplication",
    "IssuerKeys",
    "ProfileError",
    "TestCardProfile",
    "default_profiles_dir",
    "load_card_profiles",
    "load_issuer_keys",
    "load_profiles",
]
