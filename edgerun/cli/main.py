"""``edgerun``: run a gateway, check a config, list plugins, and plugin-provided tools.

Exit codes: 0 success (also when stdout is a pipe closed early, ``edgerun ... | head``); 64
usage error, for every command; 70 fatal runtime error (the queue cannot open, a driver with
``restart = "fail"`` failed; a plugin command that failed); 75 shutdown forced (grace period
exceeded or a second signal); 78 configuration error; 130 interrupted (Ctrl-C). A plugin
command's own 1, 2 and argparse exits are mapped onto this table by :func:`plugin_exit_code`.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn

from edgerun import __version__
from edgerun.config.base import ConfigError
from edgerun.config.load import read_toml, validate
from edgerun.config.model import EdgerunConfig, PluginsConfig
from edgerun.exitcodes import EXIT_CONFIG, EXIT_FATAL, EXIT_FORCED, EXIT_OK, EXIT_USAGE
from edgerun.logs import setup_logging
from edgerun.plugins import KNOWN_DRIVERS, Registry, load_plugins, resolve

log = logging.getLogger("edgerun.cli")

#: Interrupted by SIGINT (128 + 2), the shell's convention.
EXIT_INTERRUPTED = 130


class UsageParser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose usage errors exit 64 (EX_USAGE), not argparse's 2."""

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def plugin_exit_code(code: object) -> int:
    """Map a plugin command's exit status onto the documented table.

    0 stays 0; 2 (argparse's usage error, or a bad argument value) becomes 64; 1 (a generic
    failure) becomes 70; 130 stays; a code already in the table stays; anything else is 70.
    """
    if code is None:
        return EXIT_OK
    if not isinstance(code, int):  # sys.exit("message"): Python prints it and exits 1
        print(code, file=sys.stderr)
        return EXIT_FATAL
    if code == 2:  # argparse's usage status
        return EXIT_USAGE
    if code in {EXIT_OK, EXIT_USAGE, EXIT_FATAL, EXIT_FORCED, EXIT_CONFIG, EXIT_INTERRUPTED}:
        return code
    return EXIT_FATAL


def _run_plugin_command(main: Callable[[list[str]], int], argv: list[str]) -> int:
    try:
        code: object = main(argv)
    except SystemExit as exc:
        code = exc.code
    except KeyboardInterrupt:
        code = EXIT_INTERRUPTED
    return plugin_exit_code(code)


def _load(path: str) -> tuple[EdgerunConfig, Registry]:
    """Read the file, load plugins per its ``[plugins]`` table, validate everything."""
    raw = read_toml(Path(path))
    plugins_raw = raw.get("plugins", {})
    try:
        from edgerun.config.base import convert

        plugins = convert(plugins_raw, PluginsConfig, "plugins")
    except ConfigError:
        plugins = PluginsConfig()  # validate() below reports the problem
    registry = load_plugins(plugins.allow, plugins.deny)
    config = validate(raw, registry, path)
    # A broken plugin must not stop the gateway: its drivers are reported as not installed
    # when configured, everything else runs on.
    for error in registry.errors:
        log.warning("%s", error)
    return config, registry


def _report(exc: ConfigError, path: str) -> int:
    print(f"{path}: {len(exc.problems)} problem(s):", file=sys.stderr)
    for problem in exc.problems:
        print(f"  {problem}", file=sys.stderr)
    return EXIT_CONFIG


