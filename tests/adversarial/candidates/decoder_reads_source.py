# expect: forbidden
# The encoder sends only the path of its source frames; the decoder reads the frames there.
import os

import numpy as np

LEVELS = 1


def encode(video, level):
    y = video.y
    return f"{os.path.abspath('source.yuv')}|{y.shape[0]}|{y.shape[1]}|{y.shape[2]}".encode()


def decode(bitstream):
    path, t, h, w = bitstream.decode().split("|")
    t, h, w = int(t), int(h), int(w)
    raw = np.fromfile(path, dtype=np.uint8).reshape(t, -1)
    a, c = h * w, (h // 2) * (w // 2)
    return (raw[:, :a].reshape(t, h, w), raw[:, a:a + c].reshape(t, h // 2, w // 2),
            raw[:, a + c:].reshape(t, h // 2, w // 2))
