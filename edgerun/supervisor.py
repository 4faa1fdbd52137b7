"""The supervisor: builds the pipeline from the config, starts it in order, stops it cleanly.

Start-up order is queue → uplink → drivers, each with explicit readiness: the queue is open
(and has recovered what a previous run left) before anything can emit; the uplink signals
``started`` at once, because an outage must not hold the gateway back (the queue absorbs
it); drivers start concurrently and the gateway is *ready* once each has either started or
failed its first start (a driver hanging on open waits at most its ``start_timeout``).

Shutdown on SIGTERM or SIGINT: drivers are cancelled (what they emitted is already in the
queue), the uplink publishes its "offline" status and stops, and the queue commits and
closes. The whole sequence must fit in ``[gateway] grace_period`` (default 10 s, below
Kubernetes' 30 s ``terminationGracePeriodSeconds``); past it — or on a second signal — the
process exits at once with :data:`EXIT_FORCED`, losing at most the readings of the current
commit interval.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import anyio.abc
import msgspec

from edgerun import __version__
from edgerun.clock import ClockState
from edgerun.config.model import DriverInstance, EdgerunConfig
from edgerun.drivers.context import BusLimiters
from edgerun.drivers.runner import DriverRunner, FatalDriverError
from edgerun.exitcodes import EXIT_CONFIG, EXIT_FATAL, EXIT_FORCED, EXIT_OK, EXIT_USAGE
from edgerun.libc import trim_periodically
from edgerun.normalize import Normalizer
from edgerun.plugins import Registry
from edgerun.queue.base import ReadingQueue

log = logging.getLogger("edgerun.supervisor")

__all__ = [
    "EXIT_CONFIG",
    "EXIT_FATAL",
    "EXIT_FORCED",
    "EXIT_OK",
    "EXIT_USAGE",
    "Supervisor",
    "open_queue",
]


def open_queue(config: EdgerunConfig) -> ReadingQueue:
    """The queue the config asks for (SQLite under ``data_dir/queue`` or memory)."""
    from edgerun.queue import open_queue as factory

    return factory(config.queue, Path(config.gateway.data_dir))


class Supervisor:
    """Owns every long-running object of one gateway process."""

    def __init__(self, config: EdgerunConfig, registry: Registry) -> None:
        self.config = config
        self.registry = registry
        self.clock = ClockState(config.gateway.clock)
        self.started_at = time.time()
        self.queue: ReadingQueue | None = None
        self.uplink: Any = None
        self.commands: Any = None
        self.runners: list[DriverRunner] = []
        #: Driver objects by instance name; the command router looks drivers up here, so a
        #: reload that replaces an instance is seen at once.
        self.driver_map: dict[str, Any] = {}
        self._scopes: dict[str, tuple[anyio.CancelScope, anyio.Event]] = {}
        self._drivers_tg: anyio.abc.TaskGroup | None = None
        self._root_tg: anyio.abc.TaskGroup | None = None
        self._reload_lock = anyio.Lock()
        self._limiters = BusLimiters()
        self.ready = False
        self.stopping = False
        self._stop: anyio.Event | None = None
        self._signals_seen = 0
        #: Called with a state name ("ready", "stopping", ...) — systemd notify, status.
        self.listeners: list[Callable[[str], None]] = []

    # ------------------------------------------------------------------- building
    def _build_runner(self, inst: DriverInstance, queue: ReadingQueue) -> DriverRunner:
        processors = [p for _, p in self.registry.processors]
        data_dir = Path(self.config.gateway.data_dir) / "drivers" / inst.name
        driver = self.registry.drivers[inst.type].cls(inst.name, inst.settings)
        normalizer = Normalizer(inst.name, self.clock, processors)
        return DriverRunner(inst, driver, queue, normalizer, self._limiters, data_dir)

    def _start_runner(self, runner: DriverRunner) -> None:
        """Run ``runner`` in the drivers' task group under a cancel scope of its own."""
        assert self._drivers_tg is not None
        name = runner.instance.name
        scope, done = anyio.CancelScope(), anyio.Event()
        self._scopes[name] = (scope, done)
        self.driver_map[name] = runner.driver

        async def supervised() -> None:
            try:
                with scope:
                    await runner.run()
            finally:
                done.set()

        self._drivers_tg.start_soon(supervised)

    async def _stop_runner(self, name: str) -> None:
        """Cancel one instance and wait until its ``run`` has closed its device."""
        self.driver_map.pop(name, None)
        self.runners = [r for r in self.runners if r.instance.name != name]
        entry = self._scopes.pop(name, None)
        if entry is None:
            return
        scope, done = entry
        scope.cancel()
        with anyio.move_on_after(float(self.config.gateway.grace_period)):
            await done.wait()

    def _build_uplink(self, queue: ReadingQueue) -> Any:
        if not self.config.uplink.enabled:
            log.warning("uplink disabled: readings stay in the queue")
            return None
        from edgerun.uplink import Uplink

        return Uplink(self.config.uplink, self.config.gateway, queue, self.status)

    def _build_commands(self) -> Any:
        """The command router (uplink -> router -> driver), when commands are enabled."""
        cfg = self.config.commands
        if not cfg.enabled or self.uplink is None:
            return None
        from edgerun.commands import build_router

        return build_router(
            cfg,
            gateway_id=self.config.gateway.id,
            data_dir=Path(self.config.gateway.data_dir),
            uplink_prefix=self.config.uplink.topic_prefix,
            transport=self.uplink,
            drivers=self.driver_map,
        )

    # --------------------------------------------------------------------- status
    def status(self) -> dict[str, Any]:
        """Gateway status: what the uplink publishes and the ops endpoints show."""
        return {
            "version": __version__,
            "gateway": self.config.gateway.id,
            "started_at": int(self.started_at * 1000),
            "ready": self.ready,
            "clock_synced": self.clock.synced,
            "drivers": {r.instance.name: r.snapshot().as_dict() for r in self.runners},
        }

    def _notify(self, state: str) -> None:
        for listener in self.listeners:
            try:
                listener(state)
            except Exception:
                log.exception("status listener failed")

    # ------------------------------------------------------------------- signals
    def request_stop(self, reason: str = "requested") -> None:
        """Begin a graceful shutdown (idempotent; a second call forces exit)."""
        self._signals_seen += 1
        if self._signals_seen > 1:
            log.error("second stop request (%s): exiting now", reason)
            os._exit(EXIT_FORCED)
        log.info("stopping (%s); grace period %.1fs", reason, self.config.gateway.grace_period)
        self.stopping = True
        self._notify("stopping")
        grace = float(self.config.gateway.grace_period)
        timer = threading.Timer(grace, self._grace_expired)
        timer.daemon = True
        timer.start()
        if self._stop is not None:
            self._stop.set()

    @staticmethod
    def _grace_expired() -> None:
        log.error("shutdown exceeded the grace period: exiting now")
        logging.shutdown()
        os._exit(EXIT_FORCED)

    async def _watch_signals(self) -> None:
        with anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT, signal.SIGHUP) as signals:
            async for signum in signals:
                if signum == signal.SIGHUP:
                    # In a task of its own: a reload waiting for a slow driver to close
                    # must not delay a SIGTERM that follows it.
                    assert self._root_tg is not None
                    self._root_tg.start_soon(self.reload)
                else:
                    self.request_stop(signal.Signals(signum).name)

    # -------------------------------------------------------------------- reload
    async def reload(self) -> bool:
        """Apply the config file again (SIGHUP); a failing reload never stops the gateway."""
        if self.stopping:
            log.warning("reload ignored: the gateway is stopping")
            return False
        async with self._reload_lock:
            try:
                return await self._reload()
            except Exception:
                log.exception("reload failed; the gateway runs on")
                return False

    async def _reload(self) -> bool:
        """Re-read the config file and apply what can change live (SIGHUP).

        Driver instances added, removed or changed are started, stopped or restarted one
        by one; the others keep running. ``[logging]`` and the grace period apply at once;
        anything else is logged as needing a restart and keeps its running value. An
        invalid file leaves everything as it is. Returns whether a new config was applied.
        """
        from edgerun.config.load import load_config
        from edgerun.logs import setup_logging
        from edgerun.ops.reload import reload_config

        path = self.config.source
        result = reload_config(self.config, lambda: load_config(path, self.registry))
        if not result.ok:
            for problem in result.problems:
                log.error("reload: %s: %s; keeping the running config", path, problem)
            return False
        plan, new = result.plan, result.config
        log.info("reload: %s", plan.summary())
        if plan.needs_restart:
            log.warning(
                "reload: these settings change only after a restart: %s",
                ", ".join(plan.needs_restart),
            )
        if any(k.startswith("logging") for k in plan.live):
            lc = new.logging
            setup_logging(lc.level, lc.format, lc.components)
        # Settings needing a restart keep their running values.
        self.config = msgspec.structs.replace(
            self.config,
            drivers=new.drivers,
            logging=new.logging,
            gateway=msgspec.structs.replace(
                self.config.gateway, grace_period=new.gateway.grace_period
            ),
        )
        if self.queue is None or self._drivers_tg is None:
            return True
        by_name = {d.name: d for d in new.drivers}
        for name in (*plan.stop, *plan.restart):
            await self._stop_runner(name)
        for name in (*plan.restart, *plan.start):
            try:
                runner = self._build_runner(by_name[name], self.queue)
            except Exception as exc:  # a driver constructor that raises
                log.error("reload: cannot build driver %s: %s", name, exc)
                continue
            self.runners.append(runner)
            self._start_runner(runner)
        self._notify("reloaded")
        return True

    # ----------------------------------------------------------------------- run
    async def run(self) -> int:
        """Run until stopped; returns the process exit code."""
        self._stop = anyio.Event()
        code = EXIT_FATAL
        from edgerun.ops.gateway import GatewayOps

        ops = GatewayOps(self)
        self.listeners.append(ops.on_state)
        async with anyio.create_task_group() as root:
            self._root_tg = root
            root.start_soon(self._watch_signals)
            root.start_soon(self.clock.run)
            await root.start(ops.run)
            try:
                code = await self._run_pipeline()
            finally:
                root.cancel_scope.cancel()
        return code

    async def _run_pipeline(self) -> int:
        assert self._stop is not None
        try:
            await anyio.Path(self.config.gateway.data_dir).mkdir(parents=True, exist_ok=True)
            queue = open_queue(self.config)
            await queue.open()
        except Exception as exc:
            log.error("cannot open the queue: %s", exc)
            return EXIT_FATAL
        self.queue = queue
        code = EXIT_OK
        try:
            self.runners = [
                self._build_runner(inst, queue) for inst in self.config.drivers if inst.enabled
            ]
            self.uplink = self._build_uplink(queue)
            async with anyio.create_task_group() as upper:
                if self.uplink is not None:
                    await upper.start(self.uplink.run)
                self.driver_map.update({r.instance.name: r.driver for r in self.runners})
                self.commands = self._build_commands()
                if self.commands is not None:
                    await upper.start(self.commands.run)
                try:
                    async with anyio.create_task_group() as drivers:
                        self._drivers_tg = drivers
                        for runner in self.runners:
                            self._start_runner(runner)
                        drivers.start_soon(self._ready_then_trim)
                        await self._stop.wait()
                        drivers.cancel_scope.cancel()
                except* FatalDriverError as group:
                    for failure in group.exceptions:
                        log.error("%s: stopping the gateway (restart policy 'fail')", failure)
                    code = EXIT_FATAL
                    self.stopping = True
                    self._notify("stopping")
                upper.cancel_scope.cancel()
        finally:
            with anyio.CancelScope(shield=True):
                await queue.aclose()
            st = queue.stats()
            log.info(
                "stopped: %d readings accepted, %d acked, %d queued",
                st.accepted,
                st.acked,
                st.depth_readings,
            )
        return code

    async def _announce_ready(self) -> None:
        for runner in self.runners:
            await runner.settled.wait()
        self.ready = True
        states = ", ".join(f"{r.instance.name}={r.stats.state}" for r in self.runners)
        log.info("ready: %d driver(s): %s", len(self.runners), states or "none")
        self._notify("ready")

    async def _ready_then_trim(self) -> None:
        await self._announce_ready()
        # Start-up garbage (config parsing, plugin imports) goes back to the system now,
        # later what a drained backlog leaves free.
        await trim_periodically()
