"""Metric model and Prometheus text exposition, generic enough for the gateway and the bridge.

A metric source is any callable returning :class:`Metric` objects built fresh from
snapshots at scrape time (no global registry, no state kept between scrapes: the numbers
come from the components' own ``stats()``). :func:`render` turns them into the Prometheus
text format 0.0.4 with prometheus-client, which owns the escaping and number formatting
rules, and appends the standard ``process_*`` metrics (RSS, CPU, open fds).

prometheus-client is imported on the first scrape, not at start-up: a gateway with the
endpoint switched off does not pay for it. Its measured cost here is about 1.7 MB of RSS
(``python bench/ops_rss.py``), well inside the 35 MB budget, so we use the library rather
than our own exposition writer. When it is not installed, :func:`render` raises
:class:`MetricsUnavailable` and the endpoint answers 501 with the install hint.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

MetricType = Literal["counter", "gauge", "histogram"]

_NAME = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
_LABEL = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")

#: Content type of the text format we render.
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class MetricsUnavailable(RuntimeError):
    """prometheus-client is not installed."""


@dataclass(frozen=True, slots=True)
class MetricDef:
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


@dataclass(frozen=True, slots=True)
class Sample:
    """One labelled value. Histograms use ``buckets`` (cumulative, by upper bound) and
    ``sum``; ``value`` is then the total count (the ``+Inf`` bucket)."""

    labels: tuple[str, ...] = ()
    value: float = 0.0
    buckets: tuple[tuple[float, float], ...] = ()
    sum: float = 0.0


@dataclass(slots=True)
class Metric:
    """A definition and its samples at one moment."""

    definition: MetricDef
    samples: list[Sample] = field(default_factory=list)

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


def _family(metric: Metric) -> Any:
    from prometheus_client.core import (  # lazy: see the module docstring
        CounterMetricFamily,
        GaugeMetricFamily,
        HistogramMetricFamily,
    )

    d = metric.definition
    labels = list(d.labels)
    if d.type == "counter":
        fam: Any = CounterMetricFamily(d.name, d.help, labels=labels)
        for s in metric.samples:
            fam.add_metric(list(s.labels), s.value)
    elif d.type == "gauge":
        fam = GaugeMetricFamily(d.name, d.help, labels=labels)
        for s in metric.samples:
            fam.add_metric(list(s.labels), s.value)
    else:
        fam = HistogramMetricFamily(d.name, d.help, labels=labels)
        for s in metric.samples:
            buckets = [(_bound(b), c) for b, c in s.buckets] + [("+Inf", s.value)]
            fam.add_metric(list(s.labels), buckets, s.sum)
    return fam


def _bound(value: float) -> str:
    return repr(float(value))


def render(metrics: Iterable[Metric], *, process: bool = True) -> bytes:
    """The Prometheus text exposition of ``metrics`` (plus ``process_*`` when asked).

    Families with the same name are merged (their samples concatenated), so several
    sources may contribute to one family; the definition of the first one wins.
    """
    try:
        from prometheus_client import (  # lazy: see the module docstring
            CollectorRegistry,
            ProcessCollector,
            generate_latest,
        )
    except ImportError as exc:
        raise MetricsUnavailable(
            "prometheus-client is not installed: pip install 'edgerun[metrics]'"
        ) from exc

    merged: dict[str, Metric] = {}
    for m in metrics:
        have = merged.get(m.definition.name)
        if have is None:
            merged[m.definition.name] = Metric(m.definition, list(m.samples))
        else:
            have.samples.extend(m.samples)
    families = [_family(m) for m in merged.values()]

    class _Snapshot:
        def collect(self) -> list[Any]:
            return families

    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Snapshot())
    if process:
        ProcessCollector(registry=registry)
    out: bytes = generate_latest(registry)
    return out


__all__ = [
    "CONTENT_TYPE",
    "Metric",
    "MetricDef",
    "MetricType",
    "MetricsUnavailable",
    "Sample",
    "render",
]
