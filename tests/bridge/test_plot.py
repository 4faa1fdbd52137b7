"""The demo's picture: CO2 per room from carbon's whisper files into a PNG."""

from __future__ import annotations

import struct
import time
import zlib
from pathlib import Path

import pytest

from edgerun.bridge.batch import Batch
from edgerun.bridge.plot import PALETTE, labels, main
from edgerun.bridge.sinks.graphite import GraphiteConfig, GraphiteSink
from edgerun.bridge.whisper import find_metrics
from tests.bridge.helpers import points, wait_for
from tests.bridge.servers import Carbon

ROOMS = ["keynote", "room-a", "lobby"]


def decode_png(data: bytes) -> tuple[int, int, bytes]:
    """Check signature, chunk CRCs and filters; return width, height and RGB pixels."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, width, height = 8, b"", 0, 0
    while pos < len(data):
        (n,) = struct.unpack_from("!I", data, pos)
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + n]
        (crc,) = struct.unpack_from("!I", data, pos + 8 + n)
        assert zlib.crc32(kind + body) == crc, kind
        if kind == b"IHDR":
            width, height, depth, ctype = struct.unpack_from("!2I2B", body)
            assert (depth, ctype) == (8, 2)
        elif kind == b"IDAT":
            idat += body
        pos += 12 + n
    raw = zlib.decompress(idat)
    stride = 1 + 3 * width
    assert len(raw) == stride * height
    assert all(raw[y * stride] == 0 for y in range(height))
    pixels = b"".join(raw[y * stride + 1 : (y + 1) * stride] for y in range(height))
    return width, height, pixels


def test_labels_name_the_rooms() -> None:
    assert labels(["edgerun.gw.mesh_a.co2", "edgerun.gw.mesh_b.co2"]) == {
        "edgerun.gw.mesh_a.co2": "a",
        "edgerun.gw.mesh_b.co2": "b",
    }
    two_gateways = labels(["edgerun.g1.x_r.co2", "edgerun.g2.y_r.co2"])
    assert two_gateways == {"edgerun.g1.x_r.co2": "g1.x_r", "edgerun.g2.y_r.co2": "g2.y_r"}


@pytest.mark.anyio
async def test_co2_per_room_png_from_whisper(carbon: Carbon, tmp_path: Path) -> None:
    now = int(time.time())
    rows = [
        (i, (now - 600 + s) * 1000, f"mesh/{room}", "co2", 450.0 + 50 * r + s / 10, "ppm", True)
        for r, room in enumerate(ROOMS)
        for i, s in enumerate(range(0, 600, 5), start=r * 1000)
    ]
    sink = GraphiteSink("c", GraphiteConfig(port=carbon.line_port))
    await sink.write([Batch("conf", False, rows)])
    await sink.close()

    def complete() -> bool:
        files = find_metrics(carbon.whisper)
        return len(files) == 3 and all(len(points(p)) == 120 for p in files.values())

    await wait_for(complete, 30, "whisper files")
    out = tmp_path / "co2.png"
    assert main(["--whisper", str(carbon.whisper), "--from=-15min", "-o", str(out)]) == 0
    width, height, pixels = decode_png(out.read_bytes())
    assert (width, height) == (960, 480)
    colours = {bytes(pixels[i : i + 3]) for i in range(0, len(pixels), 3)}
    for colour in PALETTE[:3]:  # one line per room
        assert bytes(colour) in colours
    assert bytes(PALETTE[3]) not in colours  # and no more
    # Nothing in the range: no picture, exit status 1.
    assert main(["--whisper", str(carbon.whisper), "--pattern", "none.*", "-o", str(out)]) == 1
