"""bleak on one side, a bounded queue of :class:`Advert` snapshots on the other.

The detection callback runs on the event loop for every D-Bus signal BlueZ sends about a
device, so it does the least possible: drop denied addresses, copy the advertisement data
into an immutable snapshot and append it to :class:`AdvertQueue`. The queue never blocks
the callback; when it is full the snapshot is dropped and counted (``dropped_queue_full``).

Passive scanning uses BlueZ advertisement monitors with or-patterns built from the
decoders' service UUIDs and company ids, so the controller filters on-chip and sensors are
never sent scan requests. bleak is imported only when a scanner is built.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any, Literal

from edgerun_ble.decoders.base import Decoder, normalize_uuid, short_uuid
from edgerun_ble.pipeline import Advert, Policy

#: Time allowed for bleak to start or stop a scan. BlueZ answers in milliseconds; a hung
#: bluetoothd would otherwise hold the driver for D-Bus's 25 s default per call.
CALL_TIMEOUT = 10.0

# GAP advertisement data types (Bluetooth assigned numbers).
_SERVICE_DATA_UUID16 = 0x16
_SERVICE_DATA_UUID32 = 0x20
_SERVICE_DATA_UUID128 = 0x21
_MANUFACTURER_DATA = 0xFF


class AdvertQueue:
    """Bounded FIFO between the bleak callback and the driver; overflow is counted."""

    def __init__(self, size: int, count: Callable[[str, int], None]) -> None:
        self.size = size
        self._items: deque[Advert] = deque()
        self._count = count
        #: Set when an item arrives or when something else wants the consumer to look up.
        self.wake = asyncio.Event()
        #: Monotonic time of the last callback of any kind (scanner liveness).
        self.last_activity = time.monotonic()

    def put(self, item: Advert) -> bool:
        if len(self._items) >= self.size:
            self._count("dropped_queue_full", 1)
            return False
        self._items.append(item)
        self.wake.set()
        return True

    def drain(self) -> list[Advert]:
        items = list(self._items)
        self._items.clear()
        return items

    def __len__(self) -> int:
        return len(self._items)


def or_patterns(decoders: Iterable[Decoder], policy: Policy) -> list[tuple[int, int, bytes]]:
    """Or-patterns matching every allowed decoder's service UUIDs and company ids."""
    patterns: list[tuple[int, int, bytes]] = []
    for decoder in decoders:
        if not policy.format_allowed(decoder.name):
            continue
        for uuid in decoder.service_uuids:
            full = normalize_uuid(uuid)
            short = short_uuid(full)
            if short is not None and short <= 0xFFFF:
                patterns.append((0, _SERVICE_DATA_UUID16, short.to_bytes(2, "little")))
            elif full.endswith("-0000-1000-8000-00805f9b34fb"):
                value = int(full[:8], 16)
                patterns.append((0, _SERVICE_DATA_UUID32, value.to_bytes(4, "little")))
            else:
                raw = bytes.fromhex(full.replace("-", ""))
                patterns.append((0, _SERVICE_DATA_UUID128, raw[::-1]))
        for cid in decoder.company_ids:
            patterns.append((0, _MANUFACTURER_DATA, cid.to_bytes(2, "little")))
    return patterns


def make_callback(
    queue: AdvertQueue, policy: Policy, now_ms: Callable[[], int], count: Callable[[str, int], None]
) -> Callable[[Any, Any], None]:
    """The bleak detection callback: filter denied addresses, snapshot, enqueue."""

    def on_detect(device: Any, adv: Any) -> None:
        received = time.monotonic()
        queue.last_activity = received
        address = str(device.address).upper()
        if not policy.address_allowed(address):
            count("ignored_address", 1)
            return
        if not adv.service_data and not adv.manufacturer_data:
            return
        queue.put(
            Advert(
                address=address,
                service_data=dict(adv.service_data),
                manufacturer_data=dict(adv.manufacturer_data),
                rssi=adv.rssi,
                received=received,
                ts_ms=now_ms(),
            )
        )

    return on_detect


def build_scanner(
    callback: Callable[[Any, Any], None],
    mode: Literal["active", "passive"],
    adapter: str,
    patterns: list[tuple[int, int, bytes]],
) -> Any:
    """A bleak scanner on ``adapter`` in ``mode`` (passive uses ``patterns``)."""
    from bleak import BleakScanner
    from bleak.args.bluez import BlueZScannerArgs, OrPattern
    from bleak.assigned_numbers import AdvertisementDataType

    bluez: BlueZScannerArgs = {"adapter": adapter}
    if mode == "passive":
        bluez["or_patterns"] = [
            OrPattern(start, AdvertisementDataType(kind), content)
            for start, kind, content in patterns
        ]
    return BleakScanner(detection_callback=callback, scanning_mode=mode, bluez=bluez)


__all__ = ["CALL_TIMEOUT", "AdvertQueue", "build_scanner", "make_callback", "or_patterns"]
