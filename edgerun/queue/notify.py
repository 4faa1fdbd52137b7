"""A re-armable wake-up: many waiters, woken together by :meth:`Notify.set`."""

from __future__ import annotations

import anyio


class Notify:
    """Like a condition variable without a lock: ``await wait()`` until the next ``set()``."""

    def __init__(self) -> None:
        self._event = anyio.Event()

    def set(self) -> None:
        self._event.set()
        self._event = anyio.Event()

    async def wait(self, timeout: float | None = None) -> bool:
        """Wait for the next :meth:`set`; ``False`` when ``timeout`` passed first."""
        event = self._event
        if timeout is None:
            await event.wait()
            return True
        with anyio.move_on_after(timeout):
            await event.wait()
            return True
        return False
