"""SIGHUP reload planning with real config files: valid, partially changed, invalid."""

from __future__ import annotations

from pathlib import Path

from edgerun.config.load import load_config
from edgerun.ops.reload import ReloadPlan, plan_reload, reload_config

BASE = """
[gateway]
id = "gw-1"
data_dir = "{data}"

[logging]
level = "info"

[[drivers]]
type = "synthetic"
name = "a"
interval = 1.0

[[drivers]]
type = "synthetic"
name = "b"
interval = 2.0

[[drivers]]
type = "iqrf"
name = "c"
port = "/dev/ttyACM0"
"""


def write(tmp_path: Path, text: str, name: str = "edgerun.toml") -> Path:
    path = tmp_path / name
    path.write_text(text.replace("{data}", str(tmp_path / "data")))
    return path


def test_identical_config_is_a_no_op(tmp_path: Path) -> None:
    old = load_config(write(tmp_path, BASE), None)
    new = load_config(write(tmp_path, BASE, "again.toml"), None)
    plan = plan_reload(old, new)
    assert plan == ReloadPlan()
    assert plan.empty
    assert plan.summary() == "no changes"


def test_partially_changed_config(tmp_path: Path) -> None:
    old = load_config(write(tmp_path, BASE), None)
    changed = (
        BASE.replace('level = "info"', 'level = "debug"')
        .replace("interval = 2.0", "interval = 5.0")  # b changed -> restart
        .replace(
            'name = "c"\nport = "/dev/ttyACM0"',
            'name = "c"\nport = "/dev/ttyACM0"\nenabled = false',
        )  # c disabled -> stop
        + '\n[[drivers]]\ntype = "ble"\nname = "d"\n'  # d new -> start
    )
    new = load_config(write(tmp_path, changed, "new.toml"), None)
    plan = plan_reload(old, new)
    assert plan.start == ("d",)
    assert plan.stop == ("c",)
    assert plan.restart == ("b",)
    assert plan.live == ("logging.level",)
    assert plan.needs_restart == ()
    assert "a" not in plan.start + plan.stop + plan.restart


def test_driver_type_and_restart_policy_changes_restart(tmp_path: Path) -> None:
    old = load_config(write(tmp_path, BASE), None)
    changed = BASE.replace('type = "synthetic"\nname = "a"', 'type = "other"\nname = "a"')
    changed = changed.replace('name = "b"', 'name = "b"\nrestart = "fail"')
    plan = plan_reload(old, load_config(write(tmp_path, changed, "n.toml"), None))
    assert plan.restart == ("a", "b")
    assert plan.start == plan.stop == ()


def test_settings_needing_a_restart_are_reported(tmp_path: Path) -> None:
    old = load_config(write(tmp_path, BASE), None)
    changed = BASE.replace('id = "gw-1"', 'id = "gw-2"\ngrace_period = "20s"').replace(
        'data_dir = "{data}"', 'data_dir = "{data}-moved"'
    )
    changed += '\n[queue]\nmax_bytes = "1GiB"\n\n[uplink]\nurl = "mqtt://10.0.0.1:1883"\n'
    new = load_config(write(tmp_path, changed, "n.toml"), None)
    plan = plan_reload(old, new)
    assert plan.needs_restart == (
        "gateway.data_dir",
        "gateway.id",
        "queue.max_bytes",
        "uplink.url",
    )
    assert plan.live == ("gateway.grace_period",)
    assert plan.start == plan.stop == plan.restart == ()
    assert "needs process restart gateway.data_dir" in plan.summary()


def test_rotated_secret_file_restarts_the_driver(tmp_path: Path) -> None:
    from edgerun.config.base import Secret
    from edgerun.config.model import DriverInstance

    old = load_config(write(tmp_path, BASE), None)
    import msgspec

    def with_secret(value: str) -> object:
        drivers = [
            msgspec.structs.replace(d, settings={"key": Secret(value, "file k")})
            if d.name == "a"
            else d
            for d in old.drivers
        ]
        assert all(isinstance(d, DriverInstance) for d in drivers)
        return msgspec.structs.replace(old, drivers=drivers)

    plan = plan_reload(with_secret("one"), with_secret("two"))  # type: ignore[arg-type]
    assert plan.restart == ("a",)
    assert plan_reload(with_secret("one"), with_secret("one")).empty  # type: ignore[arg-type]


def test_invalid_config_keeps_the_old_one(tmp_path: Path) -> None:
    old = load_config(write(tmp_path, BASE), None)
    bad = write(tmp_path, BASE.replace('level = "info"', "level = 3") + "\n[qeue]\n", "bad.toml")
    result = reload_config(old, lambda: load_config(bad, None))
    assert not result.ok
    assert result.config is old
    assert result.plan.empty
    reasons = [str(p) for p in result.problems]
    assert any(r.startswith("logging.level") for r in reasons), reasons
    assert any(r.startswith("qeue") for r in reasons), reasons


def test_unreadable_or_crashing_loader_keeps_the_old_one(tmp_path: Path) -> None:
    old = load_config(write(tmp_path, BASE), None)
    missing = reload_config(old, lambda: load_config(tmp_path / "gone.toml", None))
    assert missing.config is old
    assert "does not exist" in str(missing.problems[0])
    syntax = write(tmp_path, "[gateway\n", "syntax.toml")
    assert "not valid TOML" in str(
        reload_config(old, lambda: load_config(syntax, None)).problems[0]
    )

    def boom() -> object:
        raise RuntimeError("plugin check crashed")

    crashed = reload_config(old, boom)  # type: ignore[arg-type]
    assert crashed.config is old
    assert "plugin check crashed" in str(crashed.problems[0])


def test_valid_reload_returns_new_config_and_plan(tmp_path: Path) -> None:
    old = load_config(write(tmp_path, BASE), None)
    path = write(tmp_path, BASE.replace("interval = 1.0", "interval = 0.5"), "n.toml")
    result = reload_config(old, lambda: load_config(path, None))
    assert result.ok
    assert result.config is not old
    assert result.config.drivers[0].options == {"interval": 0.5}
    assert result.plan.restart == ("a",)
