"""Command and result topic names: building, parsing and checking them.

Commands arrive on ``<prefix>/<gateway>/cmd/<driver-instance>/<target>``; results go to the
sender's MQTT 5 response topic or, without one, to
``<prefix>/<gateway>/cmd-result/<driver-instance>/<target>``. Parsing strips the known
``<prefix>/<gateway>/cmd/`` head instead of splitting on ``/``, so a prefix may itself
contain several levels.
"""

from __future__ import annotations

import re

import msgspec

#: A driver instance or target name as it may appear in a topic level.
_NAME = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")
#: MQTT topics may be 65535 bytes long; a response topic we publish to has no reason to be
#: longer than a few levels of names.
MAX_RESPONSE_TOPIC = 256


class TopicError(ValueError):
    """A topic is not a valid command or response topic; the message says why."""


class CommandTopics(msgspec.Struct, frozen=True):
    """The topics of one gateway."""

    prefix: str
    gateway: str

    @property
    def base(self) -> str:
        return f"{self.prefix}/{self.gateway}"

    @property
    def command_filter(self) -> str:
        """The subscription: exactly two levels below ``cmd``."""
        return f"{self.base}/cmd/+/+"

    def command_topic(self, driver: str, target: str) -> str:
        return f"{self.base}/cmd/{driver}/{target}"

    def result_topic(self, driver: str, target: str) -> str:
        """Where a result goes when the sender named no response topic."""
        return f"{self.base}/cmd-result/{driver}/{target}"

    def parse(self, topic: str) -> tuple[str, str]:
        """Return ``(driver, target)`` of a command topic.

        :raises TopicError: the topic is not under this gateway's ``cmd`` level or a name
            is empty or contains characters outside ``A-Z a-z 0-9 _ . : -``.
        """
        head = f"{self.base}/cmd/"
        if not topic.startswith(head):
            raise TopicError(f"topic {topic[:120]!r} is not under {head!r}")
        levels = topic[len(head) :].split("/")
        if len(levels) != 2:
            raise TopicError("expected <driver-instance>/<target> after 'cmd/'")
        driver, target = levels
        for what, name in (("driver instance", driver), ("target", target)):
            if not _NAME.match(name):
                raise TopicError(f"{what} {name[:80]!r} is not a valid name")
        return driver, target

    def check_response_topic(self, topic: str) -> None:
        """Refuse a response topic we must not publish to.

        Results may go anywhere the sender asks except: topics with wildcards or NUL
        (not publishable), very long ones, and this gateway's own namespace other than
        its ``cmd-result`` level — a sender must not be able to make the gateway publish
        fake readings, status or commands through a crafted response topic.

        :raises TopicError: with the reason.
        """
        if not topic:
            raise TopicError("response topic is empty")
        if len(topic) > MAX_RESPONSE_TOPIC:
            raise TopicError(f"response topic is longer than {MAX_RESPONSE_TOPIC} characters")
        if any(ch in topic for ch in "+#\x00"):
            raise TopicError("response topic contains a wildcard or NUL")
        own = f"{self.base}/"
        if topic.startswith(own) and not topic.startswith(f"{self.base}/cmd-result/"):
            raise TopicError("response topic lies in this gateway's own namespace")


__all__ = ["MAX_RESPONSE_TOPIC", "CommandTopics", "TopicError"]
