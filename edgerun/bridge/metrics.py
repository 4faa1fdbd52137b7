"""The bridge's counters as Prometheus metrics, through the shared ops metric model.

:func:`metrics` turns :meth:`Bridge.stats` into :class:`edgerun.ops.metrics.Metric`
objects (what the shared /metrics endpoint renders); :func:`prometheus_text` renders them
on its own. Names are ``edgerun_bridge_<stat>``; per-sink stats become one family with a
``sink`` label (``edgerun_bridge_sink_readings_written_total{sink="carbon"}``).
"""

from __future__ import annotations

from collections.abc import Mapping

from edgerun.ops.metrics import Metric, MetricDef, render

#: Stats that only grow; everything else is a gauge.
COUNTERS = frozenset(
    {
        "messages",
        "data_messages",
        "status_messages",
        "heartbeats",
        "readings_in",
        "readings_written",
        "duplicates",
        "bad_rows",
        "acks",
        "stale_acks",
        "groups",
        "connects",
        "connect_failures",
        "gateway_topic_mismatch",
        "dead_letters",
        "dead_letter_write_errors",
        "dedupe_hits",
        "dedupe_commit_errors",
        "dedupe_corrupt_files",
        "batches_written",
        "retries",
        "errors",
        "rejected_batches",
        "writes",
        "write_seconds_sum",
        "points",
        "requests",
        "skipped_non_numeric",
        "replayed_bytes",
    }
)


def _kind(name: str) -> str:
    return "counter" if name in COUNTERS or name.startswith("dead_letters_") else "gauge"


def metrics(stats: Mapping[str, int | float], sink_names: list[str]) -> list[Metric]:
    """Metric objects for a :meth:`Bridge.stats` snapshot."""
    out: dict[str, Metric] = {}
    for key, value in stats.items():
        label: tuple[str, ...] = ()
        name = key
        for s in sink_names:
            p = f"sink_{s}_"
            if key.startswith(p):
                name, label = "sink_" + key[len(p) :], (s,)
                break
        kind = _kind(name.removeprefix("sink_"))
        fam = f"edgerun_bridge_{name}"
        m = out.get(fam)
        if m is None:
            labels = ("sink",) if label else ()
            m = out[fam] = Metric(
                MetricDef(fam, f"edgerun bridge {name.replace('_', ' ')}", kind, labels)  # type: ignore[arg-type]
            )
        m.add(float(value), *label)
    return list(out.values())


def prometheus_text(stats: Mapping[str, int | float], sink_names: list[str]) -> bytes:
    """The Prometheus text exposition of a stats snapshot (with process metrics)."""
    return render(metrics(stats, sink_names))


__all__ = ["COUNTERS", "metrics", "prometheus_text"]
