"""The GPIO driver: opens the chip, applies safe output states, runs inputs, takes commands.

Start-up order matters for actuators: the state file is read first (to notice a previous
run that died with outputs away from their safe state), the lines are requested with the
outputs *already at their safe level* (no glitch to another level in between), the state
is marked clean, and only then ``started()`` is signalled and commands are accepted. On
shutdown or failure the outputs go back to their safe state before the chip is closed,
within :data:`SHUTDOWN_TIMEOUT`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import anyio

from edgerun.api import CommandError, Driver, DriverContext
from edgerun_gpio.chips import Chip, InputSpec, OutputSpec, open_chip
from edgerun_gpio.config import GpioConfig
from edgerun_gpio.inputs import Inputs
from edgerun_gpio.lines import Lines
from edgerun_gpio.outputs import Outputs
from edgerun_gpio.state import load_state

#: Time allowed to restore safe states and close the chip at shutdown: a few chip writes
#: and one state-file write, well inside the gateway's 10 s grace period even on a slow SD.
SHUTDOWN_TIMEOUT = 5.0


class GpioDriver(Driver[GpioConfig]):
    """``type = "gpio"``: inputs and outputs on one GPIO chip."""

    config_type = GpioConfig
    extra = "gpio"
    requires = ("gpiod",)

    def __init__(self, name: str, config: GpioConfig) -> None:
        super().__init__(name, config)
        #: The open chip while running (tests drive a simulated chip through it).
        self.chip: Chip | None = None
        self._outputs: Outputs | None = None

    async def run(self, ctx: DriverContext) -> None:
        cfg = self.config
        chip = await ctx.run_sync(open_chip, cfg)
        lines: Lines | None = None
        outputs: Outputs | None = None
        try:
            in_lines = [(i, chip.resolve(i.line)) for i in cfg.inputs]
            out_lines = [(o, chip.resolve(o.line)) for o in cfg.outputs]
            path = ctx.data_dir / "state.json"
            state, corrupt = await ctx.run_sync(load_state, path, ctx.log)
            if corrupt:
                ctx.count("state_corrupt")
            if not state.clean:
                ctx.log.warning(
                    "the previous run ended with outputs away from their safe state "
                    "(last states %s); applying safe states",
                    state.outputs,
                )
                ctx.count("unclean_restarts")
            lines = Lines(chip, ctx, state, path, bus=f"gpio:{cfg.chip}")
            await lines.io(
                chip.open,
                [InputSpec(line, i.bias, edges=i.mode != "level") for i, line in in_lines],
                [OutputSpec(line, o.safe_state ^ o.active_low) for o, line in out_lines],
            )
            self.chip = chip
            outputs = Outputs(lines, out_lines)
            state.outputs = {o.name: o.safe_state for o in cfg.outputs}
            state.clean = True
            await lines.persist()
            self._outputs = outputs
            ctx.set_state("running", f"{len(in_lines)} inputs, {len(out_lines)} outputs")
            ctx.started()
            await outputs.announce()
            if in_lines:
                await Inputs(lines, in_lines).run()
            else:
                await anyio.sleep_forever()
        finally:
            self._outputs = None
            with anyio.CancelScope(shield=True), anyio.move_on_after(SHUTDOWN_TIMEOUT):
                try:
                    if outputs is not None:
                        await outputs.restore_safe()
                    elif lines is not None:
                        await lines.persist()
                finally:
                    self.chip = None
                    await ctx.run_sync(chip.close)

    async def command(self, target: str, action: str, args: Mapping[str, Any]) -> Any:
        """Output actions: ``set`` {value}, ``toggle``, ``pulse`` {duration, value?}, ``get``."""
        outputs = self._outputs
        if outputs is None:
            raise CommandError("unavailable", f"driver {self.name!r} is not running")
        return await outputs.command(target, action, args)


__all__ = ["GpioDriver"]
