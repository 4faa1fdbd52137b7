"""The memory settings the systemd unit and the images ship (docs/operations.md, "Memory"):
the same values everywhere, byte code compiled for them in the images, and a gateway that
works under them — PYTHONOPTIMIZE=2 strips asserts, so nothing may depend on one."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]
UNIT = ROOT / "systemd" / "edgerun.service"
DOCKERFILES = [ROOT / "Dockerfile.amd64", ROOT / "Dockerfile.arm"]
KEYS = ("PYTHONOPTIMIZE", "PYTHONNODEBUGRANGES", "MALLOC_ARENA_MAX")


def unit_env() -> dict[str, str]:
    env: dict[str, str] = {}
    for line in UNIT.read_text().splitlines():
        if line.startswith("Environment="):
            for item in line.removeprefix("Environment=").split():
                key, _, value = item.partition("=")
                env[key] = value
    return env


def runtime_stage(dockerfile: Path) -> list[tuple[str, str]]:
    parse = pytest.importorskip("dockerfile_parse", reason="pip install dockerfile-parse")
    with dockerfile.open("rb") as f:
        steps = [
            (i["instruction"], i["value"]) for i in parse.DockerfileParser(fileobj=f).structure
        ]
    last = max(i for i, (k, _) in enumerate(steps) if k == "FROM")
    return steps[last:]


def test_unit_sets_the_memory_settings_and_a_writable_byte_code_cache() -> None:
    env = unit_env()
    assert {k: env.get(k) for k in KEYS} == {
        "PYTHONOPTIMIZE": "2",
        "PYTHONNODEBUGRANGES": "1",
        "MALLOC_ARENA_MAX": "2",
    }
    # Byte code for -OO must be writable somewhere, or every start compiles in memory.
    assert "PYTHONDONTWRITEBYTECODE" not in env
    assert env["PYTHONPYCACHEPREFIX"].startswith("/var/cache/edgerun/")
    assert "CacheDirectory=edgerun" in UNIT.read_text().splitlines()


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_images_ship_the_same_settings_with_compiled_byte_code(dockerfile: Path) -> None:
    steps = runtime_stage(dockerfile)
    env_text = " ".join(v for k, v in steps if k == "ENV")
    want = unit_env()
    for key in KEYS:
        assert f"{key}={want[key]}" in env_text, (dockerfile.name, key)
    env_at = next(i for i, (k, _) in enumerate(steps) if k == "ENV")
    compiles = [
        i for i, (k, v) in enumerate(steps) if k == "RUN" and "compileall" in v and "-o 2" in v
    ]
    assert compiles, "no byte code compiled for PYTHONOPTIMIZE=2"
    assert compiles[0] > env_at, "compile after ENV, so PYTHONNODEBUGRANGES applies"
    compile_cmd = steps[compiles[0]][1]
    assert "/opt/venv" in compile_cmd
    assert "/usr/lib/python3" in compile_cmd


def test_gateway_runs_under_the_shipped_settings(tmp_path: Path) -> None:
    """``check-config`` then ``run`` with the unit's environment: the run drains a bounded
    synthetic load into the durable queue and exits 0 on SIGINT, and the byte code cache
    is filled for the next start (-OO file names)."""
    env = {**os.environ, **{k: unit_env()[k] for k in KEYS}}
    env["PYTHONPYCACHEPREFIX"] = str(tmp_path / "pycache")
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    config = tmp_path / "gw.toml"
    config.write_text(
        f"""
[gateway]
id = "gw-shipped"
data_dir = "{tmp_path / "data"}"
[uplink]
url = "mqtt://127.0.0.1:9"
[http]
enabled = false
[[drivers]]
type = "synthetic"
name = "syn"
rate = 0
count = 500
"""
    )
    edgerun = str(Path(sys.executable).with_name("edgerun"))
    check = subprocess.run(
        [edgerun, "check-config", "-c", str(config)],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert check.returncode == 0, check.stderr
    proc = subprocess.Popen(
        [edgerun, "run", "-c", str(config), "--log-format", "json"],
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stderr is not None
    try:
        for line in proc.stderr:  # ends when the driver is done or the process exits
            if '"msg": "driver syn finished' in line:
                break
        proc.send_signal(2)
        _, rest = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, rest[-2000:]
    stopped = json.loads(next(x for x in rest.splitlines() if '"msg": "stopped:' in x))
    assert "500 readings accepted" in stopped["msg"]
    assert "500 queued" in stopped["msg"]  # the uplink is down: all still in the queue
    cached = list((tmp_path / "pycache").rglob("supervisor.cpython-*.opt-2.pyc"))
    assert cached, "the run wrote no -OO byte code into the cache prefix"
