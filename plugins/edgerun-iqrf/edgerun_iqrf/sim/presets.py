"""Named simulated networks.

``conference``: 20 sensor nodes (temperature, relative humidity, CO2) at addresses 1-20 and
20 routers at 21-40 spread over three floors, hop count = floor, modelled on a conference
venue such as the OpenStack Summit Austin IQRF deployment. ``small``: 3 sensor nodes and
one node with two binary outputs. ``mixed``: a few nodes covering more sensor types
(pressure, PM2.5, consumption, float temperature; node 2 has two temperature
sensors) for codec coverage end to end.
"""

from __future__ import annotations

import random
from collections.abc import Callable

from edgerun_iqrf.sim.mesh import SimNode
from edgerun_iqrf.sim.model import SensorModel

ENV_TYPES = (0x01, 0x80, 0x02)  # temperature, relative humidity, CO2
SENSOR_HWPID = 0x0602
ROUTER_HWPID = 0x0000
RELAY_HWPID = 0x0701


def _mid(rng: random.Random) -> int:
    return 0x81000000 | rng.getrandbits(24)


def _env_node(addr: int, floor: int, rng: random.Random) -> SimNode:
    offset = rng.uniform(-1.0, 1.0)
    sensors = [SensorModel(t, random.Random(rng.random()), offset=offset) for t in ENV_TYPES]
    return SimNode(addr, _mid(rng), sensors, hwpid=SENSOR_HWPID, hops=floor, floor=floor)


def conference(seed: int = 1) -> list[SimNode]:
    rng = random.Random(seed)
    nodes = []
    for i in range(20):
        floor = 1 + i * 3 // 20
        nodes.append(_env_node(1 + i, floor, rng))
    for i in range(20):
        floor = 1 + i * 3 // 20
        nodes.append(
            SimNode(21 + i, _mid(rng), hwpid=ROUTER_HWPID, hops=floor, floor=floor, router=True)
        )
    return nodes


def small(seed: int = 1) -> list[SimNode]:
    rng = random.Random(seed)
    nodes = [_env_node(a, a, rng) for a in (1, 2, 3)]
    nodes.append(SimNode(4, _mid(rng), hwpid=RELAY_HWPID, hops=1, binary_outputs=2))
    return nodes


def mixed(seed: int = 1) -> list[SimNode]:
    rng = random.Random(seed)
    types = [(0x01, 0x10, 0x12), (0xA1, 0xA6, 0x01), (0x80, 0x02, 0x01)]
    nodes = []
    for addr, tids in enumerate(types, start=1):
        sensors = [SensorModel(t, random.Random(rng.random())) for t in tids]
        nodes.append(SimNode(addr, _mid(rng), sensors, hwpid=0x0803, hops=1))
    return nodes


PRESETS: dict[str, Callable[[int], list[SimNode]]] = {
    "conference": conference,
    "small": small,
    "mixed": mixed,
}
