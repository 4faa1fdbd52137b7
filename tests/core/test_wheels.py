"""The release as a user installs it: wheels built by scripts/build-wheels, installed offline.

The development venv has every plugin installed editable, so it cannot show that an extra
brings its driver. These tests build the wheel directory once, install it into fresh venvs
made with Debian's python3 exactly as docs/operations.md says
(``pip install --no-index --find-links dist 'edgerun[EXTRA]'``), and run the installed
``edgerun``: its plugin table, and an IQRF probe against the simulated mesh.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.procs import stop_process

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    proc = subprocess.run(
        ["bash", str(REPO / "scripts" / "build-wheels"), str(out)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    return out


def fresh_install(dist: Path, root: Path, requirement: str) -> Path:
    venv = root / "venv"
    subprocess.run(["python3", "-m", "venv", str(venv)], check=True, timeout=120)
    proc = subprocess.run(
        [str(venv / "bin" / "pip"), "install", "--quiet", "--disable-pip-version-check",
         "--no-index", "--find-links", str(dist), requirement],
        capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    return venv / "bin" / "edgerun"


def installed_drivers(edgerun: Path) -> dict[str, bool]:
    proc = subprocess.run(
        [str(edgerun), "plugins", "--json"], capture_output=True, text=True, timeout=60, check=False
    )
    assert proc.returncode == 0, proc.stderr
    table = json.loads(proc.stdout)
    assert table["failed"] == []
    return {row["driver"]: row["dependencies_ok"] for row in table["drivers"]}


def test_every_wheel_carries_the_licence_and_versioned_requirements(dist: Path) -> None:
    wheels = sorted(dist.glob("edgerun*.whl"))
    assert {w.name.split("-")[0] for w in wheels} == {
        "edgerun", "edgerun_iqrf", "edgerun_ble", "edgerun_gpio", "edgerun_synthetic",
    }  # fmt: skip
    for wheel in wheels:
        with zipfile.ZipFile(wheel) as zf:
            names = zf.namelist()
            assert any(n.endswith("licenses/LICENSE") for n in names), wheel.name
            meta = zf.read(next(n for n in names if n.endswith("/METADATA"))).decode()
        assert "License-Expression: Apache-2.0" in meta, wheel.name
        if not wheel.name.startswith("edgerun-"):
            assert "Requires-Dist: edgerun<0.2,>=0.1" in meta, wheel.name


@pytest.fixture
def simulated_mesh(tmp_path: Path) -> Iterator[Path]:
    link = tmp_path / "tty-sim"
    proc = subprocess.Popen(
        [sys.executable, "-m", "edgerun_iqrf.cli", "simulate", "--preset", "conference",
         "--transport", "uart", "--link", str(link)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 20
        while not link.is_symlink():
            assert proc.poll() is None, "simulator exited"
            assert time.monotonic() < deadline, "simulator did not create its link"
            time.sleep(0.02)
        yield link
    finally:
        stop_process(proc, signal.SIGINT, timeout=10)


def test_the_iqrf_extra_brings_a_working_iqrf_driver(
    dist: Path, tmp_path: Path, simulated_mesh: Path
) -> None:
    edgerun = fresh_install(dist, tmp_path, "edgerun[iqrf]")
    drivers = installed_drivers(edgerun)
    assert drivers.get("iqrf") is True
    assert "ble" not in drivers
    assert "gpio" not in drivers
    proc = subprocess.run(
        [str(edgerun), "iqrf", "probe", "--transport", "uart", "--port", str(simulated_mesh)],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    info = json.loads(proc.stdout)
    assert len(info["bonded"]) == 40
    assert info["coordinator"]["dpa_version"] == "4.17"


def test_the_all_extra_brings_every_hardware_driver(dist: Path, tmp_path: Path) -> None:
    edgerun = fresh_install(dist, tmp_path, "edgerun[all]")
    drivers = installed_drivers(edgerun)
    for name in ("iqrf", "ble", "gpio"):
        assert drivers.get(name) is True, drivers
