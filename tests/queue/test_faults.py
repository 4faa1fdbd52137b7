"""Disk full and read-only disks are states, not crashes (a real tmpfs mounted by the test).

The test mounts a small tmpfs (root and a working ``mount`` are required, else it skips),
fills it with a filler file, lets the queue run into ENOSPC, keeps offering, frees the
space and checks that the queue returned to disk by itself with nothing lost beyond the
counted overflow of its bounded memory buffer.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest

from tests.queue.conftest import committed, drain, opened, row

pytestmark = pytest.mark.anyio


@contextlib.contextmanager
def tmpfs(where: Path, size: str) -> Iterator[Path]:
    where.mkdir()
    res = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)],
        capture_output=True,
        check=False,
    )
    if res.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {res.stderr.decode().strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


def fill_up(path: Path, leave: int) -> None:
    """Write a filler file until only ``leave`` bytes stay free."""
    st = os.statvfs(path.parent)
    free = st.f_bavail * st.f_frsize
    with open(path, "wb") as f:
        f.write(b"\0" * max(0, free - leave))


def remount(where: Path, mode: str) -> None:
    subprocess.run(["mount", "-o", f"remount,{mode}", str(where)], check=True)


async def fill_until_degraded(mnt: Path, **settings: Any) -> tuple[Any, int]:
    """A queue on ``mnt`` with 2,000 readings committed, then the disk filled up and offers
    continued until the queue reports itself degraded; returns the queue and the next value."""
    q = await opened(
        mnt,
        chunk_readings=100,
        commit_interval=0.02,
        memory_max_bytes=256 * 1024,
        retry_interval=0.2,
        **settings,
    )
    for i in range(2000):
        q.offer(row(i))
    await committed(q)
    await anyio.to_thread.run_sync(fill_up, mnt / "filler", 16 * 1024)
    n = 2000
    with anyio.fail_after(20):
        while not q.stats().degraded:
            if not q.offer(row(n)):
                await q.wait_writable()
            n += 1
    return q, n


async def test_disk_full_degrades_then_recovers(tmp_path: Path) -> None:
    with tmpfs(tmp_path / "mnt", "4m") as mnt:
        q, n = await fill_until_degraded(mnt)
        # keep accepting well past the memory bound while the disk is full
        for _ in range(30_000):
            q.offer(row(n))
            n += 1
        st = q.stats()
        assert st.degraded
        assert "full" in st.degraded_reason
        assert st.memory_bytes <= 256 * 1024 + 100 * 64  # the bound plus the chunk being sealed
        assert st.dropped["overflow"] > 0
        await anyio.to_thread.run_sync(os.unlink, mnt / "filler")
        with anyio.fail_after(20):
            while q.stats().degraded:
                await q._committed.wait(1.0)
        await committed(q)
        dropped = q.stats().dropped["overflow"]
        await q.aclose()

        q2 = await opened(mnt, chunk_readings=100)
        vals = [r[4] for r in await drain(q2)]
        assert len(vals) == len(set(vals))
        assert len(vals) + dropped == n
        # the readings committed before the disk filled up are all there
        assert set(range(2000)) <= set(vals)
        await q2.aclose()


async def test_read_only_disk_at_start_then_writable(tmp_path: Path) -> None:
    with tmpfs(tmp_path / "mnt", "8m") as mnt:
        q = await opened(mnt, chunk_readings=100)
        for i in range(1000):
            q.offer(row(i))
        await q.aclose()
        await anyio.to_thread.run_sync(remount, mnt, "ro")
        q = await opened(mnt, chunk_readings=100, commit_interval=0.02, retry_interval=0.2)
        assert q.stats().degraded
        for i in range(1000, 1500):
            q.offer(row(i))
        live = await q.lease(1000, 1 << 20, 0.01)
        assert min(r[4] for r in decode_rows(live)) >= 1000  # memory readings flow meanwhile
        q.nack(live)
        await anyio.to_thread.run_sync(remount, mnt, "rw")
        with anyio.fail_after(20):
            while q.stats().degraded:
                q._kick.set()
                await q._committed.wait(1.0)
        await committed(q)
        await q.aclose()
        q2 = await opened(mnt)
        vals = sorted(r[4] for r in await drain(q2))
        assert vals == list(range(1500))
        await q2.aclose()


def decode_rows(batch: object) -> list[list[Any]]:
    from tests.queue.conftest import decode

    return decode(batch)  # type: ignore[arg-type]


async def test_stored_backlog_drains_while_the_disk_is_full(tmp_path: Path) -> None:
    with tmpfs(tmp_path / "mnt", "4m") as mnt:
        q, n = await fill_until_degraded(mnt, cache_bytes=0)
        # The link is up: the uplink drains everything, the stored backlog included (a
        # full disk still reads, cache_bytes=0 makes every stored chunk a disk read).
        seen: list[int] = []
        while q.stats().depth_readings - q.stats().leased_readings > 0:
            b = await q.lease(10_000, 1 << 30, 0)
            seen.extend(r[4] for r in decode_rows(b))
            q.ack(b)
        assert sorted(seen) == list(range(n))
        assert q.stats().dropped["corrupt"] == 0
        for _ in range(500):
            q.offer(row(n))
            n += 1
        await anyio.to_thread.run_sync(os.unlink, mnt / "filler")
        with anyio.fail_after(20):
            while q.stats().degraded:
                q._kick.set()
                await q._committed.wait(1.0)
        await committed(q)
        await q.aclose()
        # the acks became deletes once space was back; only the last readings remain
        q2 = await opened(mnt)
        vals = [r[4] for r in await drain(q2)]
        assert vals == list(range(n - 500, n))
        await q2.aclose()
