"""JSON Schemas of the contracts, committed beside them, and the compatibility rule.

`python -m alphapeer_contracts.schemas` writes ``contracts/schemas/<service>/<Name>.vN.json``
and refuses to overwrite a committed schema with one that would break its consumers:
only additive changes are allowed within a version; anything else is a new ``.vN`` type."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from alphapeer_contracts import load_all
from alphapeer_contracts.base import IntegrationEvent
from alphapeer_contracts.registry import EVENT_TYPES

SCHEMA_ROOT = Path(__file__).resolve().parents[2] / "schemas"


class IncompatibleSchema(Exception):
    pass


def schema_for(cls: type[IntegrationEvent]) -> dict[str, Any]:
    schema = cls.model_json_schema(mode="serialization")
    schema["$id"] = cls.ce_type()
    schema["x-topic"] = cls.topic()
    schema["x-key"] = cls.key_field
    return schema


def path_for(cls: type[IntegrationEvent], root: Path = SCHEMA_ROOT) -> Path:
    return root / cls.service / f"{cls.name}.v{cls.version}.json"


def render(schema: dict[str, Any]) -> str:
    return json.dumps(schema, indent=2, sort_keys=True) + "\n"


# -- compatibility -------------------------------------------------------------------


def _resolve(node: dict[str, Any], root: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        name = node["$ref"].rsplit("/", 1)[-1]
        node = root.get("$defs", {}).get(name, {})
    return node


def _types(node: dict[str, Any], root: dict[str, Any]) -> set[str]:
    node = _resolve(node, root)
    if "anyOf" in node:
        out: set[str] = set()
        for option in node["anyOf"]:
            out |= _types(option, root)
        return out
    if "enum" in node or "const" in node:
        return {f"enum:{v}" for v in node.get("enum", [node.get("const")])}
    t = node.get("type")
    if isinstance(t, list):
        return set(t)
    if t == "object" and "properties" in node:
        return {"object"}
    return {t or "any"}


def breaking_changes(old: dict[str, Any], new: dict[str, Any], where: str = "") -> list[str]:
    """Why a consumer written against ``old`` could not read what ``new`` allows."""
    return _compare(old, new, old, new, where)


def _compare(old: dict[str, Any], new: dict[str, Any], old_root: dict[str, Any], new_root: dict[str, Any],
             where: str) -> list[str]:
    reasons: list[str] = []
    old, new = _resolve(old, old_root), _resolve(new, new_root)
    old_props, new_props = old.get("properties", {}), new.get("properties", {})
    for name, old_prop in old_props.items():
        field = f"{where}{name}"
        if name not in new_props:
            reasons.append(f"{field}: removed")
            continue
        new_prop = new_props[name]
        old_t, new_t = _types(old_prop, old_root), _types(new_prop, new_root)
        old_enum = {t for t in old_t if t.startswith("enum:")}
        new_enum = {t for t in new_t if t.startswith("enum:")}
        if old_enum and new_enum:
            # Adding a value is allowed: consumers must tolerate values they do not know.
            # Removing one breaks readers of the history, which still holds it.
            removed = old_enum - new_enum
            if removed:
                reasons.append(f"{field}: enum values removed {sorted(v[5:] for v in removed)}")
        elif (old_t - {"null"}) != (new_t - {"null"}) and not (old_t - {"null"}) <= {"any"}:
            reasons.append(f"{field}: type changed from {sorted(old_t)} to {sorted(new_t)}")
        if "null" in old_t and "null" not in new_t:
            reasons.append(f"{field}: no longer nullable")
        sub_old, sub_new = _resolve(old_prop, old_root), _resolve(new_prop, new_root)
        for o, n in ((sub_old, sub_new), (sub_old.get("items", {}), sub_new.get("items", {}))):
            if isinstance(o, dict) and "properties" in _resolve(o, old_root):
                reasons += _compare(o, n, old_root, new_root, f"{field}.")
        for option_old in sub_old.get("anyOf", []):
            if "properties" in _resolve(option_old, old_root):
                match = next((opt for opt in sub_new.get("anyOf", [sub_new])
                              if "properties" in _resolve(opt, new_root)), None)
                if match is not None:
                    reasons += _compare(option_old, match, old_root, new_root, f"{field}.")
    old_required, new_required = set(old.get("required", [])), set(new.get("required", []))
    for name in sorted(new_required - old_required):
        reasons.append(f"{where}{name}: " + ("new required field" if name not in old_props else "made required"))
    return reasons


# -- export ----------------------------------------------------------------------------


def export(root: Path = SCHEMA_ROOT) -> list[Path]:
    load_all()
    written = []
    for cls in sorted(EVENT_TYPES.values(), key=lambda c: c.ce_type()):
        path = path_for(cls, root)
        schema = schema_for(cls)
        if path.exists():
            committed = json.loads(path.read_text())
            reasons = breaking_changes(committed, schema)
            if reasons:
                raise IncompatibleSchema(
                    f"{cls.ce_type()} would break its consumers: " + "; ".join(reasons)
                    + f". Keep v{cls.version} as it was and add a v{cls.version + 1} type instead."
                )
            if committed == schema:
                continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(render(schema))
        written.append(path)
    return written


def main() -> int:
    try:
        written = export()
    except IncompatibleSchema as exc:
        print(f"refused: {exc}", file=sys.stderr)
        return 1
    for path in written:
        print(f"wrote {path}")
    print(f"{len(EVENT_TYPES)} event types, {len(written)} schema file(s) changed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
