"""Configuration: one TOML file, validated before anything starts.

:mod:`edgerun.config.base` holds the building blocks (strict structs, secrets, durations),
:mod:`edgerun.config.model` the top-level schema and :mod:`edgerun.config.load` the loader
that reports every problem with its key path.
"""

from edgerun.config.base import ConfigError, Problem, Secret, Strict
from edgerun.config.load import load_config
from edgerun.config.model import DriverInstance, EdgerunConfig

__all__ = [
    "ConfigError",
    "DriverInstance",
    "EdgerunConfig",
    "Problem",
    "Secret",
    "Strict",
    "load_config",
]
