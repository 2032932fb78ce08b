"""Errors of the ISO 8583 wire layer (one root, picklable, with context)."""

from __future__ import annotations

__all__ = ["Iso8583Error", "DecodeError", "EncodeError", "FramingError", "MessageError"]


class Iso8583Error(ValueError):
    """Root of every ISO 8583 wire error."""


class DecodeError(Iso8583Error):
    """The peer sent bytes that are not a valid message (remote error; field 39 = 30)."""

    def __init__(self, reason: str, *, field: str | None = None, pos: int | None = None) -> None:
        super().__init__(reason, field, pos)
        self.reason = reason
        self.field = field
        self.pos = pos

    def __str__(self) -> str:
        where = f" (field {self.field}, pos {self.pos})" if self.field is not None else ""
        return f"{self.reason}{where}"


class EncodeError(Iso8583Error):
    """We tried to build an illegal message (local error)."""

    def __init__(self, reason: str, *, field: str | None = None) -> None:
        super().__init__(reason, field)
        self.reason = reason
        self.field = field

    def __str__(self) -> str:
        return f"{self.reason} (field {self.field})" if self.field else self.reason


class FramingError(Iso8583Error):
    """A length prefix is impossible (too long, or not a number)."""


class MessageError(Iso8583Error):
    """A decoded message misses a mandatory field or has a bad value (field 39 = 30)."""

    def __init__(self, reason: str, *, field: str | None = None) -> None:
        super().__init__(reason, field)
        self.reason = reason
        self.field = field

    def __str__(self) -> str:
        return f"{self.reason} (field {self.field})" if self.field else self.reason
