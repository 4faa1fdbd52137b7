"""The GPIO config model's cross-field checks (reported by check-config with key paths)."""

from __future__ import annotations

from typing import Any

import pytest
from edgerun_gpio.config import GpioConfig

from edgerun.config.base import ConfigError, convert


def problems(**options: Any) -> list[tuple[str, str]]:
    return convert(options, GpioConfig).check()


def test_a_sound_config_has_no_problems() -> None:
    assert problems(inputs=[{"name": "a", "line": 1}], outputs=[{"name": "b", "line": 2}]) == []


def test_cross_field_problems_name_their_key() -> None:
    found = dict(
        problems(
            backend="rpigpio",
            inputs=[
                {"name": "a", "line": 1},
                {"name": "a", "line": "GPIO2", "mode": "counter", "interval": 0},
            ],
            outputs=[{"name": "o", "line": 1, "max_pulse": 7200}, {"name": "bad name", "line": 3}],
        )
    )
    assert found["inputs[1].name"] == "'a' is used twice"
    assert found["inputs[1].line"] == "RPi.GPIO needs a BCM number"
    assert found["inputs[1].interval"] == "must be positive"
    assert found["outputs[0].line"] == "line 1 is used twice"
    assert found["outputs[0].max_pulse"] == "must be between 0 and 1 h"
    assert "outputs[1].name" in found
    assert problems() == [("inputs", "configure at least one input or output")]


def test_type_errors_are_config_errors() -> None:
    with pytest.raises(ConfigError, match=r"inputs\[0\]\.mode"):
        convert({"inputs": [{"name": "a", "line": 1, "mode": "pwm"}]}, GpioConfig)
    with pytest.raises(ConfigError, match="debounce"):
        convert({"inputs": [{"name": "a", "line": 1, "debounce": "soon"}]}, GpioConfig)
