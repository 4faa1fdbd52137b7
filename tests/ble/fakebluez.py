"""A fake bluetoothd on a private dbus-daemon, for driving the real, unmodified bleak.

:func:`start_bus` runs Debian's ``dbus-daemon`` with its own config (a unix socket in a
temp dir, EXTERNAL auth, one permissive policy) and returns its address; tests point
``DBUS_SYSTEM_BUS_ADDRESS`` at it. :class:`FakeBlueZ` owns ``org.bluez`` on that bus and
answers the calls bleak's scanner makes (``GetManagedObjects``, ``SetDiscoveryFilter``,
``Start/StopDiscovery``, ``Register/UnregisterMonitor``, ``Properties.Get/GetAll``); any
other method gets ``UnknownMethod``, as a BlueZ without the feature would answer.

Advertisements are injected with :meth:`FakeBlueZ.advertise`, which behaves like
bluetoothd: ``InterfacesAdded`` with a full Device1 for a new address,
``PropertiesChanged`` with the merged ManufacturerData/ServiceData for a known one. Adapter
power and presence, and bluetoothd leaving the bus (cleanly or as if killed), can be
changed at any time; every call is logged in :attr:`FakeBlueZ.calls`.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dbus_fast import BusType, Message, MessageType, NameFlag, Variant
from dbus_fast.aio import MessageBus

BLUEZ = "org.bluez"
ADAPTER = "org.bluez.Adapter1"
DEVICE = "org.bluez.Device1"
MONITOR_MANAGER = "org.bluez.AdvertisementMonitorManager1"
MONITOR = "org.bluez.AdvertisementMonitor1"
PROPS = "org.freedesktop.DBus.Properties"
OBJECT_MANAGER = "org.freedesktop.DBus.ObjectManager"
UNKNOWN_METHOD = "org.freedesktop.DBus.Error.UnknownMethod"

_CONFIG = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>unix:path={socket}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <allow own="*"/>
    <allow send_destination="*" eavesdrop="true"/>
    <allow receive_sender="*"/>
    <allow eavesdrop="true"/>
  </policy>
</busconfig>
"""


@dataclass
class Bus:
    """A running private dbus-daemon."""

    process: subprocess.Popen[bytes]
    address: str
    directory: Path

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(timeout=5)


