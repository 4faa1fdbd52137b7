"""The ble driver end to end: real bleak, unmodified, against a fake bluetoothd on a private bus."""

from __future__ import annotations

import contextlib
import os

import pytest
from edgerun_ble.decoders import atc as atc_format

from tests.ble.fakebluez import FakeBlueZ, start_bus
from tests.ble.helpers import (
    ATC,
    ATC1441_VECTOR,
    ATC_ADDRESS,
    BTHOME,
    RUUVI,
    RUUVI_VECTOR,
    rows_of,
    running,
    states,
    wait_for,
)

pytestmark = pytest.mark.anyio

BTHOME_ADDRESS = "11:22:33:44:55:66"
RUUVI_ADDRESS = "CB:B8:33:4C:88:4F"


def advertise_all(bluez: FakeBlueZ, packet_id: int = 1) -> None:
    bluez.advertise(
        BTHOME_ADDRESS,
        name="DIY-sensor",
        service_data={BTHOME: bytes([0x40, 0x00, packet_id]) + bytes.fromhex("02CA0903BF13")},
    )
    bluez.advertise(RUUVI_ADDRESS, manufacturer_data={RUUVI: RUUVI_VECTOR})
    bluez.advertise(ATC_ADDRESS, service_data={ATC: ATC1441_VECTOR})


async def test_active_scan_all_formats_become_readings(bluez: FakeBlueZ) -> None:
    async with running(scanning_mode="active") as (_, ctx):
        await bluez.discovering["hci0"].wait()
        await wait_for(lambda: states(ctx)[-1:] == ["scanning"], what="scanning state")
        advertise_all(bluez)
        await ctx.wait_rows(2 + 11 - 3 + 4)  # bthome 2, ruuvi 8 with quantities, atc 4
        assert rows_of(ctx, BTHOME_ADDRESS, "temperature") == [25.06]
        assert rows_of(ctx, BTHOME_ADDRESS, "relative_humidity") == [50.55]
        assert rows_of(ctx, RUUVI_ADDRESS, "pressure") == [1000.44]
        assert rows_of(ctx, RUUVI_ADDRESS, "voltage") == [2.977]
        assert rows_of(ctx, ATC_ADDRESS, "temperature") == [27.4]
        assert rows_of(ctx, ATC_ADDRESS, "battery") == [100]
        assert ctx.states[-1] == ("scanning", "active on hci0")
        assert ctx.started_event.is_set()
    members = bluez.members()
    # the driver's adapter watch and bleak each read the object tree once
    assert members.count("GetManagedObjects") == 2
    adapter_calls = [m for m in members if m not in ("GetManagedObjects", "GetAll")]
    assert adapter_calls == [
        "SetDiscoveryFilter",
        "StartDiscovery",
        "StopDiscovery",
        "SetDiscoveryFilter",
    ]
    assert ctx.invalid == 0


async def test_repeats_from_bluez_merging_are_deduplicated(bluez: FakeBlueZ) -> None:
    async with running(scanning_mode="active") as (_, ctx):
        await bluez.discovering["hci0"].wait()
        advertise_all(bluez)
        await ctx.wait_rows(14)
        # RSSI-only changes re-report all merged data: no new readings, counted duplicates
        for rssi in (-70, -71, -72):
            bluez.advertise(RUUVI_ADDRESS, rssi=rssi)
        # a new BTHome packet id is new data
        bluez.advertise(
            BTHOME_ADDRESS, service_data={BTHOME: bytes.fromhex("400002") + bytes.fromhex("02D209")}
        )
        await ctx.wait_rows(15)
        await wait_for(lambda: ctx.counters.get("dropped_duplicate", 0) >= 3, what="duplicates")
        assert rows_of(ctx, BTHOME_ADDRESS, "temperature") == [25.06, 25.14]
        assert len(rows_of(ctx, RUUVI_ADDRESS, "pressure")) == 1


async def test_passive_scan_registers_or_patterns(bluez: FakeBlueZ) -> None:
    async with running(scanning_mode="passive") as (_, ctx):
        await bluez.monitor_active.wait()
        await wait_for(lambda: states(ctx)[-1:] == ["scanning"], what="scanning state")
        assert ctx.states[-1] == ("scanning", "passive on hci0")
        (monitor,) = bluez.monitors.values()
        patterns = {(int(s), int(t), bytes(c)) for s, t, c in monitor.patterns}
        assert (0, 0x16, b"\xd2\xfc") in patterns  # BTHome service data
        assert (0, 0x16, b"\x1a\x18") in patterns  # ATC / pvvx
        assert (0, 0xFF, b"\x99\x04") in patterns  # Ruuvi company id
        advertise_all(bluez)
        await ctx.wait_rows(14)
        assert rows_of(ctx, ATC_ADDRESS, "relative_humidity") == [47]
    assert "StartDiscovery" not in bluez.members()
    assert "UnregisterMonitor" in bluez.members()


