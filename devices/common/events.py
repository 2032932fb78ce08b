"""Device events and an asyncio event bus.

Commands raise *execute* events through the sink they were given (``EventSink``); unsolicited
events (status and storage changes, media removed) go to an :class:`EventBus` injected into the
device. Events are keyword-only frozen dataclasses.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from types import TracebackType

from devices.common.storage import ReplenishmentStatus, StorageUnit

__all__ = [
    "DeviceEvent",
    "EventBus",
    "EventSink",
    "StatusChangedEvent",
    "StorageChangedEvent",
    "StorageThresholdEvent",
    "Subscription",
    "null_sink",
]


@dataclass(frozen=True, kw_only=True)
class DeviceEvent:
    """Base of every device event.

    Parameters
    ----------
    device:
        Logical name of the device that raised the event.
    """

    device: str


EventSink = Callable[[DeviceEvent], None]


def null_sink(event: DeviceEvent) -> None:
    """An event sink that drops every event."""
    del event


@dataclass(frozen=True, kw_only=True)
class StatusChangedEvent(DeviceEvent):
    """The device's status snapshot changed (XFS4IoT ``Common.StatusChangedEvent``)."""

    old: object
    new: object


@dataclass(frozen=True, kw_only=True)
class StorageChangedEvent(DeviceEvent):
    """A storage unit's count or status changed (``Storage.StorageChangedEvent``)."""

    unit: StorageUnit


@dataclass(frozen=True, kw_only=True)
class StorageThresholdEvent(DeviceEvent):
    """A unit crossed a threshold (``Storage.StorageThresholdEvent``): operator attention."""

    unit: StorageUnit
    replenishment: ReplenishmentStatus


class Subscription:
    """One subscriber's queue; iterate it or ``await get()``. Close it to unsubscribe."""

    def __init__(self, bus: EventBus) -> None:
        self._bus = bus
        self._queue: asyncio.Queue[DeviceEvent] = asyncio.Queue()

    def _put(self, event: DeviceEvent) -> None:
        self._queue.put_nowait(event)

    async def get(self) -> DeviceEvent:
        """Wait for the next event."""
        return await self._queue.get()

    def get_nowait(self) -> DeviceEvent | None:
        """The next queued event, or None when none is queued."""
        try:
            return self._queue.get_nowait()
        except asyncio.QueueEmpty:
            return None

    def close(self) -> None:
        """Stop receiving events."""
        self._bus._unsubscribe(self)

    def __aiter__(self) -> AsyncIterator[DeviceEvent]:
        return self

    async def __anext__(self) -> DeviceEvent:
        return await self.get()

    async def __aenter__(self) -> Subscription:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class EventBus:
    """Fan-out of device events to any number of asyncio subscribers.

    ``publish`` never blocks (subscriber queues are unbounded), so a bus can itself be used as an
    :data:`EventSink`. Create one per composition root and pass it down; there is no global bus.

    Examples
    --------
    >>> import asyncio
    >>> async def demo() -> str:
    ...     bus = EventBus()
    ...     async with bus.subscribe() as sub:
    ...         bus.publish(DeviceEvent(device="idc"))
    ...         return (await sub.get()).device
    >>> asyncio.run(demo())
    'idc'
    """

    def __init__(self) -> None:
        self._subscribers: list[Subscription] = []

    def subscribe(self) -> Subscription:
        """Start receiving every event published from now on."""
        sub = Subscription(self)
        self._subscribers.append(sub)
        return sub

    def _unsubscribe(self, sub: Subscription) -> None:
        if sub in self._subscribers:
            self._subscribers.remove(sub)

    def publish(self, event: DeviceEvent) -> None:
        """Deliver ``event`` to every current subscriber."""
        for sub in list(self._subscribers):
            sub._put(event)

    __call__ = publish
