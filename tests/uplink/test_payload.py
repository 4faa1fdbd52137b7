"""Payload v1: the encoder against docs/payload.md, and the shared decoder's error handling."""

from __future__ import annotations

import json
import re
import zlib
from pathlib import Path
from typing import Any

import msgpack
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edgerun.payload import MAX_DECODED_BYTES, Encoder, PayloadError, decode
from edgerun.readings import COLUMNS
from tests.uplink.docs_decoder import decode_doc, records
from tests.uplink.helpers import memory_queue, row

DOC = Path(__file__).resolve().parents[2] / "docs" / "payload.md"

EXAMPLE_ROWS: list[list[Any]] = [
    [1001, 1764115200000, "mesh/node-7", "temperature", 21.5, "°C", True, None],
    [1002, 1764115200250, "mesh/node-7", "relative_humidity", 48, "%", True, {"rssi": -71}],
]


def doc_blocks() -> list[str]:
    return re.findall(r"```(?:json)?\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S)


def test_documented_example_matches_the_encoder_byte_for_byte() -> None:
    hex_block = next(b for b in doc_blocks() if re.fullmatch(r"[0-9a-f \n]+", b))
    documented = bytes.fromhex(hex_block)
    assert Encoder("gw-01").encode_rows(EXAMPLE_ROWS) == documented
    decoded_block = next(b for b in doc_blocks() if b.lstrip().startswith('{\n  "v"'))
    assert decode_doc(documented) == json.loads(decoded_block)
    assert f"{len(documented)} bytes" in DOC.read_text(encoding="utf-8")


@pytest.mark.parametrize("encoding", ["msgpack", "json"])
@pytest.mark.parametrize("compression", ["none", "zlib"])
def test_every_form_decodes_with_the_docs_decoder(encoding: Any, compression: Any) -> None:
    enc = Encoder("gw-9", "acme", encoding=encoding, compression=compression)
    data = enc.encode_rows(EXAMPLE_ROWS, hist=True)
    assert (data[0] == 0x78) == (compression == "zlib")
    doc = decode_doc(data)
    assert doc["gw"] == "gw-9"
    assert doc["tenant"] == "acme"
    assert doc["hist"] is True
    assert doc["cols"] == list(COLUMNS)
    assert doc["rows"] == EXAMPLE_ROWS
    ours = decode(data)
    assert ours.rows == EXAMPLE_ROWS
    assert ours.tenant == "acme"
    assert ours.hist is True
    assert ours.encoding == encoding
    assert ours.compressed == (compression == "zlib")
    assert [r["q"] for r in ours.records()] == ["temperature", "relative_humidity"]


@pytest.mark.anyio
async def test_batches_from_the_queue_are_shipped_without_reencoding() -> None:
    q = await memory_queue(chunk_readings=10)
    for i in range(25):
        q.offer(row(i, ts=1_700_000_000_000 + i))
    batch = await q.lease(100, 1 << 20, 0.0)
    data = Encoder("gw").encode_blob(batch.count, batch.rows_blob(), batch.hist)
    assert batch.rows_blob() in data
    recs = records(decode_doc(data))
    assert [r["id"] for r in recs] == list(range(batch.first_id, batch.last_id + 1))
    assert recs[3]["ts"] == 1_700_000_000_003
    assert recs[3]["unit"] == "°C"
    js = Encoder("gw", encoding="json").encode_blob(batch.count, batch.rows_blob(), False)
    assert records(decode_doc(js)) == recs


values = st.one_of(
    st.integers(-(2**63), 2**64 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
    st.booleans(),
    st.text(max_size=20),
)
rows_st = st.lists(
    st.tuples(
        st.integers(0, 2**64 - 1),
        st.integers(0, 2**62),
        st.text(min_size=1, max_size=30),
        st.text(min_size=1, max_size=20),
        values,
        st.text(max_size=5),
        st.booleans(),
        st.none() | st.dictionaries(st.text(max_size=5), st.integers(-(2**63), 2**63), max_size=3),
    ).map(list),
    max_size=40,
)


@settings(max_examples=60, deadline=None)
@given(
    rows=rows_st,
    hist=st.booleans(),
    encoding=st.sampled_from(["msgpack", "json"]),
    compression=st.sampled_from(["none", "zlib"]),
)
def test_round_trip_any_rows(
    rows: list[list[Any]], hist: bool, encoding: Any, compression: Any
) -> None:
    data = Encoder("g", encoding=encoding, compression=compression).encode_rows(rows, hist)
    assert decode(data).rows == rows
    assert decode_doc(data)["rows"] == rows


def test_values_json_cannot_hold_are_rendered_not_fatal() -> None:
    rows = [[1, 2, "d", "q", 1.0, "u", True, {"raw": b"\x01\x02", "ext": msgpack.ExtType(5, b"z")}]]
    doc = decode_doc(Encoder("g", encoding="json").encode_rows(rows))
    assert doc["rows"][0][7]["raw"] == "0102"
    assert doc["rows"][0][7]["ext"] == [5, "7a"]  # an extension type as [code, hex data]


def test_non_finite_floats_become_null_in_json() -> None:
    data = Encoder("g", encoding="json").encode_rows(
        [[1, 2, "d", "q", float("nan"), "u", True, None]]
    )
    assert decode(data).rows[0][4] is None


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "empty"),
        (b"\x78\x9cgarbage", "corrupt zlib"),
        (zlib.compress(b'{"v": 1')[:-3], "zlib"),
        (b"{not json", "invalid JSON"),
        (b"\xc1", "invalid msgpack"),
        (msgpack.packb([1, 2]), "not a map"),
        (msgpack.packb({"v": 2, "gw": "g", "cols": [], "rows": [], "hist": False}), "version 2"),
        (msgpack.packb({"v": 1, "gw": "", "cols": [], "rows": [], "hist": False}), '"gw"'),
        (msgpack.packb({"v": 1, "gw": "g", "cols": [1], "rows": [], "hist": False}), '"cols"'),
        (msgpack.packb({"v": 1, "gw": "g", "cols": [], "rows": {}, "hist": False}), '"rows"'),
        (msgpack.packb({"v": 1, "gw": "g", "cols": [], "rows": [], "hist": 0}), '"hist"'),
        (zlib.compress(zlib.compress(b"{}")), "compressed twice"),
    ],
)
def test_bad_payloads_raise_a_clear_error(data: bytes, message: str) -> None:
    with pytest.raises(PayloadError, match=re.escape(message)):
        decode(data)


