"""scripts/ stops nothing it did not start: no pkill, killall or systemctl stop anywhere."""

from __future__ import annotations

import re
from pathlib import Path

SCRIPTS = Path(__file__).resolve().parents[2] / "scripts"


def test_no_script_kills_or_stops_by_name() -> None:
    pattern = re.compile(r"\b(pkill|killall)\b|systemctl\s+(stop|kill|restart)")
    offenders = []
    for path in sorted(SCRIPTS.iterdir()):
        if path.is_file():
            for n, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
                if pattern.search(line.split("#", 1)[0]):
                    offenders.append(f"{path.name}:{n}: {line.strip()}")
    assert offenders == []


def test_setup_installs_promtool_and_keeps_policy_rc_trap() -> None:
    text = (SCRIPTS / "setup").read_text()
    assert re.search(r"^\s+prometheus\b", text, re.M)
    assert "policy-rc.d" in text
    assert "trap '$SUDO rm -f /usr/sbin/policy-rc.d' EXIT" in text
