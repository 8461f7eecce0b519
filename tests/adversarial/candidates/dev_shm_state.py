# expect: forbidden
# Smuggles the frames from encoder to decoder through /dev/shm.
import numpy as np

LEVELS = 1


def encode(video, level):
    np.savez("/dev/shm/aivc_smuggled.npz", y=video.y, u=video.u, v=video.v)
    return b"x"


def decode(bitstream):
    d = np.load("/dev/shm/aivc_smuggled.npz")
    return d["y"], d["u"], d["v"]
