"""systemd's notify protocol without libsystemd: READY, STATUS, WATCHDOG, STOPPING.

With ``Type=notify`` systemd passes ``NOTIFY_SOCKET`` (a path, or ``@name`` for an
abstract socket) and waits for ``READY=1`` before it considers the unit started. With
``WatchdogSec=`` it also passes ``WATCHDOG_USEC`` (and ``WATCHDOG_PID``) and kills the
service when no ``WATCHDOG=1`` arrives within that time. We ping at half the interval, as
sd_watchdog_enabled(3) recommends: one late ping (a GC pause, a slow SD card write) then
still lands in time. Without ``NOTIFY_SOCKET`` every call is a no-op, so the same code runs
in containers and tests. A send that fails (systemd restarting, socket gone) is logged
once and counted, never raised: a notify problem must not stop data collection. The socket
is non-blocking: a full receive queue on the other side drops the message (counted) rather
than stalling the event loop.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Callable, Mapping

import anyio

log = logging.getLogger("edgerun.ops.notify")

#: Longest STATUS= text we send; systemd shows one line, and datagrams stay small.
MAX_STATUS = 200


def _address(raw: str) -> str | bytes:
    if raw.startswith("@"):
        return b"\0" + raw[1:].encode()
    return raw


def watchdog_interval(env: Mapping[str, str]) -> float | None:
    """Seconds between pings (half of ``WATCHDOG_USEC``), or ``None`` when not enabled.

    ``WATCHDOG_PID`` names the process the watchdog is meant for; when it names another
    process (we were started by a wrapper that did not exec us) we must not ping.
    """
    usec = env.get("WATCHDOG_USEC", "")
    if not usec.isdigit() or int(usec) == 0:
        return None
    pid = env.get("WATCHDOG_PID", "")
    if pid and (not pid.isdigit() or int(pid) != os.getpid()):
        return None
    return int(usec) / 2_000_000


class Notifier:
    """Sends notify messages to the socket named by ``NOTIFY_SOCKET`` (if any)."""

    def __init__(self, socket_path: str | None, watchdog: float | None = None) -> None:
        self._address = _address(socket_path) if socket_path else None
        self._sock: socket.socket | None = None
        #: Seconds between watchdog pings, ``None`` when the watchdog is off.
        self.watchdog_interval = watchdog
        #: Messages that could not be sent.
        self.errors = 0
        self._last_status = ""

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Notifier:
        env = os.environ if env is None else env
        path = env.get("NOTIFY_SOCKET") or None
        return cls(path, watchdog_interval(env) if path else None)

    @property
    def enabled(self) -> bool:
        return self._address is not None

    def send(self, **fields: str) -> bool:
        """Send ``KEY=value`` lines in one datagram; ``False`` when not sent."""
        if self._address is None:
            return False
        payload = "\n".join(f"{k}={v}" for k, v in fields.items()).encode()
        try:
            if self._sock is None:
                self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
                # never block the event loop on a receiver that does not read
                self._sock.setblocking(False)
            self._sock.sendto(payload, self._address)
        except OSError as exc:
            if self.errors == 0:
                log.warning("cannot send to NOTIFY_SOCKET: %s", exc)
            self.errors += 1
            return False
        return True

    def ready(self, status: str | None = None) -> bool:
        fields = {"READY": "1"}
        if status:
            fields["STATUS"] = _clean(status)
            self._last_status = fields["STATUS"]
        return self.send(**fields)

    def status(self, text: str) -> bool:
        """Report a state change; repeats of the last status are not sent again."""
        text = _clean(text)
        if text == self._last_status:
            return False
        self._last_status = text
        return self.send(STATUS=text)

    def watchdog(self) -> bool:
        return self.send(WATCHDOG="1")

    def stopping(self, status: str | None = None) -> bool:
        fields = {"STOPPING": "1"}
        if status:
            fields["STATUS"] = _clean(status)
        return self.send(**fields)

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    async def run_watchdog(self, healthy: Callable[[], bool] | None = None) -> None:
        """Ping at :attr:`watchdog_interval` until cancelled; returns at once when off.

        A ping proves the event loop runs. With ``healthy`` the ping is also withheld while
        it returns ``False`` (e.g. the supervisor knows it is wedged), so systemd restarts
        the service once the watchdog time passes.
        """
        interval = self.watchdog_interval
        if interval is None or not self.enabled:
            return
        while True:
            ok = True
            if healthy is not None:
                try:
                    ok = healthy()
                except Exception:
                    log.exception("watchdog health check failed")
                    ok = False
            if ok:
                self.watchdog()
            await anyio.sleep(interval)


def _clean(text: str) -> str:
    """One line, bounded: a newline would start a new notify field."""
    return " ".join(text.split())[:MAX_STATUS]


__all__ = ["MAX_STATUS", "Notifier", "watchdog_interval"]
