"""The bridge's own TOML file: ``[mqtt]``, ``[bridge]``, ``[dedupe]``, ``[dead_letters]``,
``[http]`` and one ``[[sinks]]`` table per sink.

Defaults and why they have their value:

* ``receive_maximum = 64``: how many unacknowledged messages the broker may have in flight
  to this client. Messages are acknowledged only after every sink wrote them, so this is the
  bridge's pipeline depth *and* its memory: 64 batches of 500 readings are ~6 groups ahead
  of the sinks, enough to keep a replica above 100k readings/s, and cost ~15 MB of decoded
  rows; 256 measured no faster and ~50 MB more RSS (bench/bridge_bench.py). mosquitto also
  caps it with its own ``max_inflight_messages``; see docs/bridge.md.
* ``session_expiry = "1d"``: how long the broker keeps the session (and queues readings for
  it) while no replica with this client id is connected. A day covers a weekend-free
  redeploy; longer only makes sense with a broker sized for it.
* ``flush_readings = 5000`` / ``flush_interval = "20ms"``: one sink write per group of
  messages; 5000 readings is one InfluxDB request of ~0.5 MB, the size its docs recommend.
* ``silence_alarm = "2m"``: gateways publish live data every few seconds; two minutes of
  nothing while some report ``online`` is a broker that accepted a shared subscription and
  delivers nothing, not a quiet fleet.
* ``retry_initial = "0.5s"`` .. ``retry_max = "30s"``: a sink outage is retried with doubling
  delays; 30 s bounds how late the bridge notices the database is back.
* ``max_payload_bytes = "8MiB"``: a bigger message is dead-lettered unread; gateway batches
  are 64 KiB by default, so this only stops garbage from being decoded into memory.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import msgspec

from edgerun.config.base import (
    ByteSize,
    ConfigError,
    Duration,
    Problem,
    Secret,
    Strict,
    convert,
)
from edgerun.ops.config import HttpConfig


class MqttConfig(Strict):
    """Where the gateways' batches arrive."""

    url: str = "mqtt://127.0.0.1:1883"
    username: str | None = None
    password: Secret | None = None
    #: Stable per replica: the broker keeps the session (and its queued messages) by it.
    client_id: str = "edgerun-bridge"
    topic_prefix: str = "edgerun"
    #: Shared-subscription group; ``""`` subscribes without ``$share`` (one replica only).
    share_group: str = "edgerun-bridge"
    session_expiry: Duration = Duration(86400.0)
    receive_maximum: int = 64
    keepalive: int = 30


class BridgeSettings(Strict):
    """How messages are grouped, retried and checked."""

    flush_readings: int = 5000
    flush_interval: Duration = Duration(0.02)
    max_payload_bytes: ByteSize = ByteSize(8 * 1024 * 1024)
    retry_initial: Duration = Duration(0.5)
    retry_max: Duration = Duration(30.0)
    silence_alarm: Duration = Duration(120.0)
    #: The gateway status series is re-written this often so Graphite has no gaps.
    status_interval: Duration = Duration(60.0)
    #: Silence after which an ``online`` gateway counts as offline (0 = never).
    offline_after: Duration = Duration(90.0)


class DedupeConfig(Strict):
    """The (gateway, reading id) window; ``path = ""`` keeps it in memory only."""

    path: str = "bridge-dedupe.sqlite"
    #: Id ranges kept per gateway (a gateway's ids are consecutive, so a range per outage).
    max_ranges_per_gateway: int = 4096
    max_gateways: int = 100_000


class DeadLetterConfig(Strict):
    """Where undecodable messages go: a JSON-lines file, a topic, or both."""

    file: str = "bridge-dead-letters.jsonl"
    topic: str = ""
    #: The file is rotated to ``.1`` when it reaches this size.
    max_file_bytes: ByteSize = ByteSize(64 * 1024 * 1024)


#: The bridge's endpoint port: next to the gateway runtime's 9108, so both can run on one host.
BRIDGE_HTTP_PORT = 9109


def _http_default() -> HttpConfig:
    return HttpConfig(listen=f"127.0.0.1:{BRIDGE_HTTP_PORT}")


