"""Safe output state after SIGKILL: the line keeps its level while nobody owns it, and the
next start applies the safe state before anything else (and notices the crash)."""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from edgerun_gpio.chips.sim import read_sim_file

from tests.support.proc import REPO

RELAY = 17


class DriverProcess:
    def __init__(self, config: Path, data_dir: Path) -> None:
        env = dict(os.environ, PYTHONPATH=str(REPO))
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.gpio.run_gpio", str(config), str(data_dir)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=str(REPO),
            env=env,
        )

    def read_event(self, timeout: float = 20.0) -> dict[str, Any]:
        assert self.proc.stdout is not None
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        if not ready:
            raise TimeoutError("no event from the driver process")
        line = self.proc.stdout.readline()
        if not line:
            err = self.proc.stderr.read().decode() if self.proc.stderr else ""
            raise RuntimeError(f"driver process ended: {err}")
        event: dict[str, Any] = json.loads(line)
        return event

    def command(self, target: str, action: str, **args: Any) -> dict[str, Any]:
        assert self.proc.stdin is not None
        line = json.dumps({"target": target, "action": action, "args": args}) + "\n"
        self.proc.stdin.write(line.encode())
        self.proc.stdin.flush()
        return self.read_event()

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait(10)
        for stream in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            if stream is not None:
                stream.close()


def test_safe_state_restored_after_sigkill_and_restart(tmp_path: Path) -> None:
    sim_file = tmp_path / "chip.json"
    config = tmp_path / "gpio.json"
    config.write_text(
        json.dumps(
            {
                "backend": "sim",
                "sim_file": str(sim_file),
                "outputs": [{"name": "heater", "line": RELAY, "safe_state": False}],
            }
        )
    )
    data_dir = tmp_path / "data"

    first = DriverProcess(config, data_dir)
    try:
        started = first.read_event()
        assert started["event"] == "started"
        assert started["counters"] == {}
        assert read_sim_file(sim_file)[RELAY] is False
        result = first.command("heater", "set", value=True)
        assert result == {"event": "result", "ok": True, "value": {"value": True}}
        assert read_sim_file(sim_file)[RELAY] is True
    finally:
        first.kill()
    assert first.proc.returncode == -9
    # Nobody owns the line now; it keeps what it was driven to.
    assert read_sim_file(sim_file)[RELAY] is True
    state = json.loads((data_dir / "state.json").read_text())
    assert state["clean"] is False

    before = time.monotonic()
    second = DriverProcess(config, data_dir)
    try:
        started = second.read_event()
        assert started["event"] == "started"
        assert started["counters"] == {"unclean_restarts": 1}
        # Safe state is on the line before the driver reports started.
        assert read_sim_file(sim_file)[RELAY] is False
        assert json.loads((data_dir / "state.json").read_text())["clean"] is True
        assert second.command("heater", "get") == {
            "event": "result",
            "ok": True,
            "value": {"value": False},
        }
    finally:
        second.kill()
    assert time.monotonic() - before < 30
