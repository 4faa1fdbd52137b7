"""The driver guide documents every public API name and every hook (it fails when one is
added without documentation)."""

from __future__ import annotations

import inspect
from pathlib import Path

from edgerun import api, hookspecs

GUIDE = (Path(__file__).parents[2] / "docs" / "writing-a-driver.md").read_text("utf-8")


def test_every_public_api_name_is_documented() -> None:
    missing = [name for name in api.__all__ if f"`{name}`" not in GUIDE]
    assert not missing


def test_every_hook_is_documented() -> None:
    hooks = [
        name
        for name, fn in inspect.getmembers(hookspecs, inspect.isfunction)
        if name.startswith("edgerun_")
    ]
    assert len(hooks) >= 5
    missing = [h for h in hooks if f"`{h}(" not in GUIDE]
    assert not missing
