"""The broker URL list: random start per gateway, fail-over and MQTT 5 redirects.

A fleet configured with the same list of cluster nodes must not all land on the first node,
so each gateway starts at a random entry. A failed connect attempt (refused, a CONNACK
refusal, no CONNACK in time) moves to the next entry; a connection that worked and then
dropped retries the same entry first. A broker may redirect a v5 client (CONNACK or
DISCONNECT reason 0x9C "use another server" / 0x9D "server moved" with a Server Reference):
the referenced server is tried once next, then the list resumes.
"""

from __future__ import annotations

import random

import msgspec

from edgerun.uplink.config import parse_broker_url


class Endpoint(msgspec.Struct, frozen=True):
    """One broker address."""

    host: str
    port: int
    tls: bool

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{'mqtts' if self.tls else 'mqtt'}://{host}:{self.port}"

    @classmethod
    def parse(cls, url: str) -> Endpoint:
        tls, host, port = parse_broker_url(url)
        return cls(host, port, tls)


def parse_server_reference(ref: str, current: Endpoint) -> Endpoint | None:
    """The first server of an MQTT 5 Server Reference (``host[:port]``, space-separated list).

    The scheme (TLS or not) stays that of the current connection. ``None`` if unusable.
    """
    first = ref.strip().split(" ")[0].strip()
    if not first:
        return None
    host, port = first, current.port
    if first.startswith("["):  # [v6addr]:port
        end = first.find("]")
        if end < 0:
            return None
        host, rest = first[1:end], first[end + 1 :]
        if rest.startswith(":"):
            if not rest[1:].isdigit():
                return None
            port = int(rest[1:])
    elif first.count(":") == 1:
        host, _, p = first.partition(":")
        if not p.isdigit():
            return None
        port = int(p)
    if not host or not 0 < port < 65536:
        return None
    return Endpoint(host, port, current.tls)


class Endpoints:
    """Which broker to try next."""

    def __init__(self, urls: list[str], rng: random.Random | None = None) -> None:
        self.items = [Endpoint.parse(u) for u in urls]
        self._i = (rng or random.Random()).randrange(len(self.items))
        self._redirect: Endpoint | None = None

    def current(self) -> Endpoint:
        """The endpoint to try now (a pending redirect first)."""
        if self._redirect is not None:
            return self._redirect
        return self.items[self._i]

    def failed(self) -> None:
        """The current endpoint could not be connected: move on."""
        if self._redirect is not None:
            self._redirect = None
            return
        self._i = (self._i + 1) % len(self.items)

    def connected(self) -> None:
        """The current endpoint accepted us; a redirect is used once."""
        self._redirect = None

    def redirect(self, target: Endpoint) -> None:
        self._redirect = target


__all__ = ["Endpoint", "Endpoints", "parse_server_reference"]
