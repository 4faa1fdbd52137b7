"""SIGHUP to a real ``edgerun run``: a valid, a partially changed and an invalid config."""

from __future__ import annotations

import signal
from pathlib import Path

from tests.support.proc import EdgerunProcess

BASE = """
[gateway]
id = "gw-reload"
data_dir = "{data}"
[uplink]
enabled = false
[http]
enabled = false
"""

DRIVER = """
[[drivers]]
type = "synthetic"
name = "{name}"
rate = {rate}
"""


def write(cfg: Path, data: Path, drivers: list[tuple[str, float]], extra: str = "") -> None:
    text = BASE.format(data=data) + extra
    text += "".join(DRIVER.format(name=n, rate=r) for n, r in drivers)
    cfg.write_text(text, encoding="utf-8")


def test_sighup_applies_driver_changes_one_by_one(tmp_path: Path) -> None:
    cfg, data = tmp_path / "edgerun.toml", tmp_path / "data"
    write(cfg, data, [("a", 10), ("b", 10)])
    with EdgerunProcess(["run", "-c", str(cfg)]) as proc:
        proc.wait_for_log(r"ready: 2 driver")
        # Partially changed: b's rate changes, c is added, a stays untouched.
        write(cfg, data, [("a", 10), ("b", 20), ("c", 5)])
        proc.signal(signal.SIGHUP)
        line = proc.wait_for_log(r"reload: (start|restart)")
        assert "start c" in line
        assert "restart b" in line
        assert "restart a" not in line
        proc.wait_for_log(r"driver c: first reading accepted")
        # Removed: a goes, b and c stay.
        write(cfg, data, [("b", 20), ("c", 5)])
        proc.signal(signal.SIGHUP)
        line = proc.wait_for_log(r"reload: stop a")
        assert "restart" not in line
        proc.signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0, proc.tail()
    starts = [line for line in proc.lines if "first reading accepted" in line]
    # a and b once at start, b again after its restart, c once.
    assert sum("driver a:" in s for s in starts) == 1
    assert sum("driver b:" in s for s in starts) == 2
    assert sum("driver c:" in s for s in starts) == 1


def test_sighup_with_an_invalid_config_keeps_the_old_one(tmp_path: Path) -> None:
    cfg, data = tmp_path / "edgerun.toml", tmp_path / "data"
    write(cfg, data, [("a", 10)])
    with EdgerunProcess(["run", "-c", str(cfg)]) as proc:
        proc.wait_for_log(r"ready: 1 driver")
        cfg.write_text(cfg.read_text() + "\nrat = 5\n[bogus]\n", encoding="utf-8")
        proc.signal(signal.SIGHUP)
        proc.wait_for_log(r"reload: .*bogus: unknown table.*keeping the running config")
        # Still running the old config: a graceful stop works and a has run throughout.
        proc.signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0, proc.tail()
    assert not any("reload: start" in line or "reload: restart" in line for line in proc.lines)


def test_sighup_reports_settings_that_need_a_restart(tmp_path: Path) -> None:
    cfg, data = tmp_path / "edgerun.toml", tmp_path / "data"
    write(cfg, data, [("a", 10)])
    with EdgerunProcess(["run", "-c", str(cfg)]) as proc:
        proc.wait_for_log(r"ready: 1 driver")
        text = cfg.read_text().replace('id = "gw-reload"', 'id = "gw-renamed"')
        cfg.write_text(text + '\n[logging]\nlevel = "debug"\n', encoding="utf-8")
        proc.signal(signal.SIGHUP)
        line = proc.wait_for_log(r"reload: these settings change only after a restart")
        assert "gateway.id" in line
        proc.signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0, proc.tail()
    assert any("live logging.level" in line for line in proc.lines)
