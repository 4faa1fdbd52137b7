"""Outputs: safe states and the actions commands can take (``set``, ``toggle``, ``pulse``,
``get``).

An output changes only through :meth:`Outputs.command`. Before an output leaves its safe
state the state file is marked unclean, and it is marked clean again only after every
output is back at its safe state, so a crash at any moment is noticed at the next start.
Each change is also emitted as a ``binary`` reading of the output's name, so the
datacenter sees the state an actuator was put in.

One action at a time per output: a command that arrives while a pulse runs on the same
output is refused with ``busy`` instead of waiting, so the order of effects on the line is
always the order the sender observes in the results.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import anyio

from edgerun.api import CommandError, Reading
from edgerun_gpio.config import OutputConfig
from edgerun_gpio.lines import Lines

ACTIONS = ("set", "toggle", "pulse", "get")

_TRUE = {"on", "true", "1", "high", "active"}
_FALSE = {"off", "false", "0", "low", "inactive"}


def parse_level(raw: Any) -> bool:
    """A logical level from a command argument: bool, 0/1 or on/off words."""
    if isinstance(raw, bool):
        return raw
    if isinstance(raw, int) and raw in (0, 1):
        return bool(raw)
    if isinstance(raw, str) and raw.strip().lower() in _TRUE | _FALSE:
        return raw.strip().lower() in _TRUE
    raise CommandError("bad_args", f"value must be true/false, 1/0 or on/off, not {raw!r}")


class Output:
    __slots__ = ("config", "line", "lock", "value")

    def __init__(self, config: OutputConfig, line: int) -> None:
        self.config = config
        self.line = line
        self.value = config.safe_state
        self.lock = anyio.Lock()


class Outputs:
    """The driver's outputs while it runs."""

    def __init__(self, lines: Lines, outputs: list[tuple[OutputConfig, int]]) -> None:
        self._lines = lines
        self._by_name = {cfg.name: Output(cfg, line) for cfg, line in outputs}

    def __len__(self) -> int:
        return len(self._by_name)

    async def announce(self) -> None:
        """Emit each output's current state (at start)."""
        for out in self._by_name.values():
            await self._lines.ctx.emit(Reading(out.config.name, "binary", out.value))

    async def command(self, target: str, action: str, args: Mapping[str, Any]) -> dict[str, Any]:
        out = self._by_name.get(target)
        if out is None:
            raise CommandError("unknown_target", f"no output named {target!r}")
        if action not in ACTIONS:
            raise CommandError(
                "unsupported_action", f"outputs take {', '.join(ACTIONS)}, not {action!r}"
            )
        allowed = {"set": {"value"}, "pulse": {"duration", "value"}}.get(action, set())
        extra = set(args) - allowed
        if extra:
            raise CommandError("bad_args", f"unexpected argument(s) {sorted(extra)} for {action}")
        if action == "get":
            return {"value": out.value}
        if out.lock.locked():
            raise CommandError("busy", f"output {target!r} is busy with a pulse")
        async with out.lock:
            if action == "set":
                if "value" not in args:
                    raise CommandError("bad_args", "set needs a value")
                await self._set(out, parse_level(args["value"]))
                return {"value": out.value}
            if action == "toggle":
                await self._set(out, not out.value)
                return {"value": out.value}
            return await self._pulse(out, args)

    async def _pulse(self, out: Output, args: Mapping[str, Any]) -> dict[str, Any]:
        duration = args.get("duration")
        if (
            isinstance(duration, bool)
            or not isinstance(duration, int | float)
            or not math.isfinite(duration)
            or not 0 < duration <= out.config.max_pulse
        ):
            raise CommandError(
                "bad_args",
                f"duration must be a number of seconds in (0, {out.config.max_pulse:g}]",
            )
        level = parse_level(args["value"]) if "value" in args else not out.config.safe_state
        before = out.value
        await self._set(out, level)
        try:
            await anyio.sleep(float(duration))
        finally:
            # Cancelled (timeout, shutdown) or not, the line goes back.
            with anyio.CancelScope(shield=True):
                await self._set(out, before)
        return {"value": out.value, "pulsed": level, "duration": duration}

    async def _set(self, out: Output, value: bool) -> None:
        state = self._lines.state
        leaving_safe = value != out.config.safe_state
        if leaving_safe and state.clean:
            state.clean = False
            state.outputs[out.config.name] = value
            await self._lines.persist()
        await self._lines.io(self._lines.chip.write, out.line, value ^ out.config.active_low)
        out.value = value
        state.outputs[out.config.name] = value
        if not leaving_safe:
            state.clean = all(o.value == o.config.safe_state for o in self._by_name.values())
        await self._lines.persist()
        self._lines.ctx.count(f"output_{'on' if value else 'off'}")
        await self._lines.ctx.emit(Reading(out.config.name, "binary", value))

    async def restore_safe(self) -> None:
        """Drive every output to its safe state and mark the state file clean."""
        chip = self._lines.chip
        for out in self._by_name.values():
            await self._lines.io(
                chip.write, out.line, out.config.safe_state ^ out.config.active_low
            )
            out.value = out.config.safe_state
            self._lines.state.outputs[out.config.name] = out.value
        self._lines.state.clean = True
        await self._lines.persist()


__all__ = ["ACTIONS", "Outputs", "parse_level"]
