"""XFS4IoT completion codes and common device states.

The names follow XFS4IoT (``completionCode`` and ``Common.Status.device``) so that operators and
QA recognise them; the values are the XFS4IoT JSON spellings.
"""

from __future__ import annotations

from enum import Enum, StrEnum

__all__ = ["CompletionCode", "DeviceError", "DeviceState", "Outcome"]


class CompletionCode(StrEnum):
    """How a device command ended (XFS4IoT ``completionCode``)."""

    SUCCESS = "success"
    COMMAND_ERROR_CODE = "commandErrorCode"
    CANCELED = "canceled"
    DEVICE_NOT_READY = "deviceNotReady"
    HARDWARE_ERROR = "hardwareError"
    INTERNAL_ERROR = "internalError"
    INVALID_COMMAND = "invalidCommand"
    TIMEOUT = "timeOut"
    UNSUPPORTED = "unsupportedCommand"
    INVALID_DATA = "invalidData"
    USER_ERROR = "userError"
    UNSUPPORTED_DATA = "unsupportedData"
    FRAUD_ATTEMPT = "fraudAttempt"
    SEQUENCE_ERROR = "sequenceError"
    NOT_ENOUGH_SPACE = "notEnoughSpace"


class DeviceState(StrEnum):
    """Common device state (XFS4IoT ``Common.Status.device``)."""

    STARTING = "starting"
    ONLINE = "online"
    OFFLINE = "offline"
    POWER_OFF = "powerOff"
    NO_DEVICE = "noDevice"
    HARDWARE_ERROR = "hardwareError"
    USER_ERROR = "userError"
    BUSY = "deviceBusy"
    FRAUD_ATTEMPT = "fraudAttempt"
    POTENTIAL_FRAUD = "potentialFraud"


class DeviceError(OSError):
    """A broken transport or device link (not an expected outcome such as a jam).

    Expected outcomes are result enums; this is raised only when the device cannot be talked to.

    Parameters
    ----------
    device:
        Logical device name.
    description:
        Stable, secret-free description.
    """

    def __init__(self, device: str, description: str) -> None:
        super().__init__(f"{device}: {description}")
        self.device = device
        self.description = description

    def __reduce__(self) -> tuple[type[DeviceError], tuple[str, str]]:
        return (type(self), (self.device, self.description))


class Outcome(Enum):
    """Base for result enums: each member is ``(key, CompletionCode, error_code | None)``.

    Subclasses list members such as ``JAMMED = ("jammed", CompletionCode.COMMAND_ERROR_CODE,
    "mediaJam")``; the key keeps members distinct when two map to the same codes.
    """

    def __init__(self, key: str, completion: CompletionCode, error_code: str | None) -> None:
        self._key = key
        self._completion = completion
        self._error_code = error_code

    @property
    def key(self) -> str:
        """The outcome's name as used in traces and journals (``"jammed"``)."""
        return self._key

    @property
    def completion(self) -> CompletionCode:
        """XFS completion code."""
        return self._completion

    @property
    def error_code(self) -> str | None:
        """Device-class error code (XFS4IoT ``errorCode``) for ``commandErrorCode``, else None."""
        return self._error_code
