"""Memory cost of the ops pieces: prometheus-client against our own exposition writer, and a
whole idle gateway with the endpoint off vs on (scraped), every built-in driver type configured.

    .venv/bin/python bench/ops_rss.py [--runs 5]

Prints medians over the runs and the ratio against the baseline measured in the same run.
The gateway is ``edgerun run`` from the development venv (editable installs add about 2 MiB
of import hooks); the budget figure is measured by bench/footprint.py. Needs mosquitto (apt).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from tests.support.mosquitto import free_port  # noqa: E402

BASE = (
    "import anyio, msgpack, pluggy, msgspec, aiomqtt\n"
    "def rss():\n"
    "    for line in open('/proc/self/status'):\n"
    "        if line.startswith('VmRSS'): return int(line.split()[1])\n"
    "async def main():\n"
    "    {extra}\n"
    "    print(rss())\n"
    "anyio.run(main)\n"
)
PROM = "import prometheus_client, prometheus_client.core; prometheus_client.generate_latest()"


def import_rss(extra: str) -> int:
    out = subprocess.run(
        [sys.executable, "-c", BASE.replace("{extra}", extra or "pass")],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    )
    return int(out.stdout.strip())


def gateway_argv(config: Path) -> list[str]:
    return [sys.executable, "-m", "edgerun.cli.main", "run", "--config", str(config)]


CONFIG = """
[gateway]
id = "bench"
data_dir = "{data}"

[uplink]
url = "mqtt://127.0.0.1:{mqtt}"

[http]
enabled = {http}
listen = "127.0.0.1:{port}"

{drivers}"""

#: One instance per built-in driver type (the hardware is absent: they start and back off,
#: with their libraries imported, which is what the budget is about).
DRIVERS = {
    "synthetic": 'type = "synthetic"\nname = "synth"\n',
    "iqrf": 'type = "iqrf"\nname = "iqrf"\nport = "/dev/ttyACM-absent"\n',
    "ble": 'type = "ble"\nname = "ble"\n',
    "gpio": (
        'type = "gpio"\nname = "io"\nchip = "/dev/gpiochip-absent"\n'
        '[[drivers.inputs]]\nname = "door"\nline = 17\nmode = "edge"\n'
    ),
}


def installed_types() -> list[str]:
    out = subprocess.run(
        [sys.executable, "-m", "edgerun.cli.main", "plugins", "--json"],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    have = {d["driver"] for d in json.loads(out.stdout)["drivers"]}
    return [t for t in DRIVERS if t in have]


TYPES: list[str] = []


def gateway_rss(tmp: Path, mqtt: int, http: bool, idle: float) -> int:
    port = free_port()
    data = Path(tempfile.mkdtemp(dir=tmp))
    cfg = data / "edgerun.toml"
    drivers = "".join(f"\n[[drivers]]\n{DRIVERS[t]}" for t in TYPES)
    cfg.write_text(
        CONFIG.format(data=data, mqtt=mqtt, http=str(http).lower(), port=port, drivers=drivers)
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        gateway_argv(cfg), env=env, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, cwd=ROOT
    )
    try:
        assert proc.stderr is not None
        deadline = time.monotonic() + 30
        for raw in proc.stderr:  # wait for the supervisor's "ready" log line
            if b"ready:" in raw:
                break
            if time.monotonic() > deadline:
                raise TimeoutError("gateway not ready")
        else:
            raise RuntimeError(f"gateway exited with {proc.wait()}")
        time.sleep(idle)  # the measurement is "RSS after idling", not a synchronization
        if http:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
                assert r.status == 200
                r.read()
        status = Path(f"/proc/{proc.pid}/status").read_text()
        return int(next(x for x in status.splitlines() if x.startswith("VmRSS")).split()[1])
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--idle", type=float, default=3.0)
    args = ap.parse_args()
    TYPES.extend(installed_types())
    missing = sorted(set(DRIVERS) - set(TYPES))
    print(
        f"driver types configured: {', '.join(TYPES)}"
        + (f" (not installed: {missing})" if missing else "")
    )

    base = [import_rss("") for _ in range(args.runs)]
    prom = [import_rss(PROM) for _ in range(args.runs)]
    mb, mp = statistics.median(base), statistics.median(prom)
    print(f"imports + loop:                     {mb / 1024:6.1f} MiB (median of {args.runs})")
    print(
        f"  + prometheus-client, one render:  {mp / 1024:6.1f} MiB  "
        f"(+{(mp - mb) / 1024:.1f} MiB, ratio {mp / mb:.3f})"
    )

    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        mqtt = free_port()
        conf = tmp / "mosquitto.conf"
        conf.write_text(f"listener {mqtt} 127.0.0.1\nallow_anonymous true\n")
        broker = subprocess.Popen(["mosquitto", "-c", str(conf)], stderr=subprocess.DEVNULL)
        try:
            off = [gateway_rss(tmp, mqtt, False, args.idle) for _ in range(args.runs)]
            on = [gateway_rss(tmp, mqtt, True, args.idle) for _ in range(args.runs)]
        finally:
            broker.terminate()
            broker.wait()
    moff, mon = statistics.median(off), statistics.median(on)
    print(
        f"gateway idle, {len(TYPES)} driver types, endpoint off: "
        f"{moff / 1024:6.1f} MiB {json.dumps(off)}"
    )
    print(
        f"gateway idle, endpoint on + 1 scrape:       {mon / 1024:6.1f} MiB {json.dumps(on)}  "
        f"(+{(mon - moff) / 1024:.1f} MiB, ratio {mon / moff:.3f})"
    )


if __name__ == "__main__":
    main()
