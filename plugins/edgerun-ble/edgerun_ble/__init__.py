"""edgerun BLE driver plugin: scans BLE advertisements and decodes sensor formats.

Modules: ``decoders`` (sans-io formats), ``pipeline`` (keys, replay, dedupe, rate limits,
allow/deny), ``scanner`` and ``adapter`` (bleak and BlueZ state), ``driver`` (the
``ble`` driver), ``cli`` (``edgerun ble decode``), ``plugin`` (hook registrations).
"""
