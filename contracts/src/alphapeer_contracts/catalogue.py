"""The event catalogue: `python -m alphapeer_contracts.catalogue [--write contracts/README.md]`."""

from __future__ import annotations

import argparse
from pathlib import Path

from alphapeer_contracts import load_all
from alphapeer_contracts.registry import EVENT_TYPES

START, END = "<!-- catalogue:start -->", "<!-- catalogue:end -->"


def render() -> str:
    load_all()
    lines = ["| type | topic | key | fields | producer | consumers |", "|---|---|---|---|---|---|"]
    for ce_type in sorted(EVENT_TYPES):
        cls = EVENT_TYPES[ce_type]
        fields = ", ".join(f"`{n}`" + ("" if f.is_required() else "?") for n, f in cls.model_fields.items())
        doc = (cls.__doc__ or "").strip().splitlines()[0] if cls.__doc__ else ""
        lines.append(f"| `{ce_type}`<br>{doc} | `{cls.topic()}` | `{cls.key_field}` | {fields} | {cls.service} | "
                     f"{', '.join(cls.consumers) or '—'} |")
    return "\n".join(lines) + "\n"


def write(path: Path) -> None:
    text = path.read_text()
    before, _, rest = text.partition(START)
    _, _, after = rest.partition(END)
    path.write_text(f"{before}{START}\n{render()}{END}{after}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--write", type=Path)
    args = parser.parse_args()
    if args.write:
        write(args.write)
    else:
        print(render())


if __name__ == "__main__":
    main()
