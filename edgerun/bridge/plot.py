"""``python -m edgerun.bridge.plot``: CO2 per room over time as a PNG, from Graphite's data.

The demo calls :func:`main` after carrying the conference mesh's readings into carbon. Two
sources, tried in this order:

* ``--render-url http://graphite-web/`` — graphite-web's render API draws the picture
  (``/render?target=...&format=png``) when graphite-web runs next to carbon;
* ``--whisper DIR`` — carbon's ``LOCAL_DATA_DIR``: the whisper files are read directly
  (:mod:`edgerun.bridge.whisper`) and plotted with the small PNG writer in
  :mod:`edgerun.bridge.png`, so the demo needs neither graphite-web nor matplotlib.

``--pattern`` selects the series by dotted metric name with shell wildcards (default
``edgerun.*.*.co2``: every gateway's every device's CO2); each series is labelled by the
parts of its name that differ between the series (the room). Exit status 0 when a picture
was written, 1 when no series had data in the time range, 2 for bad arguments.
"""

from __future__ import annotations

import argparse
import fnmatch
import itertools
import sys
import time
import urllib.parse
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

from edgerun.bridge.png import Canvas, Color
from edgerun.bridge.whisper import WhisperError, find_metrics, read_points

PALETTE: list[Color] = [
    (31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189),
    (140, 86, 75), (227, 119, 194), (127, 127, 127), (188, 189, 34), (23, 190, 207),
]  # fmt: skip
BLACK: Color = (0, 0, 0)
GRID: Color = (225, 225, 225)

Series = dict[str, list[tuple[int, float]]]


def load_series(whisper_dir: Path, pattern: str, start: int, end: int) -> Series:
    """Points of every metric matching ``pattern`` within [start, end] (seconds)."""
    out: Series = {}
    for name, path in sorted(find_metrics(whisper_dir).items()):
        if not fnmatch.fnmatchcase(name, pattern):
            continue
        try:
            pts = [(t, v) for t, v in read_points(path) if start <= t <= end]
        except (OSError, WhisperError):
            continue
        if pts:
            out[name] = pts
    return out


def labels(names: list[str]) -> dict[str, str]:
    """Label each series by the name parts that differ between them."""
    parts = [n.split(".") for n in names]
    if len(parts) == 1:
        return {names[0]: parts[0][-2] if len(parts[0]) > 1 else names[0]}
    width = max(len(p) for p in parts)
    varying = [i for i in range(width) if len({p[i] if i < len(p) else "" for p in parts}) > 1]
    out = {
        n: ".".join(p[i] for i in varying if i < len(p)) for n, p in zip(names, parts, strict=True)
    }
    # Drop a driver-instance prefix every label shares ("mesh/room-1" is escaped to
    # "mesh_room-1"; with only the "mesh" driver, "room-1" says it all).
    heads = {v.split("_", 1)[0] for v in out.values()}
    if len(heads) == 1 and all("_" in v for v in out.values()):
        out = {n: v.split("_", 1)[1] for n, v in out.items()}
    return out


def _nice_step(span: float, ticks: int) -> float:
    raw = span / max(1, ticks)
    mag = 10 ** len(str(int(raw))) / 10 if raw >= 1 else 1.0
    for m in (1, 2, 5, 10):
        if raw <= m * mag:
            return m * mag
    return 10 * mag


