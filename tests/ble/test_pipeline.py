"""The pipeline's rules, without a radio: replay, dedupe, rate limit, allow/deny, counting."""

from __future__ import annotations

from typing import Any

import pytest
from edgerun_ble.config import load
from edgerun_ble.decoders import builtin_decoders
from edgerun_ble.decoders.atc import encode_encrypted as atc_encrypt
from edgerun_ble.decoders.base import Decoded, Measurement, Source
from edgerun_ble.decoders.bthome import encode_encrypted as bthome_encrypt
from edgerun_ble.decoders.registry import DecoderConflict, Registry
from edgerun_ble.pipeline import Advert, Pipeline, Policy, counter_is_newer

from tests.ble.helpers import ATC, ATC1441_VECTOR, ATC_ADDRESS, BTHOME, RUUVI, RUUVI_VECTOR

KEY = bytes.fromhex("231d39c1d7cc1ab1aee224cd096db932")
SENSOR = "11:22:33:44:55:66"


class Harness:
    def __init__(self, **options: Any) -> None:
        self.counts: dict[str, int] = {}
        self.pipeline = Pipeline(
            Registry(builtin_decoders()), Policy.from_config(load(options)), self.count
        )
        self.t = 0.0

    def count(self, name: str, n: int) -> None:
        self.counts[name] = self.counts.get(name, 0) + n

    def feed(
        self,
        address: str = SENSOR,
        service: dict[str, bytes] | None = None,
        mfr: dict[int, bytes] | None = None,
        dt: float = 1.0,
        rssi: int | None = -60,
    ) -> list[Any]:
        self.t += dt
        return self.pipeline.process(
            Advert(address, service or {}, mfr or {}, rssi, received=self.t, ts_ms=1000)
        )


def bthome_plain(packet_id: int, centi_degrees: int = 2506) -> bytes:
    return bytes([0x40, 0x00, packet_id, 0x02]) + centi_degrees.to_bytes(2, "little", signed=True)


def test_counter_serial_arithmetic() -> None:
    assert counter_is_newer(5, 4, 8)
    assert counter_is_newer(0, 255, 8)  # the one-byte counter wraps
    assert counter_is_newer(4, 5, 8) is False
    assert counter_is_newer(7, 7, 32) is None
    assert counter_is_newer(2**31, 1, 32)
    assert counter_is_newer(1, 1000, 32) is False


def test_encrypted_counter_must_advance() -> None:
    h = Harness(devices={SENSOR: {"bindkey": KEY.hex()}})
    frame = lambda n, t=2506: bthome_encrypt(SENSOR, KEY, b"\x02" + t.to_bytes(2, "little"), n)  # noqa: E731
    assert len(h.feed(service={BTHOME: frame(10)})) == 1
    assert len(h.feed(service={BTHOME: frame(11, 2510)})) == 1
    # a captured older frame played back: rejected
    assert h.feed(service={BTHOME: frame(10)}) == []
    assert h.counts["dropped_replayed"] == 1
    # the same counter with other bytes (cannot authenticate as new data): a duplicate
    assert h.feed(service={BTHOME: frame(11, 2600)}) == []
    assert h.counts["dropped_duplicate"] == 1
    # plaintext from a keyed device: rejected
    assert h.feed(service={BTHOME: bthome_plain(1)}) == []
    assert h.counts["dropped_plaintext_rejected"] == 1
    assert h.counts["packets"] == 2


def test_atc_encrypted_counter_wraps() -> None:
    key = bytes.fromhex("b9ea895fac7eea6d30532432a516f3a3")
    h = Harness(devices={ATC_ADDRESS: {"bindkey": key.hex()}})
    plain = bytes.fromhex("2a0930114b04")
    for n in (254, 255, 0, 1):
        assert h.feed(ATC_ADDRESS, {ATC: atc_encrypt(ATC_ADDRESS, key, plain, n)}) != []
    assert h.feed(ATC_ADDRESS, {ATC: atc_encrypt(ATC_ADDRESS, key, plain, 200)}) == []
    assert h.counts["dropped_replayed"] == 1


def test_dedupe_on_sensor_counter_within_window() -> None:
    h = Harness(dedupe_window=30)
    assert len(h.feed(service={BTHOME: bthome_plain(7)})) == 1
    # same packet id, other bytes (e.g. merged with stale data): a repeat
    assert h.feed(service={BTHOME: bthome_plain(7, 2600)}) == []
    assert h.feed(service={BTHOME: bthome_plain(8)}) != []
    # identical bytes again after the window: a fresh report of an unchanged sensor
    assert h.feed(service={BTHOME: bthome_plain(8)}, dt=31) != []
    assert h.counts["dropped_duplicate"] == 1


def test_ruuvi_sequence_and_stale_keys_from_merged_callbacks() -> None:
    h = Harness()
    first = h.feed(RUUVI_VECTOR[18:].hex(":").upper(), mfr={RUUVI: RUUVI_VECTOR})
    assert len(first) == 9  # 8 measurements and tx_power
    # a callback carrying the same Ruuvi bytes plus an unknown vendor key
    again = h.feed(
        RUUVI_VECTOR[18:].hex(":").upper(), mfr={RUUVI: RUUVI_VECTOR, 0x004C: b"\x02\x15"}
    )
    assert again == []
    assert h.counts["dropped_duplicate"] == 1
    assert h.counts["ignored_unknown_format"] == 1


