"""The EPP package's exceptions: one root, split into local, remote and transport errors.

Expected device outcomes (wrong KCV, PIN entry cancelled or timed out) are *values*
(``KeyLoadResult``, ``PinEntryResult``); these exceptions mean a malformed frame, a device that
rejected a command whose API returns a bare value, or a broken link. No message ever contains a
key, a component, a PIN or a PIN block: only command codes, EPP error codes and offsets.
"""

from __future__ import annotations

__all__ = [
    "EppDecodeError",
    "EppDeviceError",
    "EppError",
    "EppLinkError",
    "EppLocalProtocolError",
]


class EppError(Exception):
    """Root of every EPP error."""


class EppDecodeError(EppError, ValueError):
    """The peer sent bytes or fields we cannot decode (a *remote* protocol error).

    Parameters
    ----------
    reason
        Stable, human-readable reason (asserted verbatim in tests).
    command
        The one-letter command code concerned, when known.
    pos
        Field index or byte offset where decoding failed, when known.

    Examples
    --------
    >>> import pickle
    >>> e = EppDecodeError("bad field count", command="S", pos=2)
    >>> str(e)
    'bad field count (command S, pos 2)'
    >>> pickle.loads(pickle.dumps(e)).pos
    2
    """

    def __init__(self, reason: str, *, command: str | None = None, pos: int | None = None) -> None:
        self.reason = reason
        self.command = command
        self.pos = pos
        where = []
        if command is not None:
            where.append(f"command {command}")
        if pos is not None:
            where.append(f"pos {pos}")
        super().__init__(f"{reason} ({', '.join(where)})" if where else reason)

    def __reduce__(self) -> tuple[object, ...]:
        return (_rebuild_decode_error, (self.reason, self.command, self.pos))


def _rebuild_decode_error(reason: str, command: str | None, pos: int | None) -> EppDecodeError:
    return EppDecodeError(reason, command=command, pos=pos)


class EppLocalProtocolError(EppError, ValueError):
    """We tried to build something the protocol forbids (a bug on our side)."""


class EppDeviceError(EppError):
    """The EPP answered a command with an error code (for APIs that return a bare value).

    Examples
    --------
    >>> import pickle
    >>> e = EppDeviceError("E4", command="B")
    >>> str(e)
    'EPP rejected command B with code E4'
    >>> pickle.loads(pickle.dumps(e)).code
    'E4'
    """

    def __init__(self, code: str, *, command: str) -> None:
        self.code = code
        self.command = command
        super().__init__(f"EPP rejected command {command} with code {code}")

    def __reduce__(self) -> tuple[object, ...]:
        return (_rebuild_device_error, (self.code, self.command))


def _rebuild_device_error(code: str, command: str) -> EppDeviceError:
    return EppDeviceError(code, command=command)


class EppLinkError(EppError, OSError):
    """The link is broken: port unusable, or no valid reply after all retries."""

    def __init__(self, reason: str, *, command: str | None = None) -> None:
        self.reason = reason
        self.command = command
        super().__init__(f"{reason} (command {command})" if command else reason)

    def __reduce__(self) -> tuple[object, ...]:
        return (_rebuild_link_error, (self.reason, self.command))


def _rebuild_link_error(reason: str, command: str | None) -> EppLinkError:
    return EppLinkError(reason, command=command)