async def test_auto_mode_falls_back_to_active_without_monitors(dbus) -> None:  # type: ignore[no-untyped-def]
    fake = FakeBlueZ(dbus.address, monitor_manager=False)
    fake.add_adapter("hci0")
    await fake.start()
    try:
        async with running(scanning_mode="auto") as (_, ctx):
            await fake.discovering["hci0"].wait()
            await wait_for(lambda: states(ctx)[-1:] == ["scanning"], what="scanning state")
            assert ctx.states[-1] == ("scanning", "active on hci0")
    finally:
        await fake.stop()


async def test_passive_mode_without_monitors_reports_state(dbus) -> None:  # type: ignore[no-untyped-def]
    fake = FakeBlueZ(dbus.address, monitor_manager=False)
    fake.add_adapter("hci0")
    await fake.start()
    try:
        async with running(scanning_mode="passive", backoff_initial=0.05) as (_, ctx):
            await wait_for(lambda: "passive scanning unavailable" in states(ctx), what="state")
            assert ctx.started_event.is_set()
            assert "RegisterMonitor" not in fake.members()
    finally:
        await fake.stop()


async def test_adapter_missing_then_plugged_in(dbus) -> None:  # type: ignore[no-untyped-def]
    fake = FakeBlueZ(dbus.address)
    await fake.start()
    try:
        async with running(scanning_mode="active", adapter="hci1") as (_, ctx):
            await wait_for(lambda: "no adapter" in states(ctx), what="no adapter")
            assert ("no adapter", "hci1 not present") in ctx.states
            assert ctx.started_event.is_set()  # a missing adapter does not fail start-up
            fake.add_adapter("hci1")
            await fake.discovering["hci1"].wait()
            await wait_for(lambda: states(ctx)[-1:] == ["scanning"], what="scanning")
            fake.advertise(ATC_ADDRESS, adapter="hci1", service_data={ATC: ATC1441_VECTOR})
            await ctx.wait_rows(4)
    finally:
        await fake.stop()


@pytest.mark.parametrize("mode", ["active", "passive"])
async def test_adapter_powered_off_then_on(bluez: FakeBlueZ, mode: str) -> None:
    async with running(scanning_mode=mode, backoff_initial=0.05, backoff_max=0.2) as (_, ctx):
        await wait_for(lambda: states(ctx)[-1:] == ["scanning"], what="scanning")
        advertise_all(bluez, packet_id=1)
        await ctx.wait_rows(15)  # 14 + the Ruuvi frame's tx_power
        bluez.set_powered("hci0", False)
        await wait_for(lambda: "adapter off" in states(ctx), what="adapter off")
        assert not bluez.discovering["hci0"].is_set()
        assert not bluez.monitors
        bluez.set_powered("hci0", True)
        await wait_for(lambda: states(ctx)[-1:] == ["scanning"], what="scanning again")
        assert ctx.states[-1] == ("scanning", f"{mode} on hci0")
        bluez.advertise(BTHOME_ADDRESS, service_data={BTHOME: bytes.fromhex("40000202D209")})
        await ctx.wait_rows(16)
        assert rows_of(ctx, BTHOME_ADDRESS, "temperature") == [25.06, 25.14]
    start = "StartDiscovery" if mode == "active" else "RegisterMonitor"
    assert bluez.members().count(start) == 2


@pytest.mark.parametrize("clean", [True, False], ids=["clean-exit", "killed"])
async def test_bluetoothd_gone_and_back(dbus, clean: bool) -> None:  # type: ignore[no-untyped-def]
    fake = FakeBlueZ(dbus.address)
    fake.add_adapter("hci0")
    await fake.start()
    async with running(scanning_mode="active", backoff_initial=0.05, backoff_max=0.2) as (_, ctx):
        await fake.discovering["hci0"].wait()
        fake.advertise(ATC_ADDRESS, service_data={ATC: ATC1441_VECTOR})
        await ctx.wait_rows(4)
        await fake.stop(clean=clean)
        await wait_for(lambda: "bluez unavailable" in states(ctx), what="bluez unavailable")
        assert ("bluez unavailable", "bluetoothd is not running") in ctx.states
        again = FakeBlueZ(dbus.address)
        again.add_adapter("hci0")
        await again.start()
        try:
            await again.discovering["hci0"].wait()
            await wait_for(lambda: states(ctx)[-1:] == ["scanning"], what="scanning again")
            frame = bytearray(ATC1441_VECTOR)
            frame[12] = 38  # next frame counter
            again.advertise(ATC_ADDRESS, service_data={ATC: bytes(frame)})
            await ctx.wait_rows(8)
        finally:
            await again.stop()
    assert len(rows_of(ctx, ATC_ADDRESS, "temperature")) == 2


