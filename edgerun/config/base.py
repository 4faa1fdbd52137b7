"""Building blocks shared by every configuration model.

``Strict`` rejects unknown keys (a typo must not pass silently); ``Secret`` lets a password
or key come from the environment or a file so it never has to be in the config file.
"""

from __future__ import annotations

import math
import os
import re
from pathlib import Path
from typing import Any, TypeVar

import msgspec

T = TypeVar("T")


class Strict(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Base of every config table: unknown keys are errors, fields are keyword-only."""


class Problem(msgspec.Struct, frozen=True):
    """One configuration problem: where (``drivers[2].port``) and why."""

    path: str
    reason: str

    def __str__(self) -> str:
        return f"{self.path}: {self.reason}" if self.path else self.reason


class ConfigError(Exception):
    """The configuration is invalid; ``problems`` lists every problem found."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


class Secret:
    """A secret value; its ``repr`` never shows it.

    In TOML a secret is a plain string (discouraged: the file then holds it), an
    ``{ env = "NAME" }`` table naming an environment variable, or a ``{ file = "PATH" }``
    table naming a file whose content (without the trailing newline) is the value — the
    form systemd credentials and Kubernetes Secrets mounted as files use.
    """

    __slots__ = ("source", "value")

    def __init__(self, value: str, source: str = "inline") -> None:
        self.value = value
        self.source = source

    def __repr__(self) -> str:
        return f"Secret(<from {self.source}>)"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other.value == self.value

    def __hash__(self) -> int:
        return hash(self.value)

    @classmethod
    def resolve(cls, raw: Any) -> Secret:
        """Build a secret from its config form; raises ``ValueError`` with a reason."""
        if isinstance(raw, str):
            return cls(raw)
        if isinstance(raw, dict) and len(raw) == 1:
            ((kind, ref),) = raw.items()
            if kind == "env" and isinstance(ref, str):
                value = os.environ.get(ref)
                if value is None:
                    raise ValueError(f"environment variable {ref!r} is not set")
                return cls(value, f"env {ref}")
            if kind == "file" and isinstance(ref, str):
                try:
                    text = Path(ref).read_text(encoding="utf-8")
                except OSError as exc:
                    raise ValueError(f"cannot read secret file {ref!r}: {exc.strerror}") from exc
                return cls(text.rstrip("\r\n"), f"file {ref}")
        raise ValueError('expected a string, { env = "NAME" } or { file = "PATH" }')


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_UNIT_S = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, None: 1.0}
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(B|KiB|MiB|GiB|KB|MB|GB)?\s*$")
_UNIT_B = {
    None: 1,
    "B": 1,
    "KiB": 1024,
    "MiB": 1024**2,
    "GiB": 1024**3,
    "KB": 1000,
    "MB": 1000**2,
    "GB": 1000**3,
}


#: Longest duration any key accepts: 2**32 - 1 s (about 136 years), MQTT's uint32 limit
#: for intervals such as the will delay, and far beyond any useful timeout.
MAX_DURATION = float(2**32 - 1)


class Duration(float):
    """Seconds; TOML may give a number of seconds or a string such as ``"7d"``, ``"250ms"``.

    Every duration is finite (TOML's ``nan`` and ``inf`` are refused), not negative and at
    most :data:`MAX_DURATION`; each table narrows its own keys further (:func:`in_range`).
    """

    @classmethod
    def parse(cls, raw: Any) -> Duration:
        if isinstance(raw, bool):
            raise ValueError("expected a duration")
        if isinstance(raw, int | float):
            value = float(raw)
        elif isinstance(raw, str) and (m := _DURATION.match(raw)):
            value = float(m.group(1)) * _UNIT_S[m.group(2)]
        else:
            raise ValueError('expected a duration: seconds or a string like "250ms", "7d"')
        if not math.isfinite(value):
            raise ValueError("a duration must be finite (not nan or inf)")
        if value < 0:
            raise ValueError("a duration cannot be negative")
        if value > MAX_DURATION:
            raise ValueError(f"a duration must be at most {MAX_DURATION:.0f} s")
        return cls(value)


class ByteSize(int):
    """Bytes; TOML may give an integer or a string such as ``"256MiB"``."""

    @classmethod
    def parse(cls, raw: Any) -> ByteSize:
        if isinstance(raw, bool):
            raise ValueError("expected a size")
        if isinstance(raw, int):
            value = raw
        elif isinstance(raw, str) and (m := _SIZE.match(raw)):
            value = int(float(m.group(1)) * _UNIT_B[m.group(2)])
        else:
            raise ValueError('expected a size: bytes or a string like "64KiB", "256MiB"')
        if value < 0:
            raise ValueError("a size cannot be negative")
        return cls(value)


