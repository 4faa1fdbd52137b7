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

from edgerun.config.base import (
    ByteSize,
    Duration,
    Secret,
    Strict,
    in_range,
    topic_prefix_problem,
)

SCHEMES_PLAIN = frozenset({"mqtt", "tcp"})
SCHEMES_TLS = frozenset({"mqtts", "ssl", "tls"})


def _shown(url: str) -> str:
    """The URL as an error message may show it: any ``user:password@`` is cut out."""
    scheme, sep, rest = url.strip().partition("://")
    if not sep:
        scheme, rest = "", scheme
    netloc, slash, tail = rest.partition("/")
    if "@" in netloc:
        netloc = "***@" + netloc.rpartition("@")[2]
    return repr(f"{scheme}{sep}{netloc}{slash}{tail}")


def parse_broker_url(url: str) -> tuple[bool, str, int]:
    """``(tls, host, port)`` of a broker URL; raises ``ValueError`` with a reason.

    Messages never show credentials written into the URL.
    """
    try:
        parts = urlsplit(url.strip())
    except ValueError as exc:
        raise ValueError(f"{_shown(url)}: not a URL ({exc})") from None
    if "@" in parts.netloc:
        raise ValueError(f"{_shown(url)}: put credentials in uplink.username/password, not the URL")
    scheme = parts.scheme.lower()
    if scheme not in SCHEMES_PLAIN | SCHEMES_TLS:
        raise ValueError(f"{_shown(url)}: the scheme must be mqtt:// or mqtts://")
    host = parts.hostname
    if not host:
        raise ValueError(f"{_shown(url)}: no host")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ValueError(f"{_shown(url)}: a broker URL has no path or query")
    tls = scheme in SCHEMES_TLS
    try:
        port = parts.port
    except ValueError:
        raise ValueError(f"{_shown(url)}: the port is not a number in 1..65535") from None
    if port == 0:
        raise ValueError(f"{_shown(url)}: the port is not a number in 1..65535")
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
            raise ValueError("url: give at least one broker URL")
        for i, u in enumerate(urls):
            try:
                parse_broker_url(u)
            except ValueError as exc:
                key = "url" if isinstance(self.url, str) else f"url[{i}]"
                raise ValueError(f"{key}: {exc}") from None
        in_range("inflight", self.inflight, ge=1, le=65535)
        if self.inflight_backlog is not None:
            in_range("inflight_backlog", self.inflight_backlog, ge=1, le=self.inflight)
        in_range("max_batch_readings", self.max_batch_readings, ge=1, le=1_000_000)
        in_range("max_batch_bytes", self.max_batch_bytes, ge=1, le=256 * 1024 * 1024)
        in_range("compression_level", self.compression_level, ge=0, le=9)
        if (self.cert_file is None) != (self.key_file is None):
            raise ValueError("cert_file: cert_file and key_file go together")
        #: MQTT's keepalive is a 16-bit number of seconds.
        in_range("keepalive", self.keepalive, ge=1, le=65535, unit=" s (MQTT's limit)")
        in_range("connect_timeout", self.connect_timeout, gt=0, le=3600, unit=" s")
        in_range("backoff_base", self.backoff_base, gt=0, le=86400, unit=" s")
        in_range("backoff_cap", self.backoff_cap, ge=self.backoff_base, le=86400, unit=" s")
        in_range("flush_interval", self.flush_interval, ge=0.001, le=3600, unit=" s")
        in_range("puback_timeout", self.puback_timeout, gt=0, le=86400, unit=" s")
        in_range("heartbeat_interval", self.heartbeat_interval, ge=0, le=86400, unit=" s")
        #: MQTT 5's Will Delay Interval is a 32-bit number of seconds.
        in_range("will_delay", self.will_delay, ge=0, le=2**32 - 1, unit=" s (MQTT's limit)")
        in_range("offline_timeout", self.offline_timeout, gt=0, le=3600, unit=" s")
        if why := topic_prefix_problem(self.topic_prefix):
            raise ValueError(f"topic_prefix: {why}")

    @property
    def urls(self) -> list[str]:
        return [self.url] if isinstance(self.url, str) else list(self.url)

    @property
    def backlog_window(self) -> int:
        """In-flight batches backlog may use (at least one slot stays for live data)."""
        if self.inflight_backlog is not None:
            return self.inflight_backlog
        return max(1, self.inflight - max(1, self.inflight // 4))
