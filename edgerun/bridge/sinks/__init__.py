"""Datacenter sinks: where the bridge writes readings (Graphite, InfluxDB, or a plugin's)."""
