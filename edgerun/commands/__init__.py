"""Cloud-to-device commands: the router between the uplink and the drivers.

:class:`~edgerun.commands.router.CommandRouter` subscribes to
``<prefix>/<gateway>/cmd/<driver-instance>/<target>``, checks each command (size, topic,
schema, allowlist, expiry, replay), runs it through :meth:`edgerun.api.Driver.command` and
publishes a result. docs/commands.md is the contract for senders.
"""

from edgerun.commands.config import AllowRule, CommandsConfig
from edgerun.commands.message import Command, Result
from edgerun.commands.router import CommandRouter, CommandTransport, build_router
from edgerun.commands.seen import SeenIds
from edgerun.commands.stats import CommandStats
from edgerun.commands.topics import CommandTopics

__all__ = [
    "AllowRule",
    "Command",
    "CommandRouter",
    "CommandStats",
    "CommandTopics",
    "CommandTransport",
    "CommandsConfig",
    "Result",
    "SeenIds",
    "build_router",
]
