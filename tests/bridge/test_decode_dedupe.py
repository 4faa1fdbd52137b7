"""Decoding payload batches and the dedupe window (no servers needed)."""

from __future__ import annotations

import json
import sqlite3
import zlib
from pathlib import Path

import msgpack
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edgerun.bridge.batch import DecodeError, decode
from edgerun.bridge.dedupe import DedupeStore, runs
from edgerun.payload import Encoder

TS = 1_790_000_000_000
ROWS = [
    [1, TS, "mesh/n1", "co2", 412.5, "ppm", True, None],
    [2, TS + 1000, "mesh/n1", "temperature", 21, "°C", False, {"rssi": -70}],
    [3, TS + 2000, "ble/aa:bb", "occupied", True, "", True, None],
]


@pytest.mark.parametrize(
    ("encoding", "compression"),
    [("msgpack", "none"), ("json", "none"), ("msgpack", "zlib"), ("json", "zlib")],
)
def test_every_wire_form_decodes_to_the_same_rows(encoding: str, compression: str) -> None:
    enc = Encoder("gw-1", "acme", encoding=encoding, compression=compression)  # type: ignore[arg-type]
    b = decode(enc.encode_rows(ROWS, hist=True))
    assert b.gateway == "gw-1"
    assert b.tenant == "acme"
    assert b.hist is True
    assert b.rows == [tuple(r[:7]) for r in ROWS]
    assert b.bad_rows == []


def test_columns_in_another_order_and_unknown_ones() -> None:
    doc = {
        "v": 1,
        "gw": "g",
        "cols": ["q", "extra", "val", "ts", "id", "dev"],  # no unit, no sync
        "rows": [["co2", "?", 500.0, TS, 9, "d"]],
        "hist": False,
        "future": {"x": 1},
    }
    b = decode(msgpack.packb(doc))
    assert b.rows == [(9, TS, "d", "co2", 500.0, "", None)]


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"", "malformed"),
        (b"\xc1", "malformed"),
        (b"{oops", "malformed"),
        (zlib.compress(b"{oops")[:-3], "malformed"),
        (msgpack.packb([1, 2]), "malformed"),
        (
            msgpack.packb({"v": 2, "gw": "g", "cols": [], "rows": [], "hist": False}),
            "unknown-version",
        ),
        (
            json.dumps({"v": 1, "gw": "", "cols": [], "rows": [], "hist": False}).encode(),
            "malformed",
        ),
        (
            msgpack.packb({"v": 1, "gw": "g", "cols": ["id"], "rows": [], "hist": False}),
            "malformed",
        ),
        (b"\x90" * 2000, "oversized"),
    ],
)
def test_bad_payloads_have_a_reason(payload: bytes, reason: str) -> None:
    with pytest.raises(DecodeError) as exc:
        decode(payload, max_bytes=1000)
    assert exc.value.reason == reason


def test_zlib_bomb_is_refused() -> None:
    bomb = zlib.compress(b"{" + b" " * (40 * 1024 * 1024))
    with pytest.raises(DecodeError) as exc:
        decode(bomb)
    assert exc.value.reason in {"oversized", "malformed"}


def test_bad_rows_are_set_aside_and_the_rest_kept() -> None:
    rows = [
        ROWS[0],
        [4, 17, "d", "co2", 1.0, "ppm", True, None],  # ts in seconds, not ms
        [5, TS, "", "co2", 1.0, "ppm", True, None],
        [6, TS, "d", "co2", float("nan"), "ppm", True, None],
        [7, TS, "d", "co2", [1], "ppm", True, None],
        [8, TS, "d"],  # wrong length
    ]
    doc = {"v": 1, "gw": "g", "cols": list(Encoder("g").cols), "rows": rows, "hist": False}
    b = decode(msgpack.packb(doc))
    assert [r[0] for r in b.rows] == [1]
    assert sorted(p for p, _ in b.bad_rows) == [
        "bad dev",
        "bad row shape",
        "bad ts",
        "bad val",
        "non-finite val",
    ]


# ----------------------------------------------------------------------- dedupe


def test_runs() -> None:
    assert runs([5, 1, 2, 3, 7, 6, 3]) == [(1, 3), (5, 7)]
    assert runs([]) == []


@settings(max_examples=200, deadline=None)
@given(st.lists(st.lists(st.integers(0, 300), max_size=30), max_size=30))
def test_window_matches_a_set_model(batches: list[list[int]]) -> None:
    store = DedupeStore(None)
    seen: set[int] = set()
    hits = 0
    for ids in batches:
        fresh = store.claim("gw", ids)
        expected = []
        local: set[int] = set()
        for x in ids:
            new = x not in seen and x not in local
            local.add(x)
            expected.append(new)
        hits += expected.count(False)
        seen |= local
        assert fresh == expected
    assert store.hits == hits


def test_window_survives_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "d.sqlite"
    a = DedupeStore(path)
    assert a.claim("g1", list(range(1, 101))) == [True] * 100
    assert a.claim("g2", [5, 6, 9]) == [True] * 3
    a.commit()
    # No close: the file must be enough (as after SIGKILL).
    b = DedupeStore(path)
    assert b.claim("g1", [100, 101]) == [False, True]
    assert b.claim("g2", [6, 7, 8, 9]) == [False, True, True, False]
    assert b.hits == 3
    assert b.stats()["dedupe_ranges"] == 2  # g1 1..101, g2 5..9


def test_uncommitted_claims_do_not_survive(tmp_path: Path) -> None:
    path = tmp_path / "d.sqlite"
    a = DedupeStore(path)
    a.claim("g", [1, 2, 3])
    b = DedupeStore(path)
    assert b.claim("g", [1, 2, 3]) == [True] * 3


def test_window_is_bounded(tmp_path: Path) -> None:
    s = DedupeStore(tmp_path / "d.sqlite", max_ranges_per_gateway=3, max_gateways=2)
    for start in (1, 10, 20, 30):  # four separate ranges; the oldest is forgotten
        s.claim("g", [start])
    assert s.claim("g", [1]) == [True]
    assert s.claim("g", [30]) == [False]
    s.claim("h", [1])
    s.claim("k", [1])  # a third gateway: the least recently used ("g") goes
    s.commit()
    reopened = DedupeStore(tmp_path / "d.sqlite")
    assert reopened.stats()["dedupe_gateways"] == 2
    assert reopened.claim("g", [30]) == [True]


def test_corrupt_file_is_moved_aside(tmp_path: Path) -> None:
    path = tmp_path / "d.sqlite"
    path.write_bytes(b"this is not a database" * 100)
    s = DedupeStore(path)
    assert s.corrupt_files == 1
    assert s.claim("g", [1]) == [True]
    s.commit()
    assert list(tmp_path.glob("d.sqlite.corrupt-*"))
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT gw, lo, hi FROM ranges").fetchall() == [("g", 1, 1)]
