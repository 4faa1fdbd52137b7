"""Gates on systemd/edgerun.service: verify prints nothing, offline security score <= 1.7.

``systemd-analyze`` comes from Debian's ``systemd`` package. ``verify`` fails when
ExecStart's binary is missing on the checking machine, so a copy is checked with the
binary paths pointed at this checkout's virtualenv (the unit's own path, /opt/edgerun/venv,
is where the documented install puts it). ``verify`` exits 0 on unknown keys and
unparsable values, hence "any output fails" (output naming *another* unit's file on the
checking machine, e.g. a distribution unit's deprecation notice, is not ours and ignored).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]
UNIT = ROOT / "systemd" / "edgerun.service"
INSTALLED = "/opt/edgerun/venv/bin/edgerun"
SYSUSERS = ROOT / "systemd" / "edgerun.sysusers"
#: 1.3 before clock-sync detection needed adjtimex(2): allowing that one read-only call costs
#: 0.2 (ProtectClock=) + 0.2 (@clock allowed) + 0.2 (@privileged allowed) in the offline
#: score, though without CAP_SYS_TIME the call cannot set anything (docs/operations.md).
MAX_EXPOSURE = 1.7

pytestmark = pytest.mark.skipif(
    shutil.which("systemd-analyze") is None,
    reason="systemd-analyze not installed (apt-get install systemd)",
)


def checkable_copy(tmp_path: Path, text: str | None = None) -> Path:
    edgerun = Path(sys.executable).parent / "edgerun"
    assert edgerun.exists(), "edgerun console script missing from the virtualenv"
    copy = tmp_path / "edgerun.service"
    copy.write_text((text or UNIT.read_text()).replace(INSTALLED, str(edgerun)))
    return copy


#: A warning about another unit installed on the checking machine, not about ours.
_FOREIGN = re.compile(r"^/(?:usr/)?(?:lib|etc|run)/systemd/\S+:\d+: ")


def verify(unit: Path) -> str:
    """All of verify's output except warnings that name other units' files."""
    proc = subprocess.run(
        ["systemd-analyze", "verify", str(unit)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    lines = [line for line in (proc.stdout + proc.stderr).splitlines() if not _FOREIGN.match(line)]
    return "\n".join(lines).strip() + ("" if proc.returncode == 0 else " [rc!=0]")


def exposure(unit: Path) -> float:
    proc = subprocess.run(
        ["systemd-analyze", "security", "--offline=true", str(unit)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    m = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", proc.stdout)
    assert m, proc.stdout + proc.stderr
    return float(m.group(1))


def test_unit_verifies_without_any_output(tmp_path: Path) -> None:
    assert INSTALLED in UNIT.read_text()
    assert verify(checkable_copy(tmp_path)) == ""


def test_verify_gate_catches_what_verify_lets_pass(tmp_path: Path) -> None:
    bad = UNIT.read_text().replace("ProtectSystem=strict", "ProtectSystem=bogus\nFooBar=1")
    assert verify(checkable_copy(tmp_path, bad)) != ""


def test_security_exposure_at_most_1_7(tmp_path: Path) -> None:
    score = exposure(checkable_copy(tmp_path))
    assert score <= MAX_EXPOSURE, f"exposure {score} > {MAX_EXPOSURE}"


def test_security_gate_notices_lost_hardening(tmp_path: Path) -> None:
    weaker = re.sub(r"(?m)^CapabilityBoundingSet=\n", "", UNIT.read_text())
    assert exposure(checkable_copy(tmp_path, weaker)) > MAX_EXPOSURE


def test_unit_runs_the_notify_protocol_and_keeps_devices() -> None:
    keys: dict[str, list[str]] = {}
    for line in UNIT.read_text().splitlines():
        if "=" in line and not line.startswith("#"):
            k, v = line.split("=", 1)
            keys.setdefault(k, []).append(v)
    assert keys["Type"] == ["notify"]
    assert keys["WatchdogSec"] == ["30s"]
    assert keys["StateDirectory"] == ["edgerun"]
    assert keys["ProtectSystem"] == ["strict"]
    assert {
        f"char-{kind} rw" for kind in ("ttyS", "ttyAMA", "ttyACM", "ttyUSB", "spidev", "gpiochip")
    } <= set(keys["DeviceAllow"])
    assert "AF_UNIX" in keys["RestrictAddressFamilies"][0]  # BlueZ over D-Bus
    assert keys["RestartPreventExitStatus"] == ["78 216 217"]
    # the stop timeout must exceed the runtime's default grace period (10 s)
    assert int(keys["TimeoutStopSec"][0].rstrip("s")) > 10


def test_unit_names_no_group_a_stock_debian_lacks() -> None:
    """SupplementaryGroups= of a missing group fails with 216/GROUP; DynamicUser= cannot use
    D-Bus. The unit runs as the static user that the sysusers.d file creates."""
    text = UNIT.read_text()
    settings = [line for line in text.splitlines() if line and not line.startswith("#")]
    assert not [
        line for line in settings if line.startswith(("SupplementaryGroups=", "DynamicUser="))
    ]
    assert "User=edgerun" in settings
    assert "Group=edgerun" in settings
    assert "SystemCallFilter=adjtimex" in settings
    assert "ProtectClock=yes" not in settings


@pytest.mark.skipif(shutil.which("systemd-sysusers") is None, reason="systemd-sysusers missing")
def test_sysusers_creates_the_user_and_every_device_group(tmp_path: Path) -> None:
    etc = tmp_path / "etc"
    etc.mkdir()
    # A stock Debian 12 base: dialout exists, gpio, spi and bluetooth do not.
    (etc / "passwd").write_text("root:x:0:0:root:/root:/bin/bash\n")
    (etc / "group").write_text("root:x:0:\ndialout:x:20:\n")
    proc = subprocess.run(
        ["systemd-sysusers", f"--root={tmp_path}", str(SYSUSERS)],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    users = {
        line.split(":")[0]: line.split(":") for line in (etc / "passwd").read_text().splitlines()
    }
    assert users["edgerun"][6] == "/usr/sbin/nologin"
    assert int(users["edgerun"][2]) < 1000  # a system user
    groups = {
        line.split(":")[0]: line.split(":")[3].split(",")
        for line in (etc / "group").read_text().splitlines()
    }
    for group in ("dialout", "gpio", "spi", "bluetooth"):
        assert "edgerun" in groups[group], group
