"""The real UART and CDC transports, engine and client against the simulator over a pty."""

from __future__ import annotations

import asyncio
import time

import pytest
from edgerun_iqrf import sensor
from edgerun_iqrf.cdc_transport import CdcTransport
from edgerun_iqrf.dpa import LedCmd, Pnum, Response, is_reset
from edgerun_iqrf.errors import DpaResponseError, DpaTimeout

from .conftest import Mesh

pytestmark = pytest.mark.anyio


async def wait_for(predicate: object, timeout: float = 5.0) -> None:
    assert callable(predicate)
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError("condition not met")
        await asyncio.sleep(0.005)


async def test_enumerate(mesh: Mesh) -> None:
    c = mesh.client
    assert await c.bonded_nodes() == [1, 2, 3, 4]
    info = await c.addr_info()
    assert info.dev_nr == 4
    coord = await c.os_read(0)
    assert coord.mid == mesh.sim.coordinator_mid
    assert coord.enumeration is not None
    assert coord.enumeration.dpa_version_str == "4.17"
    for addr in (1, 2, 3):
        node = await c.os_read(addr)
        assert node.mid == mesh.sim.nodes[addr].mid
        enum = await c.enumerate_peripherals(addr)
        assert Pnum.SENSOR in enum.user_pers
        assert enum.hwpid == 0x0602
        assert await c.sensor_enumerate(addr) == [0x01, 0x80, 0x02]
    assert await c.binary_output_enumerate(4) == 2


async def test_read_sensors_match_the_simulator(mesh: Mesh) -> None:
    values = await mesh.client.read_sensors_with_types(2)
    assert [v.quantity for v in values] == ["temperature", "relative_humidity", "co2"]
    for v in values:
        (truth,) = mesh.sim.truth(2, v.index)
        assert v.value == sensor.decode_value(v.type, truth)
    partial = await mesh.client.read_sensors_with_types(1, [2])
    assert [(v.index, v.quantity) for v in partial] == [(2, "co2")]


async def test_frc_reads_match_the_simulator(mesh: Mesh) -> None:
    await mesh.client.bonded_nodes()
    await mesh.client.discovered_nodes()
    got = await mesh.client.sensor_frc(0x80, 0, nodes=[1, 2, 3, 4])
    for addr in (1, 2, 3):
        truth = mesh.sim.truth(addr, 1)[-1]
        assert got[addr].ok
        assert got[addr].value == sensor.decode_value(0x80, truth)
    assert got[4].status is sensor.FrcStatus.NOT_IMPLEMENTED  # no sensors on the relay node
    everyone = await mesh.client.sensor_frc(0x01, 0)
    assert set(everyone) >= {1, 2, 3, 4}


async def test_led_pulse_and_broadcast(mesh: Mesh) -> None:
    await mesh.client.led(3, "red", LedCmd.PULSE)
    assert mesh.sim.nodes[3].leds == [("red", LedCmd.PULSE)]
    conf = await mesh.client.broadcast(Pnum.LEDG, LedCmd.PULSE)
    assert conf.hops_response == 0
    await wait_for(lambda: all(("green", 3) in n.leds for n in mesh.sim.nodes.values()))


@pytest.mark.parametrize("addr", [2, 3])
async def test_unreachable_node_times_out_at_the_computed_timeout(
    timed_mesh: Mesh, addr: int
) -> None:
    timed_mesh.sim.nodes[addr].unreachable = True
    hops = timed_mesh.sim.nodes[addr].hops
    # STD mode, short request (40 ms slot): (hops+1)*40 + (hops+1)*60 + 40
    expected_ms = (hops + 1) * 40 + (hops + 1) * 60 + 40
    start = time.monotonic()
    with pytest.raises(DpaTimeout) as err:
        await timed_mesh.client.read_sensors_with_types(addr)
    elapsed = time.monotonic() - start
    assert timed_mesh.engine.last_timeout_ms == expected_ms
    assert err.value.waited_s == pytest.approx(expected_ms / 1000)
    assert elapsed >= expected_ms / 1000
    assert elapsed < expected_ms / 1000 + 0.5
    # the rest of the network still answers
    assert len(await timed_mesh.client.read_sensors_with_types(1)) == 3


async def test_garbage_on_the_line_mid_stream(mesh: Mesh) -> None:
    junk = bytes(range(256)) + b"\x7e\x7d\x7e\x00\x01<DR\x05:\x01\r<DS:\r\x7e\x00\x00\x06"
    task = asyncio.create_task(mesh.client.read_sensors_with_types(3))
    await wait_for(lambda: mesh.sim.requests[3] == 1)
    mesh.link.write_raw(junk)  # between confirmation and response
    values = await task
    assert len(values) == 3
    for _ in range(3):
        mesh.link.write_raw(junk[:40])
        assert len(await mesh.client.read_sensors_with_types(1)) == 3
    c = mesh.transport.counters
    assert c["frames_dropped"] + c["bytes_skipped"] > 0


async def test_async_message_is_not_taken_for_the_response(mesh: Mesh) -> None:
    seen: list[object] = []
    mesh.engine.subscribe(seen.append)
    task = asyncio.create_task(mesh.client.read_sensors_with_types(1))
    await wait_for(lambda: mesh.sim.requests[1] == 1)
    mesh.sim.send_async_sensors(1)  # same NADR/PNUM/PCMD, async flag set
    values = await task
    assert len(values) == 3
    await wait_for(lambda: len(seen) == 1)
    (frame,) = seen
    assert isinstance(frame, Response)
    assert frame.is_async
    assert frame.nadr == 1
    assert mesh.engine.counters["async"] == 1


