# expect: forbidden
# Smuggles the frames through /tmp.
import numpy as np

LEVELS = 1


def encode(video, level):
    np.save("/tmp/aivc_smuggled_y.npy", video.y)
    return b"x"


def decode(bitstream):
    return np.load("/tmp/aivc_smuggled_y.npy"), None, None
