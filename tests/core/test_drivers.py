"""Crash isolation: failing, hanging and garbage-emitting drivers never stop the others."""

from __future__ import annotations

import itertools
import time
from pathlib import Path
from typing import Any

import anyio
import pytest
from edgerun_synthetic.driver import SyntheticConfig, SyntheticDriver

from edgerun.clock import ClockState
from edgerun.config.base import convert
from edgerun.config.model import DriverInstance
from edgerun.drivers.context import BusLimiters
from edgerun.drivers.runner import DriverRunner, FatalDriverError
from edgerun.normalize import Normalizer
from edgerun.queue.config import QueueConfig
from edgerun.queue.memory import MemoryQueue
from tests.support.drivers import (
    AlwaysFails,
    EmitsGarbage,
    FailingConfig,
    GarbageConfig,
    HangConfig,
    HangsOnStart,
)

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def make_runner(
    tmp_path: Path, queue: MemoryQueue, driver: Any, type_name: str, **core: Any
) -> DriverRunner:
    inst = convert({"type": type_name, "name": driver.name, **core}, DriverInstance)
    return DriverRunner(
        inst,
        driver,
        queue,
        Normalizer(driver.name, ClockState("trusted")),
        BusLimiters(),
        tmp_path / driver.name,
    )


async def test_failing_driver_backs_off_while_another_emits(tmp_path: Path) -> None:
    queue = MemoryQueue(QueueConfig(backend="memory"))
    await queue.open()
    bad = make_runner(
        tmp_path,
        queue,
        AlwaysFails("bad", FailingConfig()),
        "test-fails",
        backoff_initial=0.02,
        backoff_max=0.64,
    )
    good = make_runner(
        tmp_path, queue, SyntheticDriver("good", SyntheticConfig(rate=200.0)), "synthetic"
    )
    restarts_at: list[float] = []
    async with anyio.create_task_group() as tg:
        tg.start_soon(bad.run)
        tg.start_soon(good.run)
        with anyio.fail_after(20):
            seen = 0
            while bad.stats.restarts < 6:
                if bad.stats.restarts != seen:
                    seen = bad.stats.restarts
                    restarts_at.append(time.monotonic())
                await anyio.sleep(0.005)
        tg.cancel_scope.cancel()
    assert bad.stats.failures >= 6
    assert bad.stats.last_error == "OSError: device not found"
    assert good.snapshot().readings > 0
    assert good.stats.state == "running"
    # The delay grows: the later gaps are longer than the first ones (equal jitter keeps
    # at least half of each doubling delay).
    gaps = [b - a for a, b in itertools.pairwise(restarts_at)]
    assert gaps[-1] > gaps[0]
    delays = [bad.delay(i) for i in range(10)]
    assert all(
        0.5 * min(0.64, 0.02 * 2**i) <= d <= min(0.64, 0.02 * 2**i) for i, d in enumerate(delays)
    )


async def test_hanging_start_times_out_without_blocking_others(tmp_path: Path) -> None:
    queue = MemoryQueue(QueueConfig(backend="memory"))
    await queue.open()
    hung = make_runner(
        tmp_path,
        queue,
        HangsOnStart("hung", HangConfig()),
        "test-hangs",
        start_timeout=0.3,
        backoff_initial=10,
        backoff_max=10,
    )
    good = make_runner(
        tmp_path, queue, SyntheticDriver("good", SyntheticConfig(rate=500.0)), "synthetic"
    )
    async with anyio.create_task_group() as tg:
        tg.start_soon(hung.run)
        tg.start_soon(good.run)
        with anyio.fail_after(5):
            await good.settled.wait()
            started_good = time.monotonic()
            await hung.settled.wait()
        tg.cancel_scope.cancel()
    assert good.stats.state == "running"
    assert hung.stats.failures == 1
    assert "did not signal started() within 0.3s" in hung.stats.last_error
    assert hung.stats.state == "backoff"
    assert started_good  # the good driver was up before the hung one gave up


async def test_garbage_is_counted_not_queued(tmp_path: Path) -> None:
    queue = MemoryQueue(QueueConfig(backend="memory"))
    await queue.open()
    runner = make_runner(tmp_path, queue, EmitsGarbage("junk", GarbageConfig()), "test-garbage")
    async with anyio.create_task_group() as tg:
        tg.start_soon(runner.run)
        with anyio.fail_after(5):
            while queue.stats().accepted < 5:
                await anyio.sleep(0.01)
        tg.cancel_scope.cancel()
    st = runner.snapshot()
    accepted = queue.stats().accepted
    assert st.state == "running"
    assert st.failures == 0
    # Seven invalid items per valid reading, each rejected at the boundary.
    assert st.invalid >= 7 * accepted - 7
    batch = await queue.lease(10_000, 10_000_000, 0)
    assert batch.count == accepted


async def test_fail_policy_raises_fatal(tmp_path: Path) -> None:
    queue = MemoryQueue(QueueConfig(backend="memory"))
    await queue.open()
    runner = make_runner(
        tmp_path, queue, AlwaysFails("bad", FailingConfig()), "test-fails", restart="fail"
    )
    with pytest.raises(FatalDriverError, match="device not found"):
        await runner.run()


async def test_ignore_policy_stays_stopped(tmp_path: Path) -> None:
    queue = MemoryQueue(QueueConfig(backend="memory"))
    await queue.open()
    runner = make_runner(
        tmp_path, queue, AlwaysFails("bad", FailingConfig()), "test-fails", restart="ignore"
    )
    with anyio.fail_after(5):
        await runner.run()
    assert runner.stats.state == "failed"
    assert runner.stats.failures == 1
    assert runner.stats.restarts == 0