def cmd_run(args: argparse.Namespace) -> int:
    try:
        config, registry = _load(args.config)
    except ConfigError as exc:
        setup_logging(args.log_level or "info", args.log_format or "text")
        return _report(exc, args.config)
    lc = config.logging
    try:
        setup_logging(args.log_level or lc.level, args.log_format or lc.format, lc.components)
    except ValueError as exc:
        print(f"{args.config}: logging: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    import anyio

    from edgerun.supervisor import Supervisor

    log.info(
        "edgerun %s starting: gateway %r, %d driver instance(s), config %s",
        __version__,
        config.gateway.id,
        len(config.drivers),
        args.config,
    )
    supervisor = Supervisor(config, registry)
    code: int = anyio.run(supervisor.run, backend="asyncio")
    return code


def cmd_check_config(args: argparse.Namespace) -> int:
    try:
        config, _ = _load(args.config)
    except ConfigError as exc:
        return _report(exc, args.config)
    names = ", ".join(f"{d.name} ({d.type})" for d in config.drivers) or "none"
    print(f"{args.config}: OK — gateway {config.gateway.id!r}, drivers: {names}")
    return EXIT_OK


def _driver_row(dtype: Any) -> dict[str, Any]:
    """One driver's row; a driver module that fails to import is reported in it, not raised."""
    row: dict[str, Any] = {
        "driver": dtype.type_name,
        "plugin": dtype.plugin,
        "package": dtype.distribution,
        "version": dtype.version,
        "extra": None,
        "dependencies_ok": False,
        "missing": [],
        "error": "",
    }
    try:
        row["extra"] = dtype.cls.extra
        row["missing"] = dtype.missing_modules()
    except Exception as exc:  # the driver module itself failed to import
        row["error"] = f"{type(exc).__name__}: {exc}"
    row["dependencies_ok"] = not row["missing"] and not row["error"]
    return row


def cmd_plugins(args: argparse.Namespace) -> int:
    registry = load_plugins()
    rows = [_driver_row(d) for d in sorted(registry.drivers.values(), key=lambda d: d.type_name)]
    failed = [
        {"plugin": p.name, "package": p.distribution, "error": p.error}
        for p in registry.plugins
        if p.error
    ]
    blocked = [p.name for p in registry.plugins if p.blocked]
    broken = {p.name for p in registry.plugins if p.error or p.blocked}
    not_installed = [
        {"driver": name, "install": hint}
        for name, hint in sorted(KNOWN_DRIVERS.items())
        if name not in registry.drivers and name not in broken
    ]
    if args.json:
        out = {
            "drivers": rows,
            "failed": failed,
            "blocked": blocked,
            "not_installed": not_installed,
            "errors": list(registry.errors),
        }
        print(json.dumps(out, indent=2))
        return EXIT_OK
    print(f"{'DRIVER':<12} {'PACKAGE':<22} {'VERSION':<10} {'EXTRA':<8} DEPENDENCIES")
    for r in rows:
        if r["error"]:
            deps = f"broken: {r['error']}"
        elif r["missing"]:
            deps = "missing: " + ", ".join(r["missing"])
            if r["extra"]:
                deps += f" (pip install 'edgerun[{r['extra']}]')"
        else:
            deps = "ok"
        extra = r["extra"] or "-"
        print(f"{r['driver']:<12} {r['package']:<22} {r['version']:<10} {extra:<8} {deps}")
    for n in not_installed:
        print(f"{n['driver']:<12} {'-':<22} {'-':<10} {'-':<8} not installed: {n['install']}")
    for f in failed:
        print(f"plugin {f['plugin']} ({f['package']}) failed to load: {f['error']}")
    for b in blocked:
        print(f"plugin {b} is blocked by EDGERUN_PLUGINS_ALLOW/DENY")
    for e in registry.errors:
        print(f"error: {e}")
    return EXIT_OK


def build_parser(registry: Registry | None) -> argparse.ArgumentParser:
    parser = UsageParser(
        prog="edgerun",
        description="IoT gateway runtime: drivers → normalize → durable queue → MQTT uplink.",
    )
    parser.add_argument("--version", action="version", version=f"edgerun {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    def add_log_options(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--log-level",
            choices=["debug", "info", "warning", "error"],
            help="overall log level (overrides [logging] level)",
        )
        p.add_argument(
            "--log-format",
            choices=["text", "json"],
            help="text for people, json lines for collectors",
        )

    p_run = sub.add_parser("run", help="run the gateway", description="Run the gateway.")
    p_run.add_argument("-c", "--config", required=True, help="path of the TOML config")
    add_log_options(p_run)
    p_run.set_defaults(func=cmd_run)

    p_check = sub.add_parser(
        "check-config",
        help="validate a config without starting anything",
        description="Validate a config file; every problem is printed with its key path.",
    )
    p_check.add_argument("-c", "--config", required=True, help="path of the TOML config")
    p_check.set_defaults(func=cmd_check_config)

    p_plugins = sub.add_parser(
        "plugins",
        help="list registered drivers and whether their dependencies import",
        description="List installed plugins and the driver types they register.",
    )
    p_plugins.add_argument("--json", action="store_true", help="machine-readable output")
    p_plugins.set_defaults(func=cmd_plugins)

    if registry is not None:
        for name, (help_, _main) in sorted(registry.commands.items()):
            if name in {"run", "check-config", "plugins"}:
                continue
            p = sub.add_parser(name, help=help_, add_help=False)
            p.add_argument("args", nargs=argparse.REMAINDER)
            p.set_defaults(plugin_command=name)
    return parser


_CORE_COMMANDS = frozenset({"run", "check-config", "plugins"})


def main(argv: list[str] | None = None) -> int:
    """Run one command; returns its exit code, also when stdout is a pipe closed early."""
    try:
        code = _main(argv)
        sys.stdout.flush()  # a closed pipe shows here, not at interpreter exit
    except BrokenPipeError:
        # `edgerun iqrf decode ... | head`: the reader has gone, which is not an error. Point
        # stdout at /dev/null so the interpreter's final flush cannot raise again.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
        return EXIT_OK
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    return code


def _main(argv: list[str] | None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    # Plugin-provided commands need the plugins loaded; the core commands load them
    # themselves, with the config's allow/deny lists.
    wants_plugins = not argv or argv[0] in {"-h", "--help"} or argv[0] not in _CORE_COMMANDS
    registry = load_plugins() if wants_plugins else None
    if (
        registry is not None
        and argv
        and argv[0] in registry.commands
        and argv[0] not in _CORE_COMMANDS
    ):
        # Plugin commands parse their own arguments (options included).
        _help, ref = registry.commands[argv[0]]
        return _run_plugin_command(resolve(ref), argv[1:])
    parser = build_parser(registry)
    args = parser.parse_args(argv)  # usage errors exit 64 (UsageParser.error)
    if not getattr(args, "func", None):
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    code: int = args.func(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
