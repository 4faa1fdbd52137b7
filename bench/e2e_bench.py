"""End-to-end benchmark: ``edgerun run`` (synthetic driver -> durable SQLite queue -> uplink)
-> mosquitto -> an independent subscriber process (paho + msgpack, no edgerun code).

One command, a few minutes:

    .venv/bin/python bench/e2e_bench.py [--runs 3] [--readings 1000000] [--quick]

Scenarios, each on a fresh gateway process, data directory and broker:

1. **flood**: the synthetic driver emits ``--readings`` as fast as it can (``rate = 0``).
   Rate = readings / (arrival of the last one at the subscriber - timestamp of the first
   one taken). Also CPU seconds per 100,000 readings (the gateway process, start-up
   included) and its peak RSS (VmHWM). Baseline in the same run: a bare serial loop of the
   same building blocks (tuples, SQLite executemany + commit per 500, msgpack, paho QoS 1),
   counted by the same subscriber.
2. **backlog**: the broker is down while the driver emits 1,000,000 readings into the
   queue; then the broker starts. Drain time = broker start -> last reading at the
   subscriber (``backoff_cap = 1s`` so the gateway is not asleep in its backoff).
3. **steady 1,000 readings/s** with default uplink settings: emit-to-subscriber latency p50
   and p99 (subscriber clock minus the reading's timestamp; same host, same clock) and the
   gateway's CPU share over a 10 s window.
4. **wire bytes per reading** as seen by the subscriber, without and with zlib.
"""

from __future__ import annotations

import argparse
import os
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from uplink_bench import Counter, prime_session, spread, start_broker  # noqa: E402

EDGERUN = str(Path(sys.executable).with_name("edgerun"))
CLK_TCK = os.sysconf("SC_CLK_TCK")


def proc_cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def proc_hwm_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def write_config(
    path: Path, port: int, data: Path, *, rate: float, count: int, uplink: str = ""
) -> Path:
    path.write_text(
        f"""
[gateway]
id = "gw-bench"
data_dir = "{data}"
[uplink]
url = "mqtt://127.0.0.1:{port}"
{uplink}
[logging]
level = "info"
[[drivers]]
type = "synthetic"
name = "syn"
devices = 50
quantities = ["temperature", "relative_humidity", "voltage"]
rate = {rate}
count = {count}
"""
    )
    return path


