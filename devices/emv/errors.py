"""Errors of the EMV layer: one root, ``EmvError(ValueError)``.

A *remote* error (:class:`CardDataError`, :class:`ApduError`) means the card sent something we
cannot use; a *local* one (:class:`EmvUsageError`) means we tried to build something illegal.
Messages are stable; every error is picklable.
"""

from __future__ import annotations

__all__ = ["ApduError", "CardDataError", "EmvError", "EmvUsageError"]


class EmvError(ValueError):
    """Root of every EMV codec and kernel error."""

    def __init__(self, message: str, *, tag: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.tag = tag

    def __reduce__(self) -> tuple[object, ...]:
        return (_rebuild, (type(self), self.message, self.tag))


def _rebuild(cls: type[EmvError], message: str, tag: int | None) -> EmvError:
    return cls(message, tag=tag)


class ApduError(EmvError):
    """A malformed command or response APDU."""


class CardDataError(EmvError):
    """The card returned data we cannot use (bad TLV, missing mandatory tag, bad length)."""


class EmvUsageError(EmvError):
    """We tried to build something illegal (a local bug, not the card's fault)."""
