"""End to end through a real gateway process: notify order and watchdog, endpoints under
load and during an uplink outage (real mosquitto killed and restarted).
"""

from __future__ import annotations

import itertools
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.support.mosquitto import Mosquitto, free_port
from tests.support.proc import REPO, wait_until


def gateway_argv(config: Path) -> list[str]:
    return [sys.executable, "-m", "edgerun.cli.main", "run", "--config", str(config)]


def write_config(tmp_path: Path, broker_url: str, http_port: int) -> Path:
    path = tmp_path / "edgerun.toml"
    path.write_text(
        f"""
[gateway]
id = "gw-ops"
data_dir = "{tmp_path / "data"}"
grace_period = "10s"

[uplink]
url = "{broker_url}"
backoff_base = "100ms"
backoff_cap = "500ms"

[http]
listen = "127.0.0.1:{http_port}"

[[drivers]]
type = "synthetic"
name = "synth"
"""
    )
    return path


class Gateway:
    """The gateway process; stderr is collected by a thread (it logs JSON lines)."""

    def __init__(self, config: Path, env: dict[str, str], http_port: int) -> None:
        full_env = {**os.environ, "PYTHONPATH": str(REPO), **env}
        argv = gateway_argv(config)
        if "WATCHDOG_USEC" in env:  # WATCHDOG_PID must be the gateway: exec keeps the pid
            argv = ["sh", "-c", 'WATCHDOG_PID=$$ exec "$@"', "sh", *argv]
        self.proc = subprocess.Popen(
            argv, env=full_env, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, cwd=REPO
        )
        self.port = http_port
        self.log: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for raw in self.proc.stderr:
            self.log.append(raw.decode(errors="replace").rstrip())

    def get(self, path: str) -> tuple[int, bytes]:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=5) as r:
                return r.status, r.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read()
        except OSError:
            return 0, b""

    def metrics(self) -> dict[str, float]:
        status, body = self.get("/metrics")
        assert status == 200
        return {
            s.name + json.dumps(s.labels, sort_keys=True) * bool(s.labels): s.value
            for fam in text_string_to_metric_families(body.decode())
            for s in fam.samples
        }

    def stop(self, timeout: float = 20) -> int:
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self._reader.join(5)


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Mosquitto]:
    with Mosquitto(tmp_path / "mqtt") as b:
        yield b


def test_notify_order_and_watchdog_interval(tmp_path: Path, broker: Mosquitto) -> None:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(tmp_path / "notify"))
    sock.settimeout(20)
    port = free_port()
    env = {"NOTIFY_SOCKET": str(tmp_path / "notify"), "WATCHDOG_USEC": "600000"}
    gw = Gateway(write_config(tmp_path, broker.url, port), env, port)
    received: list[tuple[float, dict[str, str]]] = []

    def next_message() -> dict[str, str]:
        data = sock.recv(4096).decode()
        msg = dict(line.split("=", 1) for line in data.split("\n"))
        received.append((time.monotonic(), msg))
        return msg

    try:
        # before READY=1 only watchdog pings may come (systemd accepts them while starting)
        while "READY" not in (msg := next_message()):
            assert msg == {"WATCHDOG": "1"}, msg
        assert msg["READY"] == "1"
        assert "drivers 1/1 running" in msg["STATUS"], msg
        pings = 0
        while pings < 6:
            if next_message() == {"WATCHDOG": "1"}:
                pings += 1
        broker.kill()  # a state change: STATUS= follows within a couple of seconds
        while "uplink disconnected" not in next_message().get("STATUS", ""):
            pass
        assert gw.stop() == 0
        while "STOPPING" not in (msg := next_message()):
            pass
        assert msg["STOPPING"] == "1"
    finally:
        gw.kill()
        sock.close()
    ping_times = [t for t, m in received if m == {"WATCHDOG": "1"}]
    gaps = [b - a for a, b in itertools.pairwise(ping_times)]
    assert len(gaps) >= 6
    # half of WATCHDOG_USEC (0.3 s), never near the 0.6 s limit
    assert all(g < 0.6 for g in gaps), gaps
    assert 0.2 < sorted(gaps)[len(gaps) // 2] < 0.4, gaps
    kinds = [next(iter(m)) for _, m in received if m != {"WATCHDOG": "1"}]
    assert kinds[0] == "READY"
    assert kinds[-1] == "STOPPING"


def test_endpoints_under_load_and_during_an_uplink_outage(
    tmp_path: Path, broker: Mosquitto
) -> None:
    port = free_port()
    gw = Gateway(write_config(tmp_path, broker.url, port), {}, port)
    try:
        wait_until(lambda: gw.get("/readyz")[0] == 200, 30)
        wait_until(lambda: json.loads(gw.get("/readyz")[1])["uplink"] == "connected", 15)
        wait_until(lambda: gw.metrics().get("edgerun_uplink_published_batches_total", 0) > 0, 15)
        # a command nobody allowed: refused, and counted by result
        subprocess.run(
            ["mosquitto_pub", "-p", str(broker.port), "-q", "1", "-t", "edgerun/gw-ops/cmd/synth/x",
             "-m", '{"id": "c-1", "action": "set", "args": {}}'],
            check=True, timeout=10,
        )  # fmt: skip
        wait_until(lambda: gw.metrics().get('edgerun_commands_total{"result": "denied"}') == 1, 15)
        assert gw.metrics()["edgerun_commands_received_total"] == 1

        results: list[int] = []
        lock = threading.Lock()
        stop = threading.Event()

        def hammer() -> None:
            for i in range(400):
                if stop.is_set():
                    return
                status, _ = gw.get(("/metrics", "/healthz", "/readyz")[i % 3])
                with lock:
                    results.append(status)

        threads = [threading.Thread(target=hammer) for _ in range(6)]
        for t in threads:
            t.start()
        try:
            broker.kill()
            wait_until(lambda: json.loads(gw.get("/readyz")[1])["uplink"] == "disconnected", 15)
            status, body = gw.get("/readyz")
            assert status == 200, body  # an outage does not make the gateway unready
            m = gw.metrics()
            assert m["edgerun_uplink_connected"] == 0
            depth = m["edgerun_queue_depth_readings"]
            wait_until(lambda: gw.metrics()["edgerun_queue_depth_readings"] > depth, 15)
            broker.start()
            wait_until(lambda: gw.metrics()["edgerun_uplink_connected"] == 1, 20)
            assert gw.metrics()["edgerun_uplink_reconnects_total"] >= 1
        finally:
            stop.set()
            for t in threads:
                t.join(60)
        assert len(results) > 100
        assert set(results) == {200}, {s: results.count(s) for s in set(results)}
        assert gw.stop() == 0
    finally:
        gw.kill()
