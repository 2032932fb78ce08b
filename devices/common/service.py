"""The generic device service: one command at a time, timeout, cancel, status events, tracing.

Concrete devices subclass :class:`DeviceService` and route every public command through
:meth:`DeviceService._execute`, which does the cross-cutting work once (XFS4IoT service/driver
split; pyscard ``CardConnection`` public method + protected hook):

* commands on one device are serialised (an ``asyncio.Lock``; later commands queue);
* each command has a timeout; when it expires the command's task is cancelled and the caller
  gets the command's TIMEOUT result;
* :meth:`DeviceService.cancel` (XFS ``Cancel``) cancels the running command, which then returns
  its CANCELED result; cancelling the *caller's* task propagates ``CancelledError`` instead;
* exactly one trace record per operation is logged with ``device``, ``command``, ``completion``
  and ``elapsed_ms`` extra fields;
* :meth:`DeviceService._set_status` publishes a :class:`StatusChangedEvent` when the frozen
  status snapshot changes, and :meth:`DeviceService._storage_changed` publishes storage and
  threshold events.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Generic, Protocol, TypeVar

from devices.common.codes import CompletionCode, DeviceError
from devices.common.events import (
    DeviceEvent,
    EventBus,
    StatusChangedEvent,
    StorageChangedEvent,
    StorageThresholdEvent,
)
from devices.common.storage import ReplenishmentStatus, StorageUnit

__all__ = ["DeviceService", "HasCompletion"]

_LOGGER = logging.getLogger(__name__)
_LOGGER.addHandler(logging.NullHandler())


class HasCompletion(Protocol):
    """Every command result exposes the XFS completion code it maps to."""

    @property
    def completion(self) -> CompletionCode: ...


R = TypeVar("R", bound=HasCompletion)
S = TypeVar("S")


class DeviceService(Generic[S]):
    """Base class for device implementations.

    Parameters
    ----------
    name:
        Logical device name used in events and trace records.
    status:
        Initial frozen status snapshot.
    bus:
        Where unsolicited events (status and storage changes) are published; a private bus is
        created when omitted.
    command_timeout:
        Default timeout in seconds for commands that carry none of their own (None: no limit).
    clock:
        Monotonic clock in seconds, used only for ``elapsed_ms`` in trace records.
    """

    def __init__(
        self,
        *,
        name: str,
        status: S,
        bus: EventBus | None = None,
        command_timeout: float | None = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._name = name
        self._status = status
        self._bus = bus if bus is not None else EventBus()
        self._command_timeout = command_timeout
        self._clock = clock
        self._lock = asyncio.Lock()
        self._current: asyncio.Future[object] | None = None

    @property
    def name(self) -> str:
        """Logical device name."""
        return self._name

    @property
    def status(self) -> S:
        """The current frozen status snapshot."""
        return self._status

    @property
    def bus(self) -> EventBus:
        """The bus unsolicited events are published on."""
        return self._bus

    @property
    def busy(self) -> bool:
        """True while a command runs."""
        return self._current is not None

    def _publish(self, event: DeviceEvent) -> None:
        self._bus.publish(event)

    def _set_status(self, new: S) -> None:
        old = self._status
        if new != old:
            self._status = new
            self._publish(StatusChangedEvent(device=self._name, old=old, new=new))

    def _storage_changed(self, old: StorageUnit, new: StorageUnit) -> None:
        if new == old:
            return
        self._publish(StorageChangedEvent(device=self._name, unit=new))
        level = new.replenishment
        if level != old.replenishment and level is not ReplenishmentStatus.OK:
            self._publish(StorageThresholdEvent(device=self._name, unit=new, replenishment=level))

    def cancel(self) -> bool:
        """Cancel the running command (XFS ``Cancel``); it completes with CANCELED.

        Returns
        -------
        bool
            False when no command was running.
        """
        current = self._current
        if current is None or current.done():
            return False
        current.cancel()
        return True

    async def _execute(
        self,
        command: str,
        op: Callable[[], Awaitable[R]],
        *,
        aborted: Callable[[CompletionCode], R],
        timeout: float | None,  # noqa: ASYNC109 -- enforcing the per-command timeout is the point
    ) -> R:
        """Run one command under the device lock with timeout, cancel and tracing.

        Parameters
        ----------
        command:
            Command name for the trace record.
        op:
            Starts the backend's work (a ``_do_*`` hook).
        aborted:
            Builds the command's result for TIMEOUT or CANCELED.
        timeout:
            Seconds, or None for no limit.
        """
        start = self._clock()
        completion = CompletionCode.INTERNAL_ERROR
        try:
            async with self._lock:
                inner: asyncio.Future[R] = asyncio.ensure_future(op())
                self._current = inner  # type: ignore[assignment]
                try:
                    done, _ = await asyncio.wait({inner}, timeout=timeout)
                except asyncio.CancelledError:
                    inner.cancel()
                    await asyncio.gather(inner, return_exceptions=True)
                    completion = CompletionCode.CANCELED
                    raise
                finally:
                    self._current = None
                if not done:
                    inner.cancel()
                    await asyncio.gather(inner, return_exceptions=True)
                    completion = CompletionCode.TIMEOUT
                    return aborted(completion)
                if inner.cancelled():
                    completion = CompletionCode.CANCELED
                    return aborted(completion)
                try:
                    result = inner.result()
                except DeviceError:
                    completion = CompletionCode.HARDWARE_ERROR
                    raise
                completion = result.completion
                return result
        finally:
            _LOGGER.info(
                "device operation",
                extra={
                    "device": self._name,
                    "command": command,
                    "completion": str(completion),
                    "elapsed_ms": round((self._clock() - start) * 1000.0, 3),
                },
            )
