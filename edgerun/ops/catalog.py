"""The gateway's metric definitions and how they are built from component snapshots.

Names follow the Prometheus conventions: ``edgerun_`` prefix, base units in the name
(``_seconds``, ``_bytes``), counters end in ``_total`` on the wire, and a state is a gauge
per possible value (1 for the current one) so alerts can match ``state="failed"``.
docs/operations.md lists every metric with what to alert on; keep the two in step.

Sources (all read at scrape time, none required):

- queue: :class:`edgerun.queue.base.QueueStats`;
- uplink: :class:`edgerun.uplink.stats.UplinkStats` (or a mapping with its field names);
  publish latency is exported as the p50/p99 the uplink computes over its last 1024
  publishes (a gauge per quantile: the uplink keeps a window of samples, not cumulative
  buckets, so a histogram would be invented);
- drivers: ``{instance name: DriverStats.as_dict()}`` (``type``, ``state``, ``readings``,
  ``invalid``, ``failures``, ``restarts``);
- commands: :class:`edgerun.commands.stats.CommandStats` (``by_result`` counts results by
  outcome: ``ok`` or the refusal reason) or a plain ``{result: count}`` mapping.

A missing field counts as 0; a value that is not a number is skipped and counted in
``edgerun_metrics_skipped_total`` rather than failing the whole scrape.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from edgerun.ops.metrics import Metric, MetricDef
from edgerun.queue.base import DROP_REASONS, QueueStats

#: Driver states the supervisor reports; every one gets a sample so a state's gauge
#: exists (at 0) before the first transition into it.
DRIVER_STATES = ("starting", "running", "backoff", "failed", "finished", "stopped")

BUILD_INFO = MetricDef(
    "edgerun_build_info",
    "Always 1; labels carry the version and gateway id.",
    "gauge",
    ("version", "gateway"),
)
SKIPPED = MetricDef(
    "edgerun_metrics_skipped",
    "Snapshot values that were not numbers and were left out.",
    "counter",
)

Q_DEPTH = MetricDef(
    "edgerun_queue_depth_readings", "Readings stored and not yet acknowledged upstream.", "gauge"
)
Q_BYTES = MetricDef(
    "edgerun_queue_depth_bytes", "Encoded size of the readings in the queue.", "gauge"
)
Q_LEASED = MetricDef(
    "edgerun_queue_leased_readings", "Readings handed to the uplink and awaiting an ack.", "gauge"
)
Q_AGE = MetricDef(
    "edgerun_queue_oldest_age_seconds", "Age of the oldest reading still queued.", "gauge"
)
Q_ACCEPTED = MetricDef(
    "edgerun_queue_accepted_readings", "Readings accepted into the queue.", "counter"
)
Q_ACKED = MetricDef(
    "edgerun_queue_acked_readings", "Readings acknowledged by the broker and deleted.", "counter"
)
Q_DROPPED = MetricDef(
    "edgerun_queue_dropped_readings", "Readings dropped, by reason.", "counter", ("reason",)
)
Q_COMMITS = MetricDef("edgerun_queue_commits", "Queue storage commits.", "counter")
Q_COMMIT_SECONDS = MetricDef(
    "edgerun_queue_commit_seconds", "Time spent in queue storage commits.", "counter"
)
Q_DISK = MetricDef("edgerun_queue_disk_bytes", "Size of the queue's files on disk.", "gauge")
Q_DEGRADED = MetricDef(
    "edgerun_queue_degraded",
    "1 while the queue runs degraded (disk full or failing: readings kept in memory).",
    "gauge",
    ("reason",),
)

U_CONNECTED = MetricDef(
    "edgerun_uplink_connected", "1 while the MQTT uplink is connected.", "gauge"
)
U_RECONNECTS = MetricDef(
    "edgerun_uplink_reconnects",
    "Successful connects that followed an earlier connection.",
    "counter",
)
U_DROPS = MetricDef(
    "edgerun_uplink_connection_drops", "Established connections that were lost.", "counter"
)
U_CONNECT_FAILURES = MetricDef(
    "edgerun_uplink_connect_failures",
    "Failed connection attempts, by cause.",
    "counter",
    ("cause",),
)
U_INFLIGHT = MetricDef(
    "edgerun_uplink_inflight_batches", "Batches published and awaiting PUBACK.", "gauge"
)
U_PUBLISHED = MetricDef(
    "edgerun_uplink_published_batches", "Batches acknowledged by the broker.", "counter"
)
U_PUBLISHED_READINGS = MetricDef(
    "edgerun_uplink_published_readings",
    "Readings in batches acknowledged by the broker.",
    "counter",
)
U_PUBLISHED_BYTES = MetricDef(
    "edgerun_uplink_published_bytes", "Payload bytes acknowledged by the broker.", "counter"
)
U_REDELIVERED = MetricDef(
    "edgerun_uplink_redelivered_batches",
    "Batches returned to the queue unacknowledged when a connection dropped.",
    "counter",
)
U_LATENCY = MetricDef(
    "edgerun_uplink_publish_latency_seconds",
    "Publish-to-PUBACK time over the last 1024 publishes, by quantile.",
    "gauge",
    ("quantile",),
)

D_READINGS = MetricDef(
    "edgerun_driver_readings",
    "Readings emitted by a driver instance.",
    "counter",
    ("driver", "type"),
)
D_ERRORS = MetricDef(
    "edgerun_driver_errors",
    "Failures of a driver instance (its run raised).",
    "counter",
    ("driver", "type"),
)
D_INVALID = MetricDef(
    "edgerun_driver_invalid_readings",
    "Readings of a driver instance refused as invalid.",
    "counter",
    ("driver", "type"),
)
D_RESTARTS = MetricDef(
    "edgerun_driver_restarts",
    "Restarts of a driver instance after a failure.",
    "counter",
    ("driver", "type"),
)
D_STATE = MetricDef(
    "edgerun_driver_state",
    "1 for the driver instance's current state, 0 for the others.",
    "gauge",
    ("driver", "type", "state"),
)

C_RESULTS = MetricDef(
    "edgerun_commands",
    "Commands from upstream by result (ok or the refusal reason).",
    "counter",
    ("result",),
)
C_RECEIVED = MetricDef(
    "edgerun_commands_received", "Messages received on the command topics.", "counter"
)
C_OVERFLOW = MetricDef(
    "edgerun_commands_overflow",
    "Command messages dropped unanswered because the pending queue was full.",
    "counter",
)
C_RESULTS_LOST = MetricDef(
    "edgerun_commands_results_lost", "Command results that could not be published.", "counter"
)

ALL = (
    BUILD_INFO, SKIPPED, Q_DEPTH, Q_BYTES, Q_LEASED, Q_AGE, Q_ACCEPTED, Q_ACKED, Q_DROPPED,
    Q_COMMITS, Q_COMMIT_SECONDS, Q_DISK, Q_DEGRADED, U_CONNECTED, U_RECONNECTS, U_DROPS,
    U_CONNECT_FAILURES, U_INFLIGHT, U_PUBLISHED, U_PUBLISHED_READINGS, U_PUBLISHED_BYTES,
    U_REDELIVERED, U_LATENCY, D_READINGS, D_ERRORS, D_INVALID, D_RESTARTS, D_STATE, C_RESULTS,
    C_RECEIVED, C_OVERFLOW, C_RESULTS_LOST,
)  # fmt: skip


class _Builder:
    def __init__(self) -> None:
        self.out: dict[str, Metric] = {}
        self.skipped = 0

    def metric(self, d: MetricDef) -> Metric:
        m = self.out.get(d.name)
        if m is None:
            m = self.out[d.name] = Metric(d)
        return m

    def add(self, d: MetricDef, value: Any, *labels: str) -> None:
        number = _number(value)
        if number is None:
            self.skipped += 1
            return
        self.metric(d).add(number, *labels)


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if isinstance(value, int | float) and not (isinstance(value, float) and math.isnan(value)):
        return float(value)
    return None


def _get(obj: Any, name: str, default: Any = 0) -> Any:
    if isinstance(obj, Mapping):
        return obj.get(name, default)
    return getattr(obj, name, default)


def gateway_metrics(
    *,
    queue: QueueStats | None = None,
    uplink: Any = None,
    drivers: Mapping[str, Mapping[str, Any]] | None = None,
    commands: Any = None,
    version: str = "",
    gateway: str = "",
) -> list[Metric]:
    """Build every gateway metric from the snapshots given (``None`` leaves a group out)."""
    b = _Builder()
    b.add(BUILD_INFO, 1, version, gateway)
    if queue is not None:
        b.add(Q_DEPTH, queue.depth_readings)
        b.add(Q_BYTES, queue.depth_bytes)
        b.add(Q_LEASED, queue.leased_readings)
        b.add(Q_AGE, queue.oldest_age_s)
        b.add(Q_ACCEPTED, queue.accepted)
        b.add(Q_ACKED, queue.acked)
        for reason in (*DROP_REASONS, *sorted(set(queue.dropped) - set(DROP_REASONS))):
            b.add(Q_DROPPED, queue.dropped.get(reason, 0), reason)
        b.add(Q_COMMITS, queue.commits)
        b.add(Q_COMMIT_SECONDS, queue.commit_seconds_total)
        b.add(Q_DISK, queue.disk_bytes)
        b.add(Q_DEGRADED, queue.degraded, queue.degraded_reason if queue.degraded else "")
    if uplink is not None:
        b.add(U_CONNECTED, _get(uplink, "connected", False))
        b.add(U_RECONNECTS, _get(uplink, "reconnects"))
        b.add(U_DROPS, _get(uplink, "drops"))
        for cause in ("auth", "tls", "network", "protocol"):
            b.add(U_CONNECT_FAILURES, _get(uplink, f"{cause}_failures"), cause)
        b.add(U_INFLIGHT, _get(uplink, "inflight"))
        b.add(U_PUBLISHED, _get(uplink, "batches_published"))
        b.add(U_PUBLISHED_READINGS, _get(uplink, "readings_published"))
        b.add(U_PUBLISHED_BYTES, _get(uplink, "bytes_published"))
        b.add(U_REDELIVERED, _get(uplink, "batches_redelivered"))
        b.add(U_LATENCY, _get(uplink, "publish_latency_p50_s"), "0.5")
        b.add(U_LATENCY, _get(uplink, "publish_latency_p99_s"), "0.99")
    for name, d in sorted((drivers or {}).items()):
        dtype = str(_get(d, "type", ""))
        b.add(D_READINGS, _get(d, "readings"), name, dtype)
        b.add(D_ERRORS, _get(d, "failures"), name, dtype)
        b.add(D_INVALID, _get(d, "invalid"), name, dtype)
        b.add(D_RESTARTS, _get(d, "restarts"), name, dtype)
        state = str(_get(d, "state", ""))
        states = DRIVER_STATES if state in DRIVER_STATES or not state else (*DRIVER_STATES, state)
        for s in states:
            b.add(D_STATE, s == state, name, dtype, s)
    if commands is not None:
        by_result = commands if isinstance(commands, Mapping) else _get(commands, "by_result", {})
        for result, n in sorted(by_result.items()):
            b.add(C_RESULTS, n, str(result))
        if not isinstance(commands, Mapping):
            b.add(C_RECEIVED, _get(commands, "received"))
            b.add(C_OVERFLOW, _get(commands, "overflow"))
            b.add(C_RESULTS_LOST, _get(commands, "results_lost"))
    b.metric(SKIPPED).add(b.skipped)
    return list(b.out.values())


__all__ = ["ALL", "DRIVER_STATES", "gateway_metrics"]
