"""Load and validate the configuration file, reporting every problem with its key path.

Validation is split by table so that one mistake does not hide the next: each top-level
table, each ``[[drivers]]`` entry's common keys and each driver's own keys are checked on
their own, and all problems are returned together (``drivers[2].port: ...``).
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgspec

from edgerun.config.base import ConfigError, Problem, convert
from edgerun.config.model import CORE_DRIVER_KEYS, DriverInstance, EdgerunConfig

if TYPE_CHECKING:
    from edgerun.plugins import Registry

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")
_TABLES = {
    name: info.type
    for name, info in zip(
        EdgerunConfig.__struct_fields__,
        msgspec.structs.fields(EdgerunConfig),
        strict=True,
    )
    if name not in ("drivers", "source")
}


def read_toml(path: Path) -> dict[str, Any]:
    """Parse the file; syntax errors become a :class:`ConfigError`."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError([Problem("", f"config file {str(path)!r} does not exist")]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([Problem("", f"cannot read config file {str(path)!r}: {exc}")]) from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([Problem("", f"not valid TOML: {exc}")]) from None
    except RecursionError:
        raise ConfigError(
            [Problem("", "not valid TOML: arrays or tables nested too deeply")]
        ) from None


def validate(raw: dict[str, Any], registry: Registry | None, source: str = "") -> EdgerunConfig:
    """Validate a parsed config. ``registry=None`` skips driver-specific checks."""
    problems: list[Problem] = []
    tables: dict[str, Any] = {}
    for key, value in raw.items():
        if key == "drivers":
            continue
        typ = _TABLES.get(key)
        if typ is None:
            problems.append(Problem(key, "unknown table (check its spelling)"))
            continue
        try:
            tables[key] = convert(value, typ, key)
        except ConfigError as exc:
            problems.extend(exc.problems)
    drivers = _validate_drivers(raw.get("drivers", []), registry, problems)
    if problems:
        raise ConfigError(problems)
    return EdgerunConfig(**tables, drivers=drivers, source=source)


def _validate_drivers(
    raw: Any, registry: Registry | None, problems: list[Problem]
) -> list[DriverInstance]:
    if not isinstance(raw, list):
        problems.append(Problem("drivers", "expected [[drivers]] entries (an array of tables)"))
        return []
    out: list[DriverInstance] = []
    names: dict[str, int] = {}
    for i, entry in enumerate(raw):
        where = f"drivers[{i}]"
        if not isinstance(entry, dict):
            problems.append(Problem(where, "expected a table"))
            continue
        core = {k: v for k, v in entry.items() if k in CORE_DRIVER_KEYS}
        options = {k: v for k, v in entry.items() if k not in CORE_DRIVER_KEYS}
        try:
            inst = convert(core, DriverInstance, where)
        except ConfigError as exc:
            problems.extend(exc.problems)
            continue
        if not _NAME.match(inst.name):
            problems.append(
                Problem(
                    f"{where}.name",
                    f"{inst.name!r} is not a valid instance name: use letters, digits, '_', "
                    "'-', '.' (it becomes part of device ids and MQTT topics)",
                )
            )
        elif inst.name in names:
            problems.append(
                Problem(
                    f"{where}.name",
                    f"duplicate driver name {inst.name!r} (also drivers[{names[inst.name]}])",
                )
            )
        else:
            names[inst.name] = i
        if inst.start_timeout <= 0:
            problems.append(Problem(f"{where}.start_timeout", "must be greater than 0 s"))
        if inst.backoff_initial <= 0 or inst.backoff_max < inst.backoff_initial:
            problems.append(
                Problem(f"{where}.backoff_max", "must be at least backoff_initial, both > 0")
            )
        settings = None
        if registry is not None:
            dtype = registry.drivers.get(inst.type)
            if dtype is None:
                problems.append(
                    Problem(
                        f"{where}.type",
                        f"driver type {inst.type!r} is not installed; "
                        + registry.install_hint(inst.type),
                    )
                )
                continue
            try:
                driver_cls = dtype.cls
            except Exception as exc:
                problems.append(
                    Problem(f"{where}.type", f"driver type {inst.type!r} failed to import: {exc}")
                )
                continue
            try:
                settings = convert(options, driver_cls.config_type, where)
            except ConfigError as exc:
                problems.extend(exc.problems)
                continue
            check = getattr(settings, "check", None)
            if callable(check):
                for path, reason in check():
                    problems.append(Problem(f"{where}.{path}" if path else where, reason))
        out.append(msgspec.structs.replace(inst, options=options, settings=settings))
    return out


def load_config(path: str | Path, registry: Registry | None) -> EdgerunConfig:
    """Read and validate ``path``; raises :class:`ConfigError` listing every problem."""
    path = Path(path)
    return validate(read_toml(path), registry, str(path))


__all__ = ["load_config", "read_toml", "validate"]
