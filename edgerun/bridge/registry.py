"""Which sink types exist: the ``edgerun_register_sinks`` hook of every ``edgerun`` plugin.

The built-in Graphite and InfluxDB sinks are registered by :mod:`edgerun.bridge.plugin`
through the same entry-point mechanism a third party uses. A plugin that fails to import
is logged and skipped (the bridge still runs with the sinks it has); a configured sink type
nobody registered is a configuration error naming the known types.
"""

from __future__ import annotations

import importlib.metadata as md
import logging
from typing import Any

import pluggy

from edgerun import hookspecs
from edgerun.bridge.sinks.base import Sink

log = logging.getLogger("edgerun.bridge.registry")


def sink_types(group: str = hookspecs.PROJECT) -> dict[str, type[Sink]]:
    """Load every plugin of ``group`` and collect the sink classes they register."""
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    for ep in md.entry_points(group=group):
        try:
            pm.register(ep.load(), name=ep.name)
        except Exception as exc:
            log.error("plugin %s (%s) failed to load: %s", ep.name, ep.value, exc)
    found: dict[str, type[Sink]] = {}

    def register(name: str, cls: type[Any]) -> None:
        if not (isinstance(cls, type) and issubclass(cls, Sink)):
            log.error("sink %r is not a subclass of edgerun.bridge.sinks.base.Sink", name)
            return
        if name in found and found[name] is not cls:
            log.error("sink type %r registered twice; keeping the first", name)
            return
        found[name] = cls

    for impl in pm.hook.edgerun_register_sinks.get_hookimpls():
        try:
            impl.function(register=register)
        except Exception as exc:
            log.error("plugin %s failed in edgerun_register_sinks: %s", impl.plugin_name, exc)
    return found


__all__ = ["sink_types"]
