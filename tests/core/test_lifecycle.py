"""A real ``edgerun run`` subprocess: start-up, SIGTERM, second signal, grace period."""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path

import anyio

from edgerun.supervisor import EXIT_FORCED, EXIT_OK
from tests.support.proc import EdgerunProcess, wait_until
from tests.support.queued import drain_queue


def disk_bytes(root: Path) -> int:
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file())


def write_config(tmp_path: Path, drivers: str, grace: float = 10.0) -> Path:
    cfg = tmp_path / "edgerun.toml"
    cfg.write_text(
        f"""
[gateway]
id = "gw-life"
data_dir = "{tmp_path / "data"}"
grace_period = {grace}

[uplink]
enabled = false

{drivers}
""",
        encoding="utf-8",
    )
    return cfg


def test_sigterm_exits_cleanly_with_every_reading_queued(tmp_path: Path) -> None:
    cfg = write_config(
        tmp_path,
        """
[[drivers]]
type = "synthetic"
name = "load"
rate = 0
values = "sequence"
quantities = ["count"]
""",
    )
    with EdgerunProcess(["run", "-c", str(cfg)]) as proc:
        proc.wait_for_log(r'"msg": "ready')
        # Stop it mid-flood, once the queue has committed something to disk.
        wait_until(lambda: disk_bytes(tmp_path / "data") > 256 * 1024, timeout=20)
        t0 = time.monotonic()
        proc.signal(signal.SIGTERM)
        code = proc.wait(timeout=15)
        took = time.monotonic() - t0
        assert code == EXIT_OK, proc.tail()
        assert took < 10.0
        stopped = [r for r in proc.records() if r["msg"].startswith("stopped:")]
        assert stopped, proc.tail()
    accepted = int(stopped[0]["msg"].split()[1])
    rows = anyio.run(drain_queue, tmp_path / "data")
    values = sorted(int(r[4]) for r in rows)  # type: ignore[call-overload]
    assert accepted > 0
    assert len(rows) == accepted
    assert values == list(range(accepted))
    ids = [int(r[0]) for r in rows]  # type: ignore[call-overload]
    assert len(set(ids)) == len(ids)


def test_second_signal_forces_exit(tmp_path: Path) -> None:
    cfg = write_config(tmp_path, '[[drivers]]\ntype = "test-blocks"\nname = "stuck"\n', grace=60.0)
    env = {"EDGERUN_PLUGIN_MODULES": "tests.support.drivers"}
    with EdgerunProcess(["run", "-c", str(cfg)], env=env) as proc:
        proc.wait_for_log("entering a blocking call")
        proc.signal(signal.SIGINT)
        proc.wait_for_log(r"stopping \(SIGINT\)")
        t0 = time.monotonic()
        proc.signal(signal.SIGINT)
        code = proc.wait(timeout=10)
        assert code == EXIT_FORCED
        assert time.monotonic() - t0 < 5
        assert any("second stop request" in r["msg"] for r in proc.records())


def test_grace_period_bounds_a_stuck_shutdown(tmp_path: Path) -> None:
    cfg = write_config(tmp_path, '[[drivers]]\ntype = "test-blocks"\nname = "stuck"\n', grace=1.0)
    env = {"EDGERUN_PLUGIN_MODULES": "tests.support.drivers"}
    with EdgerunProcess(["run", "-c", str(cfg)], env=env) as proc:
        proc.wait_for_log("entering a blocking call")
        t0 = time.monotonic()
        proc.signal(signal.SIGTERM)
        code = proc.wait(timeout=15)
        took = time.monotonic() - t0
    assert code == EXIT_FORCED
    assert 0.9 <= took < 8
    assert any("exceeded the grace period" in line for line in proc.lines)


def test_config_error_exit_code(tmp_path: Path) -> None:
    cfg = write_config(tmp_path, '[[drivers]]\ntype = "synthetic"\nname = "x"\nbogus = 1\n')
    with EdgerunProcess(["run", "-c", str(cfg)]) as proc:
        assert proc.wait(timeout=30) == 78
    assert any("drivers[0].bogus: unknown key" in line for line in proc.lines)


def test_json_logs_are_json(tmp_path: Path) -> None:
    cfg = write_config(
        tmp_path, '[[drivers]]\ntype = "synthetic"\nname = "x"\nrate = 10\ncount = 5\n'
    )
    with EdgerunProcess(["run", "-c", str(cfg)]) as proc:
        proc.wait_for_log("driver x finished")
        proc.signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == EXIT_OK
    parsed = [json.loads(line) for line in proc.lines if line.startswith("{")]
    assert parsed
    assert all({"ts", "level", "logger", "msg"} <= set(p) for p in parsed)
