"""Glue between the supervisor and the ops pieces: endpoint checks, metrics, notify.

:class:`GatewayOps` reads the supervisor's public state (``config``, ``queue``, ``uplink``,
``runners``, ``ready``, ``stopping``, ``commands`` (the command router or ``None``)) and owns no
pipeline object. The supervisor wires it in three lines::

    ops = GatewayOps(self)
    self.listeners.append(ops.on_state)      # "ready" / "stopping" -> READY=1 / STOPPING=1
    root.start_soon(ops.run)                 # HTTP endpoint, watchdog pings, STATUS= lines

Readiness means "the queue is open and every driver instance has settled (running, or
given up per its restart policy)". An uplink outage does **not** make the gateway unready:
the queue absorbs outages, and an orchestrator restarting the pod would only lose the
connection state; it is reported in the body and in the metrics instead.

``STATUS=`` is a one-line summary (uplink, drivers, queue) sent when it changes; it is
polled every :data:`STATUS_INTERVAL` seconds (1 s: state changes show up promptly in
``systemctl status`` while costing one string build per second).
"""

from __future__ import annotations

import logging
import time
from typing import Any

import anyio
from anyio.abc import TaskStatus

from edgerun import __version__
from edgerun.ops.catalog import gateway_metrics
from edgerun.ops.http import OpsServer
from edgerun.ops.metrics import Metric
from edgerun.ops.notify import Notifier

log = logging.getLogger("edgerun.ops")

STATUS_INTERVAL = 1.0
#: Driver states that count as settled for readiness.
SETTLED = frozenset({"running", "failed", "finished", "stopped", "backoff"})


class GatewayOps:
    """Health, readiness, metrics and systemd notify for one gateway process."""

    def __init__(self, supervisor: Any, notifier: Notifier | None = None) -> None:
        self.sup = supervisor
        self.notifier = notifier if notifier is not None else Notifier.from_env()
        self.server: OpsServer | None = None
        self.started = time.monotonic()

    # ------------------------------------------------------------- snapshots
    def _uplink_stats(self) -> Any:
        uplink = self.sup.uplink
        return uplink.stats() if uplink is not None else None

    def _drivers(self) -> dict[str, dict[str, Any]]:
        return {r.instance.name: r.snapshot().as_dict() for r in self.sup.runners}

    def _uplink_state(self) -> str:
        st = self._uplink_stats()
        if st is None:
            return "disabled"
        return "connected" if st.connected else "disconnected"

    # ---------------------------------------------------------------- checks
    def health(self) -> tuple[bool, dict[str, Any]]:
        """Liveness: answering at all proves the event loop runs."""
        return True, {
            "gateway": self.sup.config.gateway.id,
            "uptime_s": round(time.monotonic() - self.started, 1),
            "stopping": bool(self.sup.stopping),
        }

    def readiness(self) -> tuple[bool, dict[str, Any]]:
        queue = self.sup.queue
        qstats = queue.stats() if queue is not None else None
        drivers = {name: d["state"] for name, d in self._drivers().items()}
        ok = bool(self.sup.ready) and qstats is not None and not self.sup.stopping
        details: dict[str, Any] = {
            "queue": "closed"
            if qstats is None
            else (f"degraded: {qstats.degraded_reason}" if qstats.degraded else "open"),
            "uplink": self._uplink_state(),
            "drivers": drivers,
        }
        if qstats is not None:
            details["queue_depth"] = qstats.depth_readings
        if self.sup.stopping:
            details["stopping"] = True
        return ok, details

    def metrics(self) -> list[Metric]:
        queue = self.sup.queue
        router = getattr(self.sup, "commands", None)  # the CommandRouter, when enabled
        return gateway_metrics(
            queue=queue.stats() if queue is not None else None,
            uplink=self._uplink_stats(),
            drivers=self._drivers(),
            commands=router.stats() if router is not None else None,
            version=__version__,
            gateway=self.sup.config.gateway.id,
        )

    def summary(self) -> str:
        """The ``STATUS=`` line: ``uplink connected; drivers 2/3 running; queue open``."""
        drivers = self._drivers()
        running = sum(1 for d in drivers.values() if d["state"] == "running")
        queue = self.sup.queue
        qstats = queue.stats() if queue is not None else None
        qtext = (
            "queue closed"
            if qstats is None
            else (f"queue degraded ({qstats.degraded_reason})" if qstats.degraded else "queue open")
        )
        failing = sorted(n for n, d in drivers.items() if d["state"] in ("backoff", "failed"))
        text = f"uplink {self._uplink_state()}; drivers {running}/{len(drivers)} running; {qtext}"
        if failing:
            text += "; failing: " + ", ".join(failing)
        return text

    # ---------------------------------------------------------------- notify
    def on_state(self, state: str) -> None:
        """Supervisor listener: ``ready`` -> READY=1, ``stopping`` -> STOPPING=1."""
        if state == "ready":
            self.notifier.ready(self.summary())
        elif state == "stopping":
            self.notifier.stopping("stopping: committing the queue")
        else:
            self.notifier.status(state)

    async def _status_loop(self) -> None:
        while True:
            await anyio.sleep(STATUS_INTERVAL)
            if self.sup.ready and not self.sup.stopping:
                try:
                    self.notifier.status(self.summary())
                except Exception:
                    log.exception("status summary failed")

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        """Serve the endpoint, ping the watchdog and keep STATUS= current until cancelled.

        A bind failure (port taken) is logged and the gateway keeps collecting: losing the
        endpoint must not lose data. Kubernetes then sees failing probes and says why.
        """
        cfg = self.sup.config.http
        self.server = OpsServer(cfg, health=self.health, ready=self.readiness, metrics=self.metrics)
        async with anyio.create_task_group() as tg:
            tg.start_soon(self.notifier.run_watchdog)
            tg.start_soon(self._status_loop)
            if cfg.active:
                try:
                    await tg.start(self.server.run)
                except OSError as exc:
                    log.error("ops endpoint %s not available: %s", cfg.listen, exc)
                    self.notifier.status(f"ops endpoint {cfg.listen} failed: {exc}")
            task_status.started()


__all__ = ["STATUS_INTERVAL", "GatewayOps"]
