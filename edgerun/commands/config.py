"""The ``[commands]`` table: which commands a gateway accepts and how it bounds them.

Every limit here exists so that a hostile or broken sender cannot hurt the gateway:

* ``max_payload`` is checked on the raw bytes before any parsing, so a huge message costs
  one length comparison. 4 KiB is far above any real command (an id, an action and a few
  arguments are under 200 bytes) and far below anything that could press on memory.
* ``timeout`` bounds how long one command may run. Actions are quick (set a line, pulse
  a relay for seconds); 30 s leaves room for a long pulse while a stuck driver call still
  gets a ``timeout`` result instead of holding a slot forever.
* ``max_inflight`` bounds concurrently running commands and ``max_pending`` the messages
  waiting to be checked, so a flood turns into counted ``busy`` refusals, never into
  unbounded memory or tasks.
* ``seen_ids`` / ``seen_ttl`` bound the replay store. A command id is remembered for
  ``seen_ttl`` (longer than ``max_expiry``, so every command that could still be valid
  is remembered) and at most ``seen_ids`` ids are kept (the oldest go first).
"""

from __future__ import annotations

import msgspec

from edgerun.config.base import ByteSize, Duration, Strict, in_range, topic_prefix_problem


class AllowRule(Strict):
    """One allowlist entry: a driver instance, its targets and the actions allowed on them.

    ``targets`` and ``actions`` list exact names; ``"*"`` matches any name. There is no
    other pattern syntax on purpose: an allowlist must be readable at a glance.
    """

    driver: str
    targets: list[str]
    actions: list[str]

    def allows(self, driver: str, target: str, action: str) -> bool:
        """Whether this rule permits ``action`` on ``driver``/``target``."""
        return (
            driver == self.driver
            and ("*" in self.targets or target in self.targets)
            and ("*" in self.actions or action in self.actions)
        )


class CommandsConfig(Strict):
    """Cloud-to-device commands; docs/commands.md explains each setting."""

    #: Subscribe to commands at all. With an empty allowlist every command is refused.
    enabled: bool = True
    #: The first topic levels; ``None`` uses ``[uplink] topic_prefix``.
    topic_prefix: str | None = None
    #: What may be commanded; everything not listed is refused with ``denied``.
    allow: list[AllowRule] = []
    #: Largest accepted payload; larger ones are refused before parsing.
    max_payload: ByteSize = ByteSize(4096)
    #: Longest a single command may run before it is cancelled (result ``timeout``).
    timeout: Duration = Duration(30.0)
    #: Commands running at once; further ones are refused with ``busy``.
    max_inflight: int = 8
    #: Messages waiting to be checked; further ones are refused with ``busy``.
    max_pending: int = 64
    #: Refuse commands without ``expires_at``.
    require_expiry: bool = False
    #: Refuse commands whose ``expires_at`` lies further in the future than this.
    max_expiry: Duration = Duration(86400.0)
    #: How many command ids the replay store keeps at most.
    seen_ids: int = 10000
    #: How long a command id is remembered; keep it above ``max_expiry``.
    seen_ttl: Duration = Duration(2 * 86400.0)
    #: QoS of published results.
    result_qos: int = msgspec.field(default=1)

    def __post_init__(self) -> None:
        if self.topic_prefix is not None and (why := topic_prefix_problem(self.topic_prefix)):
            raise ValueError(f"topic_prefix: {why}")
        for name in ("max_inflight", "max_pending", "seen_ids"):
            in_range(name, getattr(self, name), ge=1, le=10_000_000)
        if self.result_qos not in (0, 1, 2):
            raise ValueError("result_qos: must be 0, 1 or 2")
        in_range("max_payload", self.max_payload, ge=64, le=256 * 1024 * 1024, unit=" bytes")
        in_range("timeout", self.timeout, gt=0, unit=" s")
        in_range("max_expiry", self.max_expiry, gt=0, unit=" s")
        in_range("seen_ttl", self.seen_ttl, gt=0, unit=" s")

    def allows(self, driver: str, target: str, action: str) -> bool:
        """Whether any rule permits ``action`` on ``driver``/``target``."""
        return any(rule.allows(driver, target, action) for rule in self.allow)


__all__ = ["AllowRule", "CommandsConfig"]
