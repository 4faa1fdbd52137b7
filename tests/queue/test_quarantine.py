"""Unusable queue files at start: moved aside, fresh queue, ids continue above the old mark."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import anyio
import pytest

from edgerun.queue.quarantine import MARK
from tests.queue.conftest import committed, drain, opened, row
from tests.support.proc import REPO

pytestmark = pytest.mark.anyio


async def fill(data_dir: Path, n: int = 3000) -> int:
    """A queue with ``n`` readings on disk; returns the highest id handed out."""
    q = await opened(data_dir, chunk_readings=100)
    for i in range(n):
        q.offer(row(i))
    top = q.stats().next_id - 1
    await q.aclose()
    return top


def db_path(data_dir: Path) -> Path:
    return data_dir / "queue" / "readings.db"


def truncate(p: Path) -> None:
    with open(p, "r+b") as f:
        f.truncate(os.path.getsize(p) // 2)


def garbage(p: Path) -> None:
    p.write_bytes(os.urandom(64 * 1024))


def directory(p: Path) -> None:
    for s in ("", "-wal", "-shm"):
        Path(f"{p}{s}").unlink(missing_ok=True)
    p.mkdir()
    (p / "stray").write_text("x")


def foreign(p: Path) -> None:
    for s in ("", "-wal", "-shm"):
        Path(f"{p}{s}").unlink(missing_ok=True)
    con = sqlite3.connect(p)
    con.execute("CREATE TABLE other(x)")
    con.commit()
    con.close()


def damaged_page(p: Path) -> None:
    # Overwrite the middle of the file (b-tree and overflow pages), keep the header.
    size = os.path.getsize(p)
    with open(p, "r+b") as f:
        f.seek(4096)
        f.write(os.urandom(size // 2))


def tear_wal(wal: Path) -> None:
    if wal.exists() and wal.stat().st_size > 4096:
        with open(wal, "r+b") as f:
            f.truncate(wal.stat().st_size - 1000)


def quarantined_copies(folder: Path, name: str) -> list[Path]:
    return list(folder.glob(name + MARK + "*"))


@pytest.mark.parametrize(
    "damage",
    [truncate, garbage, directory, foreign, damaged_page],
    ids=["truncated", "garbage", "directory", "foreign", "damaged-pages"],
)
async def test_unusable_database_is_quarantined(
    tmp_path: Path, damage: Callable[[Path], None]
) -> None:
    top = await fill(tmp_path)
    damage(db_path(tmp_path))
    q = await opened(tmp_path, chunk_readings=100)
    st = q.stats()
    assert st.quarantined >= 1
    assert not st.degraded
    assert quarantined_copies(tmp_path / "queue", "readings.db")
    q.offer(row(1))
    b = await q.lease(10, 1 << 20, 0)
    assert b.first_id > top
    q.ack(b)
    await q.aclose()


async def test_truncated_wal_loses_only_the_torn_commit(tmp_path: Path) -> None:
    q = await opened(tmp_path, chunk_readings=100, verify_on_open=False)
    for i in range(3000):
        q.offer(row(i))
    await q.aclose()
    tear_wal(Path(f"{db_path(tmp_path)}-wal"))
    q2 = await opened(tmp_path)
    vals = sorted(r[4] for r in await drain(q2))
    assert vals == list(range(len(vals)))  # a torn tail at most, never a hole
    assert q2.stats().quarantined == 0
    await q2.aclose()


async def test_queue_folder_replaced_by_a_file(tmp_path: Path) -> None:
    top = await fill(tmp_path)
    shutil.rmtree(tmp_path / "queue")
    (tmp_path / "queue").write_text("not a folder")
    q = await opened(tmp_path)
    assert q.stats().quarantined == 1
    q.offer(row(1))
    b = await q.lease(10, 1 << 20, 0)
    # the HWM file went with the folder: ids follow the clock, far above the old ones
    assert b.first_id > top
    await q.aclose()
    assert quarantined_copies(tmp_path, "queue")


@pytest.mark.parametrize("hwm", ["garbage", "directory", "missing"])
async def test_bad_hwm_file_keeps_ids_above_the_old_mark(tmp_path: Path, hwm: str) -> None:
    top = await fill(tmp_path)
    p = tmp_path / "queue" / "ids.hwm"
    p.unlink()
    if hwm == "garbage":
        p.write_bytes(b"\xff\x00junk")
    elif hwm == "directory":
        p.mkdir()
    q = await opened(tmp_path, chunk_readings=100)
    q.offer(row(1))
    rows = await drain(q)
    assert len(rows) == 3001  # the database itself was fine and is kept
    assert rows[-1][0] > top
    await q.aclose()
    assert p.is_file()


_CHILD = """
import asyncio, json, sys
from pathlib import Path
from edgerun.queue import QueueConfig, open_queue
async def main():
    q = open_queue(QueueConfig(chunk_readings=100), Path(sys.argv[1]))
    await q.open()
    q.offer((1, "bus/x", "temperature", 1, "Cel", True, None))
    b = await q.lease(10, 1 << 20, 0)
    st = q.stats()
    print(json.dumps({"first": b.first_id, "quarantined": st.quarantined,
                      "degraded": st.degraded, "depth": st.depth_readings}))
    q.ack(b)
    await q.aclose()
