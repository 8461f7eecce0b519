# expect: forbidden
# The encoder leaves the frames in a file in its working directory; the decoder reads that.
import os

import numpy as np

LEVELS = 1


def encode(video, level):
    np.save("frames_y.npy", video.y)
    np.save("frames_u.npy", video.u)
    np.save("frames_v.npy", video.v)
    return os.getcwd().encode()


def decode(bitstream):
    where = bitstream.decode()
    return tuple(np.load(os.path.join(where, f"frames_{p}.npy")) for p in "yuv")
