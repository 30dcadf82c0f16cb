"""Schemathesis against a gateway over HTTP, every check, positive and negative data.

Driven through schemathesis' Python API rather than its pytest plugin (which does not
run under the pytest pinned here): each operation's strategy is run with Hypothesis,
derandomized so a run is reproducible, and every failure is collected, so one test
reports every disagreement between a gateway and its own document."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import schemathesis
import schemathesis.specs.openapi.checks  # registers the OpenAPI checks
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import CHECKS

ALL_CHECKS = CHECKS.get_all()


@dataclass
class Failure:
    operation: str
    mode: str
    message: str

    def __str__(self) -> str:
        return f"{self.operation} [{self.mode}]: {self.message}"


#: The project's schemathesis.toml: the few operations whose rules JSON Schema cannot express.
CONFIG = Path(__file__).resolve().parents[2] / "schemathesis.toml"


def _credentials(case: Any, headers: dict[str, str], mode: GenerationMode) -> dict[str, str]:
    """The caller's token in place of the generated one. A negative case may leave the
    Authorization header out on purpose (the scheme makes it a required header): then it is
    sent without, as generated, so the gateway's 401 is what the check sees."""
    generated = {name.lower() for name in (case.headers or {})}
    if mode is GenerationMode.NEGATIVE and "authorization" not in generated:
        return {k: v for k, v in headers.items() if k.lower() != "authorization"}
    return dict(headers)


def fuzz(url: str, headers: dict[str, str], max_examples: int = 20,
         modes: tuple[GenerationMode, ...] = (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)) -> list[Failure]:
    """Every operation of the gateway served at ``url``, over real HTTP."""
    schema = schemathesis.openapi.from_url(f"{url}/openapi.json", config=schemathesis.Config.from_path(CONFIG))
    failures: list[Failure] = []
    for result in schema.get_all_operations():
        operation = result.ok()
        for mode in modes:

            @given(case=operation.as_strategy(generation_mode=mode))
            @settings(max_examples=max_examples, deadline=None, derandomize=True, database=None,
                      suppress_health_check=list(HealthCheck))
            def run(case: Any) -> None:  # called at once, in this iteration
                sent = _credentials(case, headers, mode)  # noqa: B023
                case.call_and_validate(headers=sent, checks=ALL_CHECKS)

            try:
                run()
            except Unsatisfiable:
                pass  # nothing to generate in this mode (e.g. no parameter to make invalid)
            except (Exception, BaseExceptionGroup) as exc:  # schemathesis groups its distinct failures
                failures.append(Failure(operation.label, mode.value, " ".join(str(exc).split())[:1500]))
    return failures
