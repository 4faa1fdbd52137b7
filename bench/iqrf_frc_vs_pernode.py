"""IQRF: FRC against per-node polling on the simulated ``conference`` network.

Reads temperature, relative humidity and CO2 of all 20 sensor nodes, once with three
selective sensor FRC rounds and once with one ReadSensorsWithTypes per node, through the
real UART transport over a pty, the DPA engine and the simulator. Prints, as medians of
several runs:

* simulated air time (the simulator's DPA timing model, independent of the machine),
* wall time of one full polling cycle at real DPA speed (``--speed 1``),

and the FRC / per-node ratios, both measured in the same run.

    .venv/bin/python bench/iqrf_frc_vs_pernode.py [--runs 3] [--speed 1]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

from edgerun_iqrf.client import DpaClient
from edgerun_iqrf.engine import DpaEngine
from edgerun_iqrf.sim.mesh import MeshSimulator
from edgerun_iqrf.sim.presets import PRESETS
from edgerun_iqrf.sim.pty_link import PtyLink
from edgerun_iqrf.transport import open_transport

TYPES = ((0x01, 0), (0x80, 0), (0x02, 0))  # temperature, humidity, CO2 (first of each)


async def one_run(strategy: str, speed: float, tmp: Path) -> tuple[float, float, int]:
    sim = MeshSimulator(PRESETS["conference"](1), speed=speed)
    link = PtyLink(sim, "uart", tmp / f"tty-{strategy}")
    await link.start()
    transport = open_transport("uart", str(link.link))
    await transport.open()
    engine = DpaEngine(transport, time_scale=1 / speed)
    await engine.start()
    client = DpaClient(engine)
    try:
        await client.bonded_nodes()
        await client.discovered_nodes()
        nodes = sorted(a for a, n in sim.nodes.items() if n.sensors)
        air0 = sim.air_time_ms
        t0 = time.perf_counter()
        values = 0
        if strategy == "frc":
            for type_id, index in TYPES:
                got = await client.sensor_frc(type_id, index, nodes=nodes)
                values += sum(1 for v in got.values() if v.ok)
        else:
            for addr in nodes:
                values += len(await client.read_sensors_with_types(addr))
        wall = (time.perf_counter() - t0) * speed  # back to real DPA time
        return sim.air_time_ms - air0, wall * 1000, values
    finally:
        await engine.stop()
        await transport.close()
        await link.stop()


async def main(runs: int, speed: float) -> None:
    results: dict[str, list[tuple[float, float, int]]] = {"per-node": [], "frc": []}
    with tempfile.TemporaryDirectory() as d:
        for _ in range(runs):
            for strategy, runs_of in results.items():
                runs_of.append(await one_run(strategy, speed, Path(d)))
    med = {
        s: (
            statistics.median(r[0] for r in rs),
            statistics.median(r[1] for r in rs),
            min(r[2] for r in rs),
        )
        for s, rs in results.items()
    }
    print(f"conference: 20 sensor nodes x 3 quantities, {runs} runs, simulator speed {speed}")
    print(f"{'strategy':<10}{'air time ms':>14}{'cycle wall ms':>16}{'values':>8}")
    for s, (air, wall, n) in med.items():
        print(f"{s:<10}{air:>14.0f}{wall:>16.0f}{n:>8}")
    base_air, base_wall, _ = med["per-node"]
    frc_air, frc_wall, _ = med["frc"]
    air_ratio, wall_ratio = frc_air / base_air, frc_wall / base_wall
    print(f"ratio frc/per-node: air time {air_ratio:.2f}, wall time {wall_ratio:.2f}")


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--speed", type=float, default=1.0)
    a = ap.parse_args()
    asyncio.run(main(a.runs, a.speed))
