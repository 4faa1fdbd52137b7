"""Benchmark of the uplink alone: queue -> MQTT QoS 1 -> an independent subscriber.

One command, about a minute:

    .venv/bin/python bench/uplink_bench.py [--runs 5] [--readings 200000]

What it measures, each a median of ``--runs`` runs against a fresh mosquitto on loopback:

- **drain rate**: readings/s from a pre-filled memory queue through :class:`Uplink` (window
  16, 500-reading batches) until the last PUBACK, checked by a separate subscriber process
  (paho + msgpack, no edgerun code) that must see every reading id;
- **baseline**: the same payload bytes published by a bare pipelined aiomqtt loop (16
  concurrent QoS 1 publishes, no queue, no window logic) — the ratio shows what the
  uplink's bookkeeping costs;
- **CPU seconds per 100,000 readings** of the uplink process;
- **wire bytes per reading** for each payload form (msgpack/JSON, with/without zlib) and
  the encoder's CPU cost per reading.

``--counter`` runs the subscriber half (used by this script and by bench/e2e_bench.py).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


# --------------------------------------------------------------------------- counter
def run_counter(argv: list[str]) -> int:
    """Subscribe, count readings until ``--expect`` unique ids arrived, write JSON results."""
    import msgpack
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--topic", default="edgerun/+/data")
    p.add_argument("--expect", type=int, required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--timeout", type=float, default=300)
    p.add_argument("--latency", action="store_true", help="record arrival - ts per reading")
    p.add_argument("--client-id", help="resume this persistent session (clean_session off)")
    a = p.parse_args(argv)
    import threading
    import zlib

    done = threading.Event()
    ids: set[int] = set()
    st: dict[str, Any] = {
        "readings": 0,
        "messages": 0,
        "bytes": 0,
        "first_arrival": None,
        "last_arrival": None,
        "min_ts": None,
        "hist_messages": 0,
    }
    lat: list[int] = []

    def on_message(client: Any, userdata: Any, msg: Any) -> None:
        now = time.time()
        data = msg.payload
        st["bytes"] += len(data)
        if data[:1] == b"\x78":
            data = zlib.decompress(data)
        doc = json.loads(data) if data[:1] == b"{" else msgpack.unpackb(data, raw=False)
        rows = doc["rows"]
        cols = doc["cols"]
        i_id, i_ts = cols.index("id"), cols.index("ts")
        st["messages"] += 1
        st["readings"] += len(rows)
        st["hist_messages"] += bool(doc["hist"])
        if st["first_arrival"] is None:
            st["first_arrival"] = now
        st["last_arrival"] = now
        ts0 = min(r[i_ts] for r in rows)
        if st["min_ts"] is None or ts0 < st["min_ts"]:
            st["min_ts"] = ts0
        ids.update(r[i_id] for r in rows)
        if a.latency:
            now_ms = now * 1000
            lat.extend(int(now_ms - r[i_ts]) for r in rows)
        if len(ids) >= a.expect:
            done.set()

    c = mqtt.Client(
        CallbackAPIVersion.VERSION2,
        client_id=a.client_id or f"bench-counter-{os.getpid()}",
        clean_session=a.client_id is None,
    )
    c.on_message = on_message
    c.max_inflight_messages_set(0)
    c.connect("127.0.0.1", a.port, 60)
    c.subscribe(a.topic, qos=1)
    c.loop_start()
    print("ready", flush=True)
    ok = done.wait(a.timeout)
    c.loop_stop()
    st["unique"] = len(ids)
    st["duplicates"] = st["readings"] - len(ids)
    st["complete"] = ok
    if lat:
        lat.sort()
        st["latency_ms_p50"] = lat[len(lat) // 2]
        st["latency_ms_p99"] = lat[min(len(lat) - 1, len(lat) * 99 // 100)]
        st["latency_ms_max"] = lat[-1]
    Path(a.out).write_text(json.dumps(st))
    return 0 if ok else 1


class Counter:
    """The counter as a subprocess."""

    def __init__(
        self,
        port: int,
        expect: int,
        workdir: Path,
        *,
        latency: bool = False,
        timeout: float = 300,
        client_id: str | None = None,
    ) -> None:
        self.out = workdir / f"counter-{time.monotonic_ns()}.json"
        cmd = [
            sys.executable,
            __file__,
            "--counter",
            "--port",
            str(port),
            "--expect",
            str(expect),
            "--out",
            str(self.out),
            "--timeout",
            str(timeout),
        ]
        if client_id is not None:
            cmd += ["--client-id", client_id]
        if latency:
            cmd.append("--latency")
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if line.strip() != "ready":
            raise RuntimeError("counter did not start")

    def result(self, timeout: float = 300) -> dict[str, Any]:
        self.proc.wait(timeout=timeout)
        res: dict[str, Any] = json.loads(self.out.read_text())
        return res

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def prime_session(port: int, client_id: str, topic: str = "edgerun/+/data") -> None:
    """Create a persistent QoS 1 subscription, so the broker queues messages for it."""
    import threading

    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    subscribed = threading.Event()
    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=False)
    c.on_subscribe = lambda *args: subscribed.set()
    c.connect("127.0.0.1", port)
    c.subscribe(topic, qos=1)
    c.loop_start()
    if not subscribed.wait(10):
        raise RuntimeError("no SUBACK")
    c.disconnect()
    c.loop_stop()


def start_broker(workdir: Path, port: int | None = None) -> Any:
    from tests.support.mosquitto import Mosquitto

    return Mosquitto(workdir, port=port, extra_config="max_inflight_messages 1000").start()


def median(xs: list[float]) -> float:
    return statistics.median(xs)


def spread(xs: list[float]) -> str:
    return f"[{min(xs):,.0f}–{max(xs):,.0f}]"


# ---------------------------------------------------------------------- measurements
def typical_rows(n: int, first_id: int = 10**12, seed: int = 1) -> list[list[Any]]:
    """Readings like a real site's: 50 devices, 3 quantities, 1-2 decimals, 20 ms apart."""
    rng = random.Random(seed)
    t = 1_764_115_200_000
    qs = [
        ("temperature", "°C", lambda: round(rng.gauss(21, 2), 1)),
        ("relative_humidity", "%", lambda: round(rng.uniform(30, 60), 1)),
        ("voltage", "V", lambda: round(rng.uniform(2.9, 3.3), 2)),
    ]
    rows = []
    for k in range(n):
        q, unit, f = qs[(k // 50) % 3]
        rows.append([first_id + k, t + 20 * k, f"mesh/node-{k % 50}", q, f(), unit, True, None])
    return rows


def wire_bytes() -> list[tuple[str, float, float, float]]:
    from edgerun.payload import Encoder

    out = []
    rows500 = typical_rows(500)
    rows50 = typical_rows(50)
    for enc in ("msgpack", "json"):
        for comp in ("none", "zlib"):
            e = Encoder("gw-0001", encoding=enc, compression=comp)  # type: ignore[arg-type]
            b500 = len(e.encode_rows(rows500)) / 500
            b50 = len(e.encode_rows(rows50)) / 50
            import msgpack

            blob = msgpack.packb(rows500)[3:]
            t0 = time.process_time()
            k = 0
            while time.process_time() - t0 < 0.3:
                e.encode_blob(500, blob, False)
                k += 1
            us = (time.process_time() - t0) / (k * 500) * 1e6
            out.append((f"{enc}{'+zlib' if comp == 'zlib' else ''}", b500, b50, us))
    return out


async def uplink_run(port: int, n: int, workdir: Path) -> tuple[float, float, dict[str, Any]]:
    import anyio

    from edgerun.config.base import convert
    from edgerun.config.model import GatewayConfig
    from edgerun.queue.base import Batch
    from edgerun.queue.config import QueueConfig
    from edgerun.queue.memory import MemoryQueue
    from edgerun.uplink.config import UplinkConfig
    from edgerun.uplink.uplink import Uplink

    all_acked = anyio.Event()

    class CountingQueue(MemoryQueue):
        def ack(self, batch: Batch) -> None:
            super().ack(batch)
            if self._stats.acked >= n:  # the counter, without building a snapshot
                all_acked.set()

    q = CountingQueue(QueueConfig(backend="memory", chunk_readings=500, live_window=3600))
    await q.open()
    now = time.time_ns() // 1_000_000
    for k in range(n):
        q.offer(
            (now + k, f"mesh/node-{k % 50}", "temperature", 20 + (k % 40) / 10, "°C", True, None)
        )
    counter = Counter(port, n, workdir)
    cfg = convert({"url": f"mqtt://127.0.0.1:{port}"}, UplinkConfig)
    up = Uplink(cfg, GatewayConfig(id="gw-bench", data_dir="/nonexistent"), q, dict)
    cpu0 = time.process_time()
    t0 = time.perf_counter()
    async with anyio.create_task_group() as tg:
        await tg.start(up.run)
        await all_acked.wait()
        elapsed = time.perf_counter() - t0
        cpu = time.process_time() - cpu0
        tg.cancel_scope.cancel()
    res = counter.result()
    return n / elapsed, cpu / n * 100_000, res


async def baseline_run(port: int, n: int, workdir: Path) -> tuple[float, dict[str, Any]]:
    """The same bytes through a bare pipelined aiomqtt publisher (16 concurrent)."""
    import aiomqtt
    import anyio
    import msgpack

    from edgerun.payload import Encoder

    enc = Encoder("gw-base")
    now = time.time_ns() // 1_000_000
    payloads = []
    for b in range(n // 500):
        rows = [
            [b * 500 + k, now + k, f"mesh/node-{k % 50}", "temperature", 20.5, "°C", True, None]
            for k in range(500)
        ]
        payloads.append(enc.encode_blob(500, msgpack.packb(rows)[3:], False))
    counter = Counter(port, n, workdir)
    t0 = time.perf_counter()
    async with aiomqtt.Client(
        "127.0.0.1", port, max_inflight_messages=0, identifier="bench-baseline"
    ) as c:
        c.pending_calls_threshold = 1 << 30
        it = iter(payloads)

        async def worker() -> None:
            for p in it:
                await c.publish("edgerun/gw-base/data", p, qos=1)

        async with anyio.create_task_group() as tg:
            for _ in range(16):
                tg.start_soon(worker)
    elapsed = time.perf_counter() - t0
    return n / elapsed, counter.result()


async def steady_share(port: int, seconds: float, with_uplink: bool) -> float:
    """CPU share of this process feeding 1,000 readings/s, with or without the uplink."""
    import anyio

    from edgerun.config.base import convert
    from edgerun.config.model import GatewayConfig
    from edgerun.queue.config import QueueConfig
    from edgerun.queue.memory import MemoryQueue
    from edgerun.uplink.config import UplinkConfig
    from edgerun.uplink.uplink import Uplink

    q = MemoryQueue(QueueConfig(backend="memory"))
    await q.open()
    cfg = convert({"url": f"mqtt://127.0.0.1:{port}"}, UplinkConfig)
    up = Uplink(cfg, GatewayConfig(id="gw-steady", data_dir="/nonexistent"), q, dict)
    async with anyio.create_task_group() as tg:
        if with_uplink:
            await tg.start(up.run)
        k = 0
        start = time.monotonic()
        cpu0 = time.process_time()
        while time.monotonic() - start < seconds:
            now = time.time_ns() // 1_000_000
            for _ in range(10):
                q.offer((now, f"mesh/node-{k % 50}", "temperature", 21.5, "°C", True, None))
                k += 1
            await anyio.sleep(0.01)
        share = (time.process_time() - cpu0) / (time.monotonic() - start)
        tg.cancel_scope.cancel()
    return share


def main(argv: list[str]) -> int:
    if argv[:1] == ["--counter"]:
        return run_counter(argv[1:])
    import anyio

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--readings", type=int, default=200_000)
    a = p.parse_args(argv)
    n = a.readings // 500 * 500
    print("payload forms (typical readings):")
    print(f"  {'form':<14} {'B/reading @500':>15} {'B/reading @50':>14} {'encode µs/reading':>18}")
    for form, b500, b50, us in wire_bytes():
        print(f"  {form:<14} {b500:>15.1f} {b50:>14.1f} {us:>18.3f}")
    rates, cpus, base = [], [], []
    dups = 0
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        broker = start_broker(work / "broker")
        try:
            for r in range(a.runs):
                rate_b, res_b = anyio.run(baseline_run, broker.port, n, work)
                rate, cpu, res = anyio.run(uplink_run, broker.port, n, work)
                if not (res["complete"] and res_b["complete"]):
                    raise RuntimeError("the subscriber missed readings")
                dups += res["duplicates"]
                base.append(rate_b)
                rates.append(rate)
                cpus.append(cpu)
                print(
                    f"  run {r + 1}: uplink {rate:,.0f}/s, baseline {rate_b:,.0f}/s, "
                    f"uplink CPU {cpu:.3f} s/100k"
                )
        finally:
            broker.close()
    with tempfile.TemporaryDirectory() as tmp:
        broker = start_broker(Path(tmp) / "broker-steady")
        try:
            shares = []
            for _ in range(3):
                without = anyio.run(steady_share, broker.port, 5.0, False)
                with_ = anyio.run(steady_share, broker.port, 5.0, True)
                shares.append((with_ - without) * 100)
        finally:
            broker.close()
    print(f"\nuplink drain, {n:,} readings, window 16, 500/batch, median of {a.runs}:")
    print(f"  uplink:   {median(rates):>10,.0f} readings/s {spread(rates)}")
    print(
        f"  baseline: {median(base):>10,.0f} readings/s {spread(base)} (bare aiomqtt, same bytes)"
    )
    print(f"  ratio uplink/baseline: {median(rates) / median(base):.2f}")
    print(f"  uplink CPU: {median(cpus):.3f} s per 100,000 readings (incl. the MQTT client)")
    print(
        f"  uplink CPU at a steady 1,000 readings/s (default settings): "
        f"{median(shares):.2f} % of one core (with minus without the uplink, same process, "
        f"median of 3 x 5 s)"
    )
    print(f"  duplicates seen by the subscriber: {dups} (every reading id arrived)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