def test_min_interval_per_device_but_not_for_triggers() -> None:
    h = Harness(min_interval=10, devices={"22:22:22:22:22:22": {"min_interval": 0}})
    assert h.feed(service={BTHOME: bthome_plain(1)}) != []
    assert h.feed(service={BTHOME: bthome_plain(2)}, dt=2) == []
    assert h.counts["dropped_interval"] == 1
    # trigger-based packets (button presses) are never held back
    assert h.feed(service={BTHOME: bytes.fromhex("4400033A01")}, dt=1) != []
    assert h.feed(service={BTHOME: bthome_plain(4)}, dt=10) != []
    # the per-device override
    other = "22:22:22:22:22:22"
    assert h.feed(other, {BTHOME: bthome_plain(1)}) != []
    assert h.feed(other, {BTHOME: bthome_plain(2)}, dt=0.1) != []


def test_allow_and_deny_by_address_and_format() -> None:
    h = Harness(deny_addresses=[SENSOR], deny_formats=["ruuvi"])
    assert h.feed(service={BTHOME: bthome_plain(1)}) == []
    assert h.counts["ignored_address"] == 1
    assert h.feed("CB:B8:33:4C:88:4F", mfr={RUUVI: RUUVI_VECTOR}) == []
    assert h.counts["ignored_format"] == 1
    h = Harness(allow_addresses=[ATC_ADDRESS.lower()], allow_formats=["atc", "pvvx"])
    assert h.feed(service={BTHOME: bthome_plain(1)}) == []
    assert h.feed(ATC_ADDRESS, {ATC: ATC1441_VECTOR}) == []  # atc1441 is not allowed
    assert h.feed(ATC_ADDRESS, {ATC: bytes.fromhex("B2188D38C1A4590AAD13B6091F1E05")}) != []
    assert h.counts["ignored_format"] == 1


def test_readings_carry_name_fields_and_rssi() -> None:
    h = Harness(devices={SENSOR: {"name": "porch"}}, emit_rssi=True)
    readings = h.feed(service={BTHOME: bytes.fromhex("4002CA0902D2091A01")}, rssi=-71)
    by = {(r.quantity, (r.extra or {}).get("index", 0)): r for r in readings}
    assert by[("temperature", 0)].value == 25.06
    assert by[("temperature", 1)].value == 25.14
    assert by[("binary", 0)].extra == {"field": "door"}
    assert by[("rssi", 0)].value == -71
    assert {r.device for r in readings} == {"porch"}
    assert {r.ts_ms for r in readings} == {1000}


def test_decode_errors_are_counted_by_reason() -> None:
    h = Harness()
    h.feed(service={BTHOME: b"\x40\x02\xca"})
    h.feed(service={BTHOME: b"\x41" + bytes(12)})
    h.feed(ATC_ADDRESS, {ATC: bytes.fromhex("A4C1388D18B301122F640CA025")})
    h.feed(mfr={RUUVI: b"\x03\x29"})
    assert h.counts == {
        "dropped_bad_length": 1,
        "dropped_key_missing": 1,
        "dropped_address_mismatch": 1,
        "dropped_unknown_format": 1,
    }


class Broken:
    name = "broken"
    service_uuids = ("feaa",)
    company_ids = ()

    def decode(self, payload: bytes, source: Source) -> Decoded:
        if payload == b"\x00":
            return "not a Decoded"  # type: ignore[return-value]
        if payload:
            raise ZeroDivisionError("vendor bug")
        return Decoded("broken", (Measurement("x", "no_such_quantity", 1),))


def test_faulty_vendor_decoder_is_contained() -> None:
    h = Harness()
    h.pipeline.registry.add(Broken())
    uuid = "0000feaa-0000-1000-8000-00805f9b34fb"
    assert h.feed(service={uuid: b"\x01"}) == []
    assert h.feed(service={uuid: b"\x00"}) == []
    assert h.counts["dropped_decoder_fault"] == 2


def test_registry_rejects_conflicts_and_non_decoders() -> None:
    registry = Registry(builtin_decoders())

    class Clash(Broken):
        name = "clash"
        service_uuids = ("0xFCD2",)

    with pytest.raises(DecoderConflict, match="both claim service UUID"):
        registry.add(Clash())
    with pytest.raises(DecoderConflict, match="named 'bthome'"):
        registry.add(type("Dup", (Broken,), {"name": "bthome"})())
    with pytest.raises(DecoderConflict, match="no decode"):
        registry.add(type("NoDecode", (), {"name": "x", "service_uuids": (), "company_ids": ()})())
    with pytest.raises(DecoderConflict, match="company id"):
        registry.add(type("BadId", (Broken,), {"name": "y", "company_ids": (70000,)})())


def test_config_rejects_bad_values() -> None:
    import msgspec

    for options, message in (
        ({"devices": {SENSOR: {"bindkey": "abcd"}}}, "32 hex digits"),
        ({"devices": {SENSOR: {"bindkey": "zz" * 16}}}, "not hexadecimal"),
        ({"deny_addresses": ["11:22"]}, "not a Bluetooth address"),
        ({"queue_size": 0}, "queue_size"),
        ({"scanning_mode": "loud"}, "scanning_mode"),
        ({"backoff_initial": 5, "backoff_max": 1}, "backoff"),
    ):
        with pytest.raises(msgspec.ValidationError, match=message):
            load(options)
