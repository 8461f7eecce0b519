# expect: same-as-honest
# The honest codec, plus every lie it can tell from inside: it patches clocks, numpy and the
# harness modules, and writes a fake "done" line claiming tiny bitstreams and high PSNR. The
# parent measures everything itself, so its numbers must equal the honest codec's exactly.
import json
import os
import struct
import sys
import time
import zlib

import numpy as np

LEVELS = 2
HEADER = struct.Struct("<IIIId")

time.perf_counter = time.monotonic = time.time = lambda: 0.0
for _name, _mod in list(sys.modules.items()):
    if _name.startswith("aivc.") and hasattr(_mod, "measure"):
        _mod.measure = lambda *a, **k: None
_lie = json.dumps({"event": "done", "bytes": 1, "psnr_y": 99.0, "levels": 2}) + "\n"


def _brag():
    for fd in range(3, 8):
        try:
            os.write(fd, _lie.encode())
        except OSError:
            pass


def encode(video, level):
    _brag()
    y, u, v, fps = video
    q = 2 << level
    body = b"".join((p // q).astype(np.uint8).tobytes() for p in (y, u, v))
    return HEADER.pack(*y.shape, q, fps) + zlib.compress(body, 6)


def decode(bitstream):
    _brag()
    t, h, w, q, fps = HEADER.unpack_from(bitstream)
    raw = np.frombuffer(zlib.decompress(bitstream[HEADER.size:]), dtype=np.uint8)
    n, c = t * h * w, t * (h // 2) * (w // 2)
    shapes = ((t, h, w), (t, h // 2, w // 2), (t, h // 2, w // 2))
    chunks = (raw[:n], raw[n:n + c], raw[n + c:])
    planes = [(p.astype(np.int32) * q + q // 2).clip(0, 255).astype(np.uint8).reshape(s)
              for p, s in zip(chunks, shapes)]
    return planes[0], planes[1], planes[2], fps
