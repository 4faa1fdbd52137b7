"""The network map: what the driver knows about each bonded node, cached in the data dir.

One JSON file (``netmap.json``) holds the coordinator's MID and, per node address, the
node's MID, HWPID, HWPID version, peripherals, sensor types, binary output count and hop
count. A restart with an unchanged bonded set reuses it and sends no enumeration traffic;
the file is tied to the coordinator's MID so a swapped coordinator starts fresh. The file is
written to a temporary name and renamed, so a power cut leaves the old or the new map,
never half of one; an unreadable file is moved aside and the network enumerated again.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
from pathlib import Path
from typing import Any

import msgspec

log = logging.getLogger(__name__)

FILE_NAME = "netmap.json"
VERSION = 1


class NodeInfo(msgspec.Struct):
    """One node as enumerated."""

    addr: int
    mid: int
    hwpid: int
    hwpid_ver: int = 0
    peripherals: list[int] = msgspec.field(default_factory=list)
    sensors: list[int] = msgspec.field(default_factory=list)
    binary_outputs: int = 0
    hops: int = 1

    @property
    def device_id(self) -> str:
        """Stable id from the MID: a node re-bonded at a new address keeps it."""
        return f"{self.mid:08X}"


class NetworkMap(msgspec.Struct):
    coordinator_mid: int
    nodes: dict[int, NodeInfo] = msgspec.field(default_factory=dict)

    def by_mid(self, mid: int) -> NodeInfo | None:
        return next((n for n in self.nodes.values() if n.mid == mid), None)

    def to_json(self) -> dict[str, Any]:
        return {
            "version": VERSION,
            "coordinator_mid": self.coordinator_mid,
            "nodes": {str(a): msgspec.structs.asdict(n) for a, n in sorted(self.nodes.items())},
        }

    @classmethod
    def from_json(cls, obj: Any) -> NetworkMap:
        if not isinstance(obj, dict) or obj.get("version") != VERSION:
            raise ValueError("not a version-1 network map")
        nodes = {}
        for key, raw in obj["nodes"].items():
            node = NodeInfo(**raw)
            if node.addr != int(key) or not 1 <= node.addr <= 0xEF:
                raise ValueError(f"node entry {key} is inconsistent")
            nodes[node.addr] = node
        return cls(int(obj["coordinator_mid"]), nodes)


def load(directory: Path) -> NetworkMap | None:
    """The cached map, or None when there is none or it is unreadable (moved aside)."""
    path = directory / FILE_NAME
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except OSError as exc:
        log.warning("cannot read %s: %s; enumerating the network", path, exc)
        return None
    try:
        return NetworkMap.from_json(json.loads(text))
    except (ValueError, TypeError, KeyError) as exc:
        aside = path.with_suffix(".corrupt")
        log.warning("network map %s is unusable (%s); moved to %s", path, exc, aside.name)
        with contextlib.suppress(OSError):
            path.replace(aside)
        return None


def save(directory: Path, netmap: NetworkMap) -> None:
    """Write the map atomically (temporary file, fsync, rename)."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / FILE_NAME
    tmp = path.with_suffix(".tmp")
    data = json.dumps(netmap.to_json(), indent=1).encode()
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    tmp.replace(path)
