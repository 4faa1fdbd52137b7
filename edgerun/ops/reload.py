"""What a SIGHUP reload has to do: the difference between the running and the new config.

:func:`plan_reload` is pure (two validated configs in, a :class:`ReloadPlan` out) so the
rules are tested without a running gateway; the supervisor applies the plan:

- a ``[[drivers]]`` instance (keyed by ``name``) that is new or newly enabled is
  *started*, one removed or disabled is *stopped*, one whose keys changed in any way
  (type, options, restart policy, timeouts) is *restarted*; the others keep running
  untouched, so a reload never interrupts an unrelated driver;
- ``[logging]`` and ``gateway.grace_period`` apply live;
- everything else needs a process restart and is listed in ``needs_restart`` by key path:
  the queue's location and format (``gateway.data_dir``, ``[queue]``), the gateway id and
  tenant (they are in every batch and topic), the clock mode, the plugin allow/deny lists
  (entry points load once), the uplink and the ``[http]`` endpoint (their sockets and
  sessions are opened once at start-up). The running values stay in force until then.

:func:`reload_config` wraps loading: an invalid new file leaves the old config running and
returns the problems to log.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import msgspec

from edgerun.config.base import ConfigError, Problem
from edgerun.config.model import EdgerunConfig

#: Key paths that may change without a restart (besides the drivers).
LIVE_KEYS = frozenset({"logging", "gateway.grace_period"})
#: Tables compared key by key; others (e.g. a table added by a plugin) as a whole.
_SKIP = frozenset({"drivers", "source"})


class ReloadPlan(msgspec.Struct, frozen=True):
    """What applying the new config means, instance names sorted."""

    start: tuple[str, ...] = ()
    stop: tuple[str, ...] = ()
    restart: tuple[str, ...] = ()
    #: Live settings that changed (``logging.level``, ``gateway.grace_period``).
    live: tuple[str, ...] = ()
    #: Settings that changed but take effect only after a process restart.
    needs_restart: tuple[str, ...] = ()

    @property
    def empty(self) -> bool:
        return not (self.start or self.stop or self.restart or self.live or self.needs_restart)

    def summary(self) -> str:
        """One log line: ``start a; stop b; restart c; live logging.level; ...``."""
        parts = [
            f"{label} {', '.join(items)}"
            for label, items in (
                ("start", self.start),
                ("stop", self.stop),
                ("restart", self.restart),
                ("live", self.live),
                ("needs process restart", self.needs_restart),
            )
            if items
        ]
        return "; ".join(parts) if parts else "no changes"


class ReloadResult(msgspec.Struct, frozen=True):
    """The outcome of :func:`reload_config`: a new config and its plan, or the problems."""

    config: EdgerunConfig
    plan: ReloadPlan
    problems: list[Problem] = msgspec.field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def _plain(value: Any) -> Any:
    """A comparable form: structs to dicts. A driver's validated ``settings`` are compared
    too, so a rotated secret file (same options, new value) restarts the instance."""
    if isinstance(value, msgspec.Struct):
        return {k: _plain(getattr(value, k)) for k in value.__struct_fields__}
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def _changed_paths(old: Any, new: Any, prefix: str) -> Iterable[str]:
    if isinstance(old, dict) and isinstance(new, dict):
        for key in sorted(set(old) | set(new)):
            if old.get(key, _MISSING) != new.get(key, _MISSING):
                yield from _changed_paths(old.get(key), new.get(key), f"{prefix}.{key}")
    elif old != new:
        yield prefix


_MISSING = object()


def _is_live(path: str) -> bool:
    return any(path == k or path.startswith(k + ".") for k in LIVE_KEYS)


def plan_reload(old: EdgerunConfig, new: EdgerunConfig) -> ReloadPlan:
    """Compare two validated configs; see the module docstring for the rules."""
    live: list[str] = []
    restart_keys: list[str] = []
    for table in old.__struct_fields__:
        if table in _SKIP:
            continue
        for path in _changed_paths(_plain(getattr(old, table)), _plain(getattr(new, table)), table):
            (live if _is_live(path) else restart_keys).append(path)

    before = {d.name: d for d in old.drivers if d.enabled}
    after = {d.name: d for d in new.drivers if d.enabled}
    start = sorted(set(after) - set(before))
    stop = sorted(set(before) - set(after))
    restart = sorted(n for n in set(before) & set(after) if _plain(before[n]) != _plain(after[n]))
    return ReloadPlan(tuple(start), tuple(stop), tuple(restart), tuple(live), tuple(restart_keys))


def reload_config(current: EdgerunConfig, load: Callable[[], EdgerunConfig]) -> ReloadResult:
    """Load the new config with ``load``; on any problem keep ``current``.

    ``load`` is typically ``lambda: load_config(path, registry)``. A :class:`ConfigError`
    gives its problems; any other exception (a plugin's ``check`` that crashed) becomes one
    problem naming it, so a bad reload never takes the gateway down.
    """
    try:
        new = load()
    except ConfigError as exc:
        return ReloadResult(current, ReloadPlan(), list(exc.problems))
    except Exception as exc:
        return ReloadResult(
            current, ReloadPlan(), [Problem("", f"cannot load the new config: {exc!r}")]
        )
    return ReloadResult(new, plan_reload(current, new))


__all__ = ["LIVE_KEYS", "ReloadPlan", "ReloadResult", "plan_reload", "reload_config"]