class Gateway:
    def __init__(self, config: Path, log: Path) -> None:
        self.log = log
        self.proc = subprocess.Popen(
            [EDGERUN, "run", "-c", str(config)],
            stdout=log.open("wb"),
            stderr=subprocess.STDOUT,
        )

    def wait_log(self, text: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if text in self.log.read_text(errors="replace"):
                return
            if self.proc.poll() is not None:
                raise RuntimeError(f"gateway exited: {self.log.read_text()[-2000:]}")
            time.sleep(0.05)
        raise TimeoutError(f"{text!r} not logged within {timeout} s")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def flood(work: Path, n: int) -> dict[str, float]:
    broker = start_broker(work / "broker-flood")
    try:
        counter = Counter(broker.port, n, work, timeout=600)
        cfg = write_config(
            work / "flood.toml",
            broker.port,
            work / f"data-flood-{time.monotonic_ns()}",
            rate=0,
            count=n,
        )
        gw = Gateway(cfg, work / "flood.log")
        try:
            res = counter.result(timeout=600)
            cpu = proc_cpu(gw.proc.pid)
            hwm = proc_hwm_mib(gw.proc.pid)
        finally:
            gw.stop()
    finally:
        broker.close()
    if not res["complete"]:
        raise RuntimeError(f"flood incomplete: {res}")
    elapsed = res["last_arrival"] - res["min_ts"] / 1000
    return {
        "rate": n / elapsed,
        "cpu_per_100k": cpu / n * 100_000,
        "rss_mib": hwm,
        "dups": res["duplicates"],
        "wire": res["bytes"] / res["readings"],
    }


def baseline(work: Path, n: int) -> float:
    """Serial loop: tuples -> executemany (WAL, commit per 500) -> msgpack -> paho QoS 1."""
    import msgpack
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    broker = start_broker(work / "broker-base")
    try:
        counter = Counter(broker.port, n, work, timeout=600)
        db = sqlite3.connect(work / f"base-{time.monotonic_ns()}.db")
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        db.execute("CREATE TABLE r (id INTEGER PRIMARY KEY, ts, dev, q, val, unit, sync, x)")
        c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="bench-serial")
        c.max_inflight_messages_set(0)
        c.connect("127.0.0.1", broker.port)
        c.loop_start()
        head = {
            "v": 1,
            "gw": "gw-base",
            "cols": ["id", "ts", "dev", "q", "val", "unit", "sync", "x"],
            "hist": False,
        }
        infos = []
        for b in range(n // 500):
            now = time.time_ns() // 1_000_000
            rows = [
                (b * 500 + k, now, f"syn/dev-{k % 50}", "temperature", 21.5, "°C", True, None)
                for k in range(500)
            ]
            db.executemany("INSERT INTO r VALUES (?,?,?,?,?,?,?,?)", rows)
            db.commit()
            payload = msgpack.packb({**head, "rows": rows})
            infos.append(c.publish("edgerun/gw-base/data", payload, qos=1))
        for info in infos:
            info.wait_for_publish(60)
        res = counter.result(timeout=600)
        c.loop_stop()
        db.close()
    finally:
        broker.close()
    return float(n / (res["last_arrival"] - res["min_ts"] / 1000))


def backlog(work: Path, n: int) -> dict[str, float]:
    from tests.support.mosquitto import Mosquitto

    broker = Mosquitto(
        work / f"broker-backlog-{time.monotonic_ns()}",
        persistence=True,
        extra_config="max_inflight_messages 1000",
    )
    # The subscriber's persistent session exists before the outage, so the broker queues
    # every batch for it from the moment it is back, whoever connects first.
    broker.start()
    client_id = f"bench-backlog-{time.monotonic_ns()}"
    prime_session(broker.port, client_id)
    broker.stop()
    cfg = write_config(
        work / "backlog.toml",
        broker.port,
        work / f"data-backlog-{time.monotonic_ns()}",
        rate=0,
        count=n,
        uplink='backoff_cap = "1s"',
    )
    gw = Gateway(cfg, work / "backlog.log")
    try:
        gw.wait_log("driver syn finished", 600)
        broker.start()
        t0 = time.time()
        counter = Counter(broker.port, n, work, timeout=300, client_id=client_id)
        res = counter.result(timeout=300)
    finally:
        gw.stop()
        broker.close()
    if not res["complete"]:
        raise RuntimeError(f"backlog incomplete: {res}")
    return {
        "drain_s": res["last_arrival"] - t0,
        "first_to_last_s": res["last_arrival"] - res["first_arrival"],
        "dups": res["duplicates"],
    }


def steady(work: Path, seconds: float, uplink: str = "") -> dict[str, float]:
    broker = start_broker(work / f"broker-steady{len(uplink)}")
    n = int(1000 * seconds)
    try:
        counter = Counter(broker.port, n, work, latency=True, timeout=seconds * 4 + 30)
        cfg = write_config(
            work / "steady.toml",
            broker.port,
            work / f"data-steady{len(uplink)}",
            rate=1000,
            count=0,
            uplink=uplink,
        )
        gw = Gateway(cfg, work / "steady.log")
        try:
            gw.wait_log("uplink connected", 30)
            time.sleep(2.0)  # warm-up before the CPU window (a measurement interval)
            c0, t0 = proc_cpu(gw.proc.pid), time.monotonic()
            time.sleep(min(10.0, seconds - 3))
            c1, t1 = proc_cpu(gw.proc.pid), time.monotonic()
            res = counter.result(timeout=seconds * 4 + 30)
        finally:
            gw.stop()
    finally:
        broker.close()
    return {
        "p50": res.get("latency_ms_p50", -1),
        "p99": res.get("latency_ms_p99", -1),
        "cpu_share": (c1 - c0) / (t1 - t0),
        "wire": res["bytes"] / res["readings"],
    }


def idle_uplink_share(work: Path, seconds: float = 10.0) -> float:
    """CPU share of the gateway at 1,000 readings/s with the uplink disabled (the rest)."""
    cfg = write_config(
        work / "nouplink.toml",
        1,
        work / "data-nouplink",
        rate=1000,
        count=0,
        uplink="enabled = false",
    )
    gw = Gateway(cfg, work / "nouplink.log")
    try:
        gw.wait_log("ready:", 30)
        time.sleep(2.0)  # warm-up before the CPU window (a measurement interval)
        c0, t0 = proc_cpu(gw.proc.pid), time.monotonic()
        time.sleep(seconds)
        c1, t1 = proc_cpu(gw.proc.pid), time.monotonic()
    finally:
        gw.stop()
    return (c1 - c0) / (t1 - t0)


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--readings", type=int, default=1_000_000)
    p.add_argument("--backlog", type=int, default=1_000_000)
    p.add_argument("--steady-seconds", type=float, default=15.0)
    p.add_argument("--quick", action="store_true", help="1 run, smaller counts (smoke test)")
    a = p.parse_args(argv)
    if a.quick:
        a.runs, a.readings, a.backlog, a.steady_seconds = 1, 200_000, 200_000, 6.0
    med = statistics.median
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        floods, bases, drains = [], [], []
        for r in range(a.runs):
            f = flood(work, a.readings)
            b = baseline(work, a.readings)
            floods.append(f)
            bases.append(b)
            print(
                f"run {r + 1}: flood {f['rate']:,.0f}/s (cpu {f['cpu_per_100k']:.2f} s/100k, "
                f"rss {f['rss_mib']:.1f} MiB, dups {f['dups']}), baseline {b:,.0f}/s",
                flush=True,
            )
        for r in range(a.runs):
            d = backlog(work, a.backlog)
            drains.append(d)
            print(
                f"run {r + 1}: backlog {a.backlog:,} drained in {d['drain_s']:.2f} s "
                f"(first->last {d['first_to_last_s']:.2f} s, dups {d['dups']})",
                flush=True,
            )
        st = steady(work, a.steady_seconds)
        stz = steady(work, min(a.steady_seconds, 8.0), uplink='compression = "zlib"')
        rest = idle_uplink_share(work, min(10.0, a.steady_seconds - 3))
    rates = [f["rate"] for f in floods]
    print(
        f"\nend-to-end, synthetic -> SQLite queue -> uplink -> mosquitto -> subscriber, "
        f"median of {a.runs}:"
    )
    print(
        f"  flood rate:      {med(rates):>10,.0f} readings/s {spread(rates)}  (target >= 300,000)"
    )
    print(f"  serial baseline: {med(bases):>10,.0f} readings/s {spread(bases)}")
    print(f"  ratio edgerun/baseline: {med(rates) / med(bases):.2f}")
    print(
        f"  CPU:  {med([f['cpu_per_100k'] for f in floods]):.2f} s per 100,000 readings "
        f"(gateway process incl. start-up)"
    )
    print(f"  peak RSS: {med([f['rss_mib'] for f in floods]):.1f} MiB (target <= 80)")
    print(
        f"  backlog {a.backlog:,}: drained in {med([d['drain_s'] for d in drains]):.2f} s "
        f"after the broker returned (target <= 10)"
    )
    print(
        f"  steady 1,000/s: latency p50 {st['p50']:.0f} ms, p99 {st['p99']:.0f} ms "
        f"(targets 150 / 300), CPU {st['cpu_share'] * 100:.1f} % of one core (target <= 3)"
    )
    print(
        f"    of which the uplink: {(st['cpu_share'] - rest) * 100:.1f} % (the same load with "
        f"the uplink disabled: {rest * 100:.1f} %)"
    )
    print(
        f"  wire bytes/reading at 1,000/s: {st['wire']:.1f} plain, {stz['wire']:.1f} zlib "
        f"(target <= 16); flood batches: {med([f['wire'] for f in floods]):.1f} plain"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
