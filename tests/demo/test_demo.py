"""README's demo command, run non-interactively for a bounded time: readings from all 20
sensor nodes of the simulated conference mesh reach the broker, and the chart is drawn."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_demo_delivers_every_sensor_node(tmp_path: Path) -> None:
    tail = tmp_path / "tail.jsonl"
    env = dict(os.environ, EDGERUN_SKIP_SETUP="1")
    proc = subprocess.run(
        [
            "bash",
            str(REPO / "scripts" / "demo"),
            "--duration",
            "60",
            "--workdir",
            str(tmp_path / "work"),
            "--tail-json",
            str(tail),
        ],
        capture_output=True,
        text=True,
        timeout=240,
        env=env,
        check=False,
        cwd=REPO,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    readings = [json.loads(line) for line in tail.read_text().splitlines() if line.strip()]
    by_device: dict[str, set[str]] = {}
    for r in readings:
        by_device.setdefault(r["dev"], set()).add(r["q"])
    sensor_nodes = {
        dev for dev, qs in by_device.items() if {"temperature", "relative_humidity", "co2"} <= qs
    }
    assert len(sensor_nodes) == 20, by_device
    assert all(r["gw"] == "conference-gw" for r in readings)
    co2 = [r["val"] for r in readings if r["q"] == "co2"]
    assert all(300 <= v <= 5000 for v in co2)
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    png = Path(summary["png"])
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # Nothing is left running: no process of the demo's work dir survives it.
    ps = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True, check=True)
    assert str(tmp_path / "work") not in ps.stdout
