"""Configuration: one TOML file, validated before anything starts.

:mod:`edgerun.config.base` holds the building blocks (strict structs, secrets, durations),
:mod:`edgerun.config.model` the top-level schema and :mod:`edgerun.config.load` the loader
that reports every problem with its key path.
"""

from edgerun.config.base import ByteSize, ConfigError, Duration, Problem, Secret, Strict

__all__ = ["ByteSize", "ConfigError", "Duration", "Problem", "Secret", "Strict"]
