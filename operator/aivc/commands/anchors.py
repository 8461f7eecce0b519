"""`aivc anchors --clips carphone,bikes`: compute (or read from cache) and show anchor curves.

One row per clip and encoder: the four (kbps, PSNR-Y) rate points, the encoder's speed in
frames per second and its BD-rate (PSNR-Y) against x264. Curves are cached, so a second
run is instant.
"""

from __future__ import annotations

import argparse

from aivc import settings
from aivc.evaluate.anchors import ENCODERS, anchor_curves, parse_encoders
from aivc.evaluate.clips import clip_size, parse_clip_list
from aivc.evaluate.tables import anchors_table


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("anchors", help="compute and show the x264/x265/AV1 anchor curves",
                              description=__doc__.splitlines()[0])
    p.add_argument("--clips", default="carphone",
                   help="comma-separated clips, NAME[@START][:FRAMES[:WxH]] (default: carphone)")
    p.add_argument("--encoders", default=",".join(ENCODERS),
                   help=f"anchor encoders (default: {','.join(ENCODERS)}); x264 is always "
                        "computed as the BD-rate reference")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    clips = parse_clip_list(args.clips)
    encoders = parse_encoders(args.encoders)
    if "x264" not in encoders:
        encoders.insert(0, "x264")
    for clip in clips:
        clip_size(clip)  # a missing or unreadable clip fails now, not after minutes of encoding
    cache = settings.load().paths.cache_dir
    curves = {str(c): anchor_curves(c, encoders, cache, progress=True) for c in clips}
    print(anchors_table(curves))
    return 0
