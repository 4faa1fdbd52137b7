"""Which sink types exist: the ``edgerun_register_sinks`` hook, through the shared loader.

Sinks are found exactly like drivers (:mod:`edgerun.plugins`: the ``edgerun`` entry-point
group, the allow/deny settings and environment variables, a broken plugin logged and
skipped). A plugin may register a class or a ``"module:Class"`` string; strings are
imported only for the sink types a config actually uses. The built-in Graphite and InfluxDB
sinks come from :mod:`edgerun.bridge.plugin` by the same route.
"""

from __future__ import annotations

from typing import Any

from edgerun import plugins
from edgerun.bridge.sinks.base import Sink


def sink_refs() -> dict[str, Any]:
    """Registered sink types: name -> class or import string."""
    return dict(plugins.registry().sinks)


def sink_class(name: str) -> type[Sink]:
    """The class of sink type ``name``; raises ``LookupError`` or ``ValueError`` with why."""
    refs = sink_refs()
    if name not in refs:
        known = ", ".join(sorted(refs)) or "none"
        raise LookupError(f"unknown sink {name!r} (installed: {known})")
    try:
        cls = plugins.resolve(refs[name])
    except (ImportError, AttributeError, ValueError) as exc:
        raise ValueError(f"sink {name!r} cannot be loaded: {exc}") from None
    if not (isinstance(cls, type) and issubclass(cls, Sink)):
        raise ValueError(f"sink {name!r} is not a subclass of edgerun.bridge.sinks.base.Sink")
    return cls


def sink_types() -> dict[str, type[Sink]]:
    """Every registered sink type that loads, resolved (for listings and tests)."""
    out = {}
    for name in sink_refs():
        try:
            out[name] = sink_class(name)
        except (LookupError, ValueError):
            continue
    return out


__all__ = ["sink_class", "sink_refs", "sink_types"]