def start_bus(deadline: float = 5.0, directory: Path | None = None) -> Bus:
    """Start a private dbus-daemon; returns once it printed its address.

    Passing the ``directory`` of a killed bus restarts it on the same socket path (the
    address clients already know), as a restarted system bus would be.
    """
    directory = directory or Path(tempfile.mkdtemp(prefix="fakebluez-"))
    (directory / "bus").unlink(missing_ok=True)
    config = directory / "bus.conf"
    config.write_text(_CONFIG.format(socket=directory / "bus"), encoding="utf-8")
    process = subprocess.Popen(
        ["dbus-daemon", f"--config-file={config}", "--nofork", "--print-address=1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    assert process.stdout is not None
    os.set_blocking(process.stdout.fileno(), True)
    # readline returns as soon as the daemon prints its address, or "" if it died
    line = process.stdout.readline().decode().strip()
    if not line:
        process.kill()
        raise RuntimeError(f"dbus-daemon did not start (exit {process.wait(deadline)})")
    return Bus(process, line, directory)


def device_path(adapter: str, address: str) -> str:
    return f"/org/bluez/{adapter}/dev_{address.replace(':', '_')}"


@dataclass
class Call:
    member: str
    path: str
    body: list[Any]
    sender: str


@dataclass
class _Monitor:
    owner: str
    path: str
    patterns: list[Any] = field(default_factory=list)


class FakeBlueZ:
    """``org.bluez`` on a private bus: adapters, discovery, monitors, devices."""

    def __init__(self, bus_address: str, *, monitor_manager: bool = True) -> None:
        self.bus_address = bus_address
        self.monitor_manager = monitor_manager
        self.objects: dict[str, dict[str, dict[str, Variant]]] = {}
        self.calls: list[Call] = []
        self.monitors: dict[str, _Monitor] = {}
        self.discovering: dict[str, asyncio.Event] = {}
        self.monitor_active = asyncio.Event()
        self._bus: MessageBus | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._changed = asyncio.Event()

    # ------------------------------------------------------------------ lifecycle

    def add_adapter(self, name: str = "hci0", *, powered: bool = True) -> None:
        path = f"/org/bluez/{name}"
        ifaces: dict[str, dict[str, Variant]] = {
            ADAPTER: {
                "Address": Variant("s", "00:1A:7D:DA:71:13"),
                "Name": Variant("s", name),
                "Alias": Variant("s", name),
                "Powered": Variant("b", powered),
                "Discovering": Variant("b", False),
                "Roles": Variant("as", ["central", "peripheral"]),
            }
        }
        if self.monitor_manager:
            ifaces[MONITOR_MANAGER] = {
                "SupportedMonitorTypes": Variant("as", ["or_patterns"]),
                "SupportedFeatures": Variant("as", []),
            }
        self.objects[path] = ifaces
        self.discovering[name] = asyncio.Event()
        if self._bus is not None:
            self._signal_added(path, ifaces)

    def remove_adapter(self, name: str = "hci0") -> None:
        path = f"/org/bluez/{name}"
        for obj in [p for p in self.objects if p == path or p.startswith(path + "/")]:
            ifaces = self.objects.pop(obj)
            self._signal("/", OBJECT_MANAGER, "InterfacesRemoved", "oas", [obj, list(ifaces)])

    async def start(self) -> None:
        """Connect, own ``org.bluez`` and announce the adapters, as bluetoothd does."""
        bus = MessageBus(bus_address=self.bus_address, bus_type=BusType.SYSTEM)
        await bus.connect()
        bus.add_message_handler(self._handle)
        await bus.request_name(BLUEZ, NameFlag.DO_NOT_QUEUE)
        self._bus = bus
        for path, ifaces in self.objects.items():
            self._signal_added(path, ifaces)

    async def stop(self, *, clean: bool = True) -> None:
        """Leave the bus: ``clean`` removes every object first; otherwise like a SIGKILL."""
        bus = self._bus
        if bus is None:
            return
        if clean:
            for path in sorted(self.objects, reverse=True):
                self._signal(
                    "/",
                    OBJECT_MANAGER,
                    "InterfacesRemoved",
                    "oas",
                    [path, list(self.objects[path])],
                )
            # a round trip to the daemon flushes the signals before the socket closes
            await bus.call(
                Message(
                    destination="org.freedesktop.DBus",
                    path="/org/freedesktop/DBus",
                    interface="org.freedesktop.DBus",
                    member="GetId",
                )
            )
            self.objects = {p: i for p, i in self.objects.items() if DEVICE not in i}
        else:
            self.objects = {p: i for p, i in self.objects.items() if DEVICE not in i}
        for task in self._tasks:
            task.cancel()
        bus.disconnect()
        await bus.wait_for_disconnect()
        self._bus = None
        self.monitors.clear()
        for event in self.discovering.values():
            event.clear()
        self.monitor_active.clear()

    # ---------------------------------------------------------------- test API

    def set_powered(self, name: str, powered: bool) -> None:
        path = f"/org/bluez/{name}"
        props = self.objects[path][ADAPTER]
        props["Powered"] = Variant("b", powered)
        changed: dict[str, Variant] = {"Powered": Variant("b", powered)}
        if not powered:
            props["Discovering"] = Variant("b", False)
            changed["Discovering"] = Variant("b", False)
            self.discovering[name].clear()
            self.monitors.clear()
            self.monitor_active.clear()
        self._signal(path, PROPS, "PropertiesChanged", "sa{sv}as", [ADAPTER, changed, []])

    def advertise(
        self,
        address: str,
        *,
        adapter: str = "hci0",
        rssi: int = -60,
        name: str | None = None,
        manufacturer_data: Mapping[int, bytes] | None = None,
        service_data: Mapping[str, bytes] | None = None,
    ) -> None:
        """Report an advertisement the way bluetoothd does (merged data, per device)."""
        path = device_path(adapter, address)
        mfr = {int(k): Variant("ay", bytes(v)) for k, v in (manufacturer_data or {}).items()}
        svc = {k: Variant("ay", bytes(v)) for k, v in (service_data or {}).items()}
        known = self.objects.get(path, {}).get(DEVICE)
        if known is None:
            props: dict[str, Variant] = {
                "Address": Variant("s", address),
                "AddressType": Variant("s", "public"),
                "Alias": Variant("s", name or address.replace(":", "-")),
                "Paired": Variant("b", False),
                "Bonded": Variant("b", False),
                "Trusted": Variant("b", False),
                "Blocked": Variant("b", False),
                "LegacyPairing": Variant("b", False),
                "Connected": Variant("b", False),
                "UUIDs": Variant("as", sorted(svc)),
                "Adapter": Variant("o", f"/org/bluez/{adapter}"),
                "ServicesResolved": Variant("b", False),
                "RSSI": Variant("n", rssi),
                "ManufacturerData": Variant("a{qv}", mfr),
                "ServiceData": Variant("a{sv}", svc),
            }
            if name:
                props["Name"] = Variant("s", name)
            self.objects[path] = {DEVICE: props}
            self._signal_added(path, {DEVICE: props})
            return
        changed: dict[str, Variant] = {"RSSI": Variant("n", rssi)}
        known["RSSI"] = changed["RSSI"]
        if mfr:
            merged_m = dict(known["ManufacturerData"].value) | mfr
            known["ManufacturerData"] = changed["ManufacturerData"] = Variant("a{qv}", merged_m)
        if svc:
            merged_s = dict(known["ServiceData"].value) | svc
            known["ServiceData"] = changed["ServiceData"] = Variant("a{sv}", merged_s)
            uuids = sorted(set(known["UUIDs"].value) | set(svc))
            known["UUIDs"] = changed["UUIDs"] = Variant("as", uuids)
        self._signal(path, PROPS, "PropertiesChanged", "sa{sv}as", [DEVICE, changed, []])

    def members(self) -> list[str]:
        return [c.member for c in self.calls]

    async def wait_call(self, member: str, *, after: int = 0, timeout: float = 5.0) -> Call:
        """Wait until a call named ``member`` arrived (at index >= ``after``)."""
        deadline = time.monotonic() + timeout
        while True:
            for call in self.calls[after:]:
                if call.member == member:
                    return call
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"no {member} call within {timeout} s; saw {self.members()}")
            self._changed.clear()
            try:
                await asyncio.wait_for(self._changed.wait(), remaining)
            except TimeoutError:
                continue

    # ------------------------------------------------------------------ D-Bus

    def _signal(self, path: str, iface: str, member: str, sig: str, body: list[Any]) -> None:
        if self._bus is not None and self._bus.connected:
            self._bus.send(Message.new_signal(path, iface, member, sig, body))

    def _signal_added(self, path: str, ifaces: dict[str, dict[str, Variant]]) -> None:
        self._signal("/", OBJECT_MANAGER, "InterfacesAdded", "oa{sa{sv}}", [path, ifaces])

    def _handle(self, msg: Message) -> Message | bool | None:
        if msg.message_type != MessageType.METHOD_CALL:
            return None
        if msg.destination not in (BLUEZ, self._bus and self._bus.unique_name):
            return None
        self.calls.append(Call(msg.member or "", msg.path or "", list(msg.body), msg.sender or ""))
        self._changed.set()
        try:
            return self._dispatch(msg)
        except KeyError:
            return Message.new_error(
                msg, "org.freedesktop.DBus.Error.UnknownObject", msg.path or ""
            )

    def _dispatch(self, msg: Message) -> Message:
        member, path, iface = msg.member, msg.path or "", msg.interface
        if iface == OBJECT_MANAGER and member == "GetManagedObjects" and path == "/":
            return Message.new_method_return(msg, "a{oa{sa{sv}}}", [self.objects])
        if iface == PROPS and member == "GetAll":
            return Message.new_method_return(msg, "a{sv}", [self.objects[path][msg.body[0]]])
        if iface == PROPS and member == "Get":
            value = self.objects[path][msg.body[0]][msg.body[1]]
            return Message.new_method_return(msg, "v", [value])
        ifaces = self.objects.get(path)
        if ifaces is None or iface not in ifaces:
            return Message.new_error(msg, UNKNOWN_METHOD, f"{iface}.{member} on {path}")
        name = path.rsplit("/", 1)[-1]
        powered = bool(ifaces.get(ADAPTER, {}).get("Powered", Variant("b", False)).value)
        if iface == ADAPTER and member == "SetDiscoveryFilter":
            return Message.new_method_return(msg)
        if iface == ADAPTER and member == "StartDiscovery":
            if not powered:
                return Message.new_error(msg, "org.bluez.Error.NotReady", "Resource Not Ready")
            ifaces[ADAPTER]["Discovering"] = Variant("b", True)
            self.discovering[name].set()
            return Message.new_method_return(msg)
        if iface == ADAPTER and member == "StopDiscovery":
            if not self.discovering[name].is_set():
                return Message.new_error(msg, "org.bluez.Error.Failed", "No discovery started")
            self.discovering[name].clear()
            ifaces[ADAPTER]["Discovering"] = Variant("b", False)
            return Message.new_method_return(msg)
        if iface == MONITOR_MANAGER and member == "RegisterMonitor":
            if not powered:
                return Message.new_error(msg, "org.bluez.Error.NotReady", "Resource Not Ready")
            monitor = _Monitor(msg.sender or "", msg.body[0])
            self.monitors[monitor.path] = monitor
            task = asyncio.get_running_loop().create_task(self._activate(monitor))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
            return Message.new_method_return(msg)
        if iface == MONITOR_MANAGER and member == "UnregisterMonitor":
            self.monitors.pop(msg.body[0], None)
            self.monitor_active.clear()
            return Message.new_method_return(msg)
        return Message.new_error(msg, UNKNOWN_METHOD, f"{iface}.{member}")

    async def _activate(self, monitor: _Monitor) -> None:
        """Read the monitor's patterns back (bleak exports it after our reply), activate it."""
        assert self._bus is not None
        for _ in range(100):
            reply = await self._bus.call(
                Message(
                    destination=monitor.owner,
                    path=monitor.path,
                    interface=PROPS,
                    member="GetAll",
                    signature="s",
                    body=[MONITOR],
                )
            )
            if reply is not None and reply.message_type == MessageType.METHOD_RETURN:
                props = reply.body[0]
                monitor.patterns = list(props["Patterns"].value)
                await self._bus.call(
                    Message(
                        destination=monitor.owner,
                        path=monitor.path,
                        interface=MONITOR,
                        member="Activate",
                    )
                )
                self.monitor_active.set()
                return
            await asyncio.sleep(0.01)  # the export follows our reply within a loop turn


__all__ = ["Bus", "FakeBlueZ", "device_path", "start_bus"]
