"""The ``iqrf`` driver against the simulator over a pty (UART), through edgerun.testing."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from edgerun_iqrf import sensor
from edgerun_iqrf.driver import IqrfDriver
from edgerun_iqrf.sim.mesh import MeshSimulator
from edgerun_iqrf.sim.presets import PRESETS
from edgerun_iqrf.sim.pty_link import PtyLink

from edgerun.api import CommandError
from edgerun.testing import RecordingContext, make_driver

pytestmark = pytest.mark.anyio

SPEED = 10.0  # the simulator runs 10x real time...
SCALE = 0.3  # ...and the driver waits 3/10 of the real DPA times: three times the room it needs
ENUMERATION = {(2, 0x00), (0xFF, 0x3F), (0x5E, 0x3E), (0x4B, 0x3E)}


async def until(predicate: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError("condition not met")
        await asyncio.sleep(0.01)


@asynccontextmanager
async def served(preset: str, path: Path) -> AsyncIterator[tuple[MeshSimulator, PtyLink]]:
    sim = MeshSimulator(PRESETS[preset](1), speed=SPEED)
    link = PtyLink(sim, "uart", path)
    await link.start()
    try:
        yield sim, link
    finally:
        await link.stop()


@asynccontextmanager
async def running(
    port: Path, data_dir: Path, **options: Any
) -> AsyncIterator[tuple[IqrfDriver, RecordingContext]]:
    # a node silent once on a loaded machine is tried again at the next cycle
    opts: dict[str, Any] = {
        "port": str(port),
        "time_scale": SCALE,
        "poll_interval": 1,
        "retry_interval": 1,
    }
    opts.update(options)
    driver = make_driver(IqrfDriver, "mesh", **opts)
    assert isinstance(driver, IqrfDriver)
    ctx = RecordingContext("mesh", data_dir)
    task = asyncio.create_task(driver.run(ctx))
    try:
        yield driver, ctx
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


def rows_by(ctx: RecordingContext, quantity: str | None = None) -> list[tuple[Any, ...]]:
    return [r for r in ctx.rows if quantity is None or r[2] == quantity]


def truth_values(sim: MeshSimulator, addr: int, index: int) -> list[object]:
    type_id = sim.nodes[addr].sensors[index].type_id
    return [sensor.decode_value(type_id, raw) for raw in sim.truth(addr, index)]


async def test_conference_discovery_and_every_sensor(tmp_path: Path) -> None:
    async with (
        served("conference", tmp_path / "tty") as (sim, _),
        running(tmp_path / "tty", tmp_path / "data") as (_, ctx),
    ):
        sensor_nodes = [a for a, n in sim.nodes.items() if n.sensors]
        assert len(sensor_nodes) == 20
        wanted = {(f"mesh/{sim.nodes[a].mid:08X}", q) for a in sensor_nodes
                  for q in ("temperature", "relative_humidity", "co2")}  # fmt: skip
        await until(lambda: wanted <= {(r[1], r[2]) for r in ctx.rows}, timeout=60)
        units = {"temperature": "°C", "relative_humidity": "%", "co2": "ppm"}
        latest_status: dict[str, object] = {}
        for row in ctx.rows:
            _, device, quantity, value, unit, _, extra = row
            if quantity == "status":
                latest_status[device] = value
                continue
            assert unit == units[quantity]
            addr = extra["nadr"]
            assert device == f"mesh/{sim.nodes[addr].mid:08X}"
            assert value in truth_values(sim, addr, extra["index"])
        assert {d for d, _ in wanted} <= set(latest_status)
        assert set(latest_status.values()) == {"ok"}
        cached = json.loads((tmp_path / "data" / "netmap.json").read_text())
        assert len(cached["nodes"]) == 40
        assert cached["nodes"]["1"]["sensors"] == [0x01, 0x80, 0x02]
        assert ctx.invalid == 0


async def test_frc_strategy_reads_match_the_truth(tmp_path: Path) -> None:
    async with (
        served("conference", tmp_path / "tty") as (sim, _),
        running(tmp_path / "tty", tmp_path / "data", read_strategy="frc") as (_, ctx),
    ):
        await until(lambda: len({(r[1], r[2]) for r in rows_by(ctx) if r[2] != "status"}) >= 60,
                    timeout=60)  # fmt: skip
        frc_rows = [r for r in ctx.rows if r[2] != "status"]
        assert {r[6]["via"] for r in frc_rows} == {"frc"}
        for _, _, _, value, _, _, extra in frc_rows:
            assert value in truth_values(sim, extra["nadr"], extra["index"])
        assert ctx.counters["frc_rounds"] >= 3


async def test_unreachable_node_is_reported_and_others_keep_their_schedule(
    tmp_path: Path,
) -> None:
    async with (
        served("small", tmp_path / "tty") as (sim, _),
        running(tmp_path / "tty", tmp_path / "data", retry_interval=3600) as (_, ctx),
    ):
        await until(lambda: len(rows_by(ctx, "co2")) >= 3)
        sim.nodes[2].unreachable = True
        mid2 = f"mesh/{sim.nodes[2].mid:08X}"
        await until(lambda: any(r[1] == mid2 and r[3] == "unreachable" for r in ctx.rows))
        tried = sim.requests[2]
        assert ctx.counters["node_timeouts"] == 1
        before = len(rows_by(ctx, "co2"))
        # two more cycles: nodes 1 and 3 are read each time, node 2 is not tried again
        await until(lambda: len(rows_by(ctx, "co2")) >= before + 4)
        assert sim.requests[2] == tried
        others = {r[1] for r in rows_by(ctx, "co2")[before:]}
        assert mid2 not in others
        assert len(others) == 2


async def test_unreachable_node_returns(tmp_path: Path) -> None:
    async with (
        served("small", tmp_path / "tty") as (sim, _),
        running(tmp_path / "tty", tmp_path / "data", retry_interval=0.5) as (_, ctx),
    ):
        await until(lambda: len(rows_by(ctx, "co2")) >= 3)
        sim.nodes[3].unreachable = True
        mid3 = f"mesh/{sim.nodes[3].mid:08X}"
        await until(lambda: any(r[1] == mid3 and r[3] == "unreachable" for r in ctx.rows))
        sim.nodes[3].unreachable = False
        await until(lambda: [r[3] for r in ctx.rows if r[1] == mid3 and r[2] == "status"][-1]
                    == "ok")  # fmt: skip


async def test_cached_map_means_no_enumeration_on_restart(tmp_path: Path) -> None:
    async with served("small", tmp_path / "tty") as (sim, _):
        async with running(tmp_path / "tty", tmp_path / "data") as (_, ctx):
            await until(lambda: len(rows_by(ctx, "co2")) >= 3)
        assert any((p, c) in ENUMERATION for _, p, c in sim.request_log)
        sim.request_log.clear()
        async with running(tmp_path / "tty", tmp_path / "data") as (_, ctx):
            await until(lambda: len(rows_by(ctx, "co2")) >= 3)
        node_enum = [(a, p, c) for a, p, c in sim.request_log if a and (p, c) in ENUMERATION]
        assert node_enum == []


async def test_rebonded_node_keeps_its_device_id(tmp_path: Path) -> None:
    async with served("small", tmp_path / "tty") as (sim, _):
        async with running(tmp_path / "tty", tmp_path / "data") as (_, ctx):
            await until(lambda: len(rows_by(ctx, "co2")) >= 3)
        before = {r[6]["nadr"]: r[1] for r in rows_by(ctx, "co2")}
        sim.rebond(3, 45)
        async with running(tmp_path / "tty", tmp_path / "data") as (_, ctx):
            await until(lambda: any(r[6]["nadr"] == 45 for r in rows_by(ctx, "co2")))
        after = {r[6]["nadr"]: r[1] for r in rows_by(ctx, "co2")}
        assert after[45] == before[3]
        assert 3 not in after


async def test_async_reports_and_coordinator_reset(tmp_path: Path) -> None:
    async with (
        served("small", tmp_path / "tty") as (sim, _),
        running(tmp_path / "tty", tmp_path / "data", poll_interval=3600) as (_, ctx),
    ):
        await until(lambda: len(rows_by(ctx, "co2")) >= 3)
        sim.send_async_sensors(2)
        await until(lambda: any(r[6] and r[6].get("via") == "async" for r in ctx.rows))
        async_rows = [r for r in ctx.rows if r[6] and r[6].get("via") == "async"]
        assert {r[2] for r in async_rows} == {"temperature", "relative_humidity", "co2"}
        reads = len(rows_by(ctx, "co2"))
        sim.send_reset()  # the poll interval is an hour: only the reset can start a cycle
        await until(lambda: len(rows_by(ctx, "co2")) >= reads + 3)
        assert ctx.counters["coordinator_resets"] == 1


async def test_commands(tmp_path: Path) -> None:
    async with (
        served("small", tmp_path / "tty") as (sim, _),
        running(tmp_path / "tty", tmp_path / "data") as (driver, ctx),
    ):
        await until(lambda: len(rows_by(ctx, "co2")) >= 3)
        mid1 = f"{sim.nodes[1].mid:08X}"
        assert await driver.command(mid1, "pulse", {}) == {"pulsed": "red"}
        assert sim.nodes[1].leds[-1] == ("red", 3)
        await driver.command("node-2", "pulse", {"color": "green"})
        assert sim.nodes[2].leds[-1] == ("green", 3)
        relay = f"{sim.nodes[4].mid:08X}"
        result = await driver.command(relay, "set", {"output": 1, "value": True, "duration": 5})
        assert result == {"output": 1, "value": True, "previous": False}
        assert sim.nodes[4].outputs == [0, 0x85]
        result = await driver.command(relay, "set", {"output": 1, "value": False})
        assert result["previous"] is True
        assert sim.nodes[4].outputs == [0, 0]
        enum = await driver.command(mid1, "enumerate", {})
        assert enum["sensors"] == [1, 0x80, 2]
        for target, action, args, reason in [
            ("nobody", "pulse", {}, "unknown_target"),
            (mid1, "explode", {}, "unsupported"),
            (mid1, "set", {"value": True}, "unsupported"),
            (relay, "set", {"output": 7, "value": True}, "invalid"),
            (relay, "set", {"output": 0, "value": "on"}, "invalid"),
            (mid1, "pulse", {"color": "blue"}, "invalid"),
        ]:
            with pytest.raises(CommandError) as err:
                await driver.command(target, action, args)
            assert err.value.reason == reason
        sim.nodes[1].unreachable = True
        with pytest.raises(CommandError) as err:
            await driver.command(mid1, "pulse", {})
        assert err.value.reason == "timeout"


async def test_command_when_not_running(tmp_path: Path) -> None:
    driver = make_driver(IqrfDriver, "mesh", port=str(tmp_path / "none"))
    with pytest.raises(CommandError) as err:
        await driver.command("node-1", "pulse", {})
    assert err.value.reason == "not_running"


async def test_missing_port_fails_the_start(tmp_path: Path) -> None:
    from edgerun_iqrf.errors import TransportError

    driver = make_driver(IqrfDriver, "mesh", port=str(tmp_path / "none"))
    with pytest.raises(TransportError, match="cannot open"):
        await driver.run(RecordingContext("mesh", tmp_path))


def test_config_checks() -> None:
    driver = make_driver(
        IqrfDriver, "mesh", port="/dev/ttyS0", poll_interval=0.5, time_scale=2,
        nodes={"0": {}, "7": {"strategy": "per-node"}}, hwpid=[70000],
    )  # fmt: skip
    problems = dict(driver.config.check())
    assert set(problems) == {"poll_interval", "time_scale", "nodes.0", "hwpid"}


def test_registration() -> None:
    from edgerun_iqrf import plugin

    registered: list[tuple[Any, ...]] = []
    plugin.edgerun_register_drivers(lambda *a: registered.append(a))
    plugin.edgerun_register_commands(lambda *a: registered.append(a))
    from edgerun.plugins import resolve

    assert registered[0][0] == "iqrf"
    assert resolve(registered[0][1]) is IqrfDriver
    assert registered[1][0] == "iqrf"
    assert callable(resolve(registered[1][2]))


async def test_hwpid_filter_and_node_overrides(tmp_path: Path) -> None:
    async with served("small", tmp_path / "tty") as (sim, _):
        sim.nodes[3].hwpid = 0x0999
        opts: dict[str, Any] = {
            "hwpid": [0x0602],
            "read_strategy": "per-node",
            "nodes": {"1": {"strategy": "frc"}, "2": {"poll_interval": 3600}},
        }
        async with running(tmp_path / "tty", tmp_path / "data", **opts) as (_, ctx):
            await until(lambda: len([r for r in rows_by(ctx, "co2") if r[6]["nadr"] == 1]) >= 3)
        rows = rows_by(ctx, "co2")
        assert {r[6]["nadr"] for r in rows} == {1, 2}  # node 3's HWPID is filtered out
        assert {r[6]["via"] for r in rows if r[6]["nadr"] == 1} == {"frc"}
        assert {r[6]["via"] for r in rows if r[6]["nadr"] == 2} == {"read"}
        assert len([r for r in rows if r[6]["nadr"] == 2]) == 1  # due again only in an hour


async def test_hwpid_change_and_node_reset_re_enumerate(tmp_path: Path) -> None:
    from edgerun_iqrf import embed
    from edgerun_iqrf.dpa import Response

    async with (
        served("small", tmp_path / "tty") as (sim, _),
        running(tmp_path / "tty", tmp_path / "data") as (_, ctx),
    ):
        await until(lambda: len(rows_by(ctx, "co2")) >= 3)
        sim.nodes[2].hwpid = 0x0777  # another firmware at address 2
        await until(lambda: ctx.counters.get("node_errors", 0) >= 1)
        await until(lambda: '"hwpid": 1911' in (tmp_path / "data" / "netmap.json").read_text())
        n = len(rows_by(ctx, "co2"))
        await until(lambda: any(r[6]["nadr"] == 2 for r in rows_by(ctx, "co2")[n:]))
        sim.request_log.clear()
        enum = embed.PeripheralEnumeration(0x0417, 1, (1, 2), 0x0602, 0, 1, (0x5E,))
        sim.output(Response(1, 0xFF, 0x3F, 0x0602, 0x80, 0, enum.encode()).encode())
        await until(lambda: (1, 0x02, 0x00) in sim.request_log)  # OS Read of node 1 again


async def test_mixed_quantities_end_to_end(tmp_path: Path) -> None:
    async with (
        served("mixed", tmp_path / "tty") as (sim, _),
        running(tmp_path / "tty", tmp_path / "data") as (_, ctx),
    ):
        wanted = {"temperature", "pressure", "pm2_5", "energy", "relative_humidity", "co2"}
        await until(lambda: wanted <= {r[2] for r in ctx.rows})
        units = {r[2]: r[4] for r in ctx.rows}
        assert units["pressure"] == "hPa"
        assert units["pm2_5"] == "µg/m³"
        assert units["energy"] == "Wh"
        for _, _device, quantity, value, _, _, extra in ctx.rows:
            if quantity != "status":
                assert value in truth_values(sim, extra["nadr"], extra["index"])
        # node 2 has two temperature sensors: the second gets its index as a suffix
        devices = {r[1] for r in ctx.rows if r[2] == "temperature"}
        mid2 = f"mesh/{sim.nodes[2].mid:08X}"
        assert devices == {
            f"mesh/{sim.nodes[1].mid:08X}",
            mid2,
            f"{mid2}-2",
            f"mesh/{sim.nodes[3].mid:08X}",
        }


async def test_lost_port_ends_the_run_with_a_transport_error(tmp_path: Path) -> None:
    from edgerun_iqrf.errors import TransportError

    sim = MeshSimulator(PRESETS["small"](1), speed=SPEED)
    link = PtyLink(sim, "uart", tmp_path / "tty")
    await link.start()
    driver = make_driver(
        IqrfDriver, "mesh", port=str(tmp_path / "tty"), time_scale=SCALE, poll_interval=1
    )
    ctx = RecordingContext("mesh", tmp_path / "data")
    task = asyncio.create_task(driver.run(ctx))
    try:
        await until(lambda: len(rows_by(ctx, "co2")) >= 3)
    finally:
        await link.stop()  # the adapter is unplugged
    with pytest.raises(TransportError):
        await asyncio.wait_for(task, 10)
