"""Plugin discovery: entry points of the ``edgerun`` group, allow/deny, and registries.

Every driver — the built-in ones in plugins/ as much as a third party's — is found through an
entry point in the ``edgerun`` group and registered through the hooks in
:mod:`edgerun.hookspecs`. Loading is controlled by name:

* ``[plugins] allow = [...]`` / ``deny = [...]`` in the config;
* ``EDGERUN_PLUGINS_ALLOW`` / ``EDGERUN_PLUGINS_DENY`` (comma-separated entry-point names),
  which win over the config so an operator can switch off a misbehaving plugin without
  editing files;
* ``EDGERUN_TRACE_PLUGINS=1`` logs every hook call;
* ``EDGERUN_PLUGIN_MODULES`` (comma-separated importable module names) registers modules
  that are not installed as distributions — for a plugin under development and for tests.

A plugin that fails to import does not stop the process: the failure is recorded and shown
by ``edgerun plugins``, and a configured driver type that is missing is reported with the
package or extra to install.
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
import os
from collections.abc import Iterable
from types import ModuleType
from typing import Any

import msgspec
import pluggy

from edgerun import entrypoints, hookspecs
from edgerun.api import Driver, Processor

log = logging.getLogger("edgerun.plugins")

GROUP = "edgerun"

#: Driver types shipped in this repository, with how to install them, for messages about
#: a configured type that is not installed.
KNOWN_DRIVERS: dict[str, str] = {
    "iqrf": "pip install 'edgerun[iqrf]'",
    "ble": "pip install 'edgerun[ble]'",
    "gpio": "pip install 'edgerun[gpio]'",
    "synthetic": "pip install edgerun-synthetic",
}


class PluginInfo(msgspec.Struct):
    """One entry point and what became of it."""

    name: str
    value: str
    distribution: str
    version: str
    loaded: bool = False
    blocked: bool = False
    error: str = ""


def resolve(ref: Any) -> Any:
    """Return ``ref`` itself, or import it when it is a ``"package.module:attr"`` string.

    Hooks may register import strings instead of objects, so that a gateway imports only the
    drivers it has configured: a driver module that pulls in bleak or a vendor SDK costs
    megabytes of RSS on a 1 GB board even when it is never used.
    """
    if not isinstance(ref, str):
        return ref
    module_name, sep, attr = ref.partition(":")
    if not sep or not module_name or not attr:
        raise ValueError(f"{ref!r} is not a 'package.module:attribute' reference")
    obj: Any = importlib.import_module(module_name)
    for part in attr.split("."):
        obj = getattr(obj, part)
    return obj


class DriverType(msgspec.Struct):
    """A registered driver (class or lazy import string) and where it came from."""

    type_name: str
    ref: Any
    plugin: str
    distribution: str
    version: str

    @property
    def cls(self) -> type[Driver[Any]]:
        """The driver class, imported on first use."""
        cls = resolve(self.ref)
        if not (isinstance(cls, type) and issubclass(cls, Driver)):
            raise TypeError(f"{self.ref!r} registered as driver {self.type_name!r} is not a Driver")
        self.ref = cls
        return cls

    def missing_modules(self) -> list[str]:
        """Modules the driver declares in ``requires`` that cannot be found."""
        missing = []
        for mod in self.cls.requires:
            try:
                if importlib.util.find_spec(mod) is None:
                    missing.append(mod)
            except (ImportError, ValueError):
                missing.append(mod)
        return missing


class Registry(msgspec.Struct):
    """Everything the plugins registered."""

    plugins: list[PluginInfo] = msgspec.field(default_factory=list)
    drivers: dict[str, DriverType] = msgspec.field(default_factory=dict)
    processors: list[tuple[str, Processor]] = msgspec.field(default_factory=list)
    #: name -> (help, main or "module:main" reference)
    commands: dict[str, tuple[str, Any]] = msgspec.field(default_factory=dict)
    #: type name -> sink class or "module:Class" reference (resolve with :func:`resolve`)
    sinks: dict[str, Any] = msgspec.field(default_factory=dict)
    errors: list[str] = msgspec.field(default_factory=list)

    def install_hint(self, type_name: str) -> str:
        """How to get a driver type that is not registered."""
        for info in self.plugins:
            if info.error and info.name == type_name:
                return f"its plugin {info.distribution!r} failed to load: {info.error}"
            if info.blocked and info.name == type_name:
                return "its plugin is installed but blocked by the plugin allow/deny settings"
        hint = KNOWN_DRIVERS.get(type_name)
        if hint:
            return f"install it with: {hint}"
        return "no installed plugin provides it (check the name, or install the plugin package)"


def _split_env(name: str) -> list[str] | None:
    raw = os.environ.get(name)
    if raw is None:
        return None
    return [p.strip() for p in raw.split(",") if p.strip()]


def _is_allowed(name: str, allow: list[str] | None, deny: Iterable[str]) -> bool:
    if name == "core":
        return True
    if name in deny:
        return False
    return allow is None or name in allow


_MANAGER: pluggy.PluginManager | None = None
_REGISTRY: Registry | None = None


def load_plugins(
    allow: list[str] | None = None,
    deny: Iterable[str] = (),
    extra_modules: Iterable[ModuleType] = (),
) -> Registry:
    """Discover, load and register plugins; returns the registries.

    ``extra_modules`` registers modules directly (tests use it for plugins defined inline).
    """
    global _MANAGER, _REGISTRY
    env_allow = _split_env("EDGERUN_PLUGINS_ALLOW")
    env_deny = _split_env("EDGERUN_PLUGINS_DENY")
    allow = env_allow if env_allow is not None else allow
    deny_set = set(deny) | set(env_deny or [])

    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    if os.environ.get("EDGERUN_TRACE_PLUGINS"):
        pm.trace.root.setwriter(lambda msg: log.info("plugin trace: %s", msg.rstrip()))
        pm.enable_tracing()
    reg = Registry()
    sources: dict[str, tuple[str, str, str]] = {}  # plugin name -> (name, dist, version)

    for ep in sorted(entrypoints.entry_points(GROUP), key=lambda e: e.name):
        dist, version = ep.distribution or "?", ep.version or "?"
        info = PluginInfo(ep.name, ep.value, dist, version)
        reg.plugins.append(info)
        if not _is_allowed(ep.name, allow, deny_set):
            info.blocked = True
            continue
        if pm.has_plugin(ep.name):
            continue  # the same entry point seen twice (editable + regular install)
        try:
            module = resolve(ep.value) if ep.attr else importlib.import_module(ep.module)
            pm.register(module, name=ep.name)
        except Exception as exc:  # a broken plugin must not stop the gateway
            info.error = f"{type(exc).__name__}: {exc}"
            log.error("plugin %r (%s) failed to load: %s", ep.name, dist, info.error)
            continue
        info.loaded = True
        sources[ep.name] = (ep.name, dist, version)
    extra = list(extra_modules)
    for mod_name in _split_env("EDGERUN_PLUGIN_MODULES") or []:
        try:
            extra.append(importlib.import_module(mod_name))
        except Exception as exc:
            reg.errors.append(f"plugin module {mod_name!r} failed to import: {exc}")
    for module in extra:
        if pm.is_registered(module):
            continue
        pm.register(module, name=module.__name__)
        sources[module.__name__] = (module.__name__, module.__name__, "")
    pm.check_pending()

    _collect(pm, reg, sources)
    _MANAGER, _REGISTRY = pm, reg
    return reg


def _collect(
    pm: pluggy.PluginManager, reg: Registry, sources: dict[str, tuple[str, str, str]]
) -> None:
    for impl in pm.hook.edgerun_register_drivers.get_hookimpls():
        name, dist, version = sources.get(impl.plugin_name, (impl.plugin_name, "?", "?"))

        def register_driver(
            type_name: str,
            cls: Any,
            _n: str = name,
            _d: str = dist,
            _v: str = version,
        ) -> None:
            if type_name in reg.drivers:
                other = reg.drivers[type_name]
                reg.errors.append(
                    f"driver type {type_name!r} registered by both {other.distribution!r} "
                    f"and {_d!r}; keeping the first"
                )
                return
            if not isinstance(cls, str) and not (isinstance(cls, type) and issubclass(cls, Driver)):
                reg.errors.append(f"plugin {_n!r} registered {cls!r}, which is not a Driver")
                return
            reg.drivers[type_name] = DriverType(type_name, cls, _n, _d, _v)

        _call_one(impl, reg, register=register_driver)

    def register_processor(name: str, processor: Processor) -> None:
        reg.processors.append((name, processor))

    def register_command(name: str, help_: str, main: Any) -> None:
        reg.commands[name] = (help_, main)

    def register_sink(name: str, cls: Any) -> None:
        reg.sinks[name] = cls

    for hook, fn in (
        (pm.hook.edgerun_register_processors, register_processor),
        (pm.hook.edgerun_register_commands, register_command),
        (pm.hook.edgerun_register_sinks, register_sink),
    ):
        for impl in hook.get_hookimpls():
            _call_one(impl, reg, register=fn)


def _call_one(impl: Any, reg: Registry, **kwargs: Any) -> None:
    try:
        impl.function(**{k: v for k, v in kwargs.items() if k in impl.argnames})
    except Exception as exc:
        reg.errors.append(f"plugin {impl.plugin_name!r} failed in {impl.function.__name__}: {exc}")
        log.error("plugin %r hook %s failed: %s", impl.plugin_name, impl.function.__name__, exc)


def plugin_manager() -> pluggy.PluginManager:
    """The loaded plugin manager (loads with defaults on first use)."""
    if _MANAGER is None:
        load_plugins()
    assert _MANAGER is not None
    return _MANAGER


def registry() -> Registry:
    """The registries of the loaded plugins (loads with defaults on first use)."""
    if _REGISTRY is None:
        load_plugins()
    assert _REGISTRY is not None
    return _REGISTRY


__all__ = [
    "DriverType",
    "PluginInfo",
    "Registry",
    "load_plugins",
    "plugin_manager",
    "registry",
    "resolve",
]
