"""deploy/k8s: every manifest passes Kubernetes' own OpenAPI-derived JSON schemas (strict: an
unknown or misspelt field fails), and the pieces fit: probes, hardening, names that refer to
each other, and SPII_* variables that spii actually reads."""

from __future__ import annotations

import copy
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from collector.config import Settings

K8S = Path(__file__).resolve().parents[2] / "deploy" / "k8s"
VERSION = "1.31.0"


def _docs() -> list[dict]:
    resources = yaml.safe_load((K8S / "kustomization.yaml").read_text())["resources"]
    return [doc for name in resources for doc in yaml.safe_load_all((K8S / name).read_text()) if doc]


def _by_kind(kind: str) -> list[dict]:
    return [d for d in _docs() if d["kind"] == kind]


def test_every_manifest_is_valid_kubernetes_strictly() -> None:
    kinds = set()
    for doc in _docs():
        kubernetes_validate.validate(doc, VERSION, strict=True)
        kinds.add(doc["kind"])
    assert {"Deployment", "Service", "Secret", "ConfigMap", "CronJob", "PodDisruptionBudget"} <= kinds
    assert set(yaml.safe_load((K8S / "kustomization.yaml").read_text())["resources"]) == {
        p.name for p in K8S.glob("*.yaml") if p.name != "kustomization.yaml"}


def test_the_validator_rejects_a_misspelt_field() -> None:
    broken = copy.deepcopy(_by_kind("Deployment")[0])
    broken["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]["httpGett"] = {"path": "/readyz"}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, VERSION, strict=True)


def test_collector_pods_are_probed_limited_and_locked_down() -> None:
    pod = _by_kind("Deployment")[0]["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert {"cpu", "memory"} <= set(container["resources"]["requests"]) and {"cpu", "memory"} <= set(container["resources"]["limits"])
    assert container["securityContext"] == {"readOnlyRootFilesystem": True, "allowPrivilegeEscalation": False,
                                            "capabilities": {"drop": ["ALL"]}}
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["automountServiceAccountToken"] is False
    env = {e["name"]: e for e in container["env"]}
    shutdown = float(env["SPII_SHUTDOWN_SECONDS"]["value"])
    assert shutdown + 10 < pod["terminationGracePeriodSeconds"]  # the spool ships before SIGKILL
    writable = {m["mountPath"] for m in container["volumeMounts"] if not m.get("readOnly")}
    assert writable == {"/var/lib/spii", "/tmp"}


def test_names_refer_to_each_other() -> None:
    deployment = _by_kind("Deployment")[0]
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert deployment["spec"]["selector"]["matchLabels"].items() <= labels.items()
    for selector in (_by_kind("Service")[0]["spec"]["selector"], _by_kind("PodDisruptionBudget")[0]["spec"]["selector"]["matchLabels"]):
        assert selector.items() <= labels.items()
    secrets = {d["metadata"]["name"]: d["stringData"] for d in _by_kind("Secret")}
    config_maps = {d["metadata"]["name"]: d["data"] for d in _by_kind("ConfigMap")}
    pods = [deployment["spec"]["template"]["spec"], _by_kind("CronJob")[0]["spec"]["jobTemplate"]["spec"]["template"]["spec"]]
    for pod in pods:
        for container in pod.get("initContainers", []) + pod["containers"]:
            for env in container.get("env", []):
                ref = env.get("valueFrom", {}).get("secretKeyRef")
                if ref:
                    assert ref["key"] in secrets[ref["name"]], ref
        for volume in pod["volumes"]:
            if "secret" in volume:
                assert volume["secret"]["secretName"] in secrets
            if "configMap" in volume:
                assert volume["configMap"]["name"] in config_maps
    role = _by_kind("Role")[0]["rules"][0]
    assert role["resourceNames"] == ["spii-keyring"] and "spii-keyring" in secrets  # the job may touch only the keyring


def test_spii_variables_are_real_settings_and_pods_never_rotate_keys() -> None:
    known = {f"SPII_{name.upper()}" for name in Settings.model_fields}
    deployment = _by_kind("Deployment")[0]["spec"]["template"]["spec"]
    job = _by_kind("CronJob")[0]["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    for container in deployment["containers"] + job["initContainers"]:
        names = {e["name"] for e in container["env"] if e["name"].startswith("SPII_")}
        assert names <= known, names - known
    env = {e["name"]: e.get("value") for e in deployment["containers"][0]["env"]}
    assert env["SPII_KEYS_AUTO_ROTATE"] == "false" and env["SPII_KEYS_PRUNE_HOURS"] == "0"
    assert env["SPII_KEYRING_FILE"].startswith("/etc/spii/keyring/")
    assert "spii keys rotate --ahead 7" in job["initContainers"][0]["args"][0]
    assert "spii keys prune" in job["initContainers"][0]["args"][0]
