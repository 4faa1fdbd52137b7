"""A vendor decoder registered through ``edgerun_register_ble_decoders`` (docs/ble.md example)."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pluggy
import pytest
from edgerun_ble import cli
from edgerun_ble.decoders.registry import DecoderConflict, build_registry, plugin_decoders

from edgerun import hookspecs
from edgerun.api import hookimpl
from tests.ble import vendor_example
from tests.ble.fakebluez import FakeBlueZ
from tests.ble.helpers import rows_of, running

ACME = "0A:0B:0C:0D:0E:0F"


def manager(*plugins: object) -> pluggy.PluginManager:
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    for plugin in plugins:
        pm.register(plugin)
    return pm


def test_hook_collects_vendor_decoder() -> None:
    registry = build_registry(manager(vendor_example))
    assert registry.by_company[0xFFFF].name == "acme"
    assert {"bthome", "ruuvi", "atc", "acme"} <= set(registry.names)
    result = cli.decode(
        ACME, [("manufacturer-data", 0xFFFF, bytes.fromhex("07EB0050"))], None, registry
    )
    assert result == [
        {
            "format": "acme",
            "field": "temperature",
            "quantity": "temperature",
            "unit": "°C",
            "value": 23.5,
        },
        {"format": "acme", "field": "battery", "quantity": "battery", "unit": "%", "value": 80},
    ]


def test_hook_conflict_with_builtin_is_reported() -> None:
    class Impostor:
        @staticmethod
        @hookimpl
        def edgerun_register_ble_decoders(register):  # type: ignore[no-untyped-def]
            register(
                type("R", (vendor_example.AcmeDecoder,), {"name": "r", "company_ids": (0x0499,)})()
            )

    with pytest.raises(DecoderConflict, match="0x0499"):
        build_registry(manager(Impostor))


def test_default_manager_is_the_loaded_one(monkeypatch: pytest.MonkeyPatch) -> None:
    import edgerun.plugins

    monkeypatch.setattr(edgerun.plugins, "plugin_manager", lambda: manager(vendor_example))
    assert [d.name for d in plugin_decoders()] == ["acme"]


def test_core_without_plugin_manager_falls_back_to_builtins(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "edgerun.plugins", None)  # import now fails
    assert plugin_decoders() == []
    assert set(build_registry().names) == {"bthome", "ruuvi", "atc"}


@pytest.mark.anyio
async def test_vendor_frames_become_readings_through_bleak(bluez: FakeBlueZ) -> None:
    pm = manager(vendor_example)
    async with running(scanning_mode="passive", plugin_manager=pm) as (_, ctx):
        await bluez.monitor_active.wait()
        (monitor,) = bluez.monitors.values()
        assert (0, 0xFF, b"\xff\xff") in {
            (int(s), int(t), bytes(c)) for s, t, c in monitor.patterns
        }
        bluez.advertise(ACME, manufacturer_data={0xFFFF: bytes.fromhex("07EB0050")})
        bluez.advertise(ACME, manufacturer_data={0xFFFF: bytes.fromhex("07EC0050")})  # same counter
        bluez.advertise(ACME, manufacturer_data={0xFFFF: bytes.fromhex("08EC0050")})
        await ctx.wait_rows(4)
        assert rows_of(ctx, ACME, "temperature") == [23.5, 23.6]
        assert ctx.counters["dropped_duplicate"] == 1


def test_docs_example_matches_this_module() -> None:
    docs = Path(__file__).resolve().parents[2] / "docs" / "ble.md"
    text = docs.read_text(encoding="utf-8")
    source = Path(vendor_example.__file__).read_text(encoding="utf-8")
    block = re.search(r"class AcmeDecoder:.*?register\(AcmeDecoder\(\)\)", source, re.S)
    assert block is not None
    assert block.group(0) in text, (
        "docs/ble.md's vendor example drifted from tests/ble/vendor_example.py"
    )
    assert sys.modules["tests.ble.vendor_example"] is vendor_example
