"""The ``[uplink]`` table.

Defaults are chosen for a gateway on LTE talking to a broker (or a cluster behind a load
balancer); docs/uplink.md explains each one. The values that are timing trade-offs:

- ``flush_interval`` 100 ms: a reading waits at most this long for company before it is
  shipped, so the p50 latency stays near 50 ms plus one round trip, while a busy gateway
  sends at most ten timer-flushed messages a second instead of one per reading.
- ``keepalive`` 20 s: a frozen or partitioned broker node shows only after 1.5 x keepalive;
  60 s (the common default) would leave a gateway talking to a dead node for 90 s. Load
  balancers must keep idle connections for more than 30 s.
- ``connect_timeout`` 5 s: a clustered broker may hold a CONNECT while it loads a session
  and then refuse it (NATS); after 5 s the next URL is tried.
- ``backoff_base`` 1 s / ``backoff_cap`` 60 s: full jitter spreads a fleet's reconnects over
  up to a minute after a broker restart; the cap bounds how stale an idle gateway can get.
"""

from __future__ import annotations

from typing import Literal
from urllib.parse import urlsplit

from edgerun.config.base import ByteSize, Duration, Secret, Strict

SCHEMES_PLAIN = frozenset({"mqtt", "tcp"})
SCHEMES_TLS = frozenset({"mqtts", "ssl", "tls"})


def parse_broker_url(url: str) -> tuple[bool, str, int]:
    """``(tls, host, port)`` of a broker URL; raises ``ValueError`` with a reason."""
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    if scheme not in SCHEMES_PLAIN | SCHEMES_TLS:
        raise ValueError(f"{url!r}: the scheme must be mqtt:// or mqtts://")
    if parts.username is not None or parts.password is not None:
        raise ValueError(f"{url!r}: put credentials in uplink.username/password, not the URL")
    host = parts.hostname
    if not host:
        raise ValueError(f"{url!r}: no host")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ValueError(f"{url!r}: a broker URL has no path or query")
    tls = scheme in SCHEMES_TLS
    try:
        port = parts.port
    except ValueError:
        raise ValueError(f"{url!r}: the port is not a number in 1..65535") from None
    return tls, host, port or (8883 if tls else 1883)


class UplinkConfig(Strict):
    """MQTT uplink settings; docs/uplink.md explains each one."""

    #: ``mqtt://host:port`` or ``mqtts://host:port``, or an ordered list of them (a
    #: cluster's nodes: each gateway starts at a random entry and moves on when one fails).
    url: str | list[str] = "mqtt://127.0.0.1:1883"
    enabled: bool = True
    username: str | None = None
    password: Secret | None = None
    #: MQTT protocol version; NATS and RabbitMQ before 3.13 speak only 3.1.1.
    mqtt_version: Literal["5", "3.1.1"] = "5"
    #: Client id; defaults to ``edgerun-<gateway id>``. Must be unique per gateway.
    client_id: str | None = None
    keepalive: Duration = Duration(20.0)
    connect_timeout: Duration = Duration(5.0)
    backoff_base: Duration = Duration(1.0)
    backoff_cap: Duration = Duration(60.0)
    #: CA bundle for mqtts:// (default: the system's CAs).
    ca_file: str | None = None
    #: Client certificate and key for mutual TLS.
    cert_file: str | None = None
    key_file: str | None = None
    key_password: Secret | None = None
    #: Skip server certificate and hostname checks. Labs only: logs a warning at every connect.
    tls_insecure: bool = False
    topic_prefix: str = "edgerun"
    max_batch_readings: int = 500
    max_batch_bytes: ByteSize = ByteSize(64 * 1024)
    flush_interval: Duration = Duration(0.1)
    #: Batches in flight (published, PUBACK pending). Bounded here, not in the MQTT library.
    inflight: int = 16
    #: How many of the in-flight batches may be backlog; the rest stay free for live data.
    #: Default: three quarters of ``inflight``.
    inflight_backlog: int | None = None
    #: A PUBACK not received within this time means the connection is dead.
    puback_timeout: Duration = Duration(30.0)
    encoding: Literal["msgpack", "json"] = "msgpack"
    compression: Literal["none", "zlib"] = "none"
    compression_level: int = 6
    #: Heartbeat (time, queue depth, backlog age) on ``<prefix>/<gw>/heartbeat``; 0 = off.
    heartbeat_interval: Duration = Duration(30.0)
    #: MQTT 5: the broker publishes the Last Will only if the gateway has not reconnected
    #: within this delay, so a quick restart or fail-over raises no false "offline".
    #: 0 = at once. Brokers that ignore the delay publish the will at once.
    will_delay: Duration = Duration(0.0)
    #: Time allowed on shutdown to publish the retained "offline" status and disconnect.
    offline_timeout: Duration = Duration(2.0)

    def __post_init__(self) -> None:
        urls = [self.url] if isinstance(self.url, str) else self.url
        if not urls:
            raise ValueError("uplink.url: give at least one broker URL")
        for u in urls:
            parse_broker_url(u)
        if self.inflight < 1:
            raise ValueError("uplink.inflight must be at least 1")
        if self.inflight_backlog is not None and not 1 <= self.inflight_backlog <= self.inflight:
            raise ValueError("uplink.inflight_backlog must be between 1 and uplink.inflight")
        if self.max_batch_readings < 1 or self.max_batch_bytes < 1:
            raise ValueError("uplink.max_batch_readings and max_batch_bytes must be positive")
        if not 0 <= self.compression_level <= 9:
            raise ValueError("uplink.compression_level must be 0..9")
        if (self.cert_file is None) != (self.key_file is None):
            raise ValueError("uplink.cert_file and uplink.key_file go together")
        if self.keepalive < 1:
            raise ValueError("uplink.keepalive must be at least 1 s")
        if self.backoff_cap < self.backoff_base:
            raise ValueError("uplink.backoff_cap must not be below uplink.backoff_base")
        if not self.topic_prefix or any(c in self.topic_prefix for c in "#+"):
            raise ValueError("uplink.topic_prefix must be non-empty without + or #")

    @property
    def urls(self) -> list[str]:
        return [self.url] if isinstance(self.url, str) else list(self.url)

    @property
    def backlog_window(self) -> int:
        """In-flight batches backlog may use (at least one slot stays for live data)."""
        if self.inflight_backlog is not None:
            return self.inflight_backlog
        return max(1, self.inflight - max(1, self.inflight // 4))
