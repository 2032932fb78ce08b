"""Receipt and journal printers: interface, rendering and emulated printers."""

from __future__ import annotations
