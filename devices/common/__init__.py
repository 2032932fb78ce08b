"""Generic device layer: completion codes, events, storage units and the device service base."""

from __future__ import annotations

from devices.common.codes import CompletionCode, DeviceError, DeviceState
from devices.common.events import (
    DeviceEvent,
    EventBus,
    EventSink,
    StatusChangedEvent,
    StorageChangedEvent,
    StorageThresholdEvent,
    Subscription,
    null_sink,
)
from devices.common.service import DeviceService, HasCompletion
from devices.common.storage import ReplenishmentStatus, StorageKind, StorageStatus, StorageUnit

__all__ = [
    "CompletionCode",
    "DeviceError",
    "DeviceEvent",
    "DeviceService",
    "DeviceState",
    "EventBus",
    "EventSink",
    "HasCompletion",
    "ReplenishmentStatus",
    "StatusChangedEvent",
    "StorageChangedEvent",
    "StorageKind",
    "StorageStatus",
    "StorageThresholdEvent",
    "StorageUnit",
    "Subscription",
    "null_sink",
]
