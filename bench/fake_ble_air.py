"""A BLE neighbourhood for benchmarks: the tests' fake BlueZ on a private dbus-daemon, with
``--devices`` BTHome thermometers advertising once a second each.

    .venv/bin/python bench/fake_ble_air.py [--devices 10]

Prints ``DBUS_SYSTEM_BUS_ADDRESS=<address>`` on the first line once the adapter is up, then
runs until terminated. A gateway started with that variable scans with the real bleak
against it, so its memory and CPU include the whole BLE stack at work, not a driver backing
off for want of an adapter.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.ble.fakebluez import FakeBlueZ, start_bus

BTHOME_UUID = "0000fcd2-0000-1000-8000-00805f9b34fb"


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--devices", type=int, default=10)
    args = ap.parse_args()
    bus = start_bus()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    bluez = FakeBlueZ(bus.address)
    bluez.add_adapter("hci0", powered=True)
    await bluez.start()
    print(f"DBUS_SYSTEM_BUS_ADDRESS={bus.address}", flush=True)
    try:
        packet = 0
        while not stop.is_set():
            packet = (packet + 1) % 256
            for n in range(args.devices):
                temp = 2000 + 10 * n + packet % 7  # 0.01 °C
                body = bytes([0x40, 0x00, packet, 0x02]) + temp.to_bytes(2, "little", signed=True)
                bluez.advertise(f"A4:C1:38:00:00:{n:02X}", service_data={BTHOME_UUID: body})
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 1.0)
    finally:
        with contextlib.suppress(Exception):  # the bus may already be gone
            await bluez.stop()
        bus.kill()


if __name__ == "__main__":
    asyncio.run(main())
