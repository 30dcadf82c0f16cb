"""Every gateway against its own OpenAPI document: schemathesis, every check, positive and
negative data. Zero failures: a disagreement between what a gateway does and what its
document says is a bug in one of them. ALPHAPEER_FUZZ_EXAMPLES raises the examples per
operation (20 by default, derandomized, so a run is reproducible)."""

from __future__ import annotations

import os

import httpx
import pytest

from tests.api.conftest import SERVICES, Gateway
from tests.api.fuzz import fuzz

EXAMPLES = int(os.environ.get("ALPHAPEER_FUZZ_EXAMPLES", "20"))


@pytest.mark.parametrize("service", SERVICES)
def test_the_gateway_does_what_its_document_says(service: str, gateways: dict[str, Gateway]) -> None:
    gateway = gateways[service]
    failures = fuzz(gateway.url, gateway.headers, max_examples=EXAMPLES)
    assert not failures, f"{len(failures)} disagreement(s):\n" + "\n\n".join(map(str, failures))


@pytest.mark.parametrize("service", SERVICES)
def test_protected_routes_declare_the_bearer_scheme_and_public_ones_none(
        service: str, gateways: dict[str, Gateway]) -> None:
    client = httpx.Client(base_url=gateways[service].url)
    document = client.get("/openapi.json").json()
    assert document["components"]["securitySchemes"]["bearerAuth"] == {
        "type": "http", "scheme": "bearer", "bearerFormat": "JWT",
        "description": document["components"]["securitySchemes"]["bearerAuth"]["description"]}
    for path, item in document["paths"].items():
        for method, operation in item.items():
            declared = bool(operation.get("security"))
            # Called without a token: a protected route answers 401, a public one anything else —
            # except a provider's webhook, public but signed, which documents its own 401.
            concrete = path.replace("{", "").replace("}", "")
            response = client.request(method.upper(), concrete)
            where = f"{method.upper()} {path}: {response.status_code}"
            if declared:
                assert response.status_code == 401, where
            elif "401" in operation["responses"]:  # signed by a provider: its own answer, never a crash
                assert response.status_code < 500, where
            else:
                assert response.status_code != 401, where


@pytest.mark.parametrize("service", SERVICES)
def test_the_committed_document_is_current(service: str, gateways: dict[str, Gateway]) -> None:
    """docs/api/<service>.openapi.json is what the gateway serves (`make apidocs` writes it)."""
    import json
    from pathlib import Path

    app = gateways[service].app
    committed = Path(__file__).resolve().parents[2] / "docs" / "api" / f"{service}.openapi.json"
    assert committed.exists(), f"{committed} missing: run `make apidocs`"
    assert json.loads(committed.read_text()) == app.openapi(), f"{committed.name} is stale: run `make apidocs`"