asyncio.run(main())
"""


def run_without_dac_override(base: Path) -> subprocess.CompletedProcess[str]:
    """Open the queue in a process that file modes apply to (no CAP_DAC_OVERRIDE)."""
    os.chmod(db_path(base), 0)
    return subprocess.run(
        [
            "setpriv",
            "--bounding-set=-dac_override,-dac_read_search",
            sys.executable,
            "-c",
            _CHILD,
            str(base),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        cwd=str(REPO),
        check=False,
    )


@pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("setpriv") is None,
    reason="needs root and setpriv to drop the capability that ignores file modes",
)
async def test_file_without_permission_is_quarantined(tmp_path: Path) -> None:
    # Root ignores file modes, so the gateway runs without CAP_DAC_OVERRIDE here, the way
    # a hardened systemd unit does, and finds a database whose mode forbids opening it.
    top = await fill(tmp_path)
    out = run_without_dac_override(tmp_path)
    assert out.returncode == 0, out.stderr
    res = json.loads(out.stdout.strip().splitlines()[-1])
    assert res["quarantined"] == 1
    assert not res["degraded"]
    assert res["first"] > top
    assert quarantined_copies(tmp_path / "queue", "readings.db")


def scribble(p: Path) -> None:
    size = os.path.getsize(p)
    with open(p, "r+b") as f:
        f.write(os.urandom(size))


async def test_file_damaged_while_running_is_replaced(tmp_path: Path) -> None:
    q = await opened(tmp_path, chunk_readings=100, cache_bytes=4096, commit_interval=0.02)
    for i in range(3000):
        q.offer(row(i))
    await committed(q)
    resident = sum(c.count for c in q._ready if c.blob)
    # What a commit does when SQLite reports the file damaged (DamagedError): close, and
    # verify at the next connection.
    await q._call(q._store.close)
    await anyio.to_thread.run_sync(scribble, db_path(tmp_path))
    q._store_ok = False
    q._check_next = True
    for i in range(3000, 3500):
        q.offer(row(i))
    await committed(q)
    st = q.stats()
    assert st.quarantined == 1
    assert not st.degraded
    assert st.dropped["corrupt"] == 3000 - resident
    vals = sorted(r[4] for r in await drain(q))
    assert len(vals) == resident + 500
    assert vals[-500:] == list(range(3000, 3500))
    await q.aclose()
    q2 = await opened(tmp_path)
    assert q2.stats().depth_readings == 0
    assert q2.stats().quarantined == 0
    await q2.aclose()
