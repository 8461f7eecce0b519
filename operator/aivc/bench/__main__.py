"""`python -m aivc.bench --out DIR [--only SECTION]`: run the benchmark sections.

Each section is a module `aivc.bench.NAME` exposing `run() -> dict` with keys `title`,
`rows` (a list of flat dicts, one table row each) and `notes`. Sections whose module does
not exist yet are skipped, so each engineer adds theirs without touching this file beyond
the `SECTIONS` tuple. Results go to DIR/results.json and DIR/results.md.
"""

from __future__ import annotations

import argparse
import datetime
import importlib
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

SECTIONS = ("quality", "anchors", "sandbox", "operator", "campaign", "hybrid")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m aivc.bench", description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("bench"), help="output folder (default: bench)")
    parser.add_argument("--only", action="append", choices=SECTIONS, metavar="SECTION",
                        help=f"run only this section (repeatable): {', '.join(SECTIONS)}")
    args = parser.parse_args(argv)
    sections: dict[str, Any] = {}
    for name in SECTIONS:
        if args.only and name not in args.only:
            continue
        module = _import(name)
        if module is None:
            print(f"bench: section {name} not available yet, skipped", file=sys.stderr)
            continue
        print(f"bench: running {name}", file=sys.stderr)
        start = time.perf_counter()
        section = dict(module.run())
        section["seconds"] = round(time.perf_counter() - start, 2)
        sections[name] = section
    doc = {"machine": machine(), "sections": sections}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps(doc, indent=2) + "\n")
    text = markdown(doc)
    (args.out / "results.md").write_text(text)
    print(text)
    print(f"bench: wrote {args.out / 'results.json'} and {args.out / 'results.md'}", file=sys.stderr)
    return 0


def _import(name: str) -> Any:
    try:
        return importlib.import_module(f"aivc.bench.{name}")
    except ModuleNotFoundError as exc:
        if exc.name != f"aivc.bench.{name}":
            raise
        return None


def machine() -> dict[str, Any]:
    return {"date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
            "python": platform.python_version(), "platform": platform.platform(),
            "processor": platform.processor() or platform.machine(), "cpus": os.cpu_count()}


def markdown(doc: dict[str, Any]) -> str:
    m = doc["machine"]
    lines = ["# AIVC benchmarks", "",
             f"{m['date']} · Python {m['python']} · {m['platform']} · {m['cpus']} CPUs", ""]
    for name, section in doc["sections"].items():
        lines += [f"## {section.get('title', name)}", ""]
        lines += md_table(section.get("rows", []))
        if section.get("notes"):
            notes = section["notes"]
            lines += [""] + ([f"- {n}" for n in notes] if isinstance(notes, list) else [str(notes)])
        lines += ["", f"_section `{name}` took {section['seconds']} s_", ""]
    return "\n".join(lines)


def md_table(rows: list[dict[str, Any]]) -> list[str]:
    if not rows:
        return ["(no rows)"]
    keys: list[str] = []
    for row in rows:
        keys += [k for k in row if k not in keys]
    out = ["| " + " | ".join(keys) + " |", "|" + "|".join("---" for _ in keys) + "|"]
    for row in rows:
        out.append("| " + " | ".join(_fmt(row.get(k, "")) for k in keys) + " |")
    return out


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.5g}" if abs(value) < 10000 else f"{value:.0f}"
    return str(value)


if __name__ == "__main__":
    sys.exit(main())
