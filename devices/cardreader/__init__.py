"""Card reader, magnetic stripe part: interface, track codec, emulated and real swipe drivers."""

from __future__ import annotations
