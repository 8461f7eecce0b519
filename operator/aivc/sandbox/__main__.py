"""`python -m aivc.sandbox validate|evaluate --codec FILE`: what the Kubernetes Jobs run.

Prints the results JSON on stdout and, with --summary-file, writes the compact summary
(under 4 KiB) there: the pod's termination message. Exit status 0 whenever the run itself
completed, even if the codec failed (the JSON says how); 2 for bad input or a failure of
the sandbox itself. Progress lines go to stderr.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

from aivc import settings
from aivc.errors import AivcError
from aivc.evaluate.clips import parse_clip_list
from aivc.sandbox.evaluation import evaluate_codec, validate_codec
from aivc.sandbox.limits import SandboxLimits


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m aivc.sandbox",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("mode", choices=("validate", "evaluate"))
    parser.add_argument("--codec", type=Path, required=True, help="candidate codec source file")
    parser.add_argument("--clips", default="carphone",
                        help="evaluate: comma-separated clips, NAME[:FRAMES[:WxH]] (default: carphone)")
    parser.add_argument("--summary-file", type=Path, default=None,
                        help="write the compact summary here (e.g. /dev/termination-log)")
    parser.add_argument("--limit", action="append", default=[], metavar="NAME=VALUE",
                        help="override a SandboxLimits field, e.g. --limit wall_seconds=300")
    return parser


def parse_limits(pairs: list[str]) -> SandboxLimits:
    types = {f.name: f.type for f in dataclasses.fields(SandboxLimits)}
    values: dict[str, float | int] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or name not in types:
            raise AivcError(f"--limit {pair!r}: expected NAME=VALUE with NAME one of "
                            f"{', '.join(types)}")
        try:
            values[name] = float(value) if types[name] in (float, "float") else int(value)
        except ValueError:
            raise AivcError(f"--limit {pair!r}: {value!r} is not a number") from None
    try:
        return SandboxLimits(**values)  # type: ignore[arg-type]
    except ValueError as exc:
        raise AivcError(str(exc)) from None


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        limits = parse_limits(args.limit)
        if not args.codec.is_file():
            raise AivcError(f"codec file not found: {args.codec}")
        if args.mode == "validate":
            result = validate_codec(args.codec, limits)
        else:
            result = evaluate_codec(args.codec, parse_clip_list(args.clips), limits,
                                    cache_dir=settings.load().paths.cache_dir,
                                    progress=lambda line: print(line, file=sys.stderr, flush=True))
    except AivcError as exc:
        print(f"aivc.sandbox {args.mode}: error: {exc}", file=sys.stderr)
        return 2
    print(result.to_json())
    if args.summary_file is not None:
        args.summary_file.write_text(result.summary())
    return 0


if __name__ == "__main__":
    sys.exit(main())
