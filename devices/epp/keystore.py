"""Key file of the emulated EPP: key values enciphered under a device key. TEST-GRADE ONLY.

The file is JSON: names, algorithms, usages and KCVs in clear, each key value TDES-ECB
enciphered under a 24-byte *device key* (the emulator's stand-in for an EPP's
battery-backed master key, like a Thales LMK); DUKPT keys also keep their current KSN, so the
counter never repeats across restarts. The device key lives in ``<key file>.devkey``
(created with mode 0600 on first use). Anyone who can read both files has the keys: this
protects against nothing but accidental display, and exists so that an emulator restart keeps
its keys. Never store a production key here.
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Mapping
from pathlib import Path

from devices.epp.base import KeyAlgorithm, KeyUsage
from devices.epp.firmware import StoredKey, compute_kcv
from hsm_sim.crypto import adjust_key_parity, tdes_decrypt_ecb, tdes_encrypt_ecb

__all__ = ["FileKeyStore", "KeyFileError"]

_VERSION = 1


class KeyFileError(ValueError):
    """The key file or its device key is unreadable or inconsistent."""


class FileKeyStore:
    """A :class:`~devices.epp.firmware.KeyStore` backed by a JSON file (see module docstring)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.devkey_path = self.path.with_name(self.path.name + ".devkey")
        self._devkey = self._load_or_create_devkey()

    def _load_or_create_devkey(self) -> bytes:
        if self.devkey_path.exists():
            raw = self.devkey_path.read_text(encoding="ascii").strip()
            try:
                key = bytes.fromhex(raw)
            except ValueError as e:
                raise KeyFileError("device key file is not hex") from e
            if len(key) != 24:
                raise KeyFileError("device key must be 24 bytes")
            return key
        key = adjust_key_parity(secrets.token_bytes(24))
        self.devkey_path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.devkey_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="ascii") as f:
            f.write(key.hex().upper() + "\n")
        return key

    def load(self) -> dict[str, StoredKey]:
        if not self.path.exists():
            return {}
        try:
            doc = json.loads(self.path.read_text(encoding="utf-8"))
            if doc.get("version") != _VERSION:
                raise KeyFileError("unsupported key file version")
            if doc.get("device_kcv") != compute_kcv(KeyAlgorithm.TDES, self._devkey):
                raise KeyFileError("key file was written under another device key")
            keys: dict[str, StoredKey] = {}
            for item in doc["keys"]:
                alg = KeyAlgorithm(item["algorithm"])
                value = tdes_decrypt_ecb(self._devkey, bytes.fromhex(item["value_under_devkey"]))
                if compute_kcv(alg, value) != item["kcv"]:
                    raise KeyFileError("stored key fails its KCV")
                keys[item["name"]] = StoredKey(
                    name=item["name"],
                    algorithm=alg,
                    usage=KeyUsage(item["usage"]),
                    kcv=item["kcv"],
                    under=item.get("under"),
                    value=value,
                    ksn=bytes.fromhex(item["ksn"]) if item.get("ksn") else None,
                )
        except (KeyError, TypeError, ValueError) as e:
            if isinstance(e, KeyFileError):
                raise
            raise KeyFileError("key file is malformed") from e
        return keys

    def save(self, keys: Mapping[str, StoredKey]) -> None:
        doc = {
            "version": _VERSION,
            "warning": "TEST-GRADE key file: values under a device key stored beside it",
            "device_kcv": compute_kcv(KeyAlgorithm.TDES, self._devkey),
            "keys": [
                {
                    "name": k.name,
                    "algorithm": k.algorithm.value,
                    "usage": k.usage.value,
                    "kcv": k.kcv,
                    "under": k.under,
                    "value_under_devkey": tdes_encrypt_ecb(self._devkey, k.value).hex().upper(),
                    "ksn": k.ksn.hex().upper() if k.ksn is not None else None,
                }
                for _, k in sorted(keys.items())
            ],
        }
        tmp = self.path.with_name(self.path.name + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(doc, f, indent=1)
        os.replace(tmp, self.path)
