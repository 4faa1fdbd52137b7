"""Dead letters: messages (or rows) the bridge cannot write, set aside with a reason.

A JSON-lines file (one object per line: time, topic, reason, detail, size, sha256 and the
payload in base64) and/or an MQTT topic (the original payload, with ``reason``,
``detail`` and ``source-topic`` as MQTT 5 user properties). The consumer acknowledges a
message only after its dead letter was written, so nothing is dropped silently.

Limits: at most ``MAX_KEPT_PAYLOAD`` bytes (1 MiB) of a payload are kept in the file (an
oversized message is evidence of a broken publisher, its hash and size identify it); the
file is rotated to ``<file>.1`` when it reaches ``max_file_bytes``, so a publisher sending
garbage in a loop cannot fill the disk. A dead letter that cannot be written (disk full)
is logged and counted; it never stops the stream.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import os
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, Final

log = logging.getLogger("edgerun.bridge.deadletter")

MAX_KEPT_PAYLOAD: Final = 1024 * 1024

#: ``publish(topic, payload, user_properties)``; provided by the consumer.
Publisher = Callable[[str, bytes, list[tuple[str, str]]], Awaitable[None]]


class DeadLetters:
    """Writes dead letters to a file and/or a topic and counts them by reason."""

    def __init__(
        self,
        file: Path | None,
        topic: str = "",
        max_file_bytes: int = 64 * 1024 * 1024,
    ) -> None:
        self.file = file
        self.topic = topic
        self.max_file_bytes = max_file_bytes
        self.publisher: Publisher | None = None
        self.by_reason: dict[str, int] = {}
        self.total = 0
        self.write_errors = 0
        if file is not None:
            file.parent.mkdir(parents=True, exist_ok=True)

    async def put(self, topic: str, payload: bytes, reason: str, detail: str = "") -> None:
        """Set one message aside."""
        self.total += 1
        self.by_reason[reason] = self.by_reason.get(reason, 0) + 1
        log.warning("dead letter from %s: %s %s", topic, reason, detail[:200])
        if self.file is not None:
            self._append(topic, payload, reason, detail)
        if self.topic and self.publisher is not None:
            props = [("reason", reason), ("detail", detail[:500]), ("source-topic", topic)]
            try:
                await self.publisher(self.topic, payload, props)
            except Exception as exc:
                self.write_errors += 1
                log.error("cannot publish dead letter to %s: %s", self.topic, exc)

    def _append(self, topic: str, payload: bytes, reason: str, detail: str) -> None:
        assert self.file is not None
        rec: dict[str, Any] = {
            "time_ms": int(time.time() * 1000),
            "topic": topic,
            "reason": reason,
            "detail": detail[:2000],
            "size": len(payload),
            "sha256": hashlib.sha256(payload).hexdigest(),
            "payload_b64": base64.b64encode(payload[:MAX_KEPT_PAYLOAD]).decode(),
            "truncated": len(payload) > MAX_KEPT_PAYLOAD,
        }
        line = json.dumps(rec, separators=(",", ":")) + "\n"
        try:
            if self.file.exists() and self.file.stat().st_size >= self.max_file_bytes:
                os.replace(self.file, self.file.with_name(self.file.name + ".1"))
            with self.file.open("a", encoding="utf-8") as f:
                f.write(line)
                f.flush()
                os.fsync(f.fileno())
        except OSError as exc:
            self.write_errors += 1
            log.error("cannot write dead letter to %s: %s", self.file, exc)

    def stats(self) -> dict[str, int]:
        out = {"dead_letters": self.total, "dead_letter_write_errors": self.write_errors}
        for reason, n in self.by_reason.items():
            out[f"dead_letters_{reason.replace('-', '_')}"] = n
        return out


__all__ = ["DeadLetters", "Publisher"]
