"""Child process of the SIGKILL test: ingest at full rate, consume some, log what happened.

``python -m tests.queue.sigkill_child DATA_DIR LOG SEED`` writes, line-buffered so a
SIGKILL loses nothing already written:

- ``S <id>``: the id of the first reading accepted by this run (values count up from 0,
  so a reading's value is ``id - S``);
- ``C <id>``: a commit completed; every reading up to ``id`` is on disk or acknowledged;
- ``A <first> <last>``: written *before* acknowledging that chunk;
- ``H <first> <last>``: a chunk leased and deliberately never acknowledged.
"""

from __future__ import annotations

import asyncio
import random
import sys
from pathlib import Path
from typing import TextIO

from edgerun.config.base import Duration
from edgerun.queue import QueueConfig
from edgerun.queue.sqlite import SqliteQueue


async def consume(q: SqliteQueue, log: TextIO, rng: random.Random) -> None:
    while True:
        b = await q.lease(rng.choice((200, 600, 2000)), 1 << 20, 0.01)
        if rng.random() < 0.3:
            for c in b.chunks:
                log.write(f"H {c.first_id} {c.last_id}\n")
            continue
        for c in b.chunks:
            log.write(f"A {c.first_id} {c.last_id}\n")
        q.ack(b)


def open_log(path: Path) -> TextIO:
    return open(path, "a", buffering=1, encoding="ascii")


async def main(data_dir: Path, log_path: Path, seed: int) -> None:
    rng = random.Random(seed)
    log = open_log(log_path)
    q = SqliteQueue(QueueConfig(commit_interval=Duration(0.05), chunk_readings=200), data_dir)
    await q.open()

    def committed(durable: int) -> None:
        log.write(f"C {durable}\n")

    q.on_commit = committed
    run = f"run-{seed}"
    q.offer((1_700_000_000_000, run, "counter", 0, "1", True, None))
    log.write(f"S {q.stats().next_id - 1}\n")
    consumer = asyncio.get_running_loop().create_task(consume(q, log, rng))
    i = 1
    while not consumer.done():
        if not q.offer((1_700_000_000_000 + i, run, "counter", i, "1", True, None)):
            await q.wait_writable()
        i += 1
    await consumer


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3])))
