"""Fixtures for the BLE tests: a private dbus-daemon per test and a fake bluetoothd on it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from tests.ble.fakebluez import Bus, FakeBlueZ, start_bus


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"  # bleak and dbus-fast are asyncio-only


@pytest.fixture
def dbus(monkeypatch: pytest.MonkeyPatch) -> Iterator[Bus]:
    """A private system bus; bleak finds it through DBUS_SYSTEM_BUS_ADDRESS."""
    bus = start_bus()
    monkeypatch.setenv("DBUS_SYSTEM_BUS_ADDRESS", bus.address)
    try:
        yield bus
    finally:
        bus.kill()


@pytest.fixture
async def bluez(dbus: Bus) -> AsyncIterator[FakeBlueZ]:
    """A running fake bluetoothd with one powered adapter, hci0."""
    fake = FakeBlueZ(dbus.address)
    fake.add_adapter("hci0")
    await fake.start()
    try:
        yield fake
    finally:
        await fake.stop(clean=False)
