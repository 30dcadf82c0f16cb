"""Every service keeps the one shape (docs/architecture.md#the-shape-of-a-service): the same
modules in the same places, a domain free of frameworks and of other services' contracts,
and a main.py that only declares the assembly."""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SERVICES = sorted(p.name for p in (ROOT / "services").iterdir() if (p / "pyproject.toml").exists())
#: What a domain may not import: frameworks, drivers, the wire format.
FORBIDDEN_IN_DOMAIN = {"fastapi", "starlette", "pydantic", "faststream", "aiokafka", "psycopg", "psycopg_pool",
                       "httpx", "uvicorn", "sqlalchemy"}
MAIN_MAX_LINES = 40


def package(service: str) -> Path:
    return ROOT / "services" / service / "src" / service


def imported_roots(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    roots = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            roots.add(node.module)
    return roots


@pytest.mark.parametrize("service", SERVICES)
def test_the_service_has_the_one_layout(service: str) -> None:
    pkg = package(service)
    for part in ("__main__.py", "domain/__init__.py", "application.py", "adapters/__init__.py", "schemas.py", "http.py",
                 "settings.py", "main.py"):
        assert (pkg / part).exists(), f"{service} lacks {part}"
    assert not (pkg / "services.py").exists() and not (pkg / "views.py").exists(), "one application layer"


@pytest.mark.parametrize("service", SERVICES)
def test_the_domain_imports_no_framework_and_no_contracts(service: str) -> None:
    for module in sorted((package(service) / "domain").rglob("*.py")):
        for name in imported_roots(module):
            root = name.split(".")[0]
            assert root not in FORBIDDEN_IN_DOMAIN, f"{module.relative_to(ROOT)} imports {name}"
            if root == "alphapeer_contracts":
                assert name == "alphapeer_contracts.vocabulary", f"{module.relative_to(ROOT)} imports {name}"
            if root == "servicekit":  # the kit's refusals, and its pure wall-clock arithmetic
                where = f"{module.relative_to(ROOT)} imports {name}"
                assert name in ("servicekit.errors", "servicekit.wallclock"), where


@pytest.mark.parametrize("service", SERVICES)
def test_main_only_declares_the_assembly(service: str) -> None:
    main = package(service) / "main.py"
    lines = main.read_text().splitlines()
    assert len(lines) < MAIN_MAX_LINES, f"{service}/main.py has {len(lines)} lines"
    assert "servicekit.service" in imported_roots(main)
    project = tomllib.loads((ROOT / "services" / service / "pyproject.toml").read_text())["project"]
    assert project["entry-points"]["alphapeer.services"] == {service: f"{service}.main:service"}
    assert project["scripts"] == {f"alphapeer-{service}": f"{service}.main:main"}


def test_the_vocabulary_is_defined_once() -> None:
    """Roles and levels live in alphapeer_contracts.vocabulary, nowhere else."""
    for path in [*ROOT.glob("services/*/src/**/*.py"), *ROOT.glob("libs/*/src/**/*.py")]:
        text = path.read_text()
        assert '"student", "tutor", "staff"' not in text, f"{path.relative_to(ROOT)} lists the roles again"
        assert '"introductory", "intermediate"' not in text, f"{path.relative_to(ROOT)} lists the levels again"
