"""Command path benchmark: round-trip latency and refusal throughput through a real broker.

Each run starts its own mosquitto and the real stack in one process — uplink, command router
(replay store on disk, ``synchronous=FULL``), GPIO driver on the simulated chip with an input
sampled every 10 ms whose readings travel to a subscriber — and a datacenter-side MQTT 5 client.

1. **Round trip**: ``toggle`` commands sent one after another (response topic + correlation
   data), time from publish to result. Baseline in the same run: the same client's request
   answered by a bare MQTT echo responder on the same broker (the network and broker share of
   the figure).
2. **Hostile flood**: ``--flood`` refused commands (malformed, invalid, denied, expired, in
   turn) published at once; refusals answered per second, and the readings reaching the
   subscriber per second during the flood against the rate before it (1.0 = unaffected).

    .venv/bin/python bench/commands_bench.py [--runs 3] [--commands 200] [--flood 2000]
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import aiomqtt  # noqa: E402
import anyio  # noqa: E402
from paho.mqtt.packettypes import PacketTypes  # noqa: E402
from paho.mqtt.properties import Properties  # noqa: E402

from tests.commands.sender import Sender  # noqa: E402
from tests.commands.stack import build_stack  # noqa: E402
from tests.support.mosquitto import Mosquitto  # noqa: E402
from tests.uplink.helpers import Collector  # noqa: E402

GW = "gw-bench"
TOPIC = f"edgerun/{GW}/cmd/io/relay"


async def echo(host: str, port: int, *, task_status: Any = anyio.TASK_STATUS_IGNORED) -> None:
    async with aiomqtt.Client(host, port, protocol=aiomqtt.ProtocolVersion.V5) as client:
        await client.subscribe("bench/echo", qos=1)
        task_status.started()
        async for msg in client.messages:
            props = Properties(PacketTypes.PUBLISH)
            props.CorrelationData = msg.properties.CorrelationData  # type: ignore[union-attr]
            topic = msg.properties.ResponseTopic  # type: ignore[union-attr]
            await client.publish(topic, msg.payload, qos=1, properties=props)


async def round_trips(sender: Sender, topic: str, n: int, make: Any) -> list[float]:
    out = []
    for i in range(n):
        corr = f"{topic}-{i}".encode()
        t0 = time.perf_counter()
        await sender.send(topic, make(i), response_topic="bench/replies", correlation=corr)
        await sender.wait_for(lambda c=corr: sender.by_correlation(c) is not None, 10, "answer")
        out.append((time.perf_counter() - t0) * 1000)
    return out


def hostile(i: int) -> bytes:
    kind = i % 4
    if kind == 0:
        return b"{not json"
    if kind == 1:
        return json.dumps({"id": f"f-{i}", "action": "SET"}).encode()
    if kind == 2:
        return json.dumps({"id": f"f-{i}", "action": "reboot"}).encode()
    return json.dumps({"id": f"f-{i}", "action": "set", "expires_at": 1}).encode()


async def one_run(workdir: Path, n_cmd: int, n_flood: int) -> dict[str, float]:
    with Mosquitto(workdir / "broker") as broker:
        stack = await build_stack(
            broker.url,
            workdir / "data",
            GW,
            gpio={
                "inputs": [{"name": "door", "line": 4, "mode": "level", "interval": 0.01}],
                "outputs": [{"name": "relay", "line": 17}],
            },
            commands={
                "allow": [{"driver": "io", "targets": ["relay"], "actions": ["toggle", "set"]}],
                "max_pending": max(64, n_flood),
            },
        )
        collector = Collector(broker.host, broker.port)
        sender = Sender(broker.host, broker.port, ["bench/replies"])
        out: dict[str, float] = {}
        async with anyio.create_task_group() as tg:
            await tg.start(collector.run)
            await tg.start(sender.run)
            await tg.start(echo, broker.host, broker.port)
            await stack.start(tg)
            # Wait for the router's subscription to be live.
            with anyio.fail_after(15):
                i = 0
                while not sender.results:
                    i += 1
                    await sender.send(
                        TOPIC,
                        {"id": f"warm-{i}", "action": "set", "args": {"value": False}},
                        response_topic="bench/replies",
                        correlation=b"w%d" % i,
                    )
                    with anyio.move_on_after(0.3):
                        await sender.wait_for(lambda: bool(sender.results), 1, "warm-up")
            base = await round_trips(sender, "bench/echo", n_cmd, lambda i: b"{}")
            cmd = await round_trips(
                sender, TOPIC, n_cmd, lambda i: {"id": f"rt-{i}", "action": "toggle"}
            )
            out["echo_ms"] = statistics.median(base)
            out["command_ms"] = statistics.median(cmd)

            def door(t0: float, t1: float) -> int:
                return sum(
                    1 for t, r in collector.arrivals if r["dev"] == "io/door" and t0 <= t < t1
                )

            t_before = time.monotonic()
            await anyio.sleep(1.0)  # the reading rate before the flood, over one second
            before = door(t_before, time.monotonic()) / (time.monotonic() - t_before)
            sender.results.clear()
            t0 = time.monotonic()
            for i in range(n_flood):
                await sender.send(  # QoS 0: the sender does not pace the flood
                    TOPIC, hostile(i), response_topic="bench/replies", correlation=b"f%d" % i, qos=0
                )
            await sender.wait_for(lambda: len(sender.results) >= n_flood, 60, "all refused")
            t1 = time.monotonic()
            during = door(t0, t1) / (t1 - t0)
            out["refusals_per_s"] = n_flood / (t1 - t0)
            out["readings_ratio"] = during / before if before else float("nan")
            assert all(r.body["status"] == "error" for r in sender.results)
            tg.cancel_scope.cancel()
        return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--commands", type=int, default=200)
    ap.add_argument("--flood", type=int, default=2000)
    args = ap.parse_args()
    logging.basicConfig(level=logging.ERROR)  # a flood logs one warning per refusal
    results = []
    for run in range(args.runs):
        with tempfile.TemporaryDirectory() as tmp:
            res = anyio.run(one_run, Path(tmp), args.commands, args.flood)
        results.append(res)
        print(f"run {run + 1}: " + ", ".join(f"{k}={v:.2f}" for k, v in res.items()), flush=True)

    def med(key: str) -> float:
        return statistics.median(r[key] for r in results)

    print(f"round trip, median of {args.runs} runs x {args.commands} commands:")
    print(f"  command (toggle, replay store fsync, GPIO write): {med('command_ms'):.2f} ms")
    print(f"  baseline MQTT 5 echo on the same broker:          {med('echo_ms'):.2f} ms")
    ratio = med("command_ms") / med("echo_ms")
    print(f"  ratio command / echo:                             {ratio:.1f}x")
    print(f"hostile flood of {args.flood} commands:")
    print(f"  refusals answered per second:                     {med('refusals_per_s'):.0f}")
    print(f"  readings/s during flood / before:                 {med('readings_ratio'):.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
