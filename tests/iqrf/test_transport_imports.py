"""A gateway loads the protocol module of its configured transport and no other.

Each case runs a fresh interpreter that loads the driver the way the runtime does (the
plugin's registration, the import string resolved, options validated by the config model),
builds the configured transport without opening it, and reports which of the plugin's
modules are then loaded. A module-level import of ``cdc`` or ``spi`` added back to a shared
module fails here.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

CHILD = """
import json, sys
from edgerun.plugins import resolve
from edgerun.testing import make_driver
from edgerun_iqrf import plugin

kind, port = sys.argv[1], sys.argv[2]
registered = []
plugin.edgerun_register_drivers(lambda *a: registered.append(a))
driver = make_driver(resolve(registered[0][1]), "mesh", transport=kind, port=port)
cfg = driver.config
from edgerun_iqrf.transport import open_transport
transport = open_transport(cfg.transport, cfg.port, baudrate=cfg.baudrate)
watched = ("serial", "spidev")
loaded = sorted(m for m in sys.modules if m.startswith("edgerun_iqrf.") or m in watched)
print(json.dumps({"transport": type(transport).__name__, "modules": loaded}))
"""

#: transport -> (port, class built, modules that must be loaded, modules that must not be)
CASES = {
    "uart": (
        "/dev/ttyS0",
        "UartTransport",
        {"edgerun_iqrf.serial_transport", "edgerun_iqrf.hdlc", "edgerun_iqrf.driver"},
        {
            "edgerun_iqrf.cdc",
            "edgerun_iqrf.cdc_transport",
            "edgerun_iqrf.spi",
            "edgerun_iqrf.spi_transport",
        },
    ),
    "cdc": (
        "/dev/ttyACM0",
        "CdcTransport",
        {"edgerun_iqrf.cdc", "edgerun_iqrf.cdc_transport", "edgerun_iqrf.module_info"},
        {"edgerun_iqrf.spi", "edgerun_iqrf.spi_transport"},
    ),
    "spi": (
        "/dev/spidev0.0",
        "SpiTransport",
        {"edgerun_iqrf.spi", "edgerun_iqrf.spi_transport", "edgerun_iqrf.module_info"},
        {"edgerun_iqrf.cdc", "edgerun_iqrf.cdc_transport", "edgerun_iqrf.serial_transport"},
    ),
}


@pytest.mark.parametrize("kind", sorted(CASES))
def test_only_the_configured_transport_is_imported(kind: str) -> None:
    port, cls, wanted, unwanted = CASES[kind]
    done = subprocess.run(
        [sys.executable, "-c", CHILD, kind, port],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    loaded = set(report["modules"])
    assert report["transport"] == cls
    assert wanted <= loaded, wanted - loaded
    assert not unwanted & loaded, unwanted & loaded
    # building a transport opens nothing: the serial/spidev libraries wait for open()
    assert not {"serial", "spidev"} & loaded
