"""Drops are counted exactly and logged at most once per interval per reason."""

from __future__ import annotations

import logging

import pytest

from edgerun.queue import droplog
from edgerun.queue.droplog import DropLog


def test_drops_counted_exactly_and_logged_sparingly(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = [1000.0]
    monkeypatch.setattr(droplog.time, "monotonic", lambda: clock[0])
    counts: dict[str, int] = {}
    log = DropLog(counts, logging.getLogger("edgerun.queue.test"))
    with caplog.at_level(logging.WARNING, logger="edgerun.queue.test"):
        for _ in range(1000):
            log.drop("overflow", 3)
        log.drop("expired", 7)
        log.drop("overflow", 0)
        clock[0] += droplog.LOG_EVERY
        log.drop("overflow", 2)
    assert counts == {"overflow": 3002, "expired": 7}
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 3
    assert lines[0].startswith("dropped 3 reading(s) (overflow)")
    assert lines[1].startswith("dropped 7 reading(s) (expired)")
    # the second overflow line reports everything dropped since the first one
    assert lines[2].startswith("dropped 2999 reading(s) (overflow)")
    assert lines[2].endswith("3002 dropped for this reason so far")
