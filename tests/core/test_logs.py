"""Log lines on stderr: sd-daemon priority prefixes when stderr is the journal, else unchanged."""

from __future__ import annotations

import os
import re
import subprocess
import sys

SCRIPT = """
import logging
from edgerun.logs import setup_logging
setup_logging("debug")
log = logging.getLogger("edgerun.test")
log.debug("d"); log.info("i"); log.warning("w"); log.error("e")
"""


def run(journal: bool) -> list[str]:
    read_fd, write_fd = os.pipe()
    env = {k: v for k, v in os.environ.items() if k != "JOURNAL_STREAM"}
    if journal:
        st = os.fstat(write_fd)
        env["JOURNAL_STREAM"] = f"{st.st_dev}:{st.st_ino}"
    proc = subprocess.Popen([sys.executable, "-c", SCRIPT], stderr=write_fd, env=env)
    os.close(write_fd)
    with os.fdopen(read_fd) as f:
        out = f.read()
    assert proc.wait(timeout=60) == 0
    return out.splitlines()


def test_journal_stream_gets_priority_prefixes_and_no_timestamp() -> None:
    lines = run(journal=True)
    prefixes = [line[:3] for line in lines]
    assert prefixes == ["<7>", "<6>", "<4>", "<3>"], lines
    for line in lines:
        assert not re.search(r"\d{4}-\d\d-\d\d", line), line
    assert lines[2] == "<4>WARNING edgerun.test: w"


def test_without_journal_stream_format_is_unchanged() -> None:
    lines = run(journal=False)
    assert len(lines) == 4
    for line in lines:
        assert re.match(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} (DEBUG|INFO|WARNING|ERROR)", line)
        assert not line.startswith("<")


def test_journal_stream_of_another_file_is_ignored() -> None:
    env_value = "1:2"
    os.environ["JOURNAL_STREAM"] = env_value
    try:
        from edgerun.logs import stderr_is_journal

        assert stderr_is_journal() is False
    finally:
        del os.environ["JOURNAL_STREAM"]
