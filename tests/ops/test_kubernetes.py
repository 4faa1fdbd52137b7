"""deploy/kubernetes validated offline: strict schema, intended kinds, consistency with the
runtime (config valid, probes on the endpoint, grace periods, queue on the host path).

Schema checks use kubernetes-validate (PyPI) in strict mode; it only warns on an unknown
kind, hence the separate kind assertions. Overlays are rendered with ``kubectl kustomize``
when a kubectl with kustomize v4+ is installed, else that part is skipped with a reason.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from edgerun.config.load import validate
from edgerun.ops.config import HttpConfig

kubernetes_validate = pytest.importorskip(
    "kubernetes_validate", reason="pip install kubernetes-validate"
)

ROOT = Path(__file__).parents[2]
K8S = ROOT / "deploy" / "kubernetes"
BASE = K8S / "base"
K8S_VERSION = "1.30.0"
INTENDED = {
    "namespace.yaml": ["Namespace"],
    "serviceaccount.yaml": ["ServiceAccount"],
    "configmap.yaml": ["ConfigMap"],
    "secret.yaml": ["Secret"],
    "daemonset.yaml": ["DaemonSet"],
}


def docs(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d is not None]


def strict(doc: dict[str, Any]) -> None:
    kubernetes_validate.validate(doc, K8S_VERSION, strict=True)


def by_kind(documents: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {d["kind"]: d for d in documents}


def test_base_files_have_the_intended_kinds_and_pass_strict_validation() -> None:
    listed = docs(BASE / "kustomization.yaml")[0]["resources"]
    assert sorted(listed) == sorted(INTENDED)
    for name, kinds in INTENDED.items():
        found = docs(BASE / name)
        assert [d["kind"] for d in found] == kinds, name
        for d in found:
            strict(d)


def test_strict_validation_rejects_a_misplaced_field() -> None:
    ds = docs(BASE / "daemonset.yaml")[0]
    ds["spec"]["updateStrategy"]["rollingUpdate"]["bogusField"] = 1
    with pytest.raises(kubernetes_validate.ValidationError):
        strict(ds)


def _daemonset() -> dict[str, Any]:
    return docs(BASE / "daemonset.yaml")[0]


def _container(ds: dict[str, Any]) -> dict[str, Any]:
    (c,) = ds["spec"]["template"]["spec"]["containers"]
    return c


def _config(tmp_path: Path, text: str) -> Any:
    """The ConfigMap's TOML validated by the runtime, secret files pointed at tmp files."""
    import tomllib

    secrets = tmp_path / "secrets"
    secrets.mkdir(exist_ok=True)
    for name in ("mqtt-password", "ca.crt", "tls.crt", "tls.key"):
        (secrets / name).write_text("x\n")
    raw = tomllib.loads(text.replace("/run/secrets/edgerun", str(secrets)))
    return validate(raw, None, "configmap")


