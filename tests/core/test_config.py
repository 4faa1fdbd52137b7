"""check-config: every broken config gets its own message with a key path and exit 78."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from edgerun.cli.main import main
from edgerun.supervisor import EXIT_CONFIG

GOOD = """
[gateway]
id = "gw-1"
data_dir = "{data}"

[[drivers]]
type = "synthetic"
name = "load"
"""

BROKEN = {
    "unknown_top_table": ("[gatway]\nid = 'x'\n", "gatway: unknown table"),
    "unknown_key": ("[queue]\nmax_byte = 10\n", "queue.max_byte: unknown key"),
    "wrong_type": ("[queue]\nchunk_readings = 'many'\n", "queue.chunk_readings: expected int"),
    "bad_size": ("[queue]\nmax_bytes = 'lots'\n", "queue.max_bytes: expected a size"),
    "bad_duration": ("[queue]\nmax_age = '7 weeks'\n", "queue.max_age: expected a duration"),
    "bad_enum": ("[queue]\noverflow = 'drop_newest'\n", "queue.overflow: invalid enum value"),
    "missing_driver_type": (
        "[[drivers]]\nname = 'x'\n",
        "drivers[0].type: required key is missing",
    ),
    "driver_not_installed": (
        "[[drivers]]\ntype = 'iqrf-nonexistent'\nname = 'x'\n",
        "drivers[0].type: driver type 'iqrf-nonexistent' is not installed",
    ),
    "blocked_plugin": (
        "[plugins]\ndeny = ['synthetic']\n[[drivers]]\ntype = 'synthetic'\nname = 'x'\n",
        "drivers[0].type: driver type 'synthetic' is not installed; its plugin is installed but "
        "blocked by the plugin allow/deny settings",
    ),
    "duplicate_names": (
        "[[drivers]]\ntype = 'synthetic'\nname = 'a'\n"
        "[[drivers]]\ntype = 'synthetic'\nname = 'a'\n",
        "drivers[1].name: duplicate driver name 'a' (also drivers[0])",
    ),
    "bad_name": (
        "[[drivers]]\ntype = 'synthetic'\nname = 'a/b'\n",
        "drivers[0].name: 'a/b' is not a valid instance name",
    ),
    "driver_unknown_key": (
        "[[drivers]]\ntype = 'synthetic'\nname = 'a'\nrat = 5\n",
        "drivers[0].rat: unknown key",
    ),
    "driver_wrong_type": (
        "[[drivers]]\ntype = 'synthetic'\nname = 'a'\ndevices = 'ten'\n",
        "drivers[0].devices: expected int, got str",
    ),
    "driver_cross_check": (
        "[[drivers]]\ntype = 'synthetic'\nname = 'a'\ndevices = 0\n",
        "drivers[0].devices: must be at least 1",
    ),
    "secret_env_missing": (
        "[uplink]\npassword = { env = 'EDGERUN_TEST_NO_SUCH_VAR' }\n",
        "uplink.password: environment variable 'EDGERUN_TEST_NO_SUCH_VAR' is not set",
    ),
    "secret_file_missing": (
        "[uplink]\npassword = { file = '/nonexistent/secret' }\n",
        "uplink.password: cannot read secret file '/nonexistent/secret'",
    ),
    "secret_bad_form": (
        "[uplink]\npassword = { vault = 'x' }\n",
        'uplink.password: expected a string, { env = "NAME" } or { file = "PATH" }',
    ),
    "drivers_not_array": ("drivers = 5\n", "drivers: expected [[drivers]] entries"),
    "not_toml": ("[gateway\nid = 1\n", "not valid TOML"),
    "bad_backoff": (
        "[[drivers]]\ntype = 'synthetic'\nname = 'a'\nbackoff_initial = 10\nbackoff_max = 1\n",
        "drivers[0].backoff_max: must be at least backoff_initial",
    ),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_broken_config_is_reported_with_key_path(
    case: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text, expected = BROKEN[case]
    cfg = tmp_path / "edgerun.toml"
    cfg.write_text(text, encoding="utf-8")
    code = main(["check-config", "-c", str(cfg)])
    err = capsys.readouterr().err
    assert code == EXIT_CONFIG
    assert expected in err


def test_all_problems_are_reported_together(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = tmp_path / "edgerun.toml"
    cfg.write_text(
        "[queue]\nmax_bytes = 'x'\n[uplink]\ninflight = 'y'\n"
        "[[drivers]]\ntype = 'synthetic'\nname = 'a'\nrat = 1\n",
        encoding="utf-8",
    )
    assert main(["check-config", "-c", str(cfg)]) == EXIT_CONFIG
    err = capsys.readouterr().err
    assert "3 problem(s)" in err
    for path in ("queue.max_bytes", "uplink.inflight", "drivers[0].rat"):
        assert path in err


def test_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check-config", "-c", str(tmp_path / "nope.toml")]) == EXIT_CONFIG
    assert "does not exist" in capsys.readouterr().err


def test_good_config_passes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = tmp_path / "edgerun.toml"
    cfg.write_text(GOOD.format(data=tmp_path / "data"), encoding="utf-8")
    assert main(["check-config", "-c", str(cfg)]) == 0
    assert "OK" in capsys.readouterr().out


def test_secret_from_env_and_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from edgerun.config.load import validate

    secret_file = tmp_path / "pw"
    secret_file.write_text("from-file\n", encoding="utf-8")
    monkeypatch.setenv("EDGERUN_TEST_PW", "from-env")
    cfg = validate({"uplink": {"password": {"env": "EDGERUN_TEST_PW"}}}, None)
    assert cfg.uplink.password is not None
    assert cfg.uplink.password.value == "from-env"
    assert "from-env" not in repr(cfg)
    cfg = validate({"uplink": {"password": {"file": str(secret_file)}}}, None)
    assert cfg.uplink.password is not None
    assert cfg.uplink.password.value == "from-file"


def test_shipped_example_config_is_valid(tmp_path: Path) -> None:
    """config/edgerun.toml (the commented example) must pass check-config as shipped."""
    example = Path(__file__).parents[2] / "config" / "edgerun.toml"
    text = example.read_text(encoding="utf-8").replace(
        'data_dir = "/var/lib/edgerun"', f'data_dir = "{tmp_path}"'
    )
    cfg = tmp_path / "example.toml"
    cfg.write_text(text, encoding="utf-8")
    proc = subprocess.run(
        [sys.executable, "-m", "edgerun.cli.main", "check-config", "-c", str(cfg)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr


def test_install_hint_names_the_extra_for_known_drivers() -> None:
    from edgerun.plugins import Registry

    hint = Registry().install_hint("gpio")
    assert hint == "install it with: pip install 'edgerun[gpio]'"


def test_gateway_id_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    from edgerun.config.load import validate

    monkeypatch.setenv("EDGERUN_GATEWAY_ID", "node-17")
    assert validate({}, None).gateway.id == "node-17"
    assert validate({"gateway": {"id": "explicit"}}, None).gateway.id == "explicit"
