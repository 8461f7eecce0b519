"""`aivc evaluate CODEC.py`: measure a codec file on clips and compare it with the anchors.

Prints kbps, PSNR and SSIM per clip and level, and BD-rate (PSNR-Y) against the anchor
encoders; writes results.json (the `EvaluationResult`), score.json and rd.png to --out.
Exit status: 0 when every level ran, 1 when the codec failed somewhere (the errors are
printed), 2 for bad input (missing file, unknown clip, a codec without the contract).
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path

from aivc import settings
from aivc.errors import AivcError
from aivc.evaluate.anchors import ENCODERS, anchor_curves, parse_encoders
from aivc.evaluate.clips import ClipSpec, parse_clip_list
from aivc.evaluate.rdplot import plot_result
from aivc.evaluate.results import EvaluationResult
from aivc.evaluate.scoring import score
from aivc.evaluate.tables import levels_table, score_table
from aivc.sandbox import SandboxLimits, evaluate_codec
from aivc.sandbox.evaluation import REDECODE, parse_levels

Runner = Callable[[Path, list[ClipSpec], Path | None], EvaluationResult]
"""Runs a codec file on clips; candidates run only in the sandbox (`aivc.sandbox`)."""


def pick_runner(accept_weaker: bool = False, levels: list[int] | None = None,
                redecode: str = "all") -> Runner:
    """The evaluator: separate, locked-down encode and decode processes (`aivc.sandbox`).
    `accept_weaker` runs it even where a required isolation layer is missing (the results
    record which); the settings' AIVC_SANDBOX_ACCEPT_WEAKER does the same."""
    weaker = accept_weaker or settings.load().sandbox.accept_weaker
    limits = SandboxLimits(accept_weaker=weaker)
    return lambda codec, clips, cache: evaluate_codec(codec, clips, limits, cache_dir=cache,
                                                      levels=levels, redecode=redecode)


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("evaluate", help="measure a codec file against the anchors",
                              description=__doc__.splitlines()[0])
    p.add_argument("codec", type=Path, help="candidate codec source file (LEVELS, encode, decode)")
    p.add_argument("--clips", default="carphone",
                   help="comma-separated clips, NAME[@START][:FRAMES[:WxH]] (default: carphone)")
    p.add_argument("--anchors", default="x264,x265",
                   help=f"anchor encoders to compare with, from {','.join(ENCODERS)} "
                        "(default: x264,x265)")
    p.add_argument("--out", type=Path, default=None,
                   help="where results.json, score.json and rd.png go (default: runs/evaluate/STEM)")
    p.add_argument("--levels", default=None,
                   help="levels to run, e.g. 0,-1 (negative counts from the last; default: all)")
    p.add_argument("--redecode", choices=REDECODE, default="all",
                   help="determinism check: decode every level twice, or one per clip")
    p.add_argument("--accept-weaker-sandbox", action="store_true",
                   help="run even where a required sandbox layer is missing here (e.g. no user "
                        "namespaces for a normal user); the results record what was missing")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    codec: Path = args.codec
    if not codec.is_file():
        raise AivcError(f"codec file not found: {codec}")
    clips = parse_clip_list(args.clips)
    encoders = parse_encoders(args.anchors)
    cache = settings.load().paths.cache_dir
    out: Path = args.out or Path("runs") / "evaluate" / codec.stem
    out.mkdir(parents=True, exist_ok=True)

    levels = parse_levels(args.levels)
    result = pick_runner(args.accept_weaker_sandbox, levels, args.redecode)(codec, clips, cache)
    (out / "results.json").write_text(result.to_json())
    fatal = result.first_error()
    if fatal is not None and fatal.stage == "import":
        raise AivcError(f"{codec} cannot be loaded: {_one_line(fatal.message)}")
    if fatal is not None and fatal.stage == "validate":
        raise AivcError(f"{codec} does not meet the codec contract: {_one_line(fatal.message)}")

    anchors = {str(c): anchor_curves(c, encoders, cache, progress=True) for c in clips}
    scored = score(result, anchors)
    (out / "score.json").write_text(json.dumps(scored.to_dict(), indent=2))
    plot_result(out / "rd.png", result, anchors, label=codec.stem, title=f"{codec.name} vs anchors")

    print(levels_table(result))
    print()
    print(score_table(scored))
    for err in result.errors:
        where = f"{err.clip} level {err.level}" if err.clip else err.stage
        print(f"error ({err.category}, {err.stage}) at {where}: {_one_line(err.message)}")
    print(f"\nwrote {out / 'results.json'}, {out / 'score.json'}, {out / 'rd.png'}")
    return 0 if result.ok else 1


def _one_line(text: str) -> str:
    return " ".join(text.split())
