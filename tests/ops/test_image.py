"""The amd64 image really built (podman, offline debootstrap base) and run against mosquitto.

Slow (about 1 minute with a cached base, 2 with a fresh debootstrap): run with
``pytest -m slow tests/ops/test_image.py``. The ARM images: ``deploy/build-image.sh arm64``
then ``deploy/run-image.sh arm64`` (and armv7), or ``EDGERUN_IMAGE_ARCHES=amd64,arm64``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]
ARCHES = os.environ.get("EDGERUN_IMAGE_ARCHES", "amd64").split(",")

pytestmark = [
    pytest.mark.slow,
    pytest.mark.timeout(3600),
    pytest.mark.skipif(os.geteuid() != 0, reason="podman builds here need root"),
    pytest.mark.skipif(
        not (shutil.which("podman") and shutil.which("debootstrap")),
        reason="apt-get install podman buildah runc debootstrap (see docs/operations.md)",
    ),
]


@pytest.fixture(autouse=True)
def _only_when_selected(request: pytest.FixtureRequest) -> None:
    """Minutes of building: run only when ``-m slow`` (or another expression naming it) asks."""
    if "slow" not in (request.config.getoption("markexpr") or ""):
        pytest.skip("image build: run with -m slow")


@pytest.mark.parametrize("arch", ARCHES)
def test_image_builds_and_runs_against_mosquitto(arch: str) -> None:
    build = subprocess.run(
        ["bash", str(ROOT / "deploy/build-image.sh"), arch],
        capture_output=True,
        text=True,
        timeout=3000,
        check=False,
    )
    assert build.returncode == 0, build.stderr[-4000:]
    assert build.stdout.strip().splitlines()[-1] == f"localhost/edgerun:{arch}"
    run = subprocess.run(
        ["bash", str(ROOT / "deploy/run-image.sh"), arch],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert run.returncode == 0, run.stderr[-4000:]
    assert "SMOKE OK" in run.stderr