def in_range(
    key: str,
    value: float,
    *,
    gt: float | None = None,
    ge: float | None = None,
    le: float | None = None,
    unit: str = "",
) -> None:
    """Raise ``ValueError("key: must be ...")`` unless ``value`` is within the bounds.

    Used from a table's ``__post_init__``; the ``key:`` prefix becomes the problem's key
    path (``uplink.keepalive: must be ...``).
    """
    if (
        math.isnan(value)
        or (gt is not None and not value > gt)
        or (ge is not None and not value >= ge)
        or (le is not None and not value <= le)
    ):
        low = (
            f"greater than {gt:g}"
            if gt is not None
            else f"at least {ge:g}"
            if ge is not None
            else ""
        )
        high = f"at most {le:g}" if le is not None else ""
        bounds = " and ".join(b for b in (low, high) if b)
        raise ValueError(f"{key}: must be {bounds}{unit}")


def topic_level_problem(text: str) -> str | None:
    """Why ``text`` cannot be one MQTT topic level (``None`` when it can)."""
    if not text:
        return "must not be empty (it is an MQTT topic level)"
    if len(text.encode("utf-8")) > 128:
        return "must be at most 128 bytes (it is an MQTT topic level)"
    bad = sorted({c for c in text if c in "+#/" or ord(c) < 0x20 or ord(c) == 0x7F})
    if bad:
        shown = ", ".join(repr(c) for c in bad)
        return f"must not contain {shown} (it is an MQTT topic level; + and # are wildcards)"
    return None


def topic_prefix_problem(text: str) -> str | None:
    """Why ``text`` cannot be the first levels of a topic (``a`` or ``a/b``), or ``None``."""
    if text.startswith("$"):
        return "must not start with '$' (brokers reserve those topics)"
    for level in text.split("/"):
        if (why := topic_level_problem(level)) is not None:
            return f"each level {why.removeprefix('must ')}" if level else "has an empty level"
    return None


def dec_hook(typ: type, obj: Any) -> Any:
    """msgspec hook that builds the custom config types above."""
    if typ is Secret:
        return Secret.resolve(obj)
    if typ is Duration:
        return Duration.parse(obj)
    if typ is ByteSize:
        return ByteSize.parse(obj)
    raise NotImplementedError(f"unsupported config type {typ!r}")


_MSGSPEC_PATH = re.compile(r"^(?P<msg>.*?)(?: - at `\$(?P<path>[^`]*)`)?$", re.S)
_UNKNOWN = re.compile(r"^Object contains unknown field `(?P<key>[^`]+)`$")
_MISSING = re.compile(r"^Object missing required field `(?P<key>[^`]+)`$")
#: A table's own check names its key: ``"keepalive: must be ..."`` (see :func:`in_range`).
_KEYED = re.compile(r"^(?P<key>[a-z_][a-z0-9_]*(?:\[\d+\])?): (?P<reason>.+)$", re.S)


def _join(prefix: str, path: str) -> str:
    path = path.lstrip(".")
    if not prefix:
        return path
    if not path:
        return prefix
    return f"{prefix}{path}" if path.startswith("[") else f"{prefix}.{path}"


def problem_from_validation(exc: msgspec.ValidationError, prefix: str = "") -> Problem:
    """Turn msgspec's message into a :class:`Problem` with a plain key path."""
    m = _MSGSPEC_PATH.match(str(exc))
    msg = m.group("msg") if m else str(exc)
    path = _join(prefix, (m.group("path") or "") if m else "")
    if um := _UNKNOWN.match(msg):
        return Problem(_join(path, um.group("key")), "unknown key (check its spelling)")
    if mm := _MISSING.match(msg):
        return Problem(_join(path, mm.group("key")), "required key is missing")
    if km := _KEYED.match(msg):
        path, msg = _join(path, km.group("key")), km.group("reason")
    msg = msg.replace("`", "")
    return Problem(path, msg[:1].lower() + msg[1:])


def convert(raw: Any, typ: type[T], prefix: str = "") -> T:
    """Validate ``raw`` into ``typ``; raises :class:`ConfigError` with one problem."""
    try:
        return msgspec.convert(raw, type=typ, dec_hook=dec_hook, strict=False)
    except msgspec.ValidationError as exc:
        raise ConfigError([problem_from_validation(exc, prefix)]) from None
    except RecursionError:
        raise ConfigError([Problem(prefix, "values are nested too deeply")]) from None


__all__ = [
    "MAX_DURATION",
    "ByteSize",
    "ConfigError",
    "Duration",
    "Problem",
    "Secret",
    "Strict",
    "convert",
    "dec_hook",
    "in_range",
    "topic_level_problem",
    "topic_prefix_problem",
]
