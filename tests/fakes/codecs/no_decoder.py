"""Test codec that breaks the contract: it has no decode()."""

import zlib

LEVELS = 4


def encode(video, level):
    return zlib.compress(video.y.tobytes())
