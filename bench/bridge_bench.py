"""Bridge throughput: readings/s through one replica into carbon and into influxd.

    .venv/bin/python bench/bridge_bench.py [--readings 1000000] [--runs 3]

Per run: a fresh mosquitto session is filled with ``--readings`` readings (batches of 500,
1000 series, the uplink's default batch size) while the bridge is stopped, then the bridge
(``python -m edgerun.bridge.cli``, a real subprocess) is started and timed from the moment
its subscription is in place until it reports every reading written and acknowledged
(polled on its /metrics endpoint every 20 ms). "Written" to carbon means handed to carbon's
socket; carbon writes whisper files at its own pace afterwards. Reported per sink: the
median readings/s over the runs with [min-max], the bridge
process's CPU seconds per 100,000 readings, and its peak RSS (VmHWM).

Baseline, measured in the same run on the same queued messages: a bare aiomqtt subscriber
that decodes every batch with edgerun.payload and acknowledges it, writing nowhere. The
ratio bridge/baseline is the cost of dedupe, formatting and the database round trips; the
target is >= 100,000 readings/s into carbon.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import aiomqtt  # noqa: E402

from edgerun.payload import Encoder, decode  # noqa: E402
from tests.bridge.servers import Carbon, Influxd  # noqa: E402
from tests.support.mosquitto import Mosquitto, free_port  # noqa: E402

BATCH = 500
GATEWAYS = 20
DEVICES = 50  # per gateway: 1000 series


def payloads(n: int, t0_ms: int) -> list[tuple[str, bytes]]:
    out = []
    per_gw = n // GATEWAYS
    for g in range(GATEWAYS):
        gw = f"bench-{g}"
        enc = Encoder(gw)
        rows: list[list[object]] = []
        for i in range(per_gw):
            rows.append(
                [
                    i + 1,
                    t0_ms + (i // DEVICES) * 1000,
                    f"node-{i % DEVICES}",
                    "co2",
                    400.0 + i % 97,
                    "ppm",
                    True,
                    None,
                ]
            )
            if len(rows) == BATCH:
                out.append((gw, enc.encode_rows(rows)))
                rows = []
        if rows:
            out.append((gw, enc.encode_rows(rows)))
    return out


async def fill(broker: Mosquitto, items: list[tuple[str, bytes]]) -> None:
    async with aiomqtt.Client(
        broker.host, broker.port, protocol=aiomqtt.ProtocolVersion.V5, max_inflight_messages=200
    ) as c:
        for i in range(0, len(items), 100):  # a window of 100 un-acknowledged publishes
            chunk = items[i : i + 100]
            await asyncio.gather(*(c.publish(f"edgerun/{gw}/data", p, qos=1) for gw, p in chunk))


def proc_cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def proc_hwm_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def metric(port: int, name: str) -> float:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as r:
            for line in r.read().decode().splitlines():
                if line.startswith(name + " "):
                    return float(line.split()[1])
    except OSError:
        pass
    return -1.0


def bridge_toml(tmp: Path, broker: Mosquitto, sink: str, http: int, client: str) -> Path:
    f = tmp / f"{client}.toml"
    f.write_text(
        f"""