def test_zlib_bomb_is_refused() -> None:
    bomb = zlib.compress(b"{" + b" " * (MAX_DECODED_BYTES + 10), 9)
    assert len(bomb) < 100_000
    with pytest.raises(PayloadError, match="exceeds"):
        decode(bomb)


def test_misaligned_rows_are_counted_and_unknown_keys_kept() -> None:
    doc = {
        "v": 1,
        "gw": "g",
        "cols": ["id", "ts"],
        "rows": [[1, 2], [3], "x", [4, 5]],
        "hist": False,
        "future": {"a": 1},
    }
    p = decode(msgpack.packb(doc))
    assert p.rows == [[1, 2], [4, 5]]
    assert p.bad_rows == 2
    assert p.extra == {"future": {"a": 1}}
    assert p.column("ts") == [2, 5]
    assert p.column("nope") == []


@pytest.mark.parametrize("encoding", ["msgpack", "json"])
def test_split_keeps_rows_in_order_within_the_limit(encoding: Any) -> None:
    rows = [
        [i, 1_700_000_000_000 + i, f"d/{i % 9}", "temperature", i / 3, "°C", True, None]
        for i in range(300)
    ]
    enc = Encoder("gw", encoding=encoding)
    blob = msgpack.packb(rows)[3:]
    parts = enc.encode_split(len(rows), blob, True, 2000)
    assert len(parts) > 1
    assert all(len(p) <= 2000 for p in parts)
    docs = [decode_doc(p) for p in parts]
    assert [r for d in docs for r in d["rows"]] == rows
    assert all(d["hist"] is True for d in docs)
    assert enc.encode_split(len(rows), blob, False, 1 << 20) == [enc.encode_blob(300, blob, False)]
