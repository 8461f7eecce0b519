# expect: mismatch
# limits: max_file_bytes=268435456 max_written_bytes=536870912
# Tries to exhaust the parent's memory through files: a 200 MiB bitstream (under the cap; the
# parent copies it in 1 MiB pieces and never holds it), then 1000 decoded frames where the
# source has 4 (the parent reads the plane's header, refuses it, and never loads the data).
import numpy as np

LEVELS = 1


def encode(video, level):
    return bytes(200 << 20)


def decode(bitstream):
    y = np.zeros((1000, 48, 64), np.uint8)
    c = np.zeros((1000, 24, 32), np.uint8)
    return y, c, c.copy()