def render(series: Series, title: str, width: int = 960, height: int = 480) -> Canvas:
    """Draw the series as a line chart with axes, grid, time labels (UTC) and a legend."""
    c = Canvas(width, height)
    left, right, top, bottom = 70, width - 200, 40, height - 50
    c.text(left, 12, title, BLACK, 3)
    ts = [t for pts in series.values() for t, _ in pts]
    vs = [v for pts in series.values() for _, v in pts]
    t0, t1 = min(ts), max(ts)
    if t1 == t0:
        t1 = t0 + 60
    step = _nice_step(max(vs) - min(vs) or 1.0, 5)
    v0 = (min(vs) // step) * step
    v1 = v0 + step * max(1, -(-(max(vs) - v0) // step))

    def x_of(t: float) -> int:
        return left + round((t - t0) / (t1 - t0) * (right - left))

    def y_of(v: float) -> int:
        return bottom - round((v - v0) / (v1 - v0) * (bottom - top))

    v = v0
    while v <= v1 + step / 2:
        y = y_of(v)
        c.line(left, y, right, y, GRID)
        label = f"{v:g}"
        c.text(left - 8 - Canvas.text_width(label), y - 5, label, BLACK)
        v += step
    tstep = _nice_step((t1 - t0) / 60, 6) * 60
    t = (t0 // tstep + 1) * tstep
    while t < t1:
        x = x_of(t)
        c.line(x, top, x, bottom, GRID)
        label = datetime.fromtimestamp(t, UTC).strftime("%H:%M")
        c.text(x - Canvas.text_width(label) // 2, bottom + 8, label, BLACK)
        t += tstep
    c.text(right - Canvas.text_width("UTC"), bottom + 28, "UTC", BLACK)
    c.line(left, top, left, bottom, BLACK)
    c.line(left, bottom, right, bottom, BLACK)
    names = labels(list(series))
    for i, (name, pts) in enumerate(series.items()):
        color = PALETTE[i % len(PALETTE)]
        prev: tuple[int, int] | None = None
        gap = max(1, _typical_step(pts)) * 3
        last_t = None
        for tp, vp in pts:
            xy = (x_of(tp), y_of(vp))
            if prev is not None and last_t is not None and tp - last_t <= gap:
                c.line(prev[0], prev[1], xy[0], xy[1], color, thick=2)
            else:
                c.rect(xy[0] - 1, xy[1] - 1, xy[0] + 1, xy[1] + 1, color)
            prev, last_t = xy, tp
        ly = top + 4 + i * 18
        if ly < bottom:
            c.rect(right + 16, ly + 2, right + 30, ly + 8, color)
            c.text(right + 38, ly, names[name][:18], BLACK)
    return c


def _typical_step(pts: list[tuple[int, float]]) -> int:
    if len(pts) < 2:
        return 1
    steps = sorted(b[0] - a[0] for a, b in itertools.pairwise(pts))
    return steps[len(steps) // 2]


def _time_arg(text: str, now: int) -> int:
    text = text.strip()
    if text.startswith("-"):
        units = {"s": 1, "min": 60, "h": 3600, "d": 86400}
        for suffix, mult in sorted(units.items(), key=lambda kv: -len(kv[0])):
            if text.endswith(suffix):
                return now - int(float(text[1 : -len(suffix)]) * mult)
        return now - int(text[1:])
    return int(float(text))


def fetch_render(url: str, pattern: str, start: int, end: int, title: str) -> bytes:
    """A PNG from graphite-web's render API."""
    q = urllib.parse.urlencode(
        {
            "target": f"aliasByNode({pattern},2)",
            "from": str(start),
            "until": str(end),
            "format": "png",
            "title": title,
            "width": "960",
            "height": "480",
        }
    )
    with urllib.request.urlopen(f"{url.rstrip('/')}/render?{q}", timeout=30) as r:
        data: bytes = r.read()
    if not data.startswith(b"\x89PNG"):
        raise ValueError("graphite-web did not answer with a PNG")
    return data


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m edgerun.bridge.plot", description="CO2 per room over time as a PNG."
    )
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--whisper", type=Path, help="carbon's LOCAL_DATA_DIR")
    src.add_argument("--render-url", help="graphite-web base URL (uses its render API)")
    ap.add_argument("--pattern", default="edgerun.*.*.co2", help="metric names (wildcards)")
    ap.add_argument("--from", dest="start", default="-1h", help="epoch s or -30min, -2h, -1d")
    ap.add_argument("--until", dest="end", default="-0s", help="epoch s or relative")
    ap.add_argument("--title", default="CO2 per room (ppm)")
    ap.add_argument("-o", "--output", type=Path, required=True)
    args = ap.parse_args(argv)
    now = int(time.time())
    try:
        start, end = _time_arg(args.start, now), _time_arg(args.end, now)
    except ValueError:
        print("--from/--until: expected epoch seconds or -<n>s|min|h|d", file=sys.stderr)
        return 2
    if args.render_url:
        try:
            data = fetch_render(args.render_url, args.pattern, start, end, args.title)
        except (OSError, ValueError) as exc:
            print(f"graphite-web render failed: {exc}", file=sys.stderr)
            return 1
        args.output.write_bytes(data)
        return 0
    series = load_series(args.whisper, args.pattern, start, end)
    if not series:
        print(f"no data for {args.pattern} in {args.whisper} in that time range", file=sys.stderr)
        return 1
    render(series, args.title).save(args.output)
    print(f"{args.output}: {len(series)} series")
    return 0


if __name__ == "__main__":
    sys.exit(main())
