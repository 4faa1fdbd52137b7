"""Entry points of installed distributions, read straight from their metadata directories.

``importlib.metadata`` would do the same job, but on first use it imports zipfile, csv and
the email parser and builds a ``Distribution`` object per installed package: about 1.3 MiB of
RSS that the gateway would carry for its whole life only to read a handful of small text
files once at start-up. On a 1 GB board with a 35 MB budget that is too much, so this module
reads what plugin discovery needs — ``entry_points.txt``, and ``Name``/``Version`` from the
metadata headers — with the same rules:

* ``*.dist-info`` (wheels, PEP 660 editable installs) and ``*.egg-info`` directories are
  looked for in every ``sys.path`` directory, in ``sys.path`` order;
* a distribution seen twice (an editable and a regular install) counts once, the first on
  ``sys.path`` winning — the one ``import`` would pick too;
* ``entry_points.txt`` is the INI-like format of the packaging specification: ``[group]``
  headers, ``name = module:attr [extras]`` lines, ``#``/``;`` comments.

Zipped eggs and custom ``sys.meta_path`` finders are not looked into; plugins installed with
pip never use them. A test compares the result with ``importlib.metadata`` on this venv.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Iterable, Iterator

import msgspec

#: PEP 503 normalisation, so ``Edgerun_IQRF`` and ``edgerun-iqrf`` are one distribution.
_NORMALIZE = re.compile(r"[-_.]+")

#: Metadata headers are short; a broken file must not make start-up read megabytes.
_MAX_HEADER_LINES = 200


class EntryPoint(msgspec.Struct, frozen=True):
    """One ``name = value`` line of a group, and the distribution that declared it."""

    name: str
    value: str
    group: str
    distribution: str
    version: str

    @property
    def module(self) -> str:
        """The module part of the value (``pkg.mod`` of ``pkg.mod:attr``)."""
        return self.value.partition(":")[0].strip()

    @property
    def attr(self) -> str:
        """The attribute part of the value, empty when the entry point names a module."""
        return self.value.partition(":")[2].strip()


def normalize(name: str) -> str:
    """The PEP 503 form of a distribution name."""
    return _NORMALIZE.sub("-", name).lower()


def parse_entry_points(text: str, distribution: str = "", version: str = "") -> list[EntryPoint]:
    """Parse the text of an ``entry_points.txt``; lines that are not entries are skipped."""
    found: list[EntryPoint] = []
    group = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("[") and line.endswith("]"):
            group = line[1:-1].strip()
            continue
        name, sep, value = line.partition("=")
        if not sep or not group:
            continue
        value = value.split("[", 1)[0].strip()  # drop "[extra1,extra2]"
        if name.strip() and value:
            found.append(EntryPoint(name.strip(), value, group, distribution, version))
    return found


def _headers(meta_dir: str) -> tuple[str, str]:
    """``Name`` and ``Version`` from METADATA (dist-info) or PKG-INFO (egg-info)."""
    name = version = ""
    for fname in ("METADATA", "PKG-INFO"):
        try:
            with open(os.path.join(meta_dir, fname), encoding="utf-8", errors="replace") as f:
                for count, line in enumerate(f):
                    if not line.strip() or count >= _MAX_HEADER_LINES:
                        break  # the headers end at the first blank line
                    key, _, val = line.partition(":")
                    if key == "Name" and not name:
                        name = val.strip()
                    elif key == "Version" and not version:
                        version = val.strip()
        except OSError:
            continue
        break
    return name, version


def _meta_dirs(path: Iterable[str]) -> Iterator[str]:
    for entry in path:
        try:
            names = sorted(os.listdir(entry or "."))
        except OSError:  # missing directory, zip file, no permission
            continue
        for name in names:
            if name.endswith((".dist-info", ".egg-info")):
                full = os.path.join(entry or ".", name)
                if os.path.isdir(full):
                    yield full


def entry_points(group: str, path: Iterable[str] | None = None) -> list[EntryPoint]:
    """Entry points of ``group`` of every distribution on ``path`` (default ``sys.path``)."""
    seen: set[str] = set()
    found: list[EntryPoint] = []
    for meta_dir in _meta_dirs(sys.path if path is None else path):
        name, version = _headers(meta_dir)
        if not name:  # fall back to the directory name: name-version.dist-info
            stem = os.path.basename(meta_dir).rsplit(".", 1)[0]
            name, _, version = stem.partition("-")
        key = normalize(name)
        if key in seen:
            continue
        seen.add(key)
        try:
            with open(os.path.join(meta_dir, "entry_points.txt"), encoding="utf-8") as f:
                text = f.read()
        except (OSError, UnicodeDecodeError):
            continue
        found.extend(ep for ep in parse_entry_points(text, name, version) if ep.group == group)
    return found


__all__ = ["EntryPoint", "entry_points", "normalize", "parse_entry_points"]