def test_configmap_config_is_valid_for_the_runtime(tmp_path: Path) -> None:
    cm = docs(BASE / "configmap.yaml")[0]
    config = _config(tmp_path, cm["data"]["edgerun.toml"])
    ds = _daemonset()
    pod = ds["spec"]["template"]["spec"]
    c = _container(ds)
    # the probes reach the endpoint the config opens
    http: HttpConfig = config.http
    assert http.active
    assert http.bind.host == ""  # all interfaces of the pod: the kubelet probes the pod IP
    ports = {p["name"]: p["containerPort"] for p in c["ports"]}
    assert ports["ops"] == http.bind.port
    assert c["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert c["readinessProbe"]["httpGet"]["path"] == "/readyz"
    # SIGKILL never lands inside the runtime's own grace period
    assert pod["terminationGracePeriodSeconds"] > float(config.gateway.grace_period) + 5
    # the queue directory is the host path volume
    mounts = {m["name"]: m["mountPath"] for m in c["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert mounts["queue"] == config.gateway.data_dir
    assert volumes["queue"]["hostPath"]["type"] == "DirectoryOrCreate"
    assert mounts["config"] == "/etc/edgerun"
    assert c["args"] == ["run", "--config", "/etc/edgerun/edgerun.toml"]


def test_daemonset_security_devices_and_scheduling() -> None:
    ds = _daemonset()
    pod = ds["spec"]["template"]["spec"]
    c = _container(ds)
    assert pod["securityContext"]["runAsUser"] == 10001  # the image's USER
    assert pod["securityContext"]["runAsNonRoot"] is True
    # the Secret is mounted 0440: readable by uid 10001 only through its group
    assert pod["securityContext"]["fsGroup"] == 10001
    assert {v["name"]: v for v in pod["volumes"]}["credentials"]["secret"]["defaultMode"] == 0o440
    sc = c["securityContext"]
    assert sc["privileged"] is False
    assert sc["allowPrivilegeEscalation"] is False
    assert sc["capabilities"]["drop"] == ["ALL"]
    assert sc["readOnlyRootFilesystem"] is True
    limits = c["resources"]["limits"]
    for dev in ("ttyACM0", "spidev0.0", "gpiochip0"):
        assert limits[f"smarter-devices/{dev}"] == 1
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes["dbus"]["hostPath"] == {"path": "/run/dbus/system_bus_socket", "type": "Socket"}
    assert pod["nodeSelector"]["edgerun.io/gateway"] == "true"
    assert any(t["key"] == "edgerun.io/gateway" for t in pod["tolerations"])
    (init,) = pod["initContainers"]  # prepares the host path for uid 10001
    assert "chown 10001:10001 /var/lib/edgerun" in init["command"][-1]
    # requests/limits sized from measured RSS (docs/operations.md, "Sizing")
    assert c["resources"]["requests"]["memory"] == "64Mi"
    assert c["resources"]["limits"]["memory"] == "128Mi"


def test_overlay_sources_are_well_formed(tmp_path: Path) -> None:
    site = K8S / "overlays" / "example-site"
    k = docs(site / "kustomization.yaml")[0]
    assert k["resources"] == ["../../base"]
    for patch in k["patches"]:
        (doc,) = docs(site / patch["path"])
        assert (doc["kind"], doc["metadata"]["name"]) == ("DaemonSet", "edgerun")
    _config(tmp_path, (site / "edgerun.toml").read_text())
    priv = docs(K8S / "overlays" / "privileged-devices" / "kustomization.yaml")[0]
    assert priv["resources"] == ["../../base"]


def _kustomize(folder: Path) -> list[dict[str, Any]]:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl not installed: overlay rendering needs kubectl kustomize (v4+)")
    proc = subprocess.run(
        [kubectl, "kustomize", str(folder)], capture_output=True, text=True, timeout=60, check=False
    )
    if proc.returncode != 0 and "unknown field" in proc.stderr:
        pytest.skip(f"kubectl's kustomize is too old for this kustomization: {proc.stderr[:200]}")
    assert proc.returncode == 0, proc.stderr
    return [d for d in yaml.safe_load_all(proc.stdout) if d is not None]


@pytest.mark.parametrize(
    "overlay", ["base", "overlays/example-site", "overlays/privileged-devices"]
)
def test_rendered_kustomizations_validate(overlay: str) -> None:
    rendered = _kustomize(K8S / overlay)
    assert sorted(d["kind"] for d in rendered) == sorted(k for ks in INTENDED.values() for k in ks)
    for d in rendered:
        assert d["metadata"]["namespace" if d["kind"] != "Namespace" else "name"] == "edgerun"
        strict(d)
    ds = by_kind(rendered)["DaemonSet"]
    c = _container(ds)
    if overlay.endswith("privileged-devices"):
        assert c["securityContext"]["privileged"] is True
        assert not any("smarter-devices" in k for k in c["resources"]["limits"])
        mounts = {m["mountPath"] for m in c["volumeMounts"]}
        assert {"/dev/ttyACM0", "/dev/spidev0.0", "/dev/gpiochip0"} <= mounts
    if overlay.endswith("example-site"):
        assert ds["spec"]["template"]["spec"]["nodeSelector"]["edgerun.io/site"] == "plant-7"
        assert ds["spec"]["template"]["spec"]["nodeSelector"]["kubernetes.io/arch"] == "arm64"
        assert c["image"] == "registry.example.net/edgerun:0.1.0-arm64"
        assert c["resources"]["limits"]["memory"] == "192Mi"
    ns = by_kind(rendered)["Namespace"]
    assert ns["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "privileged"
