"""Errors of the ISO 8583 wire layer (one root, picklable, with context).

>>> import pickle
>>> e = pickle.loads(pickle.dumps(DecodeError("bad length", field="2", pos=20)))
>>> str(e), e.field, e.pos
('bad length (field 2, pos 20)', '2', 20)
"""

from __future__ import annotations

__all__ = [
    "DecodeError",
    "EncodeError",
    "FramingError",
    "Iso8583Error",
    "MessageError",
    "SignOnError",
]


class Iso8583Error(ValueError):
    """Root of every ISO 8583 wire error."""


class DecodeError(Iso8583Error):
    """The peer sent bytes that are not a valid message (remote error; field 39 = 30)."""

    def __init__(self, reason: str, *, field: str | None = None, pos: int | None = None) -> None:
        super().__init__(reason, field, pos)
        self.reason = reason
        self.field = field
        self.pos = pos

    def __reduce__(self) -> tuple[object, ...]:
        return (_rebuild, (type(self), self.reason, {"field": self.field, "pos": self.pos}))

    def __str__(self) -> str:
        where = f" (field {self.field}, pos {self.pos})" if self.field is not None else ""
        return f"{self.reason}{where}"


class EncodeError(Iso8583Error):
    """We tried to build an illegal message (local error)."""

    def __init__(self, reason: str, *, field: str | None = None) -> None:
        super().__init__(reason, field)
        self.reason = reason
        self.field = field

    def __reduce__(self) -> tuple[object, ...]:
        return (_rebuild, (type(self), self.reason, {"field": self.field}))

    def __str__(self) -> str:
        return f"{self.reason} (field {self.field})" if self.field else self.reason


class FramingError(Iso8583Error):
    """A length prefix or header is impossible (too long, not a number, bad TPDU)."""


class MessageError(Iso8583Error):
    """A decoded message misses a mandatory field or has a bad value (field 39 = 30)."""

    def __init__(self, reason: str, *, field: str | None = None) -> None:
        super().__init__(reason, field)
        self.reason = reason
        self.field = field

    def __reduce__(self) -> tuple[object, ...]:
        return (_rebuild, (type(self), self.reason, {"field": self.field}))

    def __str__(self) -> str:
        return f"{self.reason} (field {self.field})" if self.field else self.reason


class SignOnError(ConnectionError):
    """The host refused the sign-on (0810 field 39 not 00): the channel is not ready.

    A transport-level failure, so it is an ``OSError`` like every other connection problem.
    """

    def __init__(self, response_code: str) -> None:
        super().__init__(f"sign-on refused with response code {response_code}")
        self.response_code = response_code

    def __reduce__(self) -> tuple[object, ...]:
        return (SignOnError, (self.response_code,))


def _rebuild(cls: type[Iso8583Error], reason: str, kw: dict[str, object]) -> Iso8583Error:
    return cls(reason, **kw)  # type: ignore[call-arg]