@dataclass(frozen=True, slots=True)
class SinkSpec:
    """One ``[[sinks]]`` table: its type, its name and its own keys (validated by the sink)."""

    type: str
    name: str
    options: dict[str, Any]


class _Top(Strict):
    mqtt: MqttConfig = msgspec.field(default_factory=MqttConfig)
    bridge: BridgeSettings = msgspec.field(default_factory=BridgeSettings)
    dedupe: DedupeConfig = msgspec.field(default_factory=DedupeConfig)
    dead_letters: DeadLetterConfig = msgspec.field(default_factory=DeadLetterConfig)
    http: HttpConfig = msgspec.field(default_factory=_http_default)
    sinks: list[dict[str, Any]] = []


@dataclass(frozen=True, slots=True)
class BridgeConfig:
    """The whole file, validated."""

    mqtt: MqttConfig
    bridge: BridgeSettings
    dedupe: DedupeConfig
    dead_letters: DeadLetterConfig
    http: HttpConfig
    sinks: list[SinkSpec]
    source: str = ""


def parse_mqtt_url(url: str) -> tuple[str, int, bool]:
    """``mqtt://host:port`` / ``mqtts://host:port`` -> (host, port, tls)."""
    parts = urlsplit(url)
    if parts.scheme not in ("mqtt", "mqtts") or not parts.hostname:
        raise ValueError(f"expected mqtt://host:port or mqtts://host:port, got {url!r}")
    tls = parts.scheme == "mqtts"
    return parts.hostname, parts.port or (8883 if tls else 1883), tls


def build_config(raw: dict[str, Any], source: str = "") -> BridgeConfig:
    """Validate a parsed TOML document; raises :class:`ConfigError` listing the problems."""
    top = convert(raw, _Top)
    problems: list[Problem] = []
    try:
        parse_mqtt_url(top.mqtt.url)
    except ValueError as exc:
        problems.append(Problem("mqtt.url", str(exc)))
    if top.mqtt.receive_maximum < 1 or top.mqtt.receive_maximum > 65535:
        problems.append(Problem("mqtt.receive_maximum", "must be 1..65535"))
    if top.bridge.flush_readings < 1:
        problems.append(Problem("bridge.flush_readings", "must be at least 1"))
    for key in ("share_group", "topic_prefix"):
        value = getattr(top.mqtt, key)
        if any(c in value for c in "+#/") and key == "share_group":
            problems.append(Problem(f"mqtt.{key}", "must not contain '/', '+' or '#'"))
        if key == "topic_prefix" and (not value or any(c in value for c in "+#")):
            problems.append(Problem(f"mqtt.{key}", "must be non-empty without '+' or '#'"))
    sinks: list[SinkSpec] = []
    names: set[str] = set()
    for i, table in enumerate(top.sinks):
        opts = dict(table)
        type_ = opts.pop("type", None)
        if not isinstance(type_, str) or not type_:
            problems.append(Problem(f"sinks[{i}].type", "required key is missing"))
            continue
        name = opts.pop("name", type_)
        if not isinstance(name, str) or name in names:
            problems.append(Problem(f"sinks[{i}].name", "must be a unique string"))
            continue
        names.add(name)
        sinks.append(SinkSpec(type_, name, opts))
    if not sinks and not problems:
        problems.append(Problem("sinks", "configure at least one [[sinks]] table"))
    if problems:
        raise ConfigError(problems)
    return BridgeConfig(top.mqtt, top.bridge, top.dedupe, top.dead_letters, top.http, sinks, source)


def load_config(path: str | Path) -> BridgeConfig:
    """Read and validate a bridge config file."""
    p = Path(path)
    try:
        raw = tomllib.loads(p.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError([Problem("", f"cannot read {p}: {exc.strerror}")]) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([Problem("", f"{p} is not valid TOML: {exc}")]) from None
    return build_config(raw, str(p))


__all__ = [
    "BridgeConfig",
    "BridgeSettings",
    "DeadLetterConfig",
    "DedupeConfig",
    "HttpConfig",
    "MqttConfig",
    "SinkSpec",
    "build_config",
    "load_config",
    "parse_mqtt_url",
]
