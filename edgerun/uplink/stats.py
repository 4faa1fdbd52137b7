"""Uplink counters for status, logs and metrics.

Publish latency (publish call to PUBACK) is kept as the last :data:`LATENCY_SAMPLES`
samples, enough for a stable p99 while costing a few KiB.
"""

from __future__ import annotations

from collections import deque
from typing import Final

import msgspec

LATENCY_SAMPLES: Final = 1024


class UplinkStats(msgspec.Struct):
    """A snapshot of the uplink's state and counters."""

    connected: bool = False
    #: The broker currently (or last) connected, as a URL.
    endpoint: str = ""
    #: Successful connects, and how many of them followed an earlier connection.
    connects: int = 0
    reconnects: int = 0
    #: Failed connect attempts by cause; auth failures are reported apart from network ones.
    auth_failures: int = 0
    tls_failures: int = 0
    network_failures: int = 0
    protocol_failures: int = 0
    redirects: int = 0
    #: Connections lost after they were established.
    drops: int = 0
    inflight: int = 0
    inflight_hist: int = 0
    batches_published: int = 0
    readings_published: int = 0
    hist_batches_published: int = 0
    bytes_published: int = 0
    #: Batches returned to the queue unacknowledged when a connection dropped.
    batches_redelivered: int = 0
    heartbeats: int = 0
    #: Batches sent as several messages to fit the broker's maximum packet size (v5).
    batches_split: int = 0
    #: Backlog batches handed back because backlog had its share of the window in flight.
    backlog_deferrals: int = 0
    #: Readings dropped because they cannot be encoded (JSON encoding of an exotic value).
    readings_unencodable: int = 0
    last_error: str = ""
    #: Seconds until the next connect attempt (0 while connected).
    backoff_s: float = 0.0
    publish_latency_p50_s: float = 0.0
    publish_latency_p99_s: float = 0.0
    latencies: deque[float] = msgspec.field(default_factory=lambda: deque(maxlen=LATENCY_SAMPLES))

    def snapshot(self) -> UplinkStats:
        """A copy with the latency percentiles filled in."""
        samples = sorted(self.latencies)
        copy = msgspec.structs.replace(self, latencies=deque(samples, maxlen=LATENCY_SAMPLES))
        if samples:
            copy.publish_latency_p50_s = samples[len(samples) // 2]
            copy.publish_latency_p99_s = samples[min(len(samples) - 1, len(samples) * 99 // 100)]
        return copy


__all__ = ["LATENCY_SAMPLES", "UplinkStats"]