async def test_quiet_scanner_is_restarted(bluez: FakeBlueZ) -> None:
    async with running(scanning_mode="active", quiet_timeout=0.2) as (_, ctx):
        await wait_for(lambda: ctx.counters.get("scanner_restarts", 0) >= 1, what="restart")
        await wait_for(lambda: bluez.members().count("StartDiscovery") >= 2, what="rescan")
        assert bluez.members().count("StopDiscovery") >= 1


async def test_queue_overflow_is_counted(bluez: FakeBlueZ) -> None:
    async with running(scanning_mode="active", queue_size=2) as (_, ctx):
        await bluez.discovering["hci0"].wait()
        await wait_for(lambda: states(ctx)[-1:] == ["scanning"], what="scanning")
        # signals for 30 devices arrive in one burst, before the driver gets to drain
        for i in range(30):
            address = f"A4:C1:38:00:00:{i:02X}"
            frame = bytes.fromhex(address.replace(":", "")) + ATC1441_VECTOR[6:]
            bluez.advertise(address, service_data={ATC: frame})
        await wait_for(
            lambda: (
                ctx.counters.get("dropped_queue_full", 0) + ctx.counters.get("packets", 0) >= 30
            ),
            what="all 30 accounted for",
        )
        assert ctx.counters["dropped_queue_full"] > 0
        assert ctx.counters["packets"] >= 2
        assert len(rows_of(ctx, "", "temperature")) == ctx.counters["packets"]


async def test_encrypted_atc_with_bindkey_through_bleak(bluez: FakeBlueZ) -> None:
    key = bytes.fromhex("b9ea895fac7eea6d30532432a516f3a3")
    opts = {"devices": {ATC_ADDRESS: {"bindkey": key.hex(), "name": "kitchen"}}}
    async with running(scanning_mode="active", **opts) as (_, ctx):
        await bluez.discovering["hci0"].wait()
        bluez.advertise(ATC_ADDRESS, service_data={ATC: bytes.fromhex("11d603fbfa7b6dfb1e26fd")})
        await ctx.wait_rows(3)
        assert rows_of(ctx, "kitchen", "temperature") == [23.45]
        # plaintext from the keyed device: rejected and counted
        bluez.advertise(ATC_ADDRESS, service_data={ATC: ATC1441_VECTOR})
        # an older counter: a replay
        old = atc_format.encode_encrypted(ATC_ADDRESS, key, bytes.fromhex("2a0930114b04"), 0x10)
        bluez.advertise(ATC_ADDRESS, service_data={ATC: old})
        await wait_for(lambda: ctx.counters.get("dropped_replayed", 0) == 1, what="replay")
        assert ctx.counters["dropped_plaintext_rejected"] == 1
        assert len(ctx.rows) == 3


async def test_system_bus_restart(monkeypatch: pytest.MonkeyPatch) -> None:
    bus = start_bus()
    # like the real system bus address: a socket path, no server guid to pin
    address = bus.address.split(",guid=")[0]
    monkeypatch.setenv("DBUS_SYSTEM_BUS_ADDRESS", address)
    fake = FakeBlueZ(bus.address)
    fake.add_adapter("hci0")
    await fake.start()
    try:
        async with running(scanning_mode="active", backoff_initial=0.05, backoff_max=0.2) as (
            _,
            ctx,
        ):
            await fake.discovering["hci0"].wait()
            fake.advertise(ATC_ADDRESS, service_data={ATC: ATC1441_VECTOR})
            await ctx.wait_rows(4)
            bus.kill()  # SIGKILL: every connection, bluetoothd's included, is gone
            await wait_for(lambda: "bluez unavailable" in states(ctx), what="bus lost")
            bus = start_bus(directory=bus.directory)
            assert bus.address.split(",guid=")[0] == os.environ["DBUS_SYSTEM_BUS_ADDRESS"]
            fake = FakeBlueZ(bus.address)
            fake.add_adapter("hci0")
            await fake.start()
            await fake.discovering["hci0"].wait()
            await wait_for(lambda: states(ctx)[-1:] == ["scanning"], what="scanning again")
            frame = bytearray(ATC1441_VECTOR)
            frame[12] = 38
            fake.advertise(ATC_ADDRESS, service_data={ATC: bytes(frame)})
            await ctx.wait_rows(8)
    finally:
        with contextlib.suppress(Exception):
            await fake.stop(clean=False)
        bus.kill()
