"""`python -m aivc.sandbox MODE --codec FILE ...`: what the Kubernetes Jobs run.

``validate`` and ``evaluate`` run a whole measurement in this process (local use, tests).
A sandbox pod splits it over three containers (`aivc.sandbox.podsteps`): ``encode`` and
``decode`` run candidate code, ``measure`` runs none and reports. ``validate``,
``evaluate`` and ``measure`` print the results JSON on stdout and, with --summary-file,
write the compact summary (under 4 KiB) there: the pod's termination message. Exit status
0 whenever the run itself completed, even if the codec failed (the JSON says how); 2 for
bad input or a failure of the sandbox itself (its message also goes to --summary-file).
Progress lines go to stderr.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from aivc import settings
from aivc.codec.contract import Video
from aivc.errors import AivcError
from aivc.evaluate.clips import load_clip, parse_clip_list, synthetic_clip
from aivc.evaluate.results import EvaluationResult
from aivc.sandbox import podsteps
from aivc.sandbox.evaluation import (
    REDECODE,
    VALIDATION_CLIP,
    evaluate_codec,
    parse_levels,
    validate_codec,
)
from aivc.sandbox.limits import SandboxLimits

MODES = ("validate", "evaluate", "encode", "decode", "measure")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m aivc.sandbox",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("mode", choices=MODES)
    parser.add_argument("--codec", type=Path, required=True, help="candidate codec source file")
    parser.add_argument("--clips", default="carphone",
                        help="comma-separated clips, NAME[@START][:FRAMES[:WxH]] (default: carphone)")
    parser.add_argument("--validation", action="store_true",
                        help="encode/measure: the validation clip and levels instead of --clips")
    parser.add_argument("--levels", default=None,
                        help="levels to run, e.g. 0,-1 (negative counts from the last; "
                             "default: all)")
    parser.add_argument("--redecode", choices=REDECODE, default="all",
                        help="decode every level twice, or one level per clip (default: all)")
    parser.add_argument("--bitstreams", type=Path, help="pod steps: the bitstream volume")
    parser.add_argument("--decoded", type=Path, help="pod steps: the decoded-planes volume")
    parser.add_argument("--report", type=Path, help="pod steps: the encode report volume")
    parser.add_argument("--summary-file", type=Path, default=None,
                        help="write the compact summary here (e.g. /dev/termination-log)")
    parser.add_argument("--limit", action="append", default=[], metavar="NAME=VALUE",
                        help="override a SandboxLimits field, e.g. --limit wall_seconds=300")
    parser.add_argument("--accept-weaker-sandbox", action="store_true",
                        help="run even where a required isolation layer is missing "
                             "(the results record what was missing)")
    return parser


def parse_limits(pairs: list[str], accept_weaker: bool = False) -> SandboxLimits:
    base = {"accept_weaker": accept_weaker or settings.load().sandbox.accept_weaker}
    try:
        return SandboxLimits.parse(pairs, **base)
    except ValueError as exc:
        raise AivcError(f"--limit {exc}") from None


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        result = _run(args)
    except AivcError as exc:
        message = f"aivc.sandbox {args.mode}: error: {exc}"
        print(message, file=sys.stderr)
        if args.summary_file is not None:
            args.summary_file.write_text(message[:4000])
        return 2
    if args.mode in ("encode", "decode"):
        print(f"aivc.sandbox {args.mode}: {'ok' if result.ok else result.first_error()}",
              file=sys.stderr)
        return 0
    print(result.to_json())
    if args.summary_file is not None:
        args.summary_file.write_text(result.summary())
    return 0


def _run(args: argparse.Namespace) -> EvaluationResult:
    limits = parse_limits(args.limit, args.accept_weaker_sandbox)
    levels = parse_levels(args.levels)
    if not args.codec.is_file():
        raise AivcError(f"codec file not found: {args.codec}")
    if args.mode == "validate":
        return validate_codec(args.codec, limits)
    if args.mode == "evaluate":
        return evaluate_codec(args.codec, parse_clip_list(args.clips), limits,
                              cache_dir=settings.load().paths.cache_dir, progress=_progress,
                              levels=levels, redecode=args.redecode)
    if args.mode == "decode":
        return podsteps.decode_step(args.codec, _need(args.bitstreams, "--bitstreams"),
                                    _need(args.decoded, "--decoded"), limits, args.redecode)
    videos = _videos(args)
    if args.mode == "encode":
        return podsteps.encode_step(args.codec, videos, [0, -1] if args.validation else levels,
                                    _need(args.bitstreams, "--bitstreams"),
                                    _need(args.report, "--report"), limits)
    return podsteps.measure_step("validate" if args.validation else "evaluate", args.codec,
                                 videos, _need(args.bitstreams, "--bitstreams"),
                                 _need(args.decoded, "--decoded"), _need(args.report, "--report"))


def _videos(args: argparse.Namespace) -> list[tuple[str, Video]]:
    if args.validation:
        return [(VALIDATION_CLIP, synthetic_clip(64, 48, 4, 25.0, seed=0))]
    cache = settings.load().paths.cache_dir
    return [(str(spec), load_clip(spec, cache)) for spec in parse_clip_list(args.clips)]


def _need(path: Path | None, flag: str) -> Path:
    if path is None:
        raise AivcError(f"{flag} is required in this mode")
    return path


def _progress(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


if __name__ == "__main__":
    sys.exit(main())
