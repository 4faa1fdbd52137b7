"""Which decoder handles which payload: dispatch by service UUID and company id.

The registry is built once per driver start from the built-in decoders plus those plugins
register through the ``edgerun_register_ble_decoders`` hook. Two decoders claiming the same
UUID or company id is a configuration error reported at start, not a silent override, so a
vendor plugin cannot quietly replace a built-in format.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from edgerun_ble.decoders import builtin_decoders
from edgerun_ble.decoders.base import Decoder, normalize_uuid

log = logging.getLogger("edgerun.ble")


class DecoderConflict(ValueError):
    """Two decoders claim the same key, or a registered object is not a decoder."""


class Registry:
    """Decoders indexed by normalized service UUID and by company id."""

    def __init__(self, decoders: Iterable[Decoder]) -> None:
        self.by_uuid: dict[str, Decoder] = {}
        self.by_company: dict[int, Decoder] = {}
        self.names: dict[str, Decoder] = {}
        for decoder in decoders:
            self.add(decoder)

    def add(self, decoder: Decoder) -> None:
        """Index ``decoder``; raises :class:`DecoderConflict` on a clash or a bad object."""
        check_decoder(decoder)
        if decoder.name in self.names:
            raise DecoderConflict(f"two BLE decoders are named {decoder.name!r}")
        uuids = [normalize_uuid(u) for u in decoder.service_uuids]
        for uuid in uuids:
            if uuid in self.by_uuid:
                other = self.by_uuid[uuid].name
                raise DecoderConflict(
                    f"decoders {other!r} and {decoder.name!r} both claim service UUID {uuid}"
                )
        for cid in decoder.company_ids:
            if cid in self.by_company:
                other = self.by_company[cid].name
                raise DecoderConflict(
                    f"decoders {other!r} and {decoder.name!r} both claim company id 0x{cid:04x}"
                )
        self.names[decoder.name] = decoder
        for uuid in uuids:
            self.by_uuid[uuid] = decoder
        for cid in decoder.company_ids:
            self.by_company[cid] = decoder


def check_decoder(obj: Any) -> None:
    """Reject objects that do not implement the decoder interface, with a clear reason."""
    name = getattr(obj, "name", None)
    if not isinstance(name, str) or not name:
        raise DecoderConflict(f"BLE decoder {obj!r} has no name")
    if not callable(getattr(obj, "decode", None)):
        raise DecoderConflict(f"BLE decoder {name!r} has no decode() method")
    uuids = getattr(obj, "service_uuids", None)
    cids = getattr(obj, "company_ids", None)
    if uuids is None or cids is None or isinstance(uuids, str):
        raise DecoderConflict(f"BLE decoder {name!r} needs service_uuids and company_ids")
    for cid in cids:
        if not isinstance(cid, int) or not 0 <= cid <= 0xFFFF:
            raise DecoderConflict(f"BLE decoder {name!r}: company id {cid!r} is not 0..0xFFFF")
    for uuid in uuids:
        try:
            normalize_uuid(uuid)
        except (ValueError, AttributeError) as exc:
            raise DecoderConflict(f"BLE decoder {name!r}: {exc}") from None


def plugin_decoders(plugin_manager: Any | None = None) -> list[Decoder]:
    """Collect decoders that plugins register through ``edgerun_register_ble_decoders``.

    ``plugin_manager`` defaults to the loaded one from :func:`edgerun.plugins.plugin_manager`;
    when the core does not provide it (older cores), no plugin decoders are collected.
    """
    if plugin_manager is None:
        try:
            from edgerun.plugins import plugin_manager as get_manager
        except ImportError:
            log.debug("edgerun.plugins.plugin_manager unavailable; no plugin BLE decoders")
            return []
        plugin_manager = get_manager()
    found: list[Decoder] = []
    plugin_manager.hook.edgerun_register_ble_decoders(register=found.append)
    return found


def build_registry(plugin_manager: Any | None = None) -> Registry:
    """Built-in decoders first, then plugin decoders."""
    return Registry([*builtin_decoders(), *plugin_decoders(plugin_manager)])


__all__ = ["DecoderConflict", "Registry", "build_registry", "check_decoder", "plugin_decoders"]
