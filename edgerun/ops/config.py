"""The ``[http]`` table: where the health and metrics endpoint listens.

The default binds to loopback only: the endpoint has no authentication, and on a gateway
the scraper (a local Prometheus agent, the kubelet's probes through the pod IP, or
``curl``) is usually on the same host. ``listen = ""`` or ``enabled = false`` switches it
off. Limits: the request head must arrive within ``request_timeout`` (5 s by default: a
probe or scrape sends its few hundred bytes at once; anything slower is a stuck or hostile
client holding a slot) and at most ``max_connections`` clients are served at once (32 by
default: a gateway has one scraper and two probes; the cap keeps a connection flood from
growing memory).
"""

from __future__ import annotations

import ipaddress

import msgspec

from edgerun.config.base import Duration, Strict, in_range

DEFAULT_PORT = 9108


class BindAddress(msgspec.Struct, frozen=True):
    """A parsed ``host:port``; ``host`` is ``""`` for every interface."""

    host: str
    port: int

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"


def parse_listen(text: str) -> BindAddress:
    """Parse ``127.0.0.1:9108``, ``[::1]:9108``, ``:9108`` (all interfaces) or ``0.0.0.0``.

    Raises ``ValueError`` with a reason an operator can act on.
    """
    text = text.strip()
    if not text:
        raise ValueError("empty listen address")
    if text.startswith("["):
        host, sep, rest = text[1:].partition("]")
        if not sep:
            raise ValueError(f"{text!r}: missing ']' after an IPv6 address")
        port_text = rest[1:] if rest.startswith(":") else ""
        if rest and not rest.startswith(":"):
            raise ValueError(f"{text!r}: expected ':port' after ']'")
    elif text.count(":") > 1:
        raise ValueError(f"{text!r}: write IPv6 addresses in brackets, e.g. [::1]:9108")
    else:
        host, _, port_text = text.partition(":")
    if host:
        try:
            ipaddress.ip_address(host)
        except ValueError:
            if host != "localhost":
                raise ValueError(
                    f"{host!r} is not an IP address (use an address, 'localhost' or ':port')"
                ) from None
    if not port_text:
        port = DEFAULT_PORT
    elif port_text.isdigit() and 0 <= int(port_text) <= 65535:
        port = int(port_text)
    else:
        raise ValueError(f"{text!r}: port must be a number from 0 to 65535")
    return BindAddress(host, port)


class HttpConfig(Strict):
    """``[http]``: the /healthz, /readyz and /metrics endpoint."""

    enabled: bool = True
    #: ``host:port``; ``":9108"`` listens on every interface (containers, Kubernetes).
    listen: str = f"127.0.0.1:{DEFAULT_PORT}"
    #: Deadline for a client to send its request head, and for us to send the response.
    request_timeout: Duration = Duration(5.0)
    #: Clients served at once; more are answered 503 and closed at once.
    max_connections: int = 32

    def __post_init__(self) -> None:
        if self.listen.strip():
            try:
                parse_listen(self.listen)
            except ValueError as exc:
                raise ValueError(f"listen: {exc}") from None
        in_range("request_timeout", self.request_timeout, gt=0, le=3600, unit=" s")
        in_range("max_connections", self.max_connections, ge=1, le=1024)

    @property
    def active(self) -> bool:
        """True when the endpoint should run."""
        return self.enabled and bool(self.listen.strip())

    @property
    def bind(self) -> BindAddress:
        return parse_listen(self.listen)


__all__ = ["DEFAULT_PORT", "BindAddress", "HttpConfig", "parse_listen"]
