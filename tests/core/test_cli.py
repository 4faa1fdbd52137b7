"""The edgerun command line: version, help, plugin-provided commands with their options."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from edgerun import __version__


def edgerun(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "edgerun.cli.main", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=env,
    )


def test_version() -> None:
    proc = edgerun("--version")
    assert proc.returncode == 0
    assert proc.stdout.strip() == f"edgerun {__version__}"


def test_help_lists_core_and_plugin_commands() -> None:
    out = edgerun("--help").stdout
    for name in ("run", "check-config", "plugins", "tail", "bridge", "iqrf", "ble"):
        assert f"    {name}" in out, name


def test_every_command_has_help() -> None:
    for name in ("run", "check-config", "plugins", "tail", "bridge"):
        proc = edgerun(name, "--help")
        assert proc.returncode == 0, (name, proc.stderr)
        assert "usage:" in proc.stdout


def test_plugin_command_receives_its_options(tmp_path: object) -> None:
    proc = edgerun("bridge", "-c", "/nonexistent/bridge.toml", "--check")
    assert proc.returncode != 0
    assert "unrecognized arguments" not in proc.stderr
    assert "nonexistent" in proc.stderr + proc.stdout


def test_no_command_is_a_usage_error() -> None:
    proc = edgerun()
    assert proc.returncode == 64
    assert "usage:" in proc.stderr


def test_usage_errors_exit_64() -> None:
    for argv in (("run",), ("check-config", "--bogus"), ("plugins", "--nope"), ("nosuch",)):
        proc = edgerun(*argv)
        assert proc.returncode == 64, (argv, proc.returncode, proc.stderr)
        assert "usage:" in proc.stderr, argv


def test_plugin_usage_and_data_errors_map_onto_the_table() -> None:
    # argparse inside the plugin command (exit 2) and a bad value (returned 2) both become 64.
    assert edgerun("iqrf", "--no-such-option").returncode == 64
    assert edgerun("iqrf", "decode", "zz-not-hex").returncode == 64


def test_plugin_exit_code_table() -> None:
    from edgerun.cli.main import plugin_exit_code

    codes = [plugin_exit_code(c) for c in (None, 0, 1, 2, 130, 78, 3, "boom")]
    assert codes == [0, 0, 70, 64, 130, 78, 70, 70]


def test_closed_pipe_is_not_a_traceback() -> None:
    # A reader that goes away after nothing: every write after that hits EPIPE.
    read_fd, write_fd = os.pipe()
    os.close(read_fd)
    proc = subprocess.run(
        [sys.executable, "-m", "edgerun.cli.main", "plugins"],
        stdout=write_fd,
        stderr=subprocess.PIPE,
        text=True,
        timeout=60,
        check=False,
    )
    os.close(write_fd)
    assert "Traceback" not in proc.stderr, proc.stderr
    assert "BrokenPipe" not in proc.stderr
    assert proc.returncode == 0


def test_plugins_lists_builtin_drivers_not_installed() -> None:
    env = {**os.environ, "EDGERUN_PLUGINS_DENY": "ble"}
    proc = edgerun("plugins", "--json", env=env)
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    # A blocked plugin is reported as blocked, not as "not installed".
    assert "ble" in data["blocked"]
    assert all(n["driver"] != "ble" for n in data["not_installed"])
    installed = {r["driver"] for r in data["drivers"]}
    for n in data["not_installed"]:
        assert n["driver"] not in installed
        assert n["install"].startswith("pip install")


def test_plugins_reports_not_installed_with_the_command(tmp_path: Path) -> None:
    # Only the core plugin loads: every built-in driver is "not installed", with its command.
    env = {**os.environ, "EDGERUN_PLUGINS_ALLOW": "core"}
    out = edgerun("plugins", env=env).stdout
    assert "plugin ble is blocked" in out
    data = json.loads(
        edgerun(
            "plugins", "--json", env={**os.environ, "EDGERUN_PLUGINS_ALLOW": "nothing-here"}
        ).stdout
    )
    assert data["not_installed"] == []  # all blocked, none missing


def test_plugins_survives_a_plugin_that_fails_to_import(tmp_path: Path) -> None:
    site = tmp_path / "site"
    dist = site / "edgerun_brokenplugin-0.1.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: edgerun-brokenplugin\nVersion: 0.1\n"
    )
    (dist / "entry_points.txt").write_text("[edgerun]\nbrokenplugin = edgerun_brokenplugin\n")
    (site / "edgerun_brokenplugin.py").write_text("raise ImportError('needs libfoo.so.3')\n")
    env = {**os.environ, "PYTHONPATH": f"{site}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    for argv in (("plugins",), ("plugins", "--json")):
        proc = edgerun(*argv, env=env)
        assert proc.returncode == 0, proc.stderr
        assert "Traceback" not in proc.stderr
        if argv[-1] == "--json":
            data = json.loads(proc.stdout)
            failed = {f["plugin"]: f for f in data["failed"]}
            assert failed["brokenplugin"]["error"] == "ImportError: needs libfoo.so.3"
            assert {"ble", "iqrf"} <= {r["driver"] for r in data["drivers"]}
        else:
            assert "brokenplugin (edgerun-brokenplugin) failed to load: ImportError" in proc.stdout
            assert "ble " in proc.stdout
