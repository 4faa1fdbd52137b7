"""Operations: the health/metrics HTTP endpoint, Prometheus metrics, systemd notify, reload.

Each module has one job and no dependency on the supervisor: the supervisor (and the
datacenter bridge) hand them callables and snapshot objects. docs/operations.md is the
operator's view of all of it.
"""
