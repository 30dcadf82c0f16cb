"""Adds a service to Alpha Peer: `python scripts/new_service.py NAME [--port N] [--summary TEXT]`.

Writes the service on the one service shape from `scripts/templates/service/` (its package,
tests, README, Dockerfile, contracts module, Kubernetes base folder, migration Job and Strimzi
topics), then wires it into the few shared files that cannot discover it: the Kubernetes
base, migrations and topics lists and the overlays, the compose file and the README's
table. Everything else (Makefile, `make up`, linting, the contracts package, the test
suite) finds the new service by itself. The steps around it are
in docs/adding-a-service.md; a test follows that page to the letter, so neither can go stale.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TEMPLATES = Path(__file__).resolve().parent / "templates" / "service"
NAME = re.compile(r"^[a-z][a-z0-9]{1,30}$")


class WiringError(RuntimeError):
    """A shared file no longer has the shape this script edits; fix the script."""


def render(text: str, values: dict[str, str]) -> str:
    for key, value in values.items():
        text = text.replace("{{" + key + "}}", value)
    return text


def used_ports(root: Path) -> set[int]:
    ports = set()
    for settings in root.glob("services/*/src/*/settings.py"):
        found = re.search(r"^\s*http_port: int = (\d+)", settings.read_text(), re.M)
        if found:
            ports.add(int(found.group(1)))
    return ports


def create(root: Path, values: dict[str, str]) -> list[Path]:
    written = []
    for template in sorted(p for p in TEMPLATES.rglob("*.tmpl") if p.is_file()):
        target = root / render(str(template.relative_to(TEMPLATES)), values).removesuffix(".tmpl")
        if target.exists():
            raise FileExistsError(f"{target} exists already")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(render(template.read_text(), values))
        written.append(target)
    return written


def insert_after_last(path: Path, pattern: str, new: str) -> None:
    """Inserts ``new`` after the last line matching ``pattern`` (a regex)."""
    lines = path.read_text().splitlines(keepends=True)
    hits = [i for i, line in enumerate(lines) if re.match(pattern, line)]
    if not hits:
        raise WiringError(f"{path}: no line matches {pattern!r}")
    lines.insert(hits[-1] + 1, new)
    path.write_text("".join(lines))


def wire(root: Path, name: str, port: str) -> list[str]:
    """The lines a new service needs in shared files; returns where they went."""
    base = root / "deploy/k8s/base/kustomization.yaml"
    insert_after_last(base, r"^  - [a-z0-9]+$", f"  - {name}\n")
    # Its migration Job and its Strimzi topics (the files come from the templates).
    migrations = root / "deploy/k8s/base/migrations/kustomization.yaml"
    insert_after_last(migrations, r"^  - [a-z0-9]+\.yaml$", f"  - {name}.yaml\n")
    insert_after_last(migrations, r"^    newTag: \"[0-9.]+\"$", f"  - name: alphapeer/{name}\n    newTag: \"0.1.0\"\n")
    topics = root / "deploy/k8s/components/strimzi-topics/kustomization.yaml"
    insert_after_last(topics, r"^  - [a-z0-9]+\.yaml$", f"  - {name}.yaml\n")
    dev = root / "deploy/k8s/overlays/dev/kustomization.yaml"
    insert_after_last(dev, r"^      - database-url=", f"  - name: {name}-secrets\n    literals:\n"
                      "      - database-url=postgresql://alphapeer:alphapeer-dev@postgres:5432/alphapeer\n")
    insert_after_last(dev, r"^    newTag: dev$", f"  - name: alphapeer/{name}\n    newTag: dev\n")
    prod = root / "deploy/k8s/overlays/prod/kustomization.yaml"
    insert_after_last(prod, r"^    newTag: \"[0-9.]+\"$", f"  - name: alphapeer/{name}\n    newTag: \"0.1.0\"\n")
    hpa = root / "deploy/k8s/overlays/prod/hpa.yaml"
    hpa.write_text(hpa.read_text().rstrip("\n") + "\n" + render((TEMPLATES / "hpa.yaml.part").read_text(),
                                                                {"name": name}))
    compose = root / "docker-compose.yml"
    insert_after_last(compose, r"^    ports: \[\"127\.0\.0\.1:\d+:8000\"\]$",
                      f"\n  {name}:\n    <<: *alphapeer-service\n"
                      f"    build: {{context: ., dockerfile: services/{name}/Dockerfile}}\n"
                      f"    image: alphapeer/{name}:dev\n"
                      f"    environment: {{<<: *alphapeer-env, ALPHAPEER_SERVICE_NAME: {name}}}\n"
                      f"    volumes: [{name}-data:/var/lib/alphapeer]\n"
                      f"    ports: [\"127.0.0.1:{port}:8000\"]\n")
    insert_after_last(compose, r"^  [a-z0-9]+-data:$", f"  {name}-data:\n")
    readme = root / "README.md"
    insert_after_last(readme, r"^\| `services/[a-z0-9]+/` \|",
                      f"| `services/{name}/` | [{name}](services/{name}/README.md) |\n")
    return [str(p.relative_to(root)) for p in (base, migrations, topics, dev, prod, hpa, compose, readme)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("name", help="lower-case letters and digits, e.g. booking")
    parser.add_argument("--port", type=int, help="its port under `make up` (default: the next free one)")
    parser.add_argument("--summary", default="what it owns, in one line (edit its README).")
    parser.add_argument("--root", type=Path, default=ROOT, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    root: Path = args.root.resolve()
    if not NAME.match(args.name):
        parser.error("NAME must be 2-31 lower-case letters and digits, starting with a letter")
    if (root / "services" / args.name).exists():
        parser.error(f"services/{args.name} exists already")
    ports = used_ports(root)
    port = args.port or max(ports | {8000}) + 1
    if port in ports:
        parser.error(f"port {port} is taken")
    values = {"name": args.name, "Name": args.name.capitalize(), "port": str(port),
              "summary": args.summary, "namespace": str(uuid.uuid4())}
    written = create(root, values)
    # Imports sort by the new name's place among the packages: let the linter order them.
    subprocess.run([sys.executable, "-m", "ruff", "check", "--quiet", "--fix", "--select", "I",
                    *[str(p) for p in written if p.suffix == ".py"]], cwd=root, check=False)
    wired = wire(root, args.name, str(port))
    print(f"created {len(written)} files for {args.name} (port {port}):")
    for path in written:
        print(f"  {path.relative_to(root)}")
    print("wired into: " + ", ".join(wired))
    print("next: make install && make schemas && make test   (docs/adding-a-service.md)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
