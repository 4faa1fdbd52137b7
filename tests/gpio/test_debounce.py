"""The debouncer alone: bursts, glitches, no debounce."""

from __future__ import annotations

from edgerun_gpio.debounce import Change, Debouncer

MS = 1_000_000


def test_a_bouncing_press_is_one_change_at_the_settling_edge() -> None:
    d = Debouncer(0.010, level=False)
    for i, level in enumerate([True, False, True, False, True]):
        assert d.feed(level, i * MS) is None
    assert d.deadline() == 4 * MS + 10 * MS
    assert d.poll(13 * MS) is None, "not stable long enough yet"
    assert d.poll(14 * MS) == Change(True, 4 * MS)
    assert d.level is True
    assert d.poll(100 * MS) is None
    assert d.deadline() is None


def test_a_glitch_shorter_than_the_period_is_no_change() -> None:
    d = Debouncer(0.010, level=False)
    d.feed(True, 0)
    d.feed(False, 2 * MS)
    assert d.poll(50 * MS) is None
    assert d.level is False


def test_zero_period_passes_every_real_change_at_once() -> None:
    d = Debouncer(0.0, level=False)
    assert d.feed(True, 5) == Change(True, 5)
    assert d.feed(True, 6) is None
    assert d.feed(False, 7) == Change(False, 7)
    assert d.deadline() is None


def test_edges_arriving_in_one_batch_are_judged_on_their_timestamps() -> None:
    d = Debouncer(0.010, level=False)
    assert d.feed(True, 0) is None
    assert d.feed(False, 1 * MS) is None  # bounce
    assert d.feed(True, 2 * MS) is None
    # 50 ms later (same batch): the close had been stable for 48 ms -> confirmed now.
    assert d.feed(False, 50 * MS) == Change(True, 2 * MS)
    assert d.poll(60 * MS) == Change(False, 50 * MS)
