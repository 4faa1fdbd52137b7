"""Metric model and Prometheus text exposition, generic enough for the gateway and the bridge.

A metric source is any callable returning :class:`Metric` objects built fresh from
snapshots at scrape time (no global registry, no state kept between scrapes: the numbers
come from the components' own ``stats()``). :func:`render` writes the Prometheus text
format 0.0.4 and appends the standard ``process_*`` metrics (RSS, CPU, open fds, start
time) read from /proc.

Why our own writer and not prometheus-client: measured with ``bench/ops_rss.py``, an idle
gateway with every built-in driver type configured already sits above the 35 MB budget
(about 40 MiB), and prometheus-client adds about 1.7 MiB more on import. The format is
small and fully specified (escaping of help text and label values, ``+Inf``/``NaN``,
``_total``, ``_bucket``/``_sum``/``_count``); tests/ops/test_metrics.py checks our output
with prometheus-client's own parser, so the library stays a test dependency only.
"""

from __future__ import annotations

import contextlib
import math
import os
import re
import resource
from collections.abc import Iterable, Sequence
from typing import Literal

import msgspec

MetricType = Literal["counter", "gauge", "histogram"]

_NAME = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
_LABEL = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")

#: Content type of the text format we render.
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class MetricDef(msgspec.Struct, frozen=True):
    """What a metric is: family name, help text, type and label names.

    Counter names are given without ``_total``; the exposition adds it (as the text
    format's conventions and prometheus-client require).
    """

    name: str
    help: str
    type: MetricType
    labels: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not _NAME.match(self.name) or self.name.startswith("__"):
            raise ValueError(f"invalid metric name {self.name!r}")
        if self.type == "counter" and self.name.endswith("_total"):
            raise ValueError(f"counter {self.name!r}: give the name without _total")
        for label in self.labels:
            if not _LABEL.match(label) or label.startswith("__") or label == "le":
                raise ValueError(f"{self.name}: invalid label name {label!r}")

    @property
    def exposed_name(self) -> str:
        """The name a scraper sees for the main sample."""
        return f"{self.name}_total" if self.type == "counter" else self.name


class Sample(msgspec.Struct, frozen=True):
    """One labelled value. Histograms use ``buckets`` (cumulative, by upper bound) and
    ``sum``; ``value`` is then the total count (the ``+Inf`` bucket)."""

    labels: tuple[str, ...] = ()
    value: float = 0.0
    buckets: tuple[tuple[float, float], ...] = ()
    sum: float = 0.0


class Metric(msgspec.Struct):
    """A definition and its samples at one moment."""

    definition: MetricDef
    samples: list[Sample] = msgspec.field(default_factory=list)

    def add(self, value: float, *labels: str) -> Metric:
        if len(labels) != len(self.definition.labels):
            raise ValueError(
                f"{self.definition.name}: expected labels {self.definition.labels}, got {labels}"
            )
        self.samples.append(Sample(tuple(labels), float(value)))
        return self

    def add_histogram(
        self, buckets: Sequence[tuple[float, float]], count: float, total: float, *labels: str
    ) -> Metric:
        if len(labels) != len(self.definition.labels):
            raise ValueError(f"{self.definition.name}: wrong number of labels")
        ordered = tuple(sorted((float(b), float(c)) for b, c in buckets if b != float("inf")))
        self.samples.append(Sample(tuple(labels), float(count), ordered, float(total)))
        return self


def _number(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value == int(value) and abs(value) < 1e15:
        return f"{int(value)}.0" if isinstance(value, float) else str(int(value))
    return repr(float(value))


def _escape_label(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _escape_help(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def _labels(names: Sequence[str], values: Sequence[str], extra: str = "") -> str:
    parts = [f'{n}="{_escape_label(str(v))}"' for n, v in zip(names, values, strict=True)]
    if extra:
        parts.append(extra)
    return "{" + ",".join(parts) + "}" if parts else ""


def _write(metric: Metric, out: list[str]) -> None:
    d = metric.definition
    name = d.exposed_name
    out.append(f"# HELP {name} {_escape_help(d.help)}")
    out.append(f"# TYPE {name} {d.type}")
    for s in metric.samples:
        if d.type != "histogram":
            out.append(f"{name}{_labels(d.labels, s.labels)} {_number(s.value)}")
            continue
        for bound, count in (*s.buckets, (math.inf, s.value)):
            le = f'le="{_number(float(bound))}"'
            out.append(f"{name}_bucket{_labels(d.labels, s.labels, le)} {_number(count)}")
        out.append(f"{name}_count{_labels(d.labels, s.labels)} {_number(s.value)}")
        out.append(f"{name}_sum{_labels(d.labels, s.labels)} {_number(s.sum)}")


def process_metrics() -> list[Metric]:
    """``process_*`` metrics of this process, as Prometheus client libraries name them."""
    out: list[Metric] = []
    try:
        with open("/proc/self/stat", "rb") as f:
            fields = f.read().rsplit(b")", 1)[1].split()
        with open("/proc/stat", "rb") as f:
            btime = next(float(line.split()[1]) for line in f if line.startswith(b"btime"))
    except (OSError, StopIteration, IndexError, ValueError):
        return out
    ticks = os.sysconf("SC_CLK_TCK")
    page = os.sysconf("SC_PAGE_SIZE")
    cpu = (int(fields[11]) + int(fields[12])) / ticks
    start = btime + int(fields[19]) / ticks
    out.append(Metric(_P_CPU).add(cpu))
    out.append(Metric(_P_RSS).add(int(fields[21]) * page))
    out.append(Metric(_P_VMS).add(int(fields[20])))
    out.append(Metric(_P_START).add(start))
    with contextlib.suppress(OSError):
        out.append(Metric(_P_FDS).add(len(os.listdir("/proc/self/fd"))))
    soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    out.append(Metric(_P_MAX_FDS).add(soft))
    return out


_P_CPU = MetricDef("process_cpu_seconds", "Total user and system CPU time in seconds.", "counter")
_P_RSS = MetricDef("process_resident_memory_bytes", "Resident memory size in bytes.", "gauge")
_P_VMS = MetricDef("process_virtual_memory_bytes", "Virtual memory size in bytes.", "gauge")
_P_START = MetricDef(
    "process_start_time_seconds", "Start time of the process since the epoch in seconds.", "gauge"
)
_P_FDS = MetricDef("process_open_fds", "Number of open file descriptors.", "gauge")
_P_MAX_FDS = MetricDef("process_max_fds", "Maximum number of open file descriptors.", "gauge")


def render(metrics: Iterable[Metric], *, process: bool = True) -> bytes:
    """The Prometheus text exposition of ``metrics`` (plus ``process_*`` when asked).

    Families with the same name are merged (their samples concatenated), so several
    sources may contribute to one family; the definition of the first one wins.
    """
    merged: dict[str, Metric] = {}
    for m in (*metrics, *(process_metrics() if process else ())):
        have = merged.get(m.definition.name)
        if have is None:
            merged[m.definition.name] = Metric(m.definition, list(m.samples))
        else:
            have.samples.extend(m.samples)
    out: list[str] = []
    for m in merged.values():
        _write(m, out)
    out.append("")
    return "\n".join(out).encode()


__all__ = [
    "CONTENT_TYPE",
    "Metric",
    "MetricDef",
    "MetricType",
    "Sample",
    "process_metrics",
    "render",
]
