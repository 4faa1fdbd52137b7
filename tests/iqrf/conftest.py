"""Fixtures for the IQRF tests: anyio on asyncio, and the simulator served over a pty."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import msgspec
import pytest
from edgerun_iqrf.client import DpaClient
from edgerun_iqrf.engine import DpaEngine
from edgerun_iqrf.sim.mesh import MeshSimulator
from edgerun_iqrf.sim.presets import PRESETS
from edgerun_iqrf.sim.pty_link import PtyLink
from edgerun_iqrf.transport import Transport, open_transport


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class Mesh(msgspec.Struct):
    sim: MeshSimulator
    link: PtyLink
    transport: Transport
    engine: DpaEngine
    client: DpaClient


#: The simulator shares the test process and a busy CI machine can delay it; tests that do
#: not measure timing let the engine wait 1.5x the DPA times. Timing tests use 1.0.
RELAXED = 1.5


async def open_mesh(
    kind: str, path: Path, preset: str = "small", speed: float = 1.0, scale: float = RELAXED
) -> Mesh:
    sim = MeshSimulator(PRESETS[preset](1), speed=speed)
    link = PtyLink(sim, kind, path)
    await link.start()
    transport = open_transport(kind, str(path))
    await transport.open()
    engine = DpaEngine(transport, time_scale=scale / speed)
    await engine.start()
    return Mesh(sim, link, transport, engine, DpaClient(engine))


async def close_mesh(mesh: Mesh) -> None:
    await mesh.engine.stop()
    await mesh.transport.close()
    await mesh.link.stop()


@pytest.fixture(params=["uart", "cdc"])
async def mesh(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Mesh]:
    m = await open_mesh(request.param, tmp_path / f"tty-{request.param}")
    try:
        yield m
    finally:
        await close_mesh(m)


@pytest.fixture(params=["uart", "cdc"])
async def timed_mesh(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Mesh]:
    """The engine with the exact DPA timing rules (time scale 1)."""
    m = await open_mesh(request.param, tmp_path / f"tty-{request.param}", scale=1.0)
    try:
        yield m
    finally:
        await close_mesh(m)
