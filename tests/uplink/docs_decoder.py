"""A payload v1 decoder written from docs/payload.md alone (it does not import edgerun).

The uplink tests decode what reaches the broker with this, so a change to the encoder that
breaks the documented contract fails them even if edgerun's own decoder follows the change.
"""

from __future__ import annotations

import json
import zlib
from typing import Any

import msgpack


def decode_doc(data: bytes) -> dict[str, Any]:
    """Sniff the first byte: 0x78 zlib (then sniff again), '{' JSON, else msgpack."""
    if data[:1] == b"\x78":
        data = zlib.decompress(data)
    doc = json.loads(data) if data[:1] == b"{" else msgpack.unpackb(data, raw=False)
    assert isinstance(doc, dict), "a batch is a map"
    assert doc["v"] == 1, f"unexpected version {doc['v']!r}"
    assert isinstance(doc["gw"], str)
    assert isinstance(doc["hist"], bool)
    cols = doc["cols"]
    for required in ("id", "ts", "dev", "q", "val", "unit"):
        assert required in cols, f"column {required!r} missing"
    for row in doc["rows"]:
        assert len(row) == len(cols), "a row is aligned with cols"
    return doc


def records(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """Rows as dicts keyed by column name (unknown columns kept, as the contract allows)."""
    cols = doc["cols"]
    return [dict(zip(cols, row, strict=True)) for row in doc["rows"]]