async def test_reset_message_reaches_subscribers(mesh: Mesh) -> None:
    seen: list[object] = []
    mesh.engine.subscribe(seen.append)
    mesh.sim.std_mode = False
    mesh.sim.send_reset()
    await wait_for(lambda: bool(seen))
    assert is_reset(seen[0])  # type: ignore[arg-type]
    assert mesh.engine.std_mode is False  # RF mode taken from the reset message


async def test_error_responses(mesh: Mesh) -> None:
    with pytest.raises(DpaResponseError) as err:
        await mesh.client.read_sensors_with_types(9)
    assert err.value.name == "ERROR_NADR"
    with pytest.raises(DpaResponseError) as err:
        await mesh.client.call(1, Pnum.SENSOR, 0x3E, hwpid=0x1234)
    assert err.value.name == "ERROR_HWPID"
    with pytest.raises(DpaResponseError) as err:
        await mesh.client.call(1, 0x30, 0x00)
    assert err.value.name == "ERROR_PNUM"


async def test_slow_node_answers_after_the_timeout_and_is_dropped(mesh: Mesh) -> None:
    mesh.sim.nodes[1].slow_ms = 400
    with pytest.raises(DpaTimeout):
        await mesh.client.read_sensors_with_types(1)
    mesh.sim.nodes[1].slow_ms = 0
    await wait_for(lambda: mesh.engine.counters["unmatched"] == 1, timeout=2)
    assert len(await mesh.client.read_sensors_with_types(2)) == 3


async def test_flaky_node_with_retries(mesh: Mesh) -> None:
    mesh.sim.nodes[1].flaky = 0.5
    mesh.sim.rng.seed(3)
    ok = 0
    for _ in range(4):
        try:
            await mesh.client.call(1, Pnum.SENSOR, 0x3E, retries=3)
            ok += 1
        except DpaTimeout:
            pass
    assert ok >= 3
    assert mesh.engine.counters["retries"] >= 1


async def test_cdc_retries_busy(tmp_path: object) -> None:
    from pathlib import Path

    from .conftest import close_mesh, open_mesh

    assert isinstance(tmp_path, Path)
    m = await open_mesh("cdc", tmp_path / "tty")
    try:
        assert isinstance(m.transport, CdcTransport)
        m.link.busy_next = 3
        assert await m.client.bonded_nodes() == [1, 2, 3, 4]
        assert m.transport.counters["busy"] == 3
        info = await m.transport.module_info()
        assert info is not None
        assert info.mid == m.sim.coordinator_mid
        assert (await m.transport.device_info())["type"] == "GW-USB-SIM"
        assert await m.transport.reset()
    finally:
        await close_mesh(m)


async def test_frc_extra_result_for_high_addresses(mesh: Mesh) -> None:
    mesh.sim.rebond(3, 30)  # 2-byte FRC: addresses >= 27 are in the ExtraResult block
    await mesh.client.bonded_nodes()
    got = await mesh.client.sensor_frc(0x01, 0, nodes=[1, 30])
    assert (0, 0x0D, 0x01) in mesh.sim.request_log  # ExtraResult was fetched
    for addr in (1, 30):
        truth = mesh.sim.truth(addr, 0)[-1]
        assert got[addr].value == sensor.decode_value(0x01, truth)


async def test_transport_error_recovers_with_a_tr_reset(tmp_path: object) -> None:
    from pathlib import Path

    from .conftest import close_mesh, open_mesh

    assert isinstance(tmp_path, Path)
    m = await open_mesh("cdc", tmp_path / "tty")
    try:
        seen: list[object] = []
        m.engine.subscribe(seen.append)
        m.link.error_next = 1  # the device refuses the first frame
        assert await m.client.call(0, Pnum.COORDINATOR, 0x00, retries=1)
        assert m.engine.counters["transport_errors"] == 1
        assert m.engine.counters["tr_resets"] == 1
        await wait_for(lambda: any(is_reset(f) for f in seen))  # type: ignore[arg-type]
    finally:
        await close_mesh(m)


async def test_node_initiated_request_goes_to_subscribers(mesh: Mesh) -> None:
    from edgerun_iqrf.dpa import Request

    seen: list[object] = []
    mesh.engine.subscribe(seen.append)
    task = asyncio.create_task(mesh.client.read_sensors_with_types(1))
    await wait_for(lambda: mesh.sim.requests[1] == 1)
    mesh.sim.output(Request(1, 0x20, 0x05, 0x0602, b"\x01\x02").encode())
    assert len(await task) == 3
    await wait_for(lambda: bool(seen))
    assert seen == [Request(1, 0x20, 0x05, 0x0602, b"\x01\x02")]


async def test_lp_mode_timeout_from_the_reset_message(timed_mesh: Mesh) -> None:
    timed_mesh.sim.std_mode = False
    timed_mesh.sim.send_reset()
    await wait_for(lambda: timed_mesh.engine.std_mode is False)
    timed_mesh.sim.nodes[1].unreachable = True
    with pytest.raises(DpaTimeout):
        await timed_mesh.client.read_sensors_with_types(1)
    # LP: 80 ms request slot, 110 ms worst-case response slot
    assert timed_mesh.engine.last_timeout_ms == 2 * 80 + 2 * 110 + 40
