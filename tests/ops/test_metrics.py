"""Metric definitions follow the Prometheus conventions and render to a parseable exposition."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client.parser import text_string_to_metric_families

from edgerun.commands.stats import CommandStats
from edgerun.drivers.runner import DriverStats
from edgerun.ops import catalog
from edgerun.ops.catalog import DRIVER_STATES, gateway_metrics
from edgerun.ops.metrics import Metric, MetricDef, render
from edgerun.queue.base import DROP_REASONS, QueueStats
from edgerun.uplink.stats import UplinkStats


def parse(text: bytes) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    """Every sample of the exposition by sample name and sorted labels."""
    out: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
    for fam in text_string_to_metric_families(text.decode()):
        for s in fam.samples:
            out.setdefault(s.name, {})[tuple(sorted(s.labels.items()))] = s.value
    return out


def test_catalog_names_follow_conventions() -> None:
    names = [d.name for d in catalog.ALL]
    assert len(names) == len(set(names))
    for d in catalog.ALL:
        assert d.name.startswith("edgerun_"), d.name
        assert d.help.endswith("."), d.name
        assert d.name == d.name.lower()
        assert not d.name.endswith("_total")
        if d.type == "gauge" and "seconds" in d.name:
            assert d.name.endswith("_seconds")


def test_catalog_is_documented() -> None:
    from pathlib import Path

    doc = (Path(__file__).parents[2] / "docs" / "operations.md").read_text()
    for d in catalog.ALL:
        assert f"`{d.exposed_name}`" in doc, f"{d.exposed_name} missing in docs/operations.md"


def test_invalid_definitions_are_refused() -> None:
    with pytest.raises(ValueError, match="invalid metric name"):
        MetricDef("2bad", "x.", "gauge")
    with pytest.raises(ValueError, match="without _total"):
        MetricDef("x_total", "x.", "counter")
    with pytest.raises(ValueError, match="label"):
        MetricDef("x", "x.", "gauge", ("le",))
    with pytest.raises(ValueError, match="expected labels"):
        Metric(MetricDef("x", "x.", "gauge", ("a",))).add(1)


def test_gateway_metrics_render_from_snapshots() -> None:
    queue = QueueStats(
        depth_readings=120,
        depth_bytes=4096,
        leased_readings=20,
        oldest_age_s=33.5,
        accepted=1000,
        acked=880,
        dropped={**dict.fromkeys(DROP_REASONS, 0), "overflow": 7, "expired": 2},
        commits=12,
        commit_seconds_total=0.25,
        disk_bytes=65536,
        degraded=True,
        degraded_reason="disk full",
    )
    uplink = UplinkStats(
        connected=False,
        reconnects=4,
        drops=3,
        network_failures=6,
        auth_failures=1,
        inflight=2,
        batches_published=31,
        readings_published=900,
        bytes_published=65000,
    )
    uplink.latencies.extend([0.01] * 50 + [0.5])
    drivers = {
        "iqrf-1": DriverStats(
            "iqrf-1", "iqrf", state="backoff", readings=50, failures=3, restarts=2, invalid=4
        ).as_dict(),
        'ble"odd': {"type": "ble", "state": "warming", "readings": 1},
    }
    commands = CommandStats(received=8, overflow=1, results_lost=2)
    commands.by_result.update({"ok": 5, "expired": 1})
    text = render(
        gateway_metrics(
            queue=queue,
            uplink=uplink.snapshot(),
            drivers=drivers,
            commands=commands.snapshot(),
            version="1.2.3",
            gateway="gw-7",
        ),
        process=True,
    )
    got = parse(text)
    assert got["edgerun_queue_depth_readings"][()] == 120
    assert got["edgerun_queue_oldest_age_seconds"][()] == 33.5
    assert got["edgerun_queue_accepted_readings_total"][()] == 1000
    assert got["edgerun_queue_dropped_readings_total"][(("reason", "overflow"),)] == 7
    assert {dict(k)["reason"] for k in got["edgerun_queue_dropped_readings_total"]} == set(
        DROP_REASONS
    )
    assert got["edgerun_queue_degraded"][(("reason", "disk full"),)] == 1
    assert got["edgerun_uplink_connected"][()] == 0
    assert got["edgerun_uplink_reconnects_total"][()] == 4
    assert got["edgerun_uplink_connection_drops_total"][()] == 3
    assert got["edgerun_uplink_connect_failures_total"][(("cause", "network"),)] == 6
    assert got["edgerun_uplink_published_readings_total"][()] == 900
    assert got["edgerun_uplink_publish_latency_seconds"][(("quantile", "0.5"),)] == 0.01
    assert got["edgerun_uplink_publish_latency_seconds"][(("quantile", "0.99"),)] == 0.5
    key = (("driver", "iqrf-1"), ("type", "iqrf"))
    assert got["edgerun_driver_errors_total"][key] == 3
    assert got["edgerun_driver_restarts_total"][key] == 2
    assert got["edgerun_driver_invalid_readings_total"][key] == 4
    states = {
        dict(k)["state"]: v
        for k, v in got["edgerun_driver_state"].items()
        if dict(k)["driver"] == "iqrf-1"
    }
    assert states == {s: (1.0 if s == "backoff" else 0.0) for s in DRIVER_STATES}
    odd = {dict(k)["state"] for k, v in got["edgerun_driver_state"].items() if v == 1}
    assert odd == {"backoff", "warming"}  # an unknown state still shows, label escaped
    assert got["edgerun_commands_total"][(("result", "expired"),)] == 1
    assert got["edgerun_commands_total"][(("result", "ok"),)] == 5
    assert got["edgerun_commands_received_total"][()] == 8
    assert got["edgerun_commands_overflow_total"][()] == 1
    assert got["edgerun_commands_results_lost_total"][()] == 2
    assert got["edgerun_build_info"][(("gateway", "gw-7"), ("version", "1.2.3"))] == 1
    assert got["process_resident_memory_bytes"][()] > 1_000_000
    assert got["edgerun_metrics_skipped_total"][()] == 0


def test_bad_values_are_skipped_and_counted() -> None:
    metrics = gateway_metrics(
        uplink={"connected": "yes", "publish_latency_p50_s": "x", "drops": None},
        drivers={"d": {"type": "t", "readings": None, "failures": math.nan, "restarts": 1}},
        commands={"ok": "many"},
    )
    got = parse(render(metrics, process=False))
    assert got["edgerun_metrics_skipped_total"][()] == 6
    assert got["edgerun_driver_restarts_total"][(("driver", "d"), ("type", "t"))] == 1
    assert "edgerun_uplink_connected" not in got
    assert "process_resident_memory_bytes" not in got


def test_families_from_several_sources_merge() -> None:
    d = MetricDef("bridge_written_points", "Points written.", "counter", ("sink",))
    a = Metric(d).add(3, "graphite")
    b = Metric(d).add(4, "influx")
    got = parse(render([a, b], process=False))
    assert got["bridge_written_points_total"] == {
        (("sink", "graphite"),): 3,
        (("sink", "influx"),): 4,
    }


@settings(max_examples=200, deadline=None)
@given(
    value=st.text(max_size=40),
    help_text=st.text(st.characters(blacklist_categories=("Cs",)), max_size=40),
    number=st.one_of(st.floats(allow_nan=False), st.integers(-(2**62), 2**62)),
)
def test_escaping_round_trips_through_the_reference_parser(
    value: str, help_text: str, number: float
) -> None:
    d = MetricDef("rt_value", help_text.strip() or "x", "gauge", ("v",))
    text = render([Metric(d).add(number, value)], process=False)
    (fam,) = text_string_to_metric_families(text.decode())
    (sample,) = fam.samples
    assert sample.labels == {"v": value}
    assert sample.value == float(number)


def test_special_values_and_process_metrics() -> None:
    d = MetricDef("sv", "Special.", "gauge", ("k",))
    m = Metric(d).add(math.inf, "a").add(-math.inf, "b").add(math.nan, "c")
    got = parse(render([m], process=True))
    assert got["sv"][(("k", "a"),)] == math.inf
    assert got["sv"][(("k", "b"),)] == -math.inf
    assert math.isnan(got["sv"][(("k", "c"),)])
    with open("/proc/self/status") as f:
        rss_kb = next(int(line.split()[1]) for line in f if line.startswith("VmRSS"))
    assert abs(got["process_resident_memory_bytes"][()] - rss_kb * 1024) < 8 * 1024 * 1024
    assert got["process_open_fds"][()] >= 3
    assert got["process_cpu_seconds_total"][()] > 0
