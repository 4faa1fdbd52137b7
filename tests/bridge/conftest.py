"""Fixtures for the bridge tests: a broker and both databases, each on free loopback ports."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.bridge.servers import Carbon, Influxd
from tests.support.mosquitto import Mosquitto


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Mosquitto]:
    with Mosquitto(tmp_path / "mqtt") as b:
        yield b


@pytest.fixture
def carbon(tmp_path: Path) -> Iterator[Carbon]:
    with Carbon(tmp_path / "carbon") as c:
        yield c


@pytest.fixture
def influx(tmp_path: Path) -> Iterator[Influxd]:
    with Influxd(tmp_path / "influx") as i:
        i.create_db("edgerun")
        yield i
