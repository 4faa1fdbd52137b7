"""Read whisper files (Graphite's storage) without graphite-web: tests, the demo's plot.

The format (from Graphite's documentation of whisper): a header of aggregation type,
max retention, x-files factor and archive count (``!2LfL``), one ``!3L`` record per archive
(offset, seconds per point, points), then each archive's points as ``!Ld`` (timestamp,
value). A slot whose timestamp is 0 was never written. Only the finest archive is read:
it is the one carbon writes first and the one a short-retention setup uses.
"""

from __future__ import annotations

import struct
from pathlib import Path

_HEADER = struct.Struct("!2LfL")
_ARCHIVE = struct.Struct("!3L")
_POINT = struct.Struct("!Ld")


class WhisperError(ValueError):
    """Not a whisper file (or a truncated one)."""


def read_points(path: Path) -> list[tuple[int, float]]:
    """(timestamp s, value) of every written slot of the finest archive, sorted by time."""
    data = path.read_bytes()
    if len(data) < _HEADER.size:
        raise WhisperError(f"{path}: too short for a whisper header")
    _agg, _maxret, _xff, count = _HEADER.unpack_from(data, 0)
    if count < 1 or _HEADER.size + count * _ARCHIVE.size > len(data):
        raise WhisperError(f"{path}: bad archive count {count}")
    archives = [_ARCHIVE.unpack_from(data, _HEADER.size + i * _ARCHIVE.size) for i in range(count)]
    offset, step, points = min(archives, key=lambda a: a[1])
    if offset + points * _POINT.size > len(data):
        raise WhisperError(f"{path}: archive runs past the end of the file")
    out = []
    for ts, value in _POINT.iter_unpack(data[offset : offset + points * _POINT.size]):
        if ts and ts % step == 0:
            out.append((ts, value))
    out.sort()
    return out


def metric_file(root: Path, metric: str) -> Path:
    """The file carbon writes ``metric`` to under its ``LOCAL_DATA_DIR``."""
    return root.joinpath(*metric.split(".")).with_suffix(".wsp")


def find_metrics(root: Path, pattern: str = "**/*.wsp") -> dict[str, Path]:
    """Every metric under ``root`` by dotted name."""
    out = {}
    for p in root.glob(pattern):
        rel = p.relative_to(root).with_suffix("")
        out[".".join(rel.parts)] = p
    return out


__all__ = ["WhisperError", "find_metrics", "metric_file", "read_points"]
