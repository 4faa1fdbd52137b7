"""sd_notify over a NOTIFY_SOCKET datagram socket created by the test."""

from __future__ import annotations

import itertools
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest

from edgerun.ops.notify import MAX_STATUS, Notifier, watchdog_interval


@pytest.fixture
def notify_socket(tmp_path: Path) -> Iterator[tuple[socket.socket, str]]:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    path = str(tmp_path / "notify.sock")
    sock.bind(path)
    sock.settimeout(5.0)
    yield sock, path
    sock.close()


def recv(sock: socket.socket) -> dict[str, str]:
    data = sock.recv(4096).decode()
    return dict(line.split("=", 1) for line in data.split("\n"))


def test_messages_arrive_in_order(notify_socket: tuple[socket.socket, str]) -> None:
    sock, path = notify_socket
    n = Notifier.from_env({"NOTIFY_SOCKET": path})
    assert n.enabled
    assert n.watchdog_interval is None
    assert n.ready("queue open")
    assert n.status("uplink\nconnected")
    assert not n.status("uplink connected")  # unchanged: not repeated
    assert n.watchdog()
    assert n.stopping("shutting down")
    assert recv(sock) == {"READY": "1", "STATUS": "queue open"}
    assert recv(sock) == {"STATUS": "uplink connected"}
    assert recv(sock) == {"WATCHDOG": "1"}
    assert recv(sock) == {"STOPPING": "1", "STATUS": "shutting down"}
    n.close()


def test_status_is_one_bounded_line(notify_socket: tuple[socket.socket, str]) -> None:
    sock, path = notify_socket
    n = Notifier(path)
    n.status("x" * 1000 + "\nREADY=1")
    got = recv(sock)
    assert list(got) == ["STATUS"]
    assert len(got["STATUS"]) == MAX_STATUS


def test_abstract_socket_address() -> None:
    name = f"edgerun-test-{os.getpid()}"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind("\0" + name)
    sock.settimeout(5.0)
    try:
        assert Notifier.from_env({"NOTIFY_SOCKET": "@" + name}).ready()
        assert recv(sock) == {"READY": "1"}
    finally:
        sock.close()


def test_no_op_without_notify_socket() -> None:
    n = Notifier.from_env({"WATCHDOG_USEC": "1000000"})
    assert not n.enabled
    assert n.watchdog_interval is None
    assert not n.ready()
    assert not n.watchdog()
    assert n.errors == 0


def test_missing_socket_is_counted_not_raised(tmp_path: Path) -> None:
    n = Notifier(str(tmp_path / "nobody-listens"))
    assert not n.ready()
    assert not n.watchdog()
    assert n.errors == 2


@pytest.mark.parametrize(
    ("env", "want"),
    [
        ({"WATCHDOG_USEC": "30000000"}, 15.0),
        ({"WATCHDOG_USEC": "400000", "WATCHDOG_PID": str(os.getpid())}, 0.2),
        ({"WATCHDOG_USEC": "400000", "WATCHDOG_PID": "1"}, None),
        ({"WATCHDOG_USEC": "0"}, None),
        ({"WATCHDOG_USEC": "junk"}, None),
        ({}, None),
    ],
)
def test_watchdog_interval(env: dict[str, str], want: float | None) -> None:
    assert watchdog_interval(env) == want


@pytest.mark.anyio
async def test_watchdog_pings_at_half_the_interval(
    notify_socket: tuple[socket.socket, str],
) -> None:
    sock, path = notify_socket
    n = Notifier.from_env({"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "400000"})
    assert n.watchdog_interval == 0.2
    stamps: list[float] = []
    async with anyio.create_task_group() as tg:
        tg.start_soon(n.run_watchdog)
        for _ in range(5):
            got = await anyio.to_thread.run_sync(recv, sock)
            assert got == {"WATCHDOG": "1"}
            stamps.append(time.monotonic())
        tg.cancel_scope.cancel()
    gaps = [b - a for a, b in itertools.pairwise(stamps)]
    assert all(0.15 < g < 0.4 for g in gaps), gaps  # every ping inside the 0.4 s watchdog


@pytest.mark.anyio
async def test_watchdog_withheld_while_unhealthy(notify_socket: tuple[socket.socket, str]) -> None:
    sock, path = notify_socket
    n = Notifier.from_env({"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "100000"})
    healthy = anyio.Event()
    calls = 0

    def check() -> bool:
        nonlocal calls
        calls += 1
        if calls >= 4:
            healthy.set()
            return True
        return calls not in {2, 3}  # first ping sent, then two withheld

    async with anyio.create_task_group() as tg:
        tg.start_soon(n.run_watchdog, check)
        first = await anyio.to_thread.run_sync(recv, sock)
        t0 = time.monotonic()
        second = await anyio.to_thread.run_sync(recv, sock)
        gap = time.monotonic() - t0
        tg.cancel_scope.cancel()
    assert first == second == {"WATCHDOG": "1"}
    assert healthy.is_set()
    assert gap > 0.12  # two intervals of 0.05 s were skipped


def test_real_subprocess_notifies_in_order(notify_socket: tuple[socket.socket, str]) -> None:
    """A separate process (as systemd starts it) reports READY, pings, then STOPPING."""
    sock, path = notify_socket
    code = (
        "import anyio, signal\n"
        "from edgerun.ops.notify import Notifier\n"
        "async def main():\n"
        "    n = Notifier.from_env()\n"
        "    n.ready('started')\n"
        "    async with anyio.create_task_group() as tg:\n"
        "        tg.start_soon(n.run_watchdog)\n"
        "        with anyio.open_signal_receiver(signal.SIGTERM) as sigs:\n"
        "            async for _ in sigs:\n"
        "                n.stopping()\n"
        "                tg.cancel_scope.cancel()\n"
        "                break\n"
        "anyio.run(main)\n"
    )
    env = {**os.environ, "NOTIFY_SOCKET": path, "WATCHDOG_USEC": "600000"}
    proc = subprocess.Popen([sys.executable, "-c", code], env=env)
    try:
        assert recv(sock) == {"READY": "1", "STATUS": "started"}
        stamps = []
        for _ in range(4):
            assert recv(sock) == {"WATCHDOG": "1"}
            stamps.append(time.monotonic())
        proc.terminate()
        while (msg := recv(sock)) == {"WATCHDOG": "1"}:
            pass
        assert msg == {"STOPPING": "1"}
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    gaps = [b - a for a, b in itertools.pairwise(stamps)]
    assert all(g < 0.6 for g in gaps), gaps  # inside the 0.6 s watchdog


def test_a_receiver_that_never_reads_does_not_block(tmp_path: Path) -> None:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(tmp_path / "full.sock"))
    try:
        n = Notifier(str(tmp_path / "full.sock"))
        t0 = time.monotonic()
        sent = sum(n.status(f"state {i}") for i in range(5000))  # far beyond the queue
        assert time.monotonic() - t0 < 5
        assert 0 < sent < 5000
        assert n.errors == 5000 - sent
    finally:
        sock.close()
