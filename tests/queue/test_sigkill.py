"""A real subprocess ingesting at full rate, SIGKILLed at random moments, then checked.

After each kill the queue is reopened and drained: every reading whose commit completed and
that was not acknowledged is present exactly once (including those leased and never
acknowledged: redelivery), nothing else appears, values still match their ids, and the next
run's ids start above every id seen before. The kill moment is random: after a random
number (1-4) of completed commits plus a random 0-50 ms, so kills land in commits,
checkpoints, leases and offers alike.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import anyio
import msgpack
import pytest

from edgerun.queue import QueueConfig
from edgerun.queue.sqlite import SqliteQueue
from tests.support.proc import REPO, wait_until

pytestmark = pytest.mark.anyio

ROUNDS = 20
SLOW_ROUNDS = 100


def parse(log: Path) -> tuple[int, int, list[tuple[int, int]], int]:
    """(first id, last durable id, acked ranges, held readings) of the last run in ``log``."""
    start = durable = -1
    acked: list[tuple[int, int]] = []
    held = 0
    for line in log.read_text(encoding="ascii").splitlines():
        parts = line.split()
        if len(parts) < 2:
            continue  # a line torn by the kill
        kind = parts[0]
        if kind == "S":
            start, durable, acked, held = int(parts[1]), -1, [], 0
        elif kind == "C":
            durable = int(parts[1])
        elif kind == "A" and len(parts) == 3:
            acked.append((int(parts[1]), int(parts[2])))
        elif kind == "H" and len(parts) == 3:
            held += int(parts[2]) - int(parts[1]) + 1
    return start, durable, acked, held


def commits(log: Path) -> int:
    if not log.exists():
        return 0
    return log.read_text(encoding="ascii").count("\nC ")


def run_child(data_dir: Path, log: Path, seed: int, rng: random.Random) -> None:
    log.write_text("", encoding="ascii")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    child = subprocess.Popen(
        [sys.executable, "-m", "tests.queue.sigkill_child", str(data_dir), str(log), str(seed)],
        env=env,
        cwd=str(REPO),
        stderr=subprocess.PIPE,
    )
    try:
        want = rng.randint(1, 4)
        wait_until(lambda: commits(log) >= want or child.poll() is not None, timeout=30)
        assert child.poll() is None, child.stderr.read() if child.stderr else b""
        time.sleep(rng.uniform(0, 0.05))  # the random kill moment, not a synchronization
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
        if child.stderr:
            child.stderr.close()


async def check_round(data_dir: Path, log: Path, floor: int) -> tuple[int, int]:
    """Verify the queue after a kill; returns (highest id seen, held readings checked)."""
    start, durable, acked, held = parse(log)
    assert start > floor, "ids repeated across restarts"
    assert durable >= start - 1
    q = SqliteQueue(QueueConfig(chunk_readings=200), data_dir)
    await q.open()
    try:
        ids: list[int] = []
        while q.stats().depth_readings:
            b = await q.lease(100_000, 1 << 30, 0)
            unpacker = msgpack.Unpacker(raw=False)
            unpacker.feed(b.rows_blob())
            for r in unpacker:
                ids.append(r[0])
                assert r[0] >= start
                assert r[4] == r[0] - start, "a reading's content does not match its id"
            q.ack(b)
        assert len(ids) == len(set(ids)), "a reading is present twice"
        present = set(ids)
        acked_ids: set[int] = set()
        for first, last in acked:
            acked_ids.update(range(first, last + 1))
        missing = [i for i in range(start, durable + 1) if i not in present and i not in acked_ids]
        assert not missing, f"{len(missing)} committed readings lost, first {missing[:5]}"
        top = max([durable, *ids, *(last for _, last in acked)])
    finally:
        await q.aclose()
    return top, held if durable > start else 0


async def kill_rounds(tmp_path: Path, rounds: int) -> None:
    rng = random.Random(int.from_bytes(os.urandom(4), "big"))
    floor = 0
    held_checked = 0
    for k in range(rounds):
        log = tmp_path / f"child-{k}.log"
        await anyio.to_thread.run_sync(run_child, tmp_path, log, rng.randrange(1 << 30), rng)
        floor, held = await check_round(tmp_path, log, floor)
        held_checked += held
    assert held_checked > 0  # leased-but-unacked readings were part of the check


async def test_sigkill_at_random_moments(tmp_path: Path) -> None:
    with anyio.fail_after(100):
        await kill_rounds(tmp_path, ROUNDS)


@pytest.mark.slow
@pytest.mark.timeout(700)
async def test_sigkill_at_many_random_moments(tmp_path: Path) -> None:
    with anyio.fail_after(600):
        await kill_rounds(tmp_path, SLOW_ROUNDS)
