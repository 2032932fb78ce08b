"""Cash dispenser: interface, pure mix algorithms and the emulated dispenser."""

from __future__ import annotations
