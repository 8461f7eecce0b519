# expect: forbidden
# unhook
# Steers the page cache instead: the encoder evicts pages of a library file it can read
# (posix_fadvise DONTNEED, no ctypes needed) so a decoder timing its reads could tell which.
# Killed at fadvise64.
import os

import numpy as np

LEVELS = 1


def encode(video, level):
    fd = os.open(np.core._multiarray_umath.__file__, os.O_RDONLY)
    os.posix_fadvise(fd, 0, 1 << 20, os.POSIX_FADV_DONTNEED)
    return b"x"


def decode(bitstream):
    return None
