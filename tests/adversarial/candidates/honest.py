# expect: ok
# A tiny correct codec: uniform quantisation of every plane, zlib, a header with the shape.
import struct
import zlib

import numpy as np

LEVELS = 2
HEADER = struct.Struct("<IIIId")


def encode(video, level):
    y, u, v, fps = video
    q = 2 << level
    body = b"".join((p // q).astype(np.uint8).tobytes() for p in (y, u, v))
    return HEADER.pack(*y.shape, q, fps) + zlib.compress(body, 6)


def decode(bitstream):
    t, h, w, q, fps = HEADER.unpack_from(bitstream)
    raw = np.frombuffer(zlib.decompress(bitstream[HEADER.size:]), dtype=np.uint8)
    n, c = t * h * w, t * (h // 2) * (w // 2)
    shapes = ((t, h, w), (t, h // 2, w // 2), (t, h // 2, w // 2))
    chunks = (raw[:n], raw[n:n + c], raw[n + c:])
    planes = [(p.astype(np.int32) * q + q // 2).clip(0, 255).astype(np.uint8).reshape(s)
              for p, s in zip(chunks, shapes)]
    return planes[0], planes[1], planes[2], fps
