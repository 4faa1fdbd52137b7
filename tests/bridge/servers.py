"""Real databases for the bridge tests: Debian's carbon-cache and influxd 1.x.

Each runs with a config and data directory of its own on free loopback ports, is started in
the foreground as a child of the test and stopped by PID (SIGTERM for a graceful stop,
SIGKILL for a crash). ``start()`` returns once the ports accept connections and raises
with the server's log otherwise. Needs ``apt-get install graphite-carbon influxdb``.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import shutil
import signal
import subprocess
import time
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import urlencode

from tests.support.mosquitto import HOST, free_port, wait_listening
from tests.support.procs import stop_process

#: carbon-cache (twisted) needs ~1-2 s to listen; influxd ~1 s. Generous for slow CI.
START_TIMEOUT = 30.0


class _Server:
    proc: subprocess.Popen[bytes] | None = None
    log_path: Path

    def _argv(self) -> list[str]:
        raise NotImplementedError

    def _ports(self) -> list[int]:
        raise NotImplementedError

    def start(self) -> Any:
        if self.proc is not None and self.proc.poll() is None:
            return self
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            self._argv(), stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
        )
        log.close()
        try:
            for port in self._ports():
                wait_listening(port, time.monotonic() + START_TIMEOUT, self.proc)
        except (RuntimeError, TimeoutError) as exc:
            self.kill()
            raise RuntimeError(f"{self._argv()[0]} did not start: {exc}\n{self.log()}") from None
        return self

    def log(self) -> str:
        with contextlib.suppress(OSError):
            return self.log_path.read_text(errors="replace")[-4000:]
        return ""

    def _signal(self, sig: signal.Signals) -> None:
        proc, self.proc = self.proc, None
        stop_process(proc, sig, START_TIMEOUT)

    def stop(self) -> None:
        self._signal(signal.SIGTERM)

    def kill(self) -> None:
        self._signal(signal.SIGKILL)

    def __enter__(self) -> Any:
        return self.start()

    def __exit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.kill()


class Carbon(_Server):
    """carbon-cache with its own storage dir; whisper retention ``retention``."""

    def __init__(self, workdir: Path, retention: str = "1s:6h") -> None:
        if shutil.which("carbon-cache") is None:
            raise RuntimeError("carbon-cache is not installed (apt-get install graphite-carbon)")
        self.workdir = workdir
        self.conf = workdir / "conf"
        self.storage = workdir / "storage"
        self.whisper = self.storage / "whisper"
        for d in (self.conf, self.whisper, workdir / "log"):
            d.mkdir(parents=True, exist_ok=True)
        self.line_port, self.pickle_port, self.query_port = free_port(), free_port(), free_port()
        self.log_path = workdir / "carbon.out"
        (self.conf / "carbon.conf").write_text(
            "\n".join(
                [
                    "[cache]",
                    f"STORAGE_DIR = {self.storage}/",
                    f"LOCAL_DATA_DIR = {self.whisper}/",
                    f"WHITELISTS_DIR = {self.storage}/lists/",
                    f"CONF_DIR = {self.conf}/",
                    f"LOG_DIR = {workdir}/log/",
                    f"PID_DIR = {workdir}/",
                    "ENABLE_LOGROTATION = False",
                    "MAX_CACHE_SIZE = inf",
                    "MAX_UPDATES_PER_SECOND = inf",
                    "MAX_CREATES_PER_MINUTE = inf",
                    f"LINE_RECEIVER_INTERFACE = {HOST}",
                    f"LINE_RECEIVER_PORT = {self.line_port}",
                    f"PICKLE_RECEIVER_INTERFACE = {HOST}",
                    f"PICKLE_RECEIVER_PORT = {self.pickle_port}",
                    f"CACHE_QUERY_INTERFACE = {HOST}",
                    f"CACHE_QUERY_PORT = {self.query_port}",
                    "ENABLE_UDP_LISTENER = False",
                    "USE_FLOW_CONTROL = True",
                    "LOG_UPDATES = False",
                    "LOG_CREATES = False",
                    "LOG_LISTENER_CONN_SUCCESS = False",
                    "WHISPER_AUTOFLUSH = False",
                    "WHISPER_FALLOCATE_CREATE = False",
                    "",
                ]
            )
        )
        (self.conf / "storage-schemas.conf").write_text(
            f"[all]\npattern = .*\nretentions = {retention}\n"
        )
        (self.conf / "storage-aggregation.conf").write_text(
            "[all]\npattern = .*\nxFilesFactor = 0\naggregationMethod = last\n"
        )

    def _argv(self) -> list[str]:
        return [
            shutil.which("carbon-cache") or "carbon-cache",
            f"--config={self.conf / 'carbon.conf'}",
            f"--pidfile={self.workdir / 'carbon.pid'}",
            "--nodaemon",
            "start",
        ]

    def _ports(self) -> list[int]:
        return [self.line_port, self.pickle_port]


class Influxd(_Server):
    """influxd 1.x with its own meta/data/wal dirs."""

    def __init__(self, workdir: Path) -> None:
        if shutil.which("influxd") is None:
            raise RuntimeError("influxd is not installed (apt-get install influxdb)")
        self.workdir = workdir
        workdir.mkdir(parents=True, exist_ok=True)
        self.port, self.rpc_port = free_port(), free_port()
        self.log_path = workdir / "influxd.out"
        self.config_path = workdir / "influxdb.conf"
        self.config_path.write_text(
            "\n".join(
                [
                    "reporting-disabled = true",
                    f'bind-address = "{HOST}:{self.rpc_port}"',
                    "[meta]",
                    f'  dir = "{workdir}/meta"',
                    "  logging-enabled = false",
                    "[data]",
                    f'  dir = "{workdir}/data"',
                    f'  wal-dir = "{workdir}/wal"',
                    "  query-log-enabled = false",
                    "[monitor]",
                    "  store-enabled = false",
                    "[http]",
                    f'  bind-address = "{HOST}:{self.port}"',
                    "  log-enabled = false",
                    "[logging]",
                    '  level = "warn"',
                    "",
                ]
            )
        )

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def _argv(self) -> list[str]:
        return [shutil.which("influxd") or "influxd", "run", "-config", str(self.config_path)]

    def _ports(self) -> list[int]:
        return [self.port]

    def request(self, method: str, path: str, params: dict[str, str]) -> tuple[int, Any]:
        conn = http.client.HTTPConnection(HOST, self.port, timeout=30)
        try:
            conn.request(method, f"{path}?{urlencode(params)}")
            resp = conn.getresponse()
            body = resp.read()
        finally:
            conn.close()
        return resp.status, (json.loads(body) if body else None)

    def query(self, db: str, q: str) -> list[dict[str, Any]]:
        """InfluxQL over HTTP; the series of the first statement."""
        status, doc = self.request("GET", "/query", {"db": db, "q": q, "epoch": "ms"})
        if status != 200:
            raise RuntimeError(f"query failed ({status}): {doc}")
        result = doc["results"][0]
        if "error" in result:
            raise RuntimeError(result["error"])
        series: list[dict[str, Any]] = result.get("series", [])
        return series

    def create_db(self, db: str) -> None:
        status, doc = self.request("POST", "/query", {"q": f'CREATE DATABASE "{db}"'})
        if status != 200:
            raise RuntimeError(f"cannot create database: {doc}")

    def start(self) -> Influxd:
        super().start()
        deadline = time.monotonic() + START_TIMEOUT
        while True:  # the port opens before the HTTP service answers
            try:
                status, _ = self.request("GET", "/ping", {})
                if status == 204:
                    return self
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"influxd does not answer /ping\n{self.log()}")
            time.sleep(0.05)  # polling with a deadline


__all__ = ["Carbon", "Influxd"]
