"""Entry-point discovery without importlib.metadata: same answers, on this venv and on
hand-made site directories with the awkward cases."""

from __future__ import annotations

import importlib.metadata as md
import subprocess
import sys
from pathlib import Path

import pytest

from edgerun import entrypoints
from edgerun.entrypoints import entry_points, parse_entry_points


def _dist(site: Path, dirname: str, name: str | None, version: str, eps: str | None) -> Path:
    meta = site / dirname
    meta.mkdir(parents=True)
    if name is not None:
        header = "PKG-INFO" if dirname.endswith(".egg-info") else "METADATA"
        (meta / header).write_text(
            f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n\nName: not-a-header\n"
        )
    if eps is not None:
        (meta / "entry_points.txt").write_text(eps)
    return meta


@pytest.mark.parametrize("group", ["edgerun", "console_scripts", "pytest11"])
def test_same_as_importlib_metadata_on_this_venv(group: str) -> None:
    theirs = sorted(
        (
            ep.name,
            ep.value,
            ep.dist.metadata["Name"] if ep.dist else "",
            ep.dist.version if ep.dist else "",
        )
        for ep in md.entry_points(group=group)
    )
    ours = sorted((ep.name, ep.value, ep.distribution, ep.version) for ep in entry_points(group))
    # importlib keeps "[extras]" in the value; the loader never needs them.
    theirs = [(n, v.split("[")[0].strip(), d, ver) for n, v, d, ver in theirs]
    assert ours == theirs
    if group == "edgerun":
        assert {"core", "synthetic"} <= {name for name, *_ in ours}


def test_parse_comments_extras_and_junk() -> None:
    text = (
        "# comment\n; other comment\nstray = line.before:group\n"
        "[edgerun]\n  iqrf = edgerun_iqrf.plugin  \nble=edgerun_ble.plugin:hooks [ble, fast]\n"
        "no equals sign\n = empty.name\nempty =\n"
        "[console_scripts]\nedgerun = edgerun.cli.main:main\n"
    )
    eps = parse_entry_points(text, "d", "1")
    assert [(e.group, e.name, e.value) for e in eps] == [
        ("edgerun", "iqrf", "edgerun_iqrf.plugin"),
        ("edgerun", "ble", "edgerun_ble.plugin:hooks"),
        ("console_scripts", "edgerun", "edgerun.cli.main:main"),
    ]
    assert (eps[1].module, eps[1].attr, eps[0].attr) == ("edgerun_ble.plugin", "hooks", "")


def test_first_on_path_wins_and_names_are_normalized(tmp_path: Path) -> None:
    first, second = tmp_path / "a", tmp_path / "b"
    _dist(
        first, "Acme_Sensors-2.0.dist-info", "Acme_Sensors", "2.0", "[edgerun]\nacme = acme.new\n"
    )
    _dist(
        second, "acme.sensors-1.0.dist-info", "acme.sensors", "1.0", "[edgerun]\nacme = acme.old\n"
    )
    _dist(second, "other-0.1.dist-info", "other", "0.1", "[edgerun]\nother = other.p\n")
    eps = entry_points("edgerun", [str(first), str(second), str(tmp_path / "missing")])
    assert [(e.name, e.value, e.version) for e in eps] == [
        ("acme", "acme.new", "2.0"),
        ("other", "other.p", "0.1"),
    ]


def test_shadowing_install_without_entry_points_hides_the_later_one(tmp_path: Path) -> None:
    # An upgraded package that dropped its entry point must not resurrect the old one.
    _dist(tmp_path / "a", "acme-2.0.dist-info", "acme", "2.0", None)
    _dist(tmp_path / "b", "acme-1.0.dist-info", "acme", "1.0", "[edgerun]\nacme = acme.old\n")
    assert entry_points("edgerun", [str(tmp_path / "a"), str(tmp_path / "b")]) == []


def test_egg_info_and_missing_metadata_fall_back_to_the_directory_name(tmp_path: Path) -> None:
    _dist(tmp_path, "legacy.egg-info", "legacy", "0.3", "[edgerun]\nlegacy = legacy.plugin\n")
    _dist(tmp_path, "bare-1.2.dist-info", None, "", "[edgerun]\nbare = bare.plugin\n")
    (tmp_path / "file.dist-info").write_text("not a directory")
    (tmp_path / "junk-1.0.dist-info").mkdir()
    (tmp_path / "junk-1.0.dist-info" / "entry_points.txt").write_bytes(b"\xff\xfe[edgerun\x00")
    eps = {e.name: (e.distribution, e.version) for e in entry_points("edgerun", [str(tmp_path)])}
    assert eps == {"legacy": ("legacy", "0.3"), "bare": ("bare", "1.2")}


def test_gateway_start_does_not_import_importlib_metadata() -> None:
    # The point of the module: keep zipfile, csv and the email parser out of the gateway.
    code = (
        "import sys; from edgerun.plugins import load_plugins; reg = load_plugins();"
        "assert 'synthetic' in reg.drivers, reg.drivers;"
        "heavy = ('importlib.metadata', 'email.parser', 'zipfile');"
        "print(sorted(m for m in heavy if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_normalize() -> None:
    assert entrypoints.normalize("Edgerun__IQRF.plugin") == "edgerun-iqrf-plugin"
