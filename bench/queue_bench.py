"""Durable queue benchmark: throughput, disk bytes written per reading, RSS of a backlog.

Every measurement runs in a fresh child process pinned to one core (so "readings/s on one
core" means it, and RSS is not polluted by earlier runs), ``--runs`` times; the figures are
medians with the [min-max] range.

1. **Throughput**: readings offered -> leased -> acked through the SQLite queue with the
   default settings (1 s group commit), the uplink side keeping up. Baseline measured in the
   same run: SQLite alone inserting the same rows with ``executemany`` (WAL,
   ``synchronous=FULL``, 1000 rows per transaction), no ids, no leasing, no acks.
2. **Disk bytes written per reading** (``/proc/self/io`` ``write_bytes``, all threads) over
   the encoded size of a reading, in two cases: *backlog* (the link is down: every reading
   is committed, checkpointed, later leased, acked and deleted) and *steady* (the link keeps
   up: memory first, almost nothing written).
3. **RSS growth** with a 1,000,000-reading backlog on disk, against the same backlog in the
   memory queue (what holding it in RAM costs).

    .venv/bin/python bench/queue_bench.py [--runs 3] [--readings 1000000] [--dir DIR]

``--dir`` (default: the system temp folder) must be on the disk under test: on a tmpfs
``write_bytes`` stays 0 and fsync costs nothing.

Targets (issue 3): >= 300,000 readings/s; <= 3x the encoded size written; <= 20 MB RSS growth.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

DEVICES = [f"mesh/node-{i}" for i in range(50)]


def rows(n: int) -> list[tuple[Any, ...]]:
    """Realistic readings: 50 devices, a float value, a small ``extra`` on one in ten."""
    t0 = 1_760_000_000_000
    out = []
    for i in range(n):
        extra = {"rssi": -60 - i % 30} if i % 10 == 0 else None
        out.append(
            (t0 + i, DEVICES[i % 50], "temperature", 20.0 + (i % 100) / 10, "Cel", True, extra)
        )
    return out


def write_bytes() -> int:
    with open("/proc/self/io", encoding="ascii") as f:
        for line in f:
            if line.startswith("write_bytes:"):
                return int(line.split()[1])
    return 0


def rss_bytes() -> int:
    with open("/proc/self/status", encoding="ascii") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


# --------------------------------------------------------------------------- children
async def _flow(data: Path, n: int, consumer_online: bool) -> dict[str, float]:
    from edgerun.queue import QueueConfig
    from edgerun.queue.sqlite import SqliteQueue

    src = rows(min(n, 100_000))
    q = SqliteQueue(QueueConfig(), data)
    await q.open()
    encoded = 0
    got = 0

    async def consume(target: int) -> None:
        nonlocal got, encoded
        while got < target:
            b = await q.lease(5000, 1 << 20, 0.05)
            got += b.count
            encoded += b.nbytes
            q.ack(b)

    w0 = write_bytes()
    t0 = time.perf_counter()
    task = asyncio.get_running_loop().create_task(consume(n)) if consumer_online else None
    m = len(src)
    for i in range(n):
        if not q.offer(src[i % m]):
            await q.wait_writable()
    if task is not None:
        await task
    elapsed = time.perf_counter() - t0
    if task is None:  # backlog: wait for it to be on disk, then drain it like a reconnect
        while q.stats().memory_bytes or q.stats().durable_id < q.stats().next_id - 1:
            q._kick.set()
            await q._committed.wait(1.0)
        await consume(n)
    await q.aclose()
    written = write_bytes() - w0
    return {
        "rate": n / elapsed,
        "written_per_reading": written / n,
        "encoded_per_reading": encoded / n,
    }


def child_flow(args: argparse.Namespace) -> dict[str, float]:
    with tempfile.TemporaryDirectory(dir=args.dir) as d:
        return asyncio.run(_flow(Path(d), args.readings, args.consumer == "online"))


def child_baseline(args: argparse.Namespace) -> dict[str, float]:
    import msgpack

    src = rows(min(args.readings, 100_000))
    with tempfile.TemporaryDirectory(dir=args.dir) as d:
        con = sqlite3.connect(Path(d) / "base.db", isolation_level=None)
        con.execute("PRAGMA journal_mode=WAL")
        con.execute("PRAGMA synchronous=FULL")
        con.execute("CREATE TABLE q(id INTEGER PRIMARY KEY, ts, dev, q, val, unit, sync, x BLOB)")
        n = args.readings
        m = len(src)
        t0 = time.perf_counter()
        for start in range(0, n, 1000):
            batch = [src[i % m] for i in range(start, min(n, start + 1000))]
            con.execute("BEGIN")
            con.executemany(
                "INSERT INTO q(ts, dev, q, val, unit, sync, x) VALUES (?,?,?,?,?,?,?)",
                [(*r[:6], msgpack.packb(r[6]) if r[6] else None) for r in batch],
            )
            con.execute("COMMIT")
        elapsed = time.perf_counter() - t0
        con.close()
    return {"rate": n / elapsed}


async def _backlog_rss(data: Path, n: int, backend: str) -> dict[str, float]:
    from edgerun.queue import QueueConfig, open_queue

    src = rows(100_000)
    q = open_queue(QueueConfig(backend=backend), data)  # type: ignore[arg-type]
    await q.open()
    before = rss_bytes()
    for i in range(n):
        if not q.offer(src[i % 100_000]):
            await q.wait_writable()
    if backend == "sqlite":
        while q.stats().memory_bytes or q.stats().durable_id < q.stats().next_id - 1:
            q._kick.set()  # type: ignore[attr-defined]
            await q._committed.wait(1.0)  # type: ignore[attr-defined]
    after = rss_bytes()
    depth = q.stats().depth_readings
    await q.aclose()
    return {"growth": after - before, "depth": depth}


def child_rss(args: argparse.Namespace) -> dict[str, float]:
    with tempfile.TemporaryDirectory(dir=args.dir) as d:
        return asyncio.run(_backlog_rss(Path(d), args.readings, args.backend))


CHILDREN = {"flow": child_flow, "baseline": child_baseline, "rss": child_rss}


# ----------------------------------------------------------------------------- parent
def spawn(kind: str, args: argparse.Namespace, *extra: str) -> dict[str, float]:
    cmd = [
        sys.executable,
        __file__,
        "--child",
        kind,
        "--readings",
        str(args.readings),
        "--dir",
        str(args.dir),
        *extra,
    ]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True, cwd=REPO)
    return json.loads(out.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def med(values: list[float]) -> str:
    return f"{statistics.median(values):,.0f} [{min(values):,.0f}-{max(values):,.0f}]"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--readings", type=int, default=1_000_000)
    ap.add_argument("--dir", default=tempfile.gettempdir(), help="folder on the disk to test")
    ap.add_argument("--child", choices=sorted(CHILDREN))
    ap.add_argument("--consumer", choices=("online", "offline"), default="online")
    ap.add_argument("--backend", choices=("sqlite", "memory"), default="sqlite")
    args = ap.parse_args()
    if args.child:
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
        print(json.dumps(CHILDREN[args.child](args)))
        return
    Path(args.dir).mkdir(parents=True, exist_ok=True)
    runs = max(3, args.runs)
    n = args.readings
    print(f"queue benchmark: {runs} runs each, {n:,} readings, one core, disk under {args.dir}")
    print("load average before: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))

    ours, base, steady, backlog, rss, rss_mem = [], [], [], [], [], []
    for _ in range(runs):
        ours.append(spawn("flow", args, "--consumer", "online"))
        base.append(spawn("baseline", args))
        backlog.append(spawn("flow", args, "--consumer", "offline"))
        rss.append(spawn("rss", args, "--backend", "sqlite"))
        rss_mem.append(spawn("rss", args, "--backend", "memory"))
    steady = ours

    rate = [r["rate"] for r in ours]
    brate = [r["rate"] for r in base]
    ratio = statistics.median(rate) / statistics.median(brate)
    print("\n1. enqueue -> lease -> ack, default settings (1 s group commit, synchronous=FULL)")
    print(f"   edgerun queue                 {med(rate)} readings/s   (target >= 300,000)")
    print(f"   baseline executemany (FULL)   {med(brate)} rows/s")
    print(f"   ratio queue / baseline        {ratio:.2f}")

    enc = statistics.median(r["encoded_per_reading"] for r in backlog)
    wb = [r["written_per_reading"] for r in backlog]
    ws = [r["written_per_reading"] for r in steady]
    print("\n2. disk bytes written per reading (/proc/self/io write_bytes)")
    print(f"   encoded size of a reading     {enc:.1f} B")
    print(
        f"   backlog (link down, drained later)  {statistics.median(wb):.1f} B"
        f" [{min(wb):.1f}-{max(wb):.1f}] = {statistics.median(wb) / enc:.2f}x encoded"
        " (target <= 3x)"
    )
    print(
        f"   consumer online (test 1)            {statistics.median(ws):.1f} B"
        f" = {statistics.median(ws) / enc:.2f}x encoded (memory first)"
    )
    print(f"   backlog ingest rate            {med([r['rate'] for r in backlog])} readings/s")

    g = [r["growth"] / 1e6 for r in rss]
    gm = [r["growth"] / 1e6 for r in rss_mem]
    print(f"\n3. RSS growth with a {n:,}-reading backlog")
    print(f"   SQLite queue                  {mb(g)} (target <= 20 MB)")
    print(f"   baseline: memory queue        {mb(gm)}")
    print(f"   ratio SQLite / memory         {statistics.median(g) / statistics.median(gm):.2f}")
    print("\nload average after: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))


def mb(values: list[float]) -> str:
    return f"{statistics.median(values):.1f} MB [{min(values):.1f}-{max(values):.1f}]"


if __name__ == "__main__":
    main()