[mqtt]
url = "{broker.url}"
client_id = "{client}"
share_group = "{client}"
[dedupe]
path = "{client}.sqlite"
[dead_letters]
file = "{client}-dead.jsonl"
[http]
listen = "127.0.0.1:{http}"
[[sinks]]
{sink}
"""
    )
    return f


def run_bridge(config: Path, http: int, n: int, prime: bool) -> tuple[float, float, float]:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    p = subprocess.Popen(
        [sys.executable, "-m", "edgerun.bridge.cli", "-c", str(config), "--log-level", "ERROR"],
        env=env,
    )
    try:
        deadline = time.monotonic() + 30
        while metric(http, "edgerun_bridge_subscribed") != 1:
            if time.monotonic() > deadline:
                raise RuntimeError("bridge did not subscribe")
            time.sleep(0.02)
        t0, c0 = time.monotonic(), proc_cpu(p.pid)
        if prime:
            return 0.0, 0.0, 0.0
        deadline = time.monotonic() + 120
        while metric(http, "edgerun_bridge_readings_written_total") < n:
            if time.monotonic() > deadline:
                done = metric(http, "edgerun_bridge_readings_written_total")
                raise RuntimeError(f"bridge did not finish: {done:.0f} of {n} written")
            time.sleep(0.02)
        dt, cpu = time.monotonic() - t0, proc_cpu(p.pid) - c0
        return dt, cpu, proc_hwm_mib(p.pid)
    finally:
        p.terminate()
        p.wait(30)


async def baseline_drain(broker: Mosquitto, client: str, n: int) -> float:
    """Seconds for a bare subscriber to decode and ack ``n`` queued readings."""
    from paho.mqtt.packettypes import PacketTypes
    from paho.mqtt.properties import Properties

    props = Properties(PacketTypes.CONNECT)
    props.SessionExpiryInterval = 3600
    c = aiomqtt.Client(
        broker.host,
        broker.port,
        identifier=client,
        clean_start=False,
        protocol=aiomqtt.ProtocolVersion.V5,
        properties=props,
    )
    async with c:
        await c.subscribe("edgerun/+/data", qos=1)
        got = 0
        t0 = 0.0
        async for m in c.messages:
            if not t0:
                t0 = time.monotonic()
            got += len(decode(bytes(m.payload)).rows)
            if got >= n:
                return time.monotonic() - t0
    return 0.0


async def baseline_prime(broker: Mosquitto, client: str) -> None:
    from paho.mqtt.packettypes import PacketTypes
    from paho.mqtt.properties import Properties

    props = Properties(PacketTypes.CONNECT)
    props.SessionExpiryInterval = 3600
    async with aiomqtt.Client(
        broker.host,
        broker.port,
        identifier=client,
        clean_start=False,
        protocol=aiomqtt.ProtocolVersion.V5,
        properties=props,
    ) as c:
        await c.subscribe("edgerun/+/data", qos=1)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--readings", type=int, default=1_000_000)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    n = args.readings
    tmp = Path(tempfile.mkdtemp(prefix="bridge-bench-"))
    results: dict[str, list[tuple[float, float, float]]] = {
        "baseline": [],
        "carbon": [],
        "influxdb": [],
    }
    with (
        Mosquitto(tmp / "mqtt") as broker,
        Carbon(tmp / "carbon", "60s:1d") as carbon,
        Influxd(tmp / "influx") as influx,
    ):
        influx.create_db("edgerun")
        sinks = {
            "carbon": f'type = "graphite"\nport = {carbon.line_port}',
            "influxdb": f'type = "influxdb"\nurl = "{influx.url}"',
        }
        for run in range(args.runs):
            t0_ms = (int(time.time()) - 3 * 3600 + run * 1200) * 1000
            items = payloads(n, t0_ms)
            # Baseline: the same messages drained by a bare subscriber.
            client = f"base-{run}"
            asyncio.run(baseline_prime(broker, client))
            asyncio.run(fill(broker, items))
            dt = asyncio.run(baseline_drain(broker, client, n))
            results["baseline"].append((n / dt, 0.0, 0.0))
            for name, sink in sinks.items():
                client = f"{name}-{run}"
                http = free_port()
                cfg = bridge_toml(tmp, broker, sink, http, client)
                run_bridge(cfg, http, n, prime=True)  # creates the session, then stops
                asyncio.run(fill(broker, items))
                dt, cpu, rss = run_bridge(cfg, http, n, prime=False)
                results[name].append((n / dt, cpu / n * 100_000, rss))
                print(
                    f"run {run + 1} {name}: {n / dt:,.0f} readings/s, "
                    f"{cpu / n * 100_000:.2f} CPU-s/100k, RSS {rss:.1f} MiB",
                    flush=True,
                )
            print(
                f"run {run + 1} baseline: {results['baseline'][-1][0]:,.0f} readings/s", flush=True
            )
    base = statistics.median(r[0] for r in results["baseline"])
    print(
        f"\n{n:,} readings per run, {args.runs} runs, batches of {BATCH}, "
        f"{GATEWAYS * DEVICES} series; median [min-max]"
    )
    print(f"baseline (decode + ack, no sink): {base:,.0f} readings/s")
    for name in ("carbon", "influxdb"):
        rates = [r[0] for r in results[name]]
        med = statistics.median(rates)
        cpu = statistics.median(r[1] for r in results[name])
        rss = statistics.median(r[2] for r in results[name])
        print(
            f"{name:9s}: {med:,.0f} readings/s [{min(rates):,.0f}-{max(rates):,.0f}]  "
            f"ratio to baseline {med / base:.2f}  ratio to 100k target {med / 100_000:.2f}  "
            f"CPU {cpu:.2f} s/100k readings  peak RSS {rss:.1f} MiB"
        )


if __name__ == "__main__":
    main()
