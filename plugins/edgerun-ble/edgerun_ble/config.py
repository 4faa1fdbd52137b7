"""The ``ble`` driver's config table and its checks.

Defaults and why:

* ``dedupe_window`` 60 s: BlueZ re-reports a device's accumulated advertisement data on
  every property change (RSSI, Connected), so a payload whose counter equals the last one
  is a repeat. Counters are small (BTHome packet id is one byte) and some firmwares never
  change theirs, so equality only means "repeat" within this window; after it, the same
  value is accepted again as a fresh report.
* ``queue_size`` 1024: the bleak callback runs on the event loop and must never block;
  1024 advertisements is several seconds of a crowded site (hundreds of advertisers at a
  few packets per second each) and about 0.5 MB at worst. Overflow is counted.
* ``quiet_timeout`` 300 s: a scanner that delivered nothing for five minutes is restarted.
  Typical sensors advertise every 1-60 s, so silence that long means a stuck discovery
  session (a known bluetoothd failure mode) far more often than an empty room, and a
  restart costs a second.
* ``backoff_initial``/``backoff_max`` 1 s / 60 s: retries while the adapter is off or
  bluetoothd is down; a minute caps the delay after the adapter comes back.
* ``max_devices`` 4096: per-device dedupe state is kept for at most this many addresses
  (least recently seen dropped first), so random-address phones cannot grow memory.
"""

from __future__ import annotations

from typing import Literal

import msgspec

from edgerun.api import DriverConfig, Duration, Secret
from edgerun.config.base import Strict
from edgerun_ble.decoders.base import normalize_address

ScanMode = Literal["auto", "active", "passive"]


class DeviceConfig(Strict):
    """``[drivers.devices."AA:BB:CC:DD:EE:FF"]``: settings for one sensor."""

    #: 16-byte AES key as 32 hex digits (BTHome, ATC/pvvx encryption). With a key set,
    #: plaintext frames from the device are rejected.
    bindkey: Secret | None = None
    #: Device id used in readings instead of the address.
    name: str | None = None
    #: Overrides the driver-wide ``min_interval`` for this device.
    min_interval: Duration | None = None


class BleConfig(DriverConfig):
    """``[[drivers]] type = "ble"``."""

    #: Adapter name (``hci0``); by default the first powered adapter with the central role.
    adapter: str | None = None
    #: ``passive`` needs BlueZ advertisement monitors (bluetoothd --experimental, >= 5.56);
    #: ``auto`` tries passive and falls back to active scanning when BlueZ lacks them.
    scanning_mode: ScanMode = "auto"
    #: Only these addresses are decoded (empty: all).
    allow_addresses: list[str] = []
    #: These addresses are ignored.
    deny_addresses: list[str] = []
    #: Only these formats are decoded (decoder names such as ``bthome``, ``ruuvi``, ``atc``
    #: or decoded format names such as ``pvvx``; empty: all).
    allow_formats: list[str] = []
    #: These formats are ignored.
    deny_formats: list[str] = []
    #: Per-device settings keyed by address.
    devices: dict[str, DeviceConfig] = {}
    #: Minimum time between accepted packets of one device (0: no limit). Trigger-based
    #: BTHome packets (button, motion events) are never held back.
    min_interval: Duration = Duration(0.0)
    dedupe_window: Duration = Duration(60.0)
    queue_size: int = 1024
    quiet_timeout: Duration = Duration(300.0)
    backoff_initial: Duration = Duration(1.0)
    backoff_max: Duration = Duration(60.0)
    max_devices: int = 4096
    #: Also emit an ``rssi`` reading for every accepted packet.
    emit_rssi: bool = False

    def __post_init__(self) -> None:
        for label, items in (
            ("allow_addresses", self.allow_addresses),
            ("deny_addresses", self.deny_addresses),
        ):
            for item in items:
                _address(label, item)
        for address, device in self.devices.items():
            _address("devices", address)
            if device.bindkey is not None:
                bindkey_bytes(device.bindkey.value, f"devices.{address}.bindkey")
        if self.queue_size < 1:
            raise ValueError("queue_size must be at least 1")
        if self.max_devices < 1:
            raise ValueError("max_devices must be at least 1")
        if self.quiet_timeout <= 0:
            raise ValueError("quiet_timeout must be positive")
        if self.backoff_initial <= 0 or self.backoff_max < self.backoff_initial:
            raise ValueError("need 0 < backoff_initial <= backoff_max")


def _address(label: str, text: str) -> str:
    try:
        return normalize_address(text)
    except ValueError as exc:
        raise ValueError(f"{label}: {exc}") from None


def bindkey_bytes(text: str, where: str = "bindkey") -> bytes:
    """Parse a bindkey given as 32 hex digits; raises ``ValueError`` naming ``where``."""
    try:
        key = bytes.fromhex(text.strip())
    except ValueError:
        raise ValueError(f"{where}: not hexadecimal") from None
    if len(key) != 16:
        raise ValueError(f"{where}: expected 32 hex digits (16 bytes), got {len(key)} bytes")
    return key


def load(options: dict[str, object]) -> BleConfig:
    """Validate a raw table the way the core does (for tests and the CLI)."""
    from edgerun.config.base import dec_hook

    return msgspec.convert(options, type=BleConfig, dec_hook=dec_hook, strict=False)


__all__ = ["BleConfig", "DeviceConfig", "ScanMode", "bindkey_bytes", "load"]
