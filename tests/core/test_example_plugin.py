"""The example plugin, installed from its own package directory like a third party's, is
discovered through its entry point and its driver emits readings in a real gateway process."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import anyio

from tests.support.proc import EdgerunProcess
from tests.support.queued import drain_queue


def test_example_plugin_is_discovered_through_its_entry_point() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "edgerun.cli.main", "plugins", "--json"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    drivers = {d["driver"]: d for d in json.loads(out)["drivers"]}
    assert drivers["w1therm"]["package"] == "edgerun-w1therm"
    assert drivers["w1therm"]["dependencies_ok"] is True
    assert drivers["synthetic"]["package"] == "edgerun-synthetic"


def test_example_plugin_emits_readings_in_a_gateway(tmp_path: Path) -> None:
    bus = tmp_path / "w1"
    for serial, milli in (("28-000000000a", "21250"), ("28-000000000b", "22750")):
        (bus / serial).mkdir(parents=True)
        (bus / serial / "temperature").write_text(milli, encoding="ascii")
    cfg = tmp_path / "edgerun.toml"
    cfg.write_text(
        f"""
[gateway]
id = "gw-example"
data_dir = "{tmp_path / "data"}"
[uplink]
enabled = false
[[drivers]]
type = "w1therm"
name = "boiler"
root = "{bus}"
interval = 1
""",
        encoding="utf-8",
    )
    with EdgerunProcess(["run", "-c", str(cfg)]) as proc:
        proc.wait_for_log(r"ready: 1 driver\(s\): boiler=running")
        proc.wait_for_log(r"driver boiler: first reading accepted")
        proc.signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 0, proc.tail()
    rows = anyio.run(drain_queue, tmp_path / "data")
    got = {(r[2], r[3], r[4], r[5]) for r in rows}
    expected = {
        ("boiler/28-000000000a", "temperature", 21.25, "°C"),
        ("boiler/28-000000000b", "temperature", 22.75, "°C"),
    }
    # Sensors are read in serial order; the first one is in before "first reading".
    assert ("boiler/28-000000000a", "temperature", 21.25, "°C") in got
    assert got <= expected
