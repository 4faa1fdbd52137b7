"""Builds a runnable bridge from a validated config: sinks, dedupe window, dead letters.

Relative file paths in the config (``dedupe.path``, ``dead_letters.file``) are taken
relative to the config file's directory, so a unit file or container does not depend on
its working directory.
"""

from __future__ import annotations

from pathlib import Path

from edgerun.bridge.config import BridgeConfig
from edgerun.bridge.consumer import Bridge
from edgerun.bridge.deadletter import DeadLetters
from edgerun.bridge.dedupe import DedupeStore
from edgerun.bridge.registry import sink_class
from edgerun.bridge.sinks.base import Sink
from edgerun.config.base import ConfigError, Problem, convert


def _path(cfg: BridgeConfig, raw: str) -> Path | None:
    if not raw:
        return None
    p = Path(raw)
    if not p.is_absolute() and cfg.source:
        p = Path(cfg.source).resolve().parent / p
    return p


def build_sinks(cfg: BridgeConfig) -> list[Sink]:
    """Instantiate every ``[[sinks]]`` entry; raises ConfigError listing all problems."""
    sinks: list[Sink] = []
    problems: list[Problem] = []
    for i, spec in enumerate(cfg.sinks):
        try:
            cls = sink_class(spec.type)
        except (LookupError, ValueError) as exc:
            problems.append(Problem(f"sinks[{i}].type", str(exc).strip("'\"")))
            continue
        try:
            conf = convert(spec.options, cls.config_type, prefix=f"sinks[{i}]")
            sinks.append(cls(spec.name, conf))
        except ConfigError as exc:
            problems.extend(exc.problems)
        except ValueError as exc:
            problems.append(Problem(f"sinks[{i}]", str(exc)))
    if problems:
        raise ConfigError(problems)
    return sinks


def build_bridge(cfg: BridgeConfig) -> Bridge:
    sinks = build_sinks(cfg)
    dd = cfg.dedupe
    dedupe = DedupeStore(_path(cfg, dd.path), dd.max_ranges_per_gateway, dd.max_gateways)
    dl = cfg.dead_letters
    dead = DeadLetters(_path(cfg, dl.file), dl.topic, dl.max_file_bytes)
    return Bridge(cfg, sinks, dedupe, dead)


__all__ = ["build_bridge", "build_sinks"]
