"""Watches BlueZ on the system bus: is bluetoothd there, is the adapter present and powered.

bleak's scanner is not told when the adapter powers off or bluetoothd goes away (it keeps
its cached view of the adapter), so the driver keeps its own view on a second D-Bus
connection: ``NameOwnerChanged`` for ``org.bluez``, ``InterfacesAdded``/``Removed`` under
``/org/bluez`` and ``PropertiesChanged`` of ``org.bluez.Adapter1``, plus a fresh
``GetManagedObjects`` whenever bluetoothd (re)appears. Every change calls ``on_change`` so
the scanning loop can react at once instead of waiting for the quiet-scanner watchdog.

dbus-fast is bleak's own D-Bus library on Linux; it is imported when the watch connects.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

import msgspec

log = logging.getLogger("edgerun.ble")

BLUEZ = "org.bluez"
ADAPTER_IFACE = "org.bluez.Adapter1"
MONITOR_MANAGER_IFACE = "org.bluez.AdvertisementMonitorManager1"
_DBUS = "org.freedesktop.DBus"
_MATCHES = (
    f"type='signal',sender='{_DBUS}',interface='{_DBUS}',member='NameOwnerChanged',arg0='{BLUEZ}'",
    "type='signal',interface='org.freedesktop.DBus.ObjectManager',arg0path='/org/bluez/'",
    "type='signal',interface='org.freedesktop.DBus.Properties',member='PropertiesChanged',"
    f"arg0='{ADAPTER_IFACE}',path_namespace='/org/bluez'",
)


class AdapterInfo(msgspec.Struct, frozen=True):
    """What the watch knows about one adapter."""

    name: str
    powered: bool
    central: bool
    passive_capable: bool


class Status(msgspec.Struct, frozen=True):
    """The state to report and, when scanning can start, the adapter to use."""

    state: str
    detail: str = ""
    adapter: AdapterInfo | None = None

    @property
    def ready(self) -> bool:
        return self.adapter is not None


class AdapterWatch:
    """Tracks bluetoothd and its adapters; ``status()`` says whether scanning can run."""

    def __init__(self, adapter: str | None, on_change: Callable[[], None]) -> None:
        self.adapter = adapter
        self._on_change = on_change
        self._bus: Any = None
        self._objects: dict[str, dict[str, dict[str, Any]]] = {}
        self._bluez_error: str | None = "not connected"
        self._refresh_pending = False
        self._watcher: asyncio.Task[None] | None = None

    @property
    def connected(self) -> bool:
        return self._bus is not None and bool(self._bus.connected)

    async def connect(self) -> None:
        """Connect to the system bus and subscribe; raises ``OSError``/D-Bus errors."""
        from dbus_fast import BusType, Message
        from dbus_fast.aio import MessageBus

        await self.close()
        bus = MessageBus(bus_type=BusType.SYSTEM)
        await bus.connect()
        try:
            bus.add_message_handler(self._handle)
            for rule in _MATCHES:
                await bus.call(
                    Message(
                        destination=_DBUS,
                        path="/org/freedesktop/DBus",
                        interface=_DBUS,
                        member="AddMatch",
                        signature="s",
                        body=[rule],
                    )
                )
        except BaseException:
            bus.disconnect()
            raise
        self._bus = bus
        self._watcher = asyncio.get_running_loop().create_task(self._watch_disconnect(bus))
        await self.refresh()

    async def _watch_disconnect(self, bus: Any) -> None:
        with contextlib.suppress(Exception):
            await bus.wait_for_disconnect()
        if self._bus is bus:
            self._on_change()

    async def close(self) -> None:
        bus, self._bus = self._bus, None
        if bus is not None:
            bus.disconnect()
        watcher, self._watcher = self._watcher, None
        if watcher is not None:
            watcher.cancel()

    async def refresh(self) -> None:
        """Re-read BlueZ's objects (after bluetoothd appeared, or to resynchronise)."""
        from dbus_fast import Message, MessageType

        bus = self._bus
        if bus is None:
            return
        self._refresh_pending = False
        reply = await bus.call(
            Message(
                destination=BLUEZ,
                path="/",
                interface="org.freedesktop.DBus.ObjectManager",
                member="GetManagedObjects",
            )
        )
        if reply is None or reply.message_type == MessageType.ERROR:
            name = getattr(reply, "error_name", None) or "no reply"
            self._objects = {}
            self._bluez_error = (
                "bluetoothd is not running" if name.endswith("ServiceUnknown") else name
            )
        else:
            self._bluez_error = None
            self._objects = {
                path: {iface: _unpack(props) for iface, props in ifaces.items()}
                for path, ifaces in reply.body[0].items()
                if ADAPTER_IFACE in ifaces
            }
        self._on_change()

    @property
    def needs_refresh(self) -> bool:
        return self._refresh_pending

    def request_refresh(self) -> None:
        """Ask for a ``GetManagedObjects`` before the next status (resynchronise)."""
        self._refresh_pending = True

    def adapters(self) -> list[AdapterInfo]:
        out = []
        for path, ifaces in sorted(self._objects.items()):
            props = ifaces.get(ADAPTER_IFACE)
            if props is None:
                continue
            types = ifaces.get(MONITOR_MANAGER_IFACE, {}).get("SupportedMonitorTypes", [])
            out.append(
                AdapterInfo(
                    name=path.rsplit("/", 1)[-1],
                    powered=bool(props.get("Powered", False)),
                    central="central" in props.get("Roles", ["central"]),
                    passive_capable="or_patterns" in types,
                )
            )
        return out

    def status(self) -> Status:
        """Whether scanning can run now, and if not, the state to report."""
        if not self.connected:
            return Status("bluez unavailable", "system bus not reachable")
        if self._bluez_error is not None:
            return Status("bluez unavailable", self._bluez_error)
        adapters = self.adapters()
        if self.adapter is not None:
            chosen = [a for a in adapters if a.name == self.adapter]
            if not chosen:
                return Status("no adapter", f"{self.adapter} not present")
        else:
            chosen = [a for a in adapters if a.central]
            if not chosen:
                return Status("no adapter", "no adapter with the LE central role")
        powered = [a for a in chosen if a.powered]
        if not powered:
            return Status("adapter off", ", ".join(a.name for a in chosen))
        return Status("ready", powered[0].name, powered[0])

    def _handle(self, msg: Any) -> None:
        member = msg.member
        if member == "NameOwnerChanged":
            _name, _old, new = msg.body
            if new:
                self._refresh_pending = True
            else:
                self._bluez_error = "bluetoothd is not running"
                self._objects = {}
            self._on_change()
        elif member == "InterfacesAdded":
            path, ifaces = msg.body
            if ADAPTER_IFACE in ifaces or path in self._objects:
                entry = self._objects.setdefault(path, {})
                for iface, props in ifaces.items():
                    entry[iface] = _unpack(props)
                self._bluez_error = None
                self._on_change()
        elif member == "InterfacesRemoved":
            path, ifaces = msg.body
            known = self._objects.get(path)
            if known is not None:
                for iface in ifaces:
                    known.pop(iface, None)
                if ADAPTER_IFACE not in known:
                    del self._objects[path]
                self._on_change()
        elif member == "PropertiesChanged":
            iface, changed, invalidated = msg.body
            props = self._objects.get(msg.path or "", {}).get(iface)
            if props is not None:
                props.update(_unpack(changed))
                for name in invalidated:
                    props.pop(name, None)
                self._on_change()


def _unpack(props: dict[str, Any]) -> dict[str, Any]:
    return {k: getattr(v, "value", v) for k, v in props.items()}


__all__ = ["AdapterInfo", "AdapterWatch", "Status"]
