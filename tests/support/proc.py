"""Run ``edgerun`` as a real subprocess and follow its log lines.

The runtime logs JSON lines (``--log-format json``) to stderr; a reader thread collects them
so tests can wait for a specific event with a deadline instead of sleeping.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]


def wait_until(predicate: Callable[[], bool], timeout: float, poll: float = 0.02) -> None:
    """Poll ``predicate`` until true; raises ``TimeoutError`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError("condition not met in time")
        time.sleep(poll)


class EdgerunProcess:
    """``edgerun <args>`` with stderr JSON log lines collected in the background."""

    def __init__(
        self, args: Sequence[str], env: dict[str, str] | None = None, json_logs: bool = True
    ) -> None:
        full_env = dict(os.environ)
        full_env["PYTHONPATH"] = os.pathsep.join(
            [str(REPO), *filter(None, [full_env.get("PYTHONPATH")])]
        )
        full_env.update(env or {})
        argv = [sys.executable, "-m", "edgerun.cli.main", *args]
        if json_logs and args and args[0] == "run":
            argv += ["--log-format", "json"]
        self.proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=full_env,
            cwd=str(REPO),
        )
        self.lines: list[str] = []
        self._cond = threading.Condition()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for raw in self.proc.stderr:
            line = raw.decode("utf-8", "replace").rstrip("\n")
            with self._cond:
                self.lines.append(line)
                self._cond.notify_all()
        with self._cond:
            self._cond.notify_all()

    def records(self) -> list[dict[str, Any]]:
        out = []
        for line in list(self.lines):
            try:
                out.append(json.loads(line))
            except ValueError:
                continue
        return out

    def wait_for_log(self, pattern: str, timeout: float = 20.0) -> str:
        """Wait for a log line matching ``pattern`` (regex); raises ``TimeoutError``."""
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        seen = 0
        with self._cond:
            while True:
                for line in self.lines[seen:]:
                    if rx.search(line):
                        return line
                seen = len(self.lines)
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"no log line matching {pattern!r}:\n" + self.tail())
                if self.proc.poll() is not None and not self._reader.is_alive():
                    raise RuntimeError(
                        f"process exited ({self.proc.returncode}) before {pattern!r}:\n"
                        + self.tail()
                    )
                self._cond.wait(min(left, 0.5))

    def tail(self, n: int = 40) -> str:
        return "\n".join(self.lines[-n:])

    def signal(self, signum: int) -> None:
        self.proc.send_signal(signum)

    def wait(self, timeout: float) -> int:
        code = self.proc.wait(timeout)
        self._reader.join(5)
        return code

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def __enter__(self) -> EdgerunProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.kill()
