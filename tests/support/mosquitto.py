"""A real mosquitto for tests: its own config, a free loopback port, optional TLS and passwords.

Usage::

    from tests.support.mosquitto import Mosquitto

    with Mosquitto(tmp_path) as broker:          # started, listening on broker.port
        ... connect to broker.url ...
        broker.kill()                            # SIGKILL; broker.start() brings it back
                                                 # on the same port

    Mosquitto(tmp_path, tls=make_tls(tmp_path / "pki"), require_certificate=True)
    Mosquitto(tmp_path, users={"gw": "secret"})  # password file; anonymous refused

``start()`` returns once the port accepts connections (deadline ``START_TIMEOUT``) and
raises with the broker's log when it exits or does not listen in time. ``stop()`` sends
SIGTERM and waits (with ``persistence=True`` the broker then saves its sessions and queued
messages, and ``start()`` restores them). Every process is stopped on ``close()`` /
leaving the ``with`` block. The helper needs the Debian package ``mosquitto``
(``mosquitto_passwd`` for ``users``).

``max_queued_messages`` is raised from mosquitto's 1000, which would silently drop QoS 1
messages to a slow subscriber during a flood and make a loss test fail for the wrong reason.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path
from types import TracebackType

from tests.support.procs import stop_process
from tests.support.tls import TlsFiles

#: Seconds a broker may take to listen (it takes ~20 ms; CI machines can be slow).
START_TIMEOUT = 10.0
HOST = "127.0.0.1"


def free_port() -> int:
    """A TCP port on loopback that was free a moment ago."""
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def wait_listening(port: int, deadline: float, proc: subprocess.Popen[bytes] | None = None) -> None:
    """Wait until ``HOST:port`` accepts a TCP connection; raise at the deadline."""
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} before listening")
        with socket.socket() as s:
            s.settimeout(0.2)
            if s.connect_ex((HOST, port)) == 0:
                return
        time.sleep(0.01)  # polling a socket with a deadline, not a sleep for synchronization
    raise TimeoutError(f"nothing listening on {HOST}:{port}")


class Mosquitto:
    """One mosquitto process (restartable on the same port)."""

    def __init__(
        self,
        workdir: Path,
        *,
        port: int | None = None,
        tls: TlsFiles | None = None,
        require_certificate: bool = False,
        users: dict[str, str] | None = None,
        persistence: bool = False,
        extra_config: str = "",
    ) -> None:
        self.workdir = workdir
        workdir.mkdir(parents=True, exist_ok=True)
        self.port = port or free_port()
        self.tls = tls
        self.log_path = workdir / f"mosquitto-{self.port}.log"
        self.config_path = workdir / f"mosquitto-{self.port}.conf"
        self.proc: subprocess.Popen[bytes] | None = None
        lines = [
            f"listener {self.port} {HOST}",
            f"log_dest file {self.log_path}",
            "log_type error",
            "log_type warning",
            "log_type notice",
            "log_type information",
            "max_queued_messages 1000000",
            "max_inflight_messages 100",
            "user root" if os.geteuid() == 0 else "",
        ]
        if users:
            pwfile = workdir / f"passwd-{self.port}"
            pwfile.write_text("")
            for user, password in users.items():
                subprocess.run(
                    ["mosquitto_passwd", "-b", str(pwfile), user, password],
                    check=True,
                    capture_output=True,
                )
            pwfile.chmod(0o600)
            lines += ["allow_anonymous false", f"password_file {pwfile}"]
        else:
            lines.append("allow_anonymous true")
        if tls is not None:
            lines += [
                f"cafile {tls.ca}",
                f"certfile {tls.server_cert}",
                f"keyfile {tls.server_key}",
                f"require_certificate {'true' if require_certificate else 'false'}",
            ]
        if persistence:
            store = workdir / f"store-{self.port}"
            store.mkdir(exist_ok=True)
            lines += ["persistence true", f"persistence_location {store}/", "autosave_interval 0"]
        lines.append(extra_config)
        self.config_path.write_text("\n".join(lines) + "\n")

    @property
    def url(self) -> str:
        return f"{'mqtts' if self.tls else 'mqtt'}://{HOST}:{self.port}"

    @property
    def host(self) -> str:
        return HOST

    def start(self) -> Mosquitto:
        if self.proc is not None and self.proc.poll() is None:
            return self
        if shutil.which("mosquitto") is None and not Path("/usr/sbin/mosquitto").exists():
            raise RuntimeError("mosquitto is not installed (apt-get install mosquitto)")
        binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        self.proc = subprocess.Popen(
            [binary, "-c", str(self.config_path)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        try:
            wait_listening(self.port, time.monotonic() + START_TIMEOUT, self.proc)
        except (RuntimeError, TimeoutError) as exc:
            self.kill()
            raise RuntimeError(f"mosquitto did not start: {exc}\n{self.log_text()}") from None
        return self

    def stop(self) -> None:
        """SIGTERM and wait: the broker saves its persistent state."""
        self._signal(signal.SIGTERM)

    def kill(self) -> None:
        """SIGKILL and wait: nothing is saved."""
        self._signal(signal.SIGKILL)

    def _signal(self, sig: signal.Signals) -> None:
        proc, self.proc = self.proc, None
        stop_process(proc, sig, START_TIMEOUT)
        if proc is not None and proc.stderr is not None:
            proc.stderr.close()

    def restart(self) -> None:
        self.stop()
        self.start()

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log_text(self) -> str:
        text = ""
        with contextlib.suppress(OSError):
            text = self.log_path.read_text(errors="replace")
        if self.proc is not None and self.proc.stderr is not None and self.proc.poll() is not None:
            text += self.proc.stderr.read().decode(errors="replace")
        return text

    def close(self) -> None:
        self.kill()

    def __enter__(self) -> Mosquitto:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


__all__ = ["HOST", "Mosquitto", "free_port", "wait_listening"]
