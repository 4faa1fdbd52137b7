"""From one detection callback's data to readings: policy, decode, replay, dedupe, rate.

A bleak detection callback is not one packet: BlueZ keeps every service-data and
manufacturer-data key it has seen for a device and re-reports all of them on any property
change. So each key is handled on its own and repeats are recognised by the sensor's own
counter (or, for formats without one, by identical bytes) within ``dedupe_window``.

Order per key: address/format policy -> identical-bytes repeat -> decode (authenticates
encrypted frames) -> encryption counter must move forward (serial arithmetic, so the
one-byte ATC counter may wrap) -> packet counter repeat -> per-device minimum interval ->
readings. Each way a payload is dropped has its own counter (``ctx.count``).

Sans-io: time comes in with the advertisement, counting goes out through a callable, so
this module runs unchanged in the driver, the CLI and the tests.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import msgspec

from edgerun.api import Reading
from edgerun_ble.config import BleConfig, bindkey_bytes
from edgerun_ble.decoders.base import (
    Decoded,
    DecodeError,
    Decoder,
    Replayed,
    Source,
    normalize_address,
)
from edgerun_ble.decoders.registry import Registry

log = logging.getLogger("edgerun.ble")

Counter = Callable[[str, int], None]


class Advert(msgspec.Struct, frozen=True):
    """What the scanner hands over per detection callback (a snapshot, safe to queue)."""

    address: str
    service_data: Mapping[str, bytes]
    manufacturer_data: Mapping[int, bytes]
    rssi: int | None = None
    #: Monotonic seconds when received (intervals and windows).
    received: float = 0.0
    #: Wall clock ms when received (reading timestamps); ``None`` means "now".
    ts_ms: int | None = None


class Policy(msgspec.Struct, frozen=True):
    """The static rules taken from the config."""

    allow_addresses: frozenset[str] = frozenset()
    deny_addresses: frozenset[str] = frozenset()
    allow_formats: frozenset[str] = frozenset()
    deny_formats: frozenset[str] = frozenset()
    keys: Mapping[str, bytes] = msgspec.field(default_factory=dict)
    names: Mapping[str, str] = msgspec.field(default_factory=dict)
    intervals: Mapping[str, float] = msgspec.field(default_factory=dict)
    min_interval: float = 0.0
    dedupe_window: float = 60.0
    max_devices: int = 4096
    emit_rssi: bool = False

    @classmethod
    def from_config(cls, config: BleConfig) -> Policy:
        keys: dict[str, bytes] = {}
        names: dict[str, str] = {}
        intervals: dict[str, float] = {}
        for raw, device in config.devices.items():
            address = normalize_address(raw)
            if device.bindkey is not None:
                keys[address] = bindkey_bytes(device.bindkey.value)
            if device.name:
                names[address] = device.name
            if device.min_interval is not None:
                intervals[address] = float(device.min_interval)
        return cls(
            allow_addresses=frozenset(normalize_address(a) for a in config.allow_addresses),
            deny_addresses=frozenset(normalize_address(a) for a in config.deny_addresses),
            allow_formats=frozenset(config.allow_formats),
            deny_formats=frozenset(config.deny_formats),
            keys=keys,
            names=names,
            intervals=intervals,
            min_interval=float(config.min_interval),
            dedupe_window=float(config.dedupe_window),
            max_devices=config.max_devices,
            emit_rssi=config.emit_rssi,
        )

    def address_allowed(self, address: str) -> bool:
        if address in self.deny_addresses:
            return False
        return not self.allow_addresses or address in self.allow_addresses

    def format_allowed(self, name: str) -> bool:
        if name in self.deny_formats:
            return False
        return not self.allow_formats or name in self.allow_formats


class _KeyState(msgspec.Struct, gc=False):
    payload: bytes = b""
    payload_at: float = float("-inf")
    counter: int | None = None
    counter_at: float = float("-inf")


class _DeviceState(msgspec.Struct):
    keys: dict[tuple[str, Any], _KeyState] = msgspec.field(default_factory=dict)
    last_accepted: float = float("-inf")


def counter_is_newer(new: int, last: int, bits: int) -> bool | None:
    """Serial-number comparison: True newer, None equal, False older (a replay)."""
    modulus = 1 << bits
    diff = (new - last) % modulus
    if diff == 0:
        return None
    return diff < modulus // 2


class Pipeline:
    """Turns :class:`Advert` snapshots into readings; keeps per-device state, bounded."""

    def __init__(self, registry: Registry, policy: Policy, count: Counter) -> None:
        self.registry = registry
        self.policy = policy
        self._count = count
        self._devices: OrderedDict[str, _DeviceState] = OrderedDict()
        # Encryption counters of keyed devices: never evicted (bounded by the config).
        self._crypto: dict[tuple[str, str], int] = {}
        self._faulty: set[str] = set()

    def _device(self, address: str) -> _DeviceState:
        state = self._devices.get(address)
        if state is None:
            state = self._devices[address] = _DeviceState()
            if len(self._devices) > self.policy.max_devices:
                self._devices.popitem(last=False)
                self._count("evicted_devices", 1)
        else:
            self._devices.move_to_end(address)
        return state

    def process(self, advert: Advert) -> list[Reading]:
        """Decode every known key of one callback; returns the accepted readings."""
        policy = self.policy
        address = advert.address
        if not policy.address_allowed(address):
            self._count("ignored_address", 1)
            return []
        out: list[Reading] = []
        entries: list[tuple[tuple[str, Any], Decoder | None, bytes]] = [
            (("s", uuid), self.registry.by_uuid.get(uuid), data)
            for uuid, data in advert.service_data.items()
        ]
        entries.extend(
            (("m", cid), self.registry.by_company.get(cid), data)
            for cid, data in advert.manufacturer_data.items()
        )
        state: _DeviceState | None = None
        for key, decoder, payload in entries:
            if decoder is None:
                self._count("ignored_unknown_format", 1)
                continue
            if not policy.format_allowed(decoder.name):
                self._count("ignored_format", 1)
                continue
            if state is None:
                state = self._device(address)
            out.extend(self._one(advert, state, key, decoder, bytes(payload)))
        return out

    def _one(
        self,
        advert: Advert,
        state: _DeviceState,
        key: tuple[str, Any],
        decoder: Decoder,
        payload: bytes,
    ) -> list[Reading]:
        policy = self.policy
        now = advert.received
        kstate = state.keys.get(key)
        if kstate is None:
            kstate = state.keys[key] = _KeyState()
        if payload == kstate.payload and now - kstate.payload_at < policy.dedupe_window:
            self._count("dropped_duplicate", 1)
            return []
        kstate.payload = payload
        kstate.payload_at = now
        decoded = self.decode(decoder, payload, advert.address)
        if decoded is None:
            return []
        if decoded.format != decoder.name and not policy.format_allowed(decoded.format):
            self._count("ignored_format", 1)
            return []
        if decoded.crypto_counter is not None:
            ckey = (advert.address, decoded.format)
            last = self._crypto.get(ckey)
            if last is not None:
                newer = counter_is_newer(decoded.crypto_counter, last, decoded.counter_bits)
                if newer is None:
                    self._count("dropped_duplicate", 1)
                    return []
                if not newer:
                    self._count(f"dropped_{Replayed.reason}", 1)
                    return []
            self._crypto[ckey] = decoded.crypto_counter
        if decoded.counter is not None:
            if decoded.counter == kstate.counter and now - kstate.counter_at < policy.dedupe_window:
                self._count("dropped_duplicate", 1)
                return []
            kstate.counter = decoded.counter
            kstate.counter_at = now
        interval = policy.intervals.get(advert.address, policy.min_interval)
        if interval > 0 and not decoded.trigger_based and now - state.last_accepted < interval:
            self._count("dropped_interval", 1)
            return []
        state.last_accepted = now
        if decoded.skipped:
            self._count("partially_decoded", 1)
        return self.readings(advert, decoded)

    def decode(self, decoder: Decoder, payload: bytes, address: str) -> Decoded | None:
        """Run one decoder; errors become counters, never exceptions."""
        source = Source(address, self.policy.keys.get(address))
        try:
            decoded: object = decoder.decode(payload, source)
        except DecodeError as exc:
            self._count(f"dropped_{exc.reason}", 1)
            log.debug("%s: %s", address, exc)
            return None
        except Exception:
            self._count("dropped_decoder_fault", 1)
            if decoder.name not in self._faulty:
                self._faulty.add(decoder.name)
                log.exception("BLE decoder %r failed on %s", decoder.name, payload.hex())
            return None
        if not isinstance(decoded, Decoded):
            self._count("dropped_decoder_fault", 1)
            return None
        return decoded

    def readings(self, advert: Advert, decoded: Decoded) -> list[Reading]:
        device = self.policy.names.get(advert.address, advert.address)
        out: list[Reading] = []
        for m in decoded.measurements:
            if m.quantity is None:
                continue
            extra: dict[str, Any] | None = None
            if m.field != m.quantity or m.index or decoded.extra:
                extra = dict(decoded.extra)
                if m.field != m.quantity:
                    extra["field"] = m.field
                if m.index:
                    extra["index"] = m.index
            out.append(Reading(device, m.quantity, m.value, None, advert.ts_ms, extra))
        if self.policy.emit_rssi and advert.rssi is not None and out:
            out.append(Reading(device, "rssi", advert.rssi, None, advert.ts_ms, None))
        self._count("packets", 1)
        return out


def process_all(pipeline: Pipeline, adverts: Iterable[Advert]) -> list[Reading]:
    """Process several snapshots in order (tests and the CLI)."""
    out: list[Reading] = []
    for advert in adverts:
        out.extend(pipeline.process(advert))
    return out


__all__ = ["Advert", "Pipeline", "Policy", "counter_is_newer", "process_all"]
