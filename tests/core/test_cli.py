"""The edgerun command line: version, help, plugin-provided commands with their options."""

from __future__ import annotations

import subprocess
import sys

from edgerun import __version__


def edgerun(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "edgerun.cli.main", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
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
