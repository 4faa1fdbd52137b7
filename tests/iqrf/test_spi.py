"""The SPI transport and engine against the fake spidev device with the simulator behind it."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import msgspec
import pytest
from edgerun_iqrf import spi
from edgerun_iqrf.client import DpaClient
from edgerun_iqrf.dpa import Response, decode_frame, is_reset
from edgerun_iqrf.engine import DpaEngine
from edgerun_iqrf.errors import TransportError
from edgerun_iqrf.sim.mesh import MeshSimulator
from edgerun_iqrf.sim.presets import PRESETS
from edgerun_iqrf.sim.spi_device import FakeSpiDev
from edgerun_iqrf.spi_transport import SpiTransport

pytestmark = pytest.mark.anyio


class SpiMesh(msgspec.Struct):
    sim: MeshSimulator
    dev: FakeSpiDev
    transport: SpiTransport
    engine: DpaEngine
    client: DpaClient


@pytest.fixture
async def spimesh() -> AsyncIterator[SpiMesh]:
    sim = MeshSimulator(PRESETS["small"](1))
    dev = FakeSpiDev(sim)
    sim.output = dev.push
    await sim.start()
    resets = []
    transport = SpiTransport(lambda: dev, reset_hook=lambda: resets.append(1))
    await transport.open()
    engine = DpaEngine(transport)
    await engine.start()
    try:
        yield SpiMesh(sim, dev, transport, engine, DpaClient(engine))
    finally:
        await engine.stop()
        await transport.close()
        await sim.stop()
    assert dev.closed


async def wait_for(predicate: object, timeout: float = 5.0) -> None:
    assert callable(predicate)
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError("condition not met")
        await asyncio.sleep(0.005)


async def test_reset_message_is_read_and_requests_work(spimesh: SpiMesh) -> None:
    seen: list[object] = []
    spimesh.engine.subscribe(seen.append)
    spimesh.sim.send_reset()
    await wait_for(lambda: bool(seen))
    assert is_reset(seen[0])  # type: ignore[arg-type]
    assert await spimesh.client.bonded_nodes() == [1, 2, 3, 4]
    values = await spimesh.client.read_sensors_with_types(1)
    assert [v.quantity for v in values] == ["temperature", "relative_humidity", "co2"]


async def test_crcs_errors_on_reads_are_retried(spimesh: SpiMesh) -> None:
    spimesh.dev.corrupt_reads = 2
    assert await spimesh.client.bonded_nodes() == [1, 2, 3, 4]
    assert spimesh.transport.counters["crcs_errors"] == 2


async def test_crcm_errors_on_writes_are_resent(spimesh: SpiMesh) -> None:
    spimesh.dev.reject_writes = 2
    assert (await spimesh.client.addr_info()).dev_nr == 4
    assert spimesh.transport.counters["crcm_errors"] == 2
    assert len(spimesh.dev.written) == 1  # accepted once, on the third attempt


async def test_persistent_crcm_errors_fail_the_write(spimesh: SpiMesh) -> None:
    spimesh.dev.reject_writes = 10
    with pytest.raises(TransportError, match="CRCM"):
        await spimesh.transport.send(bytes.fromhex("000000 00ffff"))
    assert spimesh.transport.counters["crcm_errors"] == 3


async def test_busy_status_delays_the_write(spimesh: SpiMesh) -> None:
    async with spimesh.transport._lock:  # the poller must not eat the busy answers
        spimesh.dev.busy_polls = 5
        request = asyncio.create_task(spimesh.client.addr_info())
        await asyncio.sleep(0)
    assert (await request).dev_nr == 4
    assert spimesh.transport.counters["not_ready"] >= 1


async def test_data_ready_before_write_is_read_first(spimesh: SpiMesh) -> None:
    seen: list[object] = []
    spimesh.engine.subscribe(seen.append)
    async with spimesh.transport._lock:  # hold the poller off while the TR fills its buffer
        spimesh.sim.send_async_sensors(2)
        assert spimesh.dev._status() >= 0x40  # data ready
        send = asyncio.create_task(spimesh.client.addr_info())
        await asyncio.sleep(0)
    info = await send
    assert info.dev_nr == 4
    await wait_for(lambda: any(getattr(f, "nadr", 0) == 2 for f in seen))
    frame = next(f for f in seen if getattr(f, "nadr", 0) == 2)
    assert isinstance(frame, Response)
    assert frame.is_async
    assert spimesh.transport.counters["write_unconfirmed"] == 0
    assert spimesh.dev.written
    assert decode_frame(spimesh.dev.written[-1]).pnum == 0


async def test_slow_mode_lowers_the_clock(spimesh: SpiMesh) -> None:
    spimesh.dev.slow_mode = True
    assert await spimesh.transport.status() == spi.STATUS_SLOW_MODE
    await spimesh.transport.send(bytes.fromhex("00000000ffff"))
    assert spimesh.transport.slow
    assert spimesh.dev.transfers[-1] == ("write", 10_000)
    spimesh.dev.slow_mode = False
    await wait_for(lambda: not spimesh.transport.slow)


async def test_module_info_and_reset(spimesh: SpiMesh) -> None:
    info = await spimesh.transport.module_info()
    assert info is not None
    assert info.mid == 0x8100A0C0
    assert info.os_version_str == "4.03"
    assert info.ibk is not None
    assert await spimesh.transport.reset()


async def test_hw_error_status_fails_the_write(spimesh: SpiMesh) -> None:
    original = spimesh.dev._status
    spimesh.dev._status = lambda: spi.STATUS_HW_ERROR  # type: ignore[method-assign]
    try:
        with pytest.raises(TransportError, match="hardware error"):
            await spimesh.transport.send(bytes.fromhex("00000000ffff"))
    finally:
        spimesh.dev._status = original  # type: ignore[method-assign]


async def test_closed_device_surfaces_as_transport_error() -> None:
    dev = FakeSpiDev()
    transport = SpiTransport(lambda: dev)
    await transport.open()
    dev.close()
    with pytest.raises(TransportError):
        await asyncio.wait_for(transport.receive(), 2)
    await transport.close()


async def test_probe_over_spi(spimesh: SpiMesh) -> None:
    from edgerun_iqrf.cli import probe_info

    await spimesh.engine.stop()  # probe runs its own engine on the transport
    info = await probe_info(spimesh.transport)
    assert info["transport"] == "spi"
    assert info["bonded"] == [1, 2, 3, 4]
    assert info["module"]["os"] == "4.03"
    assert info["coordinator"]["dpa_version"] == "4.17"
    await spimesh.engine.start()
