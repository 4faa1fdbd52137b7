"""Supervises one driver instance: start timeout, restart policy, counters.

A driver that raises, hangs on start or emits garbage never takes the process or the other
drivers down. Each failure is counted with its last error; what follows depends on the
instance's ``restart`` policy:

* ``backoff`` (default): start again after a delay that doubles from ``backoff_initial`` up
  to ``backoff_max``, with *equal jitter* (half the delay fixed, half random) so a fleet of
  gateways does not retry a shared resource in lockstep while delays still grow. The delay
  resets once a start has stayed up for :data:`STABLE_S`.
* ``fail``: the process stops with the fatal runtime exit code (for setups where a
  supervisor above — systemd, Kubernetes — should restart everything).
* ``ignore``: the instance stays stopped; the rest of the gateway runs on.

A driver whose ``run`` returns normally is *finished* (a bounded synthetic load, a one-shot
import) and is not restarted.
"""

from __future__ import annotations

import logging
import random
import time
from pathlib import Path
from typing import Any, Final

import anyio
import anyio.abc
import msgspec

from edgerun.api import Driver
from edgerun.config.model import DriverInstance
from edgerun.drivers.context import BusLimiters, Context
from edgerun.normalize import Normalizer
from edgerun.queue.base import ReadingQueue

log = logging.getLogger("edgerun.drivers")

#: A start that stays up this long counts as healthy: the backoff delay starts over.
STABLE_S: Final = 60.0


class FatalDriverError(Exception):
    """A driver with ``restart = "fail"`` failed; the process must stop."""


class DriverStats(msgspec.Struct):
    """What status, logs and metrics show per instance."""

    name: str
    type: str
    state: str = "stopped"
    detail: str = ""
    readings: int = 0
    invalid: int = 0
    failures: int = 0
    restarts: int = 0
    last_error: str = ""
    last_error_at: float = 0.0
    next_retry_in: float = 0.0
    counters: dict[str, int] = msgspec.field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "type": self.type,
            "state": self.state,
            "detail": self.detail,
            "readings": self.readings,
            "invalid": self.invalid,
            "failures": self.failures,
            "restarts": self.restarts,
            "last_error": self.last_error,
            "counters": dict(self.counters),
        }


class DriverRunner:
    """Owns one driver object and runs it until cancelled (or finished/failed)."""

    def __init__(
        self,
        instance: DriverInstance,
        driver: Driver[Any],
        queue: ReadingQueue,
        normalizer: Normalizer,
        limiters: BusLimiters,
        data_dir: Path,
    ) -> None:
        self.instance = instance
        self.driver = driver
        self.queue = queue
        self.normalizer = normalizer
        self.limiters = limiters
        self.data_dir = data_dir
        self.stats = DriverStats(instance.name, instance.type)
        self._emitted_before = 0
        self._ctx: Context | None = None
        #: Set once the first start succeeded or failed: the supervisor's readiness.
        self.settled = anyio.Event()

    def snapshot(self) -> DriverStats:
        st = self.stats
        st.readings = self._emitted_before + (self._ctx.emitted if self._ctx else 0)
        st.invalid = self.normalizer.invalid
        return st

    def _set_state(self, state: str, detail: str = "") -> None:
        self.stats.state, self.stats.detail = state, detail

    def _on_driver_state(self, state: str, detail: str) -> None:
        self.stats.detail = f"{state}: {detail}" if detail else state

    def delay(self, attempt: int) -> float:
        inst = self.instance
        cap = min(float(inst.backoff_max), float(inst.backoff_initial) * 2.0 ** min(attempt, 30))
        return cap / 2 + random.uniform(0, cap / 2)

    async def run(self) -> None:
        """Run under the restart policy until cancelled, finished or given up."""
        inst = self.instance
        attempt = 0
        self.data_dir.mkdir(parents=True, exist_ok=True)
        while True:
            began = time.monotonic()
            try:
                finished = await self._start_once()
            except Exception as exc:
                self._record_failure(exc)
                if inst.restart == "fail":
                    self._set_state("failed", "restart policy is 'fail'")
                    self.settled.set()
                    raise FatalDriverError(f"driver {inst.name!r} failed: {exc!r}") from exc
                if inst.restart == "ignore":
                    self._set_state("failed", "restart policy is 'ignore'; not restarted")
                    self.settled.set()
                    return
                if time.monotonic() - began >= STABLE_S:
                    attempt = 0
                wait = self.delay(attempt)
                attempt += 1
                self.stats.next_retry_in = wait
                self._set_state("backoff", f"restart in {wait:.1f}s")
                log.warning(
                    "driver %s failed (%s); restarting in %.1fs",
                    inst.name,
                    self.stats.last_error,
                    wait,
                )
                self.settled.set()
                await anyio.sleep(wait)
                self.stats.restarts += 1
                continue
            if finished:
                self._set_state("finished")
                self.settled.set()
                log.info("driver %s finished", inst.name)
                return

    async def _start_once(self) -> bool:
        """One start; ``True`` when ``run`` returned normally."""
        if self._ctx is not None:
            self._emitted_before += self._ctx.emitted
        ctx = Context(
            self.instance.name,
            self.data_dir,
            self.queue,
            self.normalizer,
            self.limiters,
            self.stats.counters,
            self._on_driver_state,
        )
        self._ctx = ctx
        self._set_state("starting")
        done = False

        async def body() -> None:
            nonlocal done
            await self.driver.run(ctx)
            done = True
            ctx.started()  # a driver that returns at once has "started" too
            tg.cancel_scope.cancel()

        async with anyio.create_task_group() as tg:
            tg.start_soon(body)
            with anyio.move_on_after(float(self.instance.start_timeout)) as timer:
                await ctx.started_event.wait()
            if timer.cancelled_caught and not ctx.started_event.is_set():
                tg.cancel_scope.cancel()
                raise TimeoutError(
                    f"did not signal started() within {self.instance.start_timeout:g}s"
                )
            if not done:
                self._set_state("running")
                self.settled.set()
        return done

    def _record_failure(self, exc: BaseException) -> None:
        self.stats.failures += 1
        if isinstance(exc, BaseExceptionGroup) and len(exc.exceptions) == 1:
            exc = exc.exceptions[0]
        self.stats.last_error = f"{type(exc).__name__}: {exc}"
        self.stats.last_error_at = time.time()
